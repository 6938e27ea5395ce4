"""`midigen-server`: the OSC daemon the DAW clients talk to (docs/osc-protocol.md).

Start-up is ordered so that mistakes fail fast with one line: arguments, then the port (bound
before the model loads, so "port in use" does not wait for a model), then the model. After
that one line says what is being served, and only warnings and job lines follow.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from midigen.models import default_bundle

from ..engine.generation import BarDone
from ..engine.session import DEVICES, Engine, will_use_cuda
from . import protocol as p
from .clients import Clients
from .handlers import Handlers
from .jobs import Job, Scheduler
from .livepacing import LivePacer
from .midiloop import Loop, LoopBook
from .midiout import BACKENDS, MidiError, open_backend
from .midiplayer import Player
from .oscserver import Network, OscServer, parse_networks, port_in_use
from .replay import Pacer
from .uploads import Pieces

log = logging.getLogger("midigen.daemon")


def version() -> str:
    try:
        return metadata.version("midigen")
    except metadata.PackageNotFoundError:
        return "unknown"


def controls_text(engine: Engine) -> str:
    """The control ranges /pong reports, from the model's own language document."""
    doc = engine.vocab.document
    levels, poly = doc["density_levels"], doc["polyphony_levels"]
    dur = len(doc["duration_classes"]) - 1
    return (
        f"program=0..127 density=1..{levels} poly_min=1..{poly} poly_max=1..{poly} "
        f"dur_min=0..{dur} dur_max=0..{dur} pitch_min=0..127 pitch_max=0..127 "
        f"velocity=0..1 microtiming=0..1 "
        f"temperature=0..10 top_p=0..1 seed=0..2147483647 variations=1..{p.MAX_VARIATIONS}"
    )


