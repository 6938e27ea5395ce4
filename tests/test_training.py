"""Training pipeline smoke tests on two pieces built here (never the corpus): examples decode to
the window they came from, augmentation keeps drums, a tiny GPT2 learns and a run resumes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from midigen.server.language import vocab as vocab_mod  # noqa: E402
from midigen.server.language.controls import measure  # noqa: E402
from midigen.server.language.grid import window_from_piece  # noqa: E402
from midigen.server.language.piece import Note, Piece, TimeSignature, Track  # noqa: E402
from midigen.server.language.tokens import decode  # noqa: E402
from training import batching, loss, schedule, train  # noqa: E402
from training import dataset as ds  # noqa: E402

VOCAB = vocab_mod.load()
TINY = ["--layers", "2", "--width", "32", "--heads", "2", "--context", "512", "--threads", "1",
        "--batch-tokens", "2048", "--eval-examples", "6", "--warmup", "2",
        "--no-progress"]  # fmt: skip


def _band() -> Piece:
    """8 bars of 4/4: a melody, a bass with chords, and drums (program 0 kit)."""
    melody = [Note(b * 4 + i, 60 + (b * 3 + i * 2) % 12, 1.0, 70 + 4 * i)
              for b in range(8) for i in range(4)]  # fmt: skip
    bass = [Note(b * 4.0, 36 + b % 5, 2.0) for b in range(8)]
    bass += [Note(b * 4.0 + 2, p, 2.0) for b in range(8) for p in (48, 52, 55)]
    drums = [Note(b * 4 + i * 0.5, 36 if i % 4 == 0 else 42, 0.25, 100)
             for b in range(8) for i in range(8)]  # fmt: skip
    return Piece(
        tracks=[Track(40, False, "lead", sorted(melody)), Track(32, False, "bass", sorted(bass)),
                Track(0, True, "drums", drums)],
        time_signatures=[(0.0, TimeSignature(4, 4))], length=32.0,
    )  # fmt: skip


def _waltz() -> Piece:
    """6 bars of 3/4 for one voice, so windows of several signatures are in the mix."""
    notes = [Note(b * 3 + i, 67 + (b + i) % 5, 1.0) for b in range(6) for i in range(3)]
    return Piece(tracks=[Track(73, False, "flute", notes)],
                 time_signatures=[(0.0, TimeSignature(3, 4))], length=18.0)  # fmt: skip


PIECES = [_band(), _waltz()]


def _expected(piece, example, velocity):
    """The source window the example claims to encode, with the example's transposition,
    program swaps and silenced continuation cells applied."""
    src = window_from_piece(piece, VOCAB, example.bars, example.tracks, velocity)
    for track in src.tracks:
        shift = 0 if track.is_drum else example.shift
        track.bars = [[n._replace(pitch=n.pitch + shift) for n in bar] for bar in track.bars]
    for t, b in example.emptied:
        src.tracks[t].bars[b] = []
    return src


@pytest.mark.parametrize("kind", ds.KINDS)
def test_examples_decode_to_their_source_window(kind):
    rng = np.random.default_rng(7)
    cfg = ds.Config()
    for piece in PIECES * 6:
        example = ds.make_example(piece, VOCAB, cfg, rng, kind=kind)
        assert example is not None and len(example.tokens) <= cfg.context
        decoded = decode(example.tokens.tolist(), VOCAB)
        assert decoded.ended and decoded.holes == sorted(example.holes)
        expected = _expected(piece, example, decoded.velocity)
        assert decoded.window.time_signatures == expected.time_signatures
        for got, want, source in zip(decoded.window.tracks, expected.tracks, example.tracks):
            assert got.bars == want.bars and got.is_drum == want.is_drum
            assert got.program // 8 == piece.tracks[source].program // 8  # same GM family
        # fills hold the hole cells' notes, and the hole tracks' controls are measured on them
        assert decoded.fills == [expected.tracks[t].bars[b] for t, b in sorted(example.holes)]
        ticks = expected.bar_ticks(VOCAB)
        for t, c in enumerate(decoded.controls):
            bars = [b for tt, b in example.holes if tt == t] or range(len(ticks))
            measured = measure(VOCAB, expected.tracks[t], ticks, bars)
            assert all(v is None or v == m for v, m in zip(c.as_tuple(), measured.as_tuple()))
        if kind == "none":
            assert not example.holes
        if kind == "tracks":
            assert {t for t, _ in example.holes} == set(range(len({t for t, _ in example.holes})))
        if kind == "continue":
            last = len(example.bars) - 1
            assert all(b == last or (t, b + 1) in example.holes for t, b in example.holes)
        if kind == "loop":  # the wrap bar repeats an earlier-or-equal source bar
            assert example.bars[-1] <= example.bars[-2]
            assert all(b < len(example.bars) - 1 for _, b in example.holes)


def test_transposition_keeps_drums_and_stays_in_range():
    window = window_from_piece(_band(), VOCAB, [0, 1], [0, 2])
    before = [[[n.pitch for n in bar] for bar in t.bars] for t in window.tracks]
    ds.transpose(window, 5)
    after = [[[n.pitch for n in bar] for bar in t.bars] for t in window.tracks]
    assert after[1] == before[1]  # drums
    assert after[0] == [[p + 5 for p in bar] for bar in before[0]]
    high = window_from_piece(Piece(tracks=[Track(0, False, "", [Note(0, 125, 1.0)])]), VOCAB)
    assert ds.transpose_range(high, 5) == (-5, 2)


def test_stream_is_deterministic_and_covers_every_kind():
    def first(seed):
        stream = ds.examples(ds.list_pieces(PIECES), VOCAB, seed=seed, buffer=2)
        return [next(stream) for _ in range(40)]

    a, b, c = first(3), first(3), first(4)
    assert all(np.array_equal(x.tokens, y.tokens) for x, y in zip(a, b))
    assert any(not np.array_equal(x.tokens, y.tokens) for x, y in zip(a, c))
    assert {x.kind for x in a + c} == set(ds.KINDS)


def test_loss_weights_skip_headers_and_weight_the_answer():
    example = ds.make_example(_waltz(), VOCAB, ds.Config(), np.random.default_rng(0), kind="bars")
    ids = torch.from_numpy(example.tokens.astype(np.int64))[None]
    weights, answer = loss.Weights(VOCAB, 2.0)(ids)
    names = [VOCAB.describe(int(t)) for t in ids[0, 1:]]
    first_fill = names.index("<fill>")
    for name, w in zip(names, weights[0].tolist()):
        if name.split(":")[0] in ("inst", "density", "poly_min", "poly_max", "dur_min", "dur_max"):
            assert w == 0
    assert weights[0, first_fill:].eq(2).all() and answer[0, first_fill:].all()
    assert not answer[0, :first_fill].any()


def test_tiny_model_learns_a_repeated_batch():
    from transformers import GPT2LMHeadModel

    args = train.parse_args(["--max-steps", "1", *TINY])
    torch.manual_seed(0)
    model = GPT2LMHeadModel(train.model_config(VOCAB, args))
    stream = ds.examples(ds.list_pieces(PIECES), VOCAB, seed=0)
    rows = [next(stream).tokens for _ in range(4)]
    ids = torch.from_numpy(batching.pad_array(rows, VOCAB.special("<pad>")))
    weights = loss.Weights(VOCAB, 2.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        w, _ = weights(ids)
        value = (loss.token_nll(model, ids) * w).sum() / w.sum()
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        losses.append(value.item())
    assert losses[-1] < 0.6 * losses[0]


def test_run_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "run"
    source = ds.list_pieces(PIECES)
    first = train.run(train.parse_args(["--out", str(out), "--max-steps", "3", "--eval-every",
                                        "2", *TINY]), source, source)  # fmt: skip
    assert first["step"] == 3 and np.isfinite(first["valid_fill"])
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["midigen_window_bars"] == 4 and config["midigen_max_tracks"] == 8
    assert (out / "last" / "trainer.pt").exists() and (out / "last" / "language.json").exists()
    second = train.run(train.parse_args(["--out", str(out), "--max-steps", "5", "--resume",
                                         *TINY]), source, source)  # fmt: skip
    assert second["step"] == 5
    state = torch.load(out / "last" / "trainer.pt", weights_only=False)["state"]
    assert state["step"] == 5 and state["tokens"] > 0
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps[:3] == [1, 2, 3] and steps[-1] == 5


def test_ngram_baseline_is_a_distribution_and_fits_its_data():
    from training.evaluate import NGram

    stream = ds.examples(ds.list_pieces(PIECES), VOCAB, seed=1)
    seqs = [next(stream).tokens for _ in range(30)]
    model = NGram(seqs, len(VOCAB))
    prefix = seqs[0][:7].astype(np.int64)
    total = sum(np.exp(-model.nll(np.append(prefix, w))[-1]) for w in range(len(VOCAB)))
    assert total == pytest.approx(1.0, abs=1e-6)
    seen, unseen = model.nll(seqs[0]).mean(), NGram(seqs[1:2], len(VOCAB)).nll(seqs[0]).mean()
    assert seen < unseen


def test_schedule_follows_the_time_budget_only_without_max_steps():
    timed = train.parse_args(["--max-minutes", "30"])
    fixed = train.parse_args(["--max-minutes", "30", "--max-steps", "100", "--warmup", "10"])
    assert schedule.replan(timed, {"step": 20, "total": 0}, 20)
    assert schedule.replan(timed, {"step": 100, "total": 500}, 100)
    assert not schedule.replan(timed, {"step": 400, "total": 500}, 400)  # late: keep annealing
    assert not schedule.replan(timed, {"step": 30, "total": 500}, 30)
    assert not schedule.replan(fixed, {"step": 20, "total": 100}, 20)
    lrs = [schedule.lr_at(s, 100, fixed) for s in range(100)]
    assert max(lrs) == pytest.approx(fixed.lr) and lrs[-1] == pytest.approx(fixed.lr / 10, rel=0.01)


V11 = vocab_mod.Vocabulary({**vocab_mod.default_document(), "version": "1.1",
                            "time_signatures": vocab_mod.DEFAULT_TIME_SIGNATURES[:14]})  # fmt: skip


def _tiny_model(vocab):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocab), n_positions=512, n_embd=32, n_layer=1, n_head=2,
                        tie_word_embeddings=True)  # fmt: skip
    return GPT2LMHeadModel(config).eval()


def test_a_model_of_an_older_language_keeps_what_it_knew():
    """adopt_language moves each row with its token: on the old tokens the warm-started model
    gives the old model's logits exactly; the new meters start as the mean of the old ones."""
    from training.checkpoints import adopt_language

    old = _tiny_model(V11)
    new = _tiny_model(V11)
    new.load_state_dict(old.state_dict())
    assert adopt_language(new, V11, VOCAB) == 4
    assert new.config.vocab_size == len(VOCAB) and new.config.midigen_language_version == "1.2"
    names = ["<piece>", "<track>", "inst:0", "ts:4/4", "<bar>", "pos:0", "pitch:60", "dur:12",
             "pos:6", "pitch:64", "dur:6", "<bar_end>"]  # fmt: skip
    with torch.no_grad():
        before = old(torch.tensor([[V11.index[t] for t in names]])).logits[0]
        after = new(torch.tensor([[VOCAB.index[t] for t in names]])).logits[0]
    for t in V11.tokens:  # every old token's score, at its new id
        assert torch.equal(before[:, V11.index[t]], after[:, VOCAB.index[t]]), t
    wte = new.get_input_embeddings().weight
    old_ts = old.get_input_embeddings().weight[[V11.index[f"ts:{m}"] for m in V11.time_signatures]]
    assert torch.allclose(wte[VOCAB.index["ts:7/4"]], old_ts.mean(0))
    assert new.lm_head.weight.data_ptr() == wte.data_ptr()  # still tied


