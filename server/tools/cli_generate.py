"""`midigen infill | continue | loop`: offline generation on a MIDI file (registered by cli.py).

Everything the user typed is checked (file, bars, tracks, controls, model) before the model runs,
and files are written only after generation finished, so a failed command leaves nothing behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..engine.sampling import SamplingOptions
from ..language.controls import Controls
from ..language.midifiles import read_midi, write_midi
from ..language.windows import Selection
from .arguments import UsageError, parse_bars, parse_tracks

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
            p.add_argument("--track", "--tracks", dest="track", help=track_help + " (all)")
            p.add_argument("--new-bars", type=int, required=True, help="bars to add")
        else:
            p.add_argument("--track", "--tracks", dest="track", help=track_help + " (all)")
            p.add_argument("--bars", required=True, help="the loop's bars, e.g. 1-4")
        g = p.add_argument_group("controls (default: measured from the original bars)")
        g.add_argument("--density", type=int, help="notes per bar level 1-10")
        g.add_argument("--poly-min", type=int, help="polyphony level 1-10")
        g.add_argument("--poly-max", type=int, help="polyphony limit 1-10 (hard)")
        g.add_argument("--dur-min", type=int, help="shortest note class 0 (32nd) - 5 (whole)")
        g.add_argument("--dur-max", type=int, help="longest note class 0-5 (hard)")
        s = p.add_argument_group("sampling")
        s.add_argument("--temperature", type=float, default=1.0, help="(1.0; 0 = greedy)")
        s.add_argument("--top-k", type=int, default=0, help="(0 = off)")
        s.add_argument("--top-p", type=float, default=1.0, help="(1.0 = off)")
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


def output_paths(output: str, variations: int, suffix: str | None = None) -> list[Path]:
    """out.mid for one variation; out-1.mid, out-2.mid, ... for several."""
    path = Path(output)
    if suffix is not None:
        path = path.with_suffix(suffix)
    if variations == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i + 1}{path.suffix}") for i in range(variations)]


def run(args: argparse.Namespace) -> int:
    from ..engine import generation as gen
    from ..engine.session import EngineError

    piece = read_midi(args.file)
    n_bars = len(piece.bars())
    tracks = (
        parse_tracks(args.track, piece, "--track") if args.track else list(range(len(piece.tracks)))
    )
    if args.mode == "continue":
        if args.new_bars < 1:
            raise UsageError(f"--new-bars must be at least 1, got {args.new_bars}")
        selection = [Selection(t, n_bars, n_bars + args.new_bars - 1) for t in tracks]
    else:
        bars = parse_bars(args.bars, n_bars)
        selection = [Selection(t, bars[0], bars[-1]) for t in tracks]
    if not 1 <= args.variations <= gen.MAX_VARIATIONS:
        raise UsageError(f"--variations must be 1..{gen.MAX_VARIATIONS}, got {args.variations}")
    controls = Controls(args.density, args.poly_min, args.poly_max, args.dur_min, args.dur_max)
    sampling = SamplingOptions(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        retries=args.retries,
        max_bar_tokens=args.max_bar_tokens,
    )
    try:
        sampling.validate()
    except ValueError as e:
        raise UsageError(f"--{str(e).replace('_', '-')}") from None
    if args.plot:
        from .pianoroll import require_matplotlib

        require_matplotlib()
    engine = _engine(args)
    try:
        controls.validate(engine.vocab)
    except ValueError as e:
        raise UsageError(f"--{str(e).replace('_', '-')}") from None
    request = gen.Request(
        mode=args.mode,
        selection=selection,
        new_bars=args.new_bars if args.mode == "continue" else 0,
        controls={t: controls for t in tracks},
        velocity=not args.no_velocity,
        microtiming=args.microtiming,
        variations=args.variations,
        sampling=sampling,
    )
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    done = None
    try:
        for event in gen.generate(engine, piece, request):
            if isinstance(event, gen.BarDone):
                say(
                    f"variation {event.variation + 1} track {event.track + 1} bar "
                    f"{event.bar + 1}: {len(event.notes)} notes"
                    + (f" ({event.attempts} attempts)" if event.attempts > 1 else "")
                )
            elif isinstance(event, gen.Done):
                done = event
    except (gen.GenerationError, gen.LanguageError, EngineError) as e:
        raise UsageError(str(e)) from None
    cells = [(s.track, b) for s in selection for b in range(s.first_bar, s.last_bar + 1)]
    written = []
    for path, out in zip(output_paths(args.output, args.variations), done.pieces):
        write_midi(out, path)
        written.append(str(path))
    if args.plot:
        from .pianoroll import plot_piece

        for i, (path, out) in enumerate(zip(output_paths(args.plot, args.variations), done.pieces)):
            title = f"{Path(args.file).name}: {args.mode}, seed {done.seed}"
            plot_piece(
                out, cells, path, title + (f", variation {i + 1}" if args.variations > 1 else "")
            )
            written.append(str(path))
    say(
        f"seed {done.seed}: {done.tokens} tokens in {done.total_ms / 1e3:.2f} s "
        f"(model {done.model_ms / 1e3:.2f} s, first bar after {done.first_bar_ms or 0:.0f} ms, "
        f"{done.retries} retries)"
    )
    print("wrote " + ", ".join(written))
    return 0


class _CurrentStderr(logging.StreamHandler):
    """Writes to sys.stderr as it is when a record comes, not as it was when the handler was
    made: `main()` can run many times in one process (tests), each with its own stderr."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def _engine(args: argparse.Namespace) -> object:
    from midigen.exporter.bundle import BundleError
    from midigen.models import default_bundle

    from ..engine.session import Engine, EngineError

    model = args.model or os.environ.get("MIDIGEN_MODEL") or default_bundle()
    if not model:
        raise UsageError("no model bundle: pass --model FOLDER or set MIDIGEN_MODEL")
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