class Daemon:
    """The server assembled: OSC server, clients, pieces, handlers, job scheduler, replay pacer
    and the housekeeping timer. Tests run it in-process."""

    def __init__(
        self,
        engine: Engine,
        server: OscServer | None = None,
        host: str = "127.0.0.1",
        port: int = 9000,
        allow: Sequence[Network] = (),
        max_queue: int = p.DEFAULT_QUEUE,
        max_bar_tokens: int = 512,
        player: Player | None = None,
        refusals_per_s: int = p.REFUSALS_PER_S,
        silent_s: float = p.SILENT_S,
        unreachable_grace_s: float = p.UNREACHABLE_GRACE_S,
    ):
        """`player`: the live loop player of an open MIDI backend (--midi-out), if any.
        `refusals_per_s`, `silent_s` and `unreachable_grace_s` are the protocol's; tests and the
        stress run lower or raise them to see past them."""
        self.engine = engine
        self.server = server or OscServer((host, port), allow)
        self.player, self.loops, on_bar = player, None, None
        if player is not None:
            player.on_swap = self._playing
            self.loops = LoopBook()
            on_bar = self._on_bar
        self.live = LivePacer(self.send)  # a job's replies: at once, unless a device floods
        self.scheduler = Scheduler(engine, self.live.send_live, max_queue, on_bar)
        self.pieces = Pieces()
        self.clients = Clients(self.scheduler.has_live, self._forget)
        self.pacer = Pacer(self.send)
        info = dict(
            protocol=p.PROTOCOL_VERSION,
            version=version(),
            model=engine.bundle.path.name,
            device=engine.device,
            window_bars=engine.window_bars,
            max_tracks=engine.max_tracks,
            rcvbuf=min(self.server.rcvbuf, p.INT32),
            controls=controls_text(engine),
        )
        self.handlers = Handlers(
            engine, self.scheduler, self.clients, self.pieces, self.pacer, self.send,
            self.server.send_to, info, max_bar_tokens, self.loops, player,
        )  # fmt: skip
        self.handlers.refusals.rate = self.handlers.pongs.rate = refusals_per_s
        self.silent_s, self.unreachable_grace_s = silent_s, unreachable_grace_s
        self.server.handler = self.handlers.handle
        self.server.on_unreachable = self._unreachable
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._housekeeping, name="midigen-timer", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return self.server.server_address[:2]

    def send(self, client: str, message: p.Message) -> None:
        """Send to a client by id, at the address it said /hello from most recently."""
        address = self.clients.address(client)
        if address is not None:
            self.server.send_to(address, message)

    def start(self) -> Daemon:
        self.scheduler.start()
        self._thread = self.server.serve_in_thread()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop listening, cancel jobs (clients hear "shutdown"), silence the MIDI out, close."""
        self._stop.set()
        self.server.shutdown()
        self.scheduler.stop()
        self.live.stop()
        self.pacer.stop()
        if self.player is not None:
            self.player.stop()
            self.player.close()
        self.server.server_close()

    def housekeeping(self) -> None:
        """Expire idle uploads, pieces and old results; cancel the jobs of silent clients."""
        self.pieces.expire()
        self.scheduler.expire()
        for client in self.clients.silent(self.silent_s):
            if self.scheduler.cancel_client(client, "gone"):
                log.info("client %s silent for %g s: live jobs cancelled", client, self.silent_s)

    def _housekeeping(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.housekeeping()
            except Exception:  # a bug here must not stop the timer
                log.exception("housekeeping failed")

    def _unreachable(self, address: tuple[str, int]) -> None:
        """A reply bounced (ICMP port unreachable): unless the client speaks again within
        UNREACHABLE_GRACE_S (a reload says /hello from its new port), its jobs are cancelled."""
        seen = time.monotonic() - self.silent_s + self.unreachable_grace_s
        self.clients.unreachable(address, seen)

    def _forget(self, client: str) -> None:
        self.scheduler.forget_client(client)
        self.pieces.forget_client(client)
        self.pacer.drop(client)
        self.live.forget(client)
        if self.loops is not None:  # its loop stops, its variations, channels and tempo go
            self.player.forget(client)
            self.loops.forget(client)

    def _on_bar(self, job: Job, bar: BarDone) -> None:
        self.loops.add_bar(job.client, job.id, job.piece, job.request, bar)

    def _playing(self, loop: Loop) -> None:
        self.send(loop.owner, p.Playing(job=loop.job, variation=loop.variation))

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="midigen-server",
        description="Serve a midigen model to DAW clients over OSC (UDP); docs/osc-protocol.md",
        epilog="example:\n  midigen-server --port 9000 --model models/my-bundle",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"midigen-server {version()}")
    parser.add_argument("--port", type=int, default=9000, help="UDP port (9000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument(
        "--model", help="bundle folder (default: $MIDIGEN_MODEL, else the embedded model)"
    )
    parser.add_argument("--device", choices=DEVICES, default="auto", help="(auto)")
    parser.add_argument(
        "--allow",
        nargs="+",
        default=[],
        metavar="CIDR",
        help="also accept clients from these networks, e.g. 192.168.1.0/24 (loopback always)",
    )
    parser.add_argument(
        "--midi-out",
        metavar="NAME",
        help="also play loop jobs live on a virtual MIDI output NAME (clock input: 'NAME sync')",
    )
    parser.add_argument(
        "--midi-backend",
        choices=BACKENDS,
        default="auto",
        help="for --midi-out: auto takes JACK when a JACK server runs, else ALSA (macOS: CoreMIDI)",
    )
    parser.add_argument(
        "--max-queue", type=int, default=p.DEFAULT_QUEUE, help="jobs that may wait (16)"
    )
    parser.add_argument(
        "--max-refusals",
        type=int,
        default=p.REFUSALS_PER_S,
        metavar="N",
        help=f"/refused replies per second per host ({p.REFUSALS_PER_S}); the rest are counted",
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )
    return parser


def _fail(text: str, code: int = 1) -> int:
    print(f"midigen-server: {text}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="midigen-server: %(levelname)s %(message)s"
    )
    if args.log_level != "debug":  # the startup line below says what the engine would say
        logging.getLogger("midigen.engine").setLevel(logging.WARNING)
    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port}: must be 0..65535", 2)
    if args.max_queue < 1:
        return _fail(f"--max-queue {args.max_queue}: must be at least 1", 2)
    if args.max_refusals < 0:
        return _fail(f"--max-refusals {args.max_refusals}: must be at least 0", 2)
    try:
        allow = parse_networks(args.allow)
    except ValueError as e:
        return _fail(str(e), 2)
    model = (args.model or os.environ.get("MIDIGEN_MODEL")
             or default_bundle(gpu=will_use_cuda(args.device)))  # fmt: skip
    if model is None:
        return _fail(
            "no default model is installed (models/ holds no bundle yet); "
            "pass --model FOLDER or set MIDIGEN_MODEL",
            2,
        )
    try:
        server = OscServer((args.host, args.port), allow)
    except OSError as e:
        if port_in_use(e):
            return _fail(f"port {args.port} on {args.host} is in use (another midigen-server?)")
        return _fail(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}")
    try:
        if not Path(model).exists():
            raise FileNotFoundError("no such file or folder")
        engine = Engine(model, device=args.device)
    except Exception as e:  # BundleError, EngineError, ONNX Runtime's own: all one line
        server.server_close()
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        first = first.removeprefix(f"{model}: ")
        return _fail(f"cannot load the model {model}: {first}")
    player, backend, midi_line = None, None, ""
    if args.midi_out:
        player = Player()
        try:
            backend = open_backend(player, args.midi_out, args.midi_backend)
        except MidiError as e:
            server.server_close()
            return _fail(str(e))
        midi_line = f", MIDI out '{args.midi_out}' ({backend.name})"
    daemon = Daemon(
        engine, server, max_queue=args.max_queue, player=player, refusals_per_s=args.max_refusals
    )
    host, port = daemon.address
    print(
        f"midigen-server {version()}: model {engine.bundle.path.name} on {engine.device}, "
        f"OSC protocol {p.PROTOCOL_VERSION} on udp {host}:{port}{midi_line}",
        flush=True,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    daemon.start()
    while not stop.wait(0.5):
        pass
    daemon.stop()  # silences the player: its last note-offs go out before the backend closes
    if backend is not None:
        time.sleep(0.05)
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