def test_init_from_a_checkpoint_of_an_older_language(tmp_path):
    from training.checkpoints import save

    save(_tiny_model(V11), tmp_path / "old", V11)
    out = tmp_path / "run"
    source = ds.list_pieces(PIECES)
    args = ["--out", str(out), "--max-steps", "1", "--init", str(tmp_path / "old"), *TINY]
    train.run(train.parse_args(args), source, source)
    assert json.loads((out / "last" / "config.json").read_text())["vocab_size"] == len(VOCAB)
    assert vocab_mod.load(out / "last" / "language.json").tokens == VOCAB.tokens


def test_a_longer_context_keeps_what_the_model_knew():
    """extend_positions keeps every learnt row, so a prompt that fitted before scores exactly
    as before; the new rows start as copies of the first ones, and a prompt longer than the
    old context now runs."""
    from training.checkpoints import extend_positions

    old = _tiny_model(VOCAB)
    new = _tiny_model(VOCAB)
    new.load_state_dict(old.state_dict())
    assert extend_positions(new, 1536) == 1024 and new.config.n_positions == 1536
    ids = torch.randint(0, len(VOCAB), (1, 512))
    with torch.no_grad():
        assert torch.equal(old(ids).logits, new(ids).logits)
        wpe = new.transformer.wpe.weight
        assert torch.equal(wpe[512:1024], wpe[:512]) and torch.equal(wpe[1024:], wpe[:512])
        long = new(torch.randint(0, len(VOCAB), (1, 1536))).logits
    assert long.shape == (1, 1536, len(VOCAB)) and torch.isfinite(long).all()
    assert extend_positions(new, 1536) == 0
    with pytest.raises(ValueError, match="shorter"):
        extend_positions(new, 256)


