"""`midigen infill | continue | loop`: offline generation on a MIDI file (registered by cli.py).

Everything the user typed is checked (file, bars, tracks, controls, output paths, the model's
meters) before the model loads, and files are written only after generation finished, so a
failed command prints one line and leaves nothing behind. The result is the user's file with
only the selected bars changed (language/midiedit.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine.sampling import SamplingOptions
from ..language import registers
from ..language.controls import Controls
from ..language.grid import check_selection
from ..language.midifiles import open_midi, read_midi
from ..language.piece import Piece
from ..language.windows import MAX_NEW_BARS, Selection
from .arguments import UsageError, parse_bars, parse_tracks
from .results import check_outputs, write_results

if TYPE_CHECKING:
    from midigen.exporter.bundle import Bundle

EXAMPLES = {
    "infill": "  midigen infill song.mid --track 2 --bars 5-8 -o out.mid --plot out.png\n"
    "  midigen infill song.mid --track Bass --bars 3-4 --density 7 --poly-max 1 --variations 3 "
    "-o bass.mid",
    "continue": "  midigen continue song.mid --new-bars 4 -o longer.mid\n"
    "  midigen continue song.mid --new-bars 8 --track 1,3 --seed 7 -o longer.mid",
    "loop": "  midigen loop song.mid --bars 1-4 -o loop.mid\n"
    "  midigen loop song.mid --bars 5-8 --track Drums --temperature 0.9 -o loop.mid",
}
HELP = {
    "infill": "regenerate the selected bars of some tracks",
    "continue": "append new bars after the end of the piece",
    "loop": "regenerate a bar range so that it leads back into its own start",
}

CONTINUE_LOOKBACK = 4  # bars a track must play in to be continued when none is named


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the three generation subcommands to `midigen`'s subparsers."""
    for mode in ("infill", "continue", "loop"):
        p = sub.add_parser(
            mode,
            help=HELP[mode],
            description=HELP[mode].capitalize() + ". Bars are 1-based and inclusive; tracks "
            "are the 1-based numbers `midigen tokens` lists, or names.",
            epilog="examples:\n" + EXAMPLES[mode],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("file", help="a .mid file")
        p.add_argument("-o", "--output", required=True, help="MIDI file to write")
        track_help = "track number(s) (1-based) or name(s), comma-separated"
        if mode == "infill":
            p.add_argument("--track", "--tracks", dest="track", required=True, help=track_help)
            p.add_argument("--bars", required=True, help="bars to regenerate, e.g. 5-8")
        elif mode == "continue":
            p.add_argument(
                "--track",
                "--tracks",
                dest="track",
                help=track_help + " (default: the tracks playing in the last 4 bars)",
            )
            p.add_argument("--new-bars", type=int, required=True, help="bars to add")
        else:
            p.add_argument(
                "--track",
                "--tracks",
                dest="track",
                help=track_help + " (default: the tracks playing in the loop)",
            )
            p.add_argument("--bars", required=True, help="the loop's bars, e.g. 1-4")
        g = p.add_argument_group("controls (default: measured from the original bars)")
        g.add_argument("--density", type=int, help="notes per bar level 1-10")
        g.add_argument("--poly-min", type=int, help="polyphony level 1-10")
        g.add_argument("--poly-max", type=int, help="polyphony limit 1-10 (hard)")
        g.add_argument("--dur-min", type=int, help="shortest note class 0 (32nd) - 5 (whole)")
        g.add_argument("--dur-max", type=int, help="longest note class 0-5 (hard)")
        g.add_argument("--pitch-min", type=int, help="lowest MIDI note (hard; default: the "
                       "track's own range outside the bars, +-3)")  # fmt: skip
        g.add_argument("--pitch-max", type=int, help="highest MIDI note (hard)")
        s = p.add_argument_group("sampling")
        s.add_argument("--temperature", type=float, default=1.0, help="(1.0; 0 = greedy)")
        s.add_argument("--top-k", type=int, default=0, help="(0 = off)")
        s.add_argument("--top-p", type=float, default=0.95, help="nucleus (0.95; 1.0 = off)")
        s.add_argument("--rhythm", type=float, default=SamplingOptions.rhythm,
                       help=f"lean on the track's rhythm around the bars, in nats "
                       f"({SamplingOptions.rhythm:g}; 0 = off)")  # fmt: skip
        s.add_argument("--harmony", type=float, default=SamplingOptions.harmony,
                       help=f"lean on the pitch classes around the bars, in nats "
                       f"({SamplingOptions.harmony:g}; 0 = off)")  # fmt: skip
        s.add_argument("--seed", type=int, help="same seed, same notes (default: random)")
        s.add_argument("--variations", type=int, default=1, help="alternatives: out-1.mid, ...")
        s.add_argument("--retries", type=int, default=3, help="resamples of unchanged bars (3)")
        s.add_argument("--max-bar-tokens", type=int, default=512, help=argparse.SUPPRESS)
        s.add_argument("--no-velocity", action="store_true", help="ignore/omit velocities")
        s.add_argument("--microtiming", action="store_true", help="keep off-grid timing")
        m = p.add_argument_group("model")
        m.add_argument("--model", help="bundle folder (default: $MIDIGEN_MODEL)")
        m.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        m.add_argument("--threads", type=int, default=0, help="CPU threads (0: ORT's choice)")
        p.add_argument("--plot", help="also draw a piano roll PNG (needs matplotlib)")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
        p.set_defaults(func=run, mode=mode)


def run(args: argparse.Namespace) -> int:
    from ..engine import generation as gen
    from ..engine.session import EngineError

    mid = open_midi(args.file)
    piece = read_midi(mid)
    selection = _selection(args, piece)
    tracks = sorted({s.track for s in selection})
    cells = [(s.track, b) for s in selection for b in range(s.first_bar, s.last_bar + 1)]
    if not 1 <= args.variations <= gen.MAX_VARIATIONS:
        raise UsageError(f"--variations must be 1..{gen.MAX_VARIATIONS}, got {args.variations}")
    controls = Controls(args.density, args.poly_min, args.poly_max, args.dur_min, args.dur_max)
    try:
        registers.validate(args.pitch_min, args.pitch_max)
    except registers.RegisterError as e:
        text = str(e).replace("pitch_min", "--pitch-min").replace("pitch_max", "--pitch-max")
        raise UsageError(text) from None
    sampling = SamplingOptions(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        rhythm=args.rhythm,
        harmony=args.harmony,
        seed=args.seed,
        retries=args.retries,
        max_bar_tokens=args.max_bar_tokens,
    )
    try:
        sampling.validate()
    except ValueError as e:
        raise UsageError(f"--{str(e).replace('_', '-')}") from None
    check_outputs(args.output, args.plot, args.variations)
    model = _model(args)
    vocab = model.vocabulary()  # the model's own language: its controls and meters
    try:
        controls.validate(vocab)
    except ValueError as e:
        raise UsageError(f"--{str(e).replace('_', '-')}") from None
    check_selection(piece, vocab, cells)
    engine = _engine(args, model.path)
    request = gen.Request(
        mode=args.mode,
        selection=selection,
        new_bars=args.new_bars if args.mode == "continue" else 0,
        controls={t: controls for t in tracks},
        pitch_range={t: (args.pitch_min, args.pitch_max) for t in tracks},
        velocity=not args.no_velocity,
        microtiming=args.microtiming,
        variations=args.variations,
        sampling=sampling,
    )
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    done = None
    bars: list[list[tuple]] = [[] for _ in range(args.variations)]
    try:
        for event in gen.generate(engine, piece, request):
            if isinstance(event, gen.BarDone):
                bars[event.variation].append((event.track, event.start, event.end, event.notes))
                say(
                    f"variation {event.variation + 1} track {event.track + 1} bar "
                    f"{event.bar + 1}: {len(event.notes)} notes"
                    + (f" ({event.attempts} attempts)" if event.attempts > 1 else "")
                )
            elif isinstance(event, gen.Done):
                done = event
    except (gen.GenerationError, gen.LanguageError, EngineError) as e:
        raise UsageError(str(e)) from None
    title = f"{Path(args.file).name}: {args.mode}, seed {done.seed}"
    written = write_results(mid, piece, bars, args.output, args.plot, cells, title)
    say(
        f"seed {done.seed}: {done.tokens} tokens in {done.total_ms / 1e3:.2f} s "
        f"(model {done.model_ms / 1e3:.2f} s, first bar after {done.first_bar_ms or 0:.0f} ms, "
        f"{done.retries} retries)"
    )
    print("wrote " + ", ".join(written))
    return 0


def _selection(args: argparse.Namespace, piece: Piece) -> list[Selection]:
    """The user's tracks and bars as 0-based selections. With no --track, loop and continue
    take the tracks that play: those with notes in the loop's bars, or in the last
    CONTINUE_LOOKBACK bars for a continuation. A part that is silent there stays silent, rather
    than getting stray notes the user never asked for; name it with --track to have it written."""
    n_bars = len(piece.bars())
    if args.mode == "continue" and not 1 <= args.new_bars <= MAX_NEW_BARS:
        raise UsageError(f"--new-bars must be 1..{MAX_NEW_BARS}, got {args.new_bars}")
    bars = list(range(n_bars)) if args.mode == "continue" else parse_bars(args.bars, n_bars)
    if args.track:
        tracks = sorted(set(parse_tracks(args.track, piece, "--track")))
    else:
        heard = bars[-CONTINUE_LOOKBACK:] if args.mode == "continue" else bars
        tracks = playing_tracks(piece, heard[0], heard[-1])
        if not tracks:
            where = "the last bars" if args.mode == "continue" else f"bars {args.bars}"
            raise UsageError(f"no track plays in {where}; name the tracks to write with --track")
    if args.mode == "continue":
        return [Selection(t, n_bars, n_bars + args.new_bars - 1) for t in tracks]
    return [Selection(t, bars[0], bars[-1]) for t in tracks]


def playing_tracks(piece: Piece, first_bar: int, last_bar: int) -> list[int]:
    """The tracks with at least one note starting in bars first_bar..last_bar (0-based)."""
    grid = piece.bars()
    lo, hi = grid[first_bar].start, grid[last_bar].end
    return [i for i, t in enumerate(piece.tracks) if any(lo <= n.start < hi for n in t.notes)]


class _CurrentStderr(logging.StreamHandler):
    """Writes to sys.stderr as it is when a record comes, not as it was when the handler was
    made: `main()` can run many times in one process (tests), each with its own stderr."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def _model(args: argparse.Namespace) -> Bundle:
    """The bundle's description (no weights loaded yet), so that everything the model decides
    (control ranges, meters) is checked before the seconds a model load takes."""
    from midigen.exporter.bundle import BundleError, load_bundle
    from midigen.models import default_bundle
    from midigen.server.engine.session import will_use_cuda

    model = (args.model or os.environ.get("MIDIGEN_MODEL")
             or default_bundle(gpu=will_use_cuda(args.device)))  # fmt: skip
    if not model:
        raise UsageError("no model bundle: pass --model FOLDER or set MIDIGEN_MODEL")
    try:
        return load_bundle(model)
    except BundleError as e:
        raise UsageError(f"--model: {e}") from None


def _engine(args: argparse.Namespace, model: Path) -> object:
    from midigen.exporter.bundle import BundleError

    from ..engine.session import Engine, EngineError

    if not args.quiet:  # the engine's one line on the provider; not every library's chatter
        logger = logging.getLogger("midigen.engine")
        if not any(isinstance(h, _CurrentStderr) for h in logger.handlers):
            handler = _CurrentStderr()
            handler.setFormatter(logging.Formatter("midigen: %(message)s"))
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        return Engine(model, device=args.device, threads=args.threads)
    except BundleError as e:
        raise UsageError(f"--model: {e}") from None
    except EngineError as e:
        raise UsageError(str(e)) from None
