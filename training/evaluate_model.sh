#!/usr/bin/env bash
# Every measure the model card states, for one finished run, in the order the card needs them.
# Two jobs at a time (this machine has two cores); ~25 min here for the default model size.
#
#   training/evaluate_model.sh RUN NAME RESULTS [REFERENCE]
#
# RUN        a training run folder (its best/ is exported)
# NAME       where the bundles go: ~/.cache/midigen/bundles/NAME-fp32 and NAME-int8
# RESULTS    the results folder (created)
# REFERENCE  the results folder of the model this one replaces (its baselines-*.json), optional
#
# SERVED=int8 (default) or fp32: the bundle the generation measures run on, i.e. the one that
# will ship as the default (int8 when it keeps fp32's answers and is faster; int8.json and
# bench.json say whether it does). NLL is always the checkpoint's own (torch, fp32).
#
# Then: python -m training.model_card --model BUNDLE --results RESULTS --run RUN \
#           [--reference REFERENCE] [--observations notes.md]
set -euo pipefail
RUN=$1
NAME=$2
RES=$3
REF=${4:-}
PY=${PYTHON:-python}
BUNDLES=${MIDIGEN_BUNDLES:-$HOME/.cache/midigen/bundles}
FP32=$BUNDLES/$NAME-fp32
INT8=$BUNDLES/$NAME-int8
case ${SERVED:-int8} in
    int8) NEW=$INT8 ;;
    fp32) NEW=$FP32 ;;
    *) echo "SERVED must be int8 or fp32" >&2; exit 2 ;;
esac
POP909=${POP909:-../shared/data/pop909}
mkdir -p "$RES" "$BUNDLES"

echo "== export (fp32 fused graph, and its int8 twin)"
$PY -m midigen.exporter.cli "$RUN/best" -o "$FP32" --optimize --threads 1 --force -q
$PY -m midigen.exporter.cli "$RUN/best" -o "$INT8" --optimize --int8 --threads 1 --force -q

echo "== against the baselines, both held-out splits"
$PY -m training.compare --model "$NEW" --split pop909-test --tasks 60 --seeds 3 \
    --json "$RES/baselines-pop909-test.json" --rolls "$RES" > "$RES/compare-pop909.md" 2>&1 &
$PY -m training.compare --model "$NEW" --split classical-test --tasks 60 --seeds 3 \
    --json "$RES/baselines-classical-test.json" --rolls "$RES" > "$RES/compare-classical.md" 2>&1
wait

echo "== continuing a part: the same tasks from a piece cut where each hole starts"
$PY -m training.compare --model "$NEW" --split pop909-test --mode continue --tasks 60 --seeds 3 \
    --json "$RES/continue-pop909-test.json" > "$RES/continue-pop909.md" 2>&1 &
$PY -m training.compare --model "$NEW" --split classical-test --mode continue --tasks 60 \
    --seeds 3 --json "$RES/continue-classical-test.json" > "$RES/continue-classical.md" 2>&1
wait

echo "== held-out NLL against the 4-gram, both splits"
$PY -m training.evaluate nll --model "$RUN/best" --examples 300 --ngram-examples 5000 \
    --threads 1 --out "$RES" > "$RES/nll.log" 2>&1 &
$PY -m training.evaluate nll --model "$RUN/best" --pop909 "$POP909" --examples 300 \
    --ngram-examples 5000 --threads 1 --json "$RES/nll-pop909.json" > "$RES/nll-pop909.log" 2>&1
wait

echo "== controls, infills, examples"
$PY -m training.evaluate controls --model "$NEW" --out "$RES" --n 60 > "$RES/controls.log" 2>&1 &
$PY -m training.evaluate infill --model "$NEW" --out "$RES" --n 100 > "$RES/infill.log" 2>&1
wait
$PY -m training.evaluate examples --model "$NEW" --out "$RES" > "$RES/examples.log" 2>&1

echo "== int8 against fp32 on held-out POP909 (quality), then both in the benchmark on one core (speed)"
$PY -m training.quantization --fp32 "$FP32" --int8 "$INT8" --pop909 "$POP909" --examples 64 \
    --json "$RES/int8.json" > "$RES/int8.log" 2>&1
MIDIGEN_BENCH_THREADS=1 $PY -m midigen.server.tools.bench --only engine --model "$FP32" --int8 "$INT8" \
    --json "$RES/bench.json" > "$RES/bench.log" 2>&1

if [ -n "$REF" ]; then
    echo "reference: $REF (pass it to training.model_card --reference)"
fi
echo "done: $RES (generation measured on $NEW)"