def test_init_to_a_longer_context_and_resume_it(tmp_path):
    """`--init` with a longer --context than the checkpoint's trains the longer model (its
    config says so, for the exporter); resuming it needs the same --context, said plainly."""
    from training.checkpoints import save

    save(_tiny_model(VOCAB), tmp_path / "short", VOCAB)
    out = tmp_path / "run"
    source = ds.list_pieces(PIECES)
    longer = [a if a != "512" else "768" for a in TINY]
    args = ["--out", str(out), "--max-steps", "1", "--init", str(tmp_path / "short"), *longer]
    train.run(train.parse_args(args), source, source)
    assert json.loads((out / "last" / "config.json").read_text())["n_positions"] == 768
    with pytest.raises(SystemExit, match="--context 768"):
        train.run(train.parse_args(["--out", str(out), "--max-steps", "2", "--resume", *TINY]),
                  source, source)  # fmt: skip
    unset = [a for a in TINY if a not in ("--context", "512")]  # the checkpoint's own
    resumed = train.run(train.parse_args(["--out", str(out), "--max-steps", "2", "--resume",
                                          *unset]), source, source)  # fmt: skip
    assert resumed["step"] == 2
    again = ["--out", str(tmp_path / "r3"), "--max-steps", "1", "--init", str(out / "best"),
             *unset]  # fmt: skip
    train.run(train.parse_args(again), source, source)
    assert json.loads((tmp_path / "r3" / "last" / "config.json").read_text())["n_positions"] == 768
    shorter = [a if a != "512" else "256" for a in TINY]
    with pytest.raises(SystemExit, match="shorter than the model's 512"):
        args = ["--out", str(tmp_path / "r2"), "--max-steps", "1", "--init",
                str(tmp_path / "short"), *shorter]  # fmt: skip
        train.run(train.parse_args(args), source, source)


