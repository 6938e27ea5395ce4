#!/usr/bin/env bash
# One device-machine call: train the default model on its GPU and bring the run back under $OUT.
#
#   here:   python -m training.device_pack          # once: data.tar.xz + site/ in device-pack/
#   device: run(command="bash training/device_train.sh", carry=["device-pack"], timeout_s=600)
#   here:   midigen-export <files_at>/run/best -o /tmp/bundle --optimize --int8, then evaluate
#
# The machine has torch (CUDA) and no network; the package is not installed there, so `midigen.*`
# is put on the path as links to this checkout's folders. The recipe is the 12-bar warm start
# of training/README.md ("The 12-bar model") from the shipped fp32 bundle, sized for one call:
# MINUTES of training (default 6) after ~1-2 minutes of setup, inside the call's 10 minutes.
# Extra arguments go to training.train and win over these (argparse keeps the last).
# Environment: OUT (set by the machine), PACK (device-pack), MINUTES, DEVICE (cuda; cpu for
# a rehearsal here), WORKERS (data workers: all cores but two), PYTHON (python3).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PACK=${PACK:-$REPO/device-pack}
OUT=${OUT:?OUT must name the folder whose files come back}
MINUTES=${MINUTES:-6}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
CORES=$(nproc)
WORKERS=${WORKERS:-$(( CORES > 3 ? CORES - 2 : 1 ))}

[ -f "$PACK/data.tar.xz" ] || { echo "device_train: no $PACK/data.tar.xz: run python -m training.device_pack and carry device-pack" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/pkgs/midigen"
for d in server exporter models; do ln -s "$REPO/$d" "$WORK/pkgs/midigen/$d"; done
export PYTHONPATH="$WORK/pkgs:$REPO${PYTHONPATH:+:$PYTHONPATH}:$PACK/site"

DEVICE=$DEVICE "$PY" - <<'EOF'
import importlib.util, os, sys
missing = [m for m in ("torch", "transformers", "safetensors", "numpy", "tqdm", "mido")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"device_train: missing Python packages: {', '.join(missing)}")
import torch
if os.environ["DEVICE"] == "cuda" and not torch.cuda.is_available():
    sys.exit("device_train: torch sees no CUDA device")
print(f"torch {torch.__version__}, device {os.environ['DEVICE']}"
      + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""), flush=True)
EOF

tar -xJf "$PACK/data.tar.xz" -C "$WORK"
mkdir -p "$OUT"
set -x
"$PY" -m training.train --out "$OUT/run" --init "$REPO/models/midigen-base-fp32" \
    --cache "$WORK/corpus" --pop909 "$WORK/pop909" --pop909-share 0.3 --window-bars 12 \
    --batch-tokens 32768 --lr 5e-4 --warmup 100 --eval-every 250 --eval-examples 600 \
    --save-minutes 2 --max-minutes "$MINUTES" --device "$DEVICE" --threads 2 \
    --data-workers "$WORKERS" --no-progress "$@" 2>&1 | tee "$OUT/train.out"
set +x
# Bring back best/ (the final weights are validated last, so it holds them when they are
# better) and the log; last/ (with an optimizer state twice the weights) and the rebuilt init
# weights only cost transfer.
rm -rf "$OUT/run/last" "$OUT/run/init-weights"
du -sh "$OUT"/run/* || true