def test_rebar_redraws_bar_lines_in_an_odd_meter_of_the_same_beat():
    from training.augment import rebar

    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        piece = rebar(_band(), rng)
        assert piece.tracks == _band().tracks and piece.length == 32.0
        assert len(piece.time_signatures) == 1
        seen.add(str(piece.time_signatures[0][1]))
    assert seen == {"7/4", "5/4"}
    jig = Piece(_waltz().tracks, [(0.0, TimeSignature(6, 8))], length=18.0)
    assert {str(rebar(jig, rng).time_signatures[0][1]) for _ in range(40)} == {"11/8", "7/8", "5/8"}
    changing = Piece(_waltz().tracks, [(0.0, TimeSignature(1, 4)), (1.0, TimeSignature(3, 4))])
    assert rebar(changing, rng) is changing  # a pickup or meter change: left as written


def test_the_stream_rebars_at_its_rate_and_validation_never():
    cfg = ds.Config(rebar=1.0)
    stream = ds.examples(ds.list_pieces(PIECES), VOCAB, cfg, seed=3)
    meters = {ts for _ in range(30) for ts in next(stream).window.time_signatures}
    assert "7/4" in meters and not meters & {"4/4", "3/4"}
    fixed = ds.fixed_examples(ds.list_pieces(PIECES), VOCAB, 12, cfg)
    shown = {VOCAB.tokens[i] for tokens in fixed for i in tokens}
    shown = {t for t in shown if t.startswith("ts:")}
    assert shown <= {"ts:4/4", "ts:3/4"} and shown


def test_teacher_forcing_through_the_engine_scores_as_torch_does(bundle, traced_bundle, tmp_path):
    """training.quantization scores bundles through ONNX Runtime: on the tiny bundle its
    log-probabilities are torch's for the same weights (tiny-src), for rows of unequal length
    in one batch, on both cache kinds; a bundle compared with itself agrees everywhere."""
    from transformers import GPT2LMHeadModel

    from midigen.server.engine.session import Engine
    from training.quantization import compare, teacher_forced

    stream = ds.examples(ds.list_pieces(PIECES), VOCAB, ds.Config(context=1024), seed=1)
    rows = [next(stream).tokens.astype(np.int64)[: 40 + 30 * k] for k in range(3)]
    model = GPT2LMHeadModel.from_pretrained(bundle.parent / "tiny-src").eval()
    scored = teacher_forced([Engine(bundle, "cpu", 1), Engine(traced_bundle, "cpu", 1)], rows)
    for i, row in enumerate(rows):
        with torch.no_grad():
            want = torch.log_softmax(model(torch.from_numpy(row)[None]).logits[0, :-1], -1)
        for per_engine in scored:
            assert per_engine[i].shape == (len(row) - 1, len(VOCAB))
            assert np.abs(per_engine[i] - want.numpy()).max() < 1e-3
    same = compare(bundle, bundle, rows)
    assert same["top1_agreement_all"] == 1.0 and same["nll_change"] == 0.0
    assert same["answer_tokens"] > 0

    # the report names the weights it measured; the card keeps it only in that bundle
    from midigen.exporter.bundle import INT8_REPORT, load_bundle
    from training.card_speed import keep_int8_report

    assert same["int8_weights_sha256"] == load_bundle(bundle).weights_sha256()
    for source, kept in ((bundle, True), (traced_bundle, False)):  # same weights, other graph
        folder = tmp_path / source.name
        shutil.copytree(source, folder)
        (folder / INT8_REPORT).write_text("{}")  # an older report: replaced or removed
        keep_int8_report(same, folder)
        assert (folder / INT8_REPORT).is_file() == kept
        if kept:
            assert json.loads((folder / INT8_REPORT).read_text()) == same


def _numbered(seed):
    """Three batches holding their worker's seed and their index (a finite stream)."""
    for i in range(3):
        yield np.array([[seed, i]])


def _endless(seed):
    while True:
        yield np.array([[seed]])


def _failing(seed):
    yield np.array([[seed]])
    raise ValueError("no more pieces")


def test_parallel_batches_come_from_every_worker_and_end_cleanly():
    import multiprocessing as mp

    got = [tuple(b[0].tolist()) for b in batching.ParallelBatches(_numbered, 2, seed=7)]
    assert sorted(got) == [(7001, 0), (7001, 1), (7001, 2), (7002, 0), (7002, 1), (7002, 2)]
    assert not mp.active_children()  # the workers were joined, none left running
    with pytest.raises(RuntimeError, match="ValueError: no more pieces"):
        list(batching.ParallelBatches(_failing, 2, seed=0))
    assert not mp.active_children()
    unread = batching.ParallelBatches(_endless, 2, seed=0)  # forked at once, never read:
    assert len(mp.active_children()) == 2  # (a run resumed at its last step reads nothing)
    unread.close()
    assert not mp.active_children()


def test_run_with_data_workers(tmp_path):
    import multiprocessing as mp

    source = ds.list_pieces(PIECES)
    args = ["--out", str(tmp_path / "run"), "--max-steps", "3", "--data-workers", "2", *TINY]
    result = train.run(train.parse_args(args), source, source)
    assert result["step"] == 3 and result["tokens"] > 0 and np.isfinite(result["valid_fill"])
    assert not mp.active_children()  # the workers were stopped, not left blocked on the queue
