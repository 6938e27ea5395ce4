"""What each client message does: find the client by its token, parse strictly, act, answer.

Runs on the network thread, so nothing here waits for the model. A message the server will not
act on is answered /midigen/refused (naming the refused address, the job or piece it named, a
code and a capped line of text) and changes nothing; client input never produces a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..engine.session import Engine
from . import protocol as p
from . import requests
from .clients import Address, Clients, ClientState
from .errors import ErrorCode, Refusal
from .jobs import Job, Scheduler, Send
from .midiloop import ChannelError, LoopBook
from .midiplayer import Player
from .oscwire import OscMessage
from .ratelimit import Budget, LogLimiter
from .replay import Pacer, replay
from .uploads import Pieces

log = logging.getLogger("midigen.handlers")

OPEN = (p.Hello, p.Ping)  # the messages that carry no token


class Handlers:
    """One method per incoming address (`on_<address tail>`); `handle` is the network entry."""

    def __init__(
        self,
        engine: Engine,
        scheduler: Scheduler,
        clients: Clients,
        pieces: Pieces,
        pacer: Pacer,
        send: Send,
        send_to: Callable[[Address, p.Message], bool],
        info: dict[str, Any],
        max_bar_tokens: int = 512,
        loops: LoopBook | None = None,
        player: Player | None = None,
    ):
        self.engine, self.scheduler, self.clients = engine, scheduler, clients
        self.pieces, self.pacer, self.send, self.send_to = pieces, pacer, send, send_to
        self.info = info  # /pong's and /welcome's fields
        self.loops, self.player = loops, player  # None without --midi-out
        self.max_bar_tokens = max_bar_tokens  # lowered by tests: a random model rambles on
        self.refusals = Budget(p.REFUSALS_PER_S)
        self.pongs = Budget(p.REFUSALS_PER_S)
        self.logs = LogLimiter(log)

    def handle(self, sender: Address, message: OscMessage) -> None:
        """Parse and run one message; never raises (the network loop must keep going)."""
        address, args = message.address, message.args
        cls = p.INCOMING.get(address)  # exact match only: no pattern is ever expanded
        client = None
        if cls in OPEN:  # answer at the reply port it names, when that parses
            i = cls.fixed().index("reply_port")
            port = args[i][1] if i < len(args) and args[i][0] == "i" else None
            if type(port) is int and 1 <= port <= 65535:
                sender = (sender[0], port)
        else:
            token = args[0][1] if args and args[0][0] in ("i", "h") else None
            client = self.clients.by_token(token, sender[0])
        if cls is None:
            self._refuse(sender, client, address, 0, ErrorCode.unknown_address, "no such address")
            return
        if cls not in OPEN and client is None:
            text = "unknown or stale token (or another host's): send /hello again"
            self._refuse(sender, None, address, 0, ErrorCode.unknown_client, text)
            return
        try:
            m = cls.from_osc(args)
        except p.BadMessage as e:
            self._refuse(sender, client, address, _number(cls, args), e.code, str(e))
            return
        number = getattr(m, "job", getattr(m, "piece", 0))
        try:
            getattr(self, "on_" + address[len(p.PREFIX) + 1 :].replace("/", "_"))(sender, client, m)
        except Refusal as e:
            self._refuse(sender, client, address, number, e.code, str(e))
        except Exception as e:  # a server bug: logged with its traceback, answered `internal`
            self.logs.exception("bug", "%s from %s failed", address, sender[0])
            text = f"{type(e).__name__}: {e}"
            self._refuse(sender, client, address, number, ErrorCode.internal, text)

    def _refuse(
        self,
        sender: Address,
        client: ClientState | None,
        address: str,
        number: int,
        code: ErrorCode,
        text: str,
    ) -> None:
        """Answer the bound client, else the datagram's source; at most REFUSALS_PER_S a host."""
        self.logs.info(code.name, "refused %s from %s: %s", address, sender[0], p.cap(text))
        if not self.refusals.take(sender[0]):
            return
        reply = p.refused(address, code, number, text)
        if client is not None:
            self.send(client.id, reply)
        else:
            self.send_to(sender, reply)

    # -- clients ----------------------------------------------------------------------------
    def on_hello(self, sender: Address, _: None, m: p.Hello) -> None:
        if m.protocol != p.PROTOCOL_VERSION:
            raise Refusal(
                ErrorCode.wrong_protocol,
                f"this server speaks protocol {p.PROTOCOL_VERSION}, not {m.protocol}",
            )
        state = self.clients.hello(sender[0], m)
        self.send(state.id, p.Welcome(token=state.token, **self.info))

    def on_ping(self, sender: Address, _: None, m: p.Ping) -> None:
        # unauthenticated and 12x its size: under the same per-host budget as refusals
        if self.pongs.take(sender[0]):
            self.send_to((sender[0], m.reply_port), p.Pong(**self.info))

    def on_bye(self, sender: Address, client: ClientState, m: p.Bye) -> None:
        self.pacer.drop(client.id)
        self.clients.bye(client)  # forgets its pieces and results, cancels its jobs

    # -- uploads ----------------------------------------------------------------------------
    def on_upload_begin(self, sender: Address, client: ClientState, m: p.UploadBegin) -> None:
        self.pieces.begin(client.id, m)

    def on_upload_track(self, sender: Address, client: ClientState, m: p.UploadTrack) -> None:
        self.pieces.add_track(client.id, m)

    def on_upload_meter(self, sender: Address, client: ClientState, m: p.UploadMeter) -> None:
        self.pieces.add_meter(client.id, m)

    def on_upload_notes(self, sender: Address, client: ClientState, m: p.UploadNotes) -> None:
        self.pieces.add_notes(client.id, m)

    def on_upload_end(self, sender: Address, client: ClientState, m: p.UploadEnd) -> None:
        self.send(client.id, self.pieces.end(client.id, m))

    # -- jobs -------------------------------------------------------------------------------
    def on_generate(self, sender: Address, client: ClientState, m: p.Generate) -> None:
        live = self.scheduler.find(client.id, m.job)
        if live is not None and live.live:
            raise Refusal(ErrorCode.job_in_use, f"job {m.job} is still {live.state}")
        piece = self.pieces.piece(client.id, m.piece)
        piece, request = requests.build(piece, m, self.max_bar_tokens)
        bars_total = requests.plan(self.engine, piece, request)
        tempo = piece.tempos[0][1] if piece.tempos else 120.0
        job = Job(client.id, m.job, m.piece, piece, request, tempo=tempo, bars_total=bars_total)
        self.scheduler.submit(job)

    def on_status(self, sender: Address, client: ClientState, m: p.Status) -> None:
        self.send(client.id, self.scheduler.status(client.id, m.job))

    def on_cancel(self, sender: Address, client: ClientState, m: p.Cancel) -> None:
        if not self.scheduler.cancel(client.id, m.job):
            job = self.scheduler.find(client.id, m.job)
            state = f"is {job.state}" if job else "is not known"
            raise Refusal(ErrorCode.unknown_job, f"job {m.job} {state}; nothing to cancel")

    def on_result(self, sender: Address, client: ClientState, m: p.Result) -> None:
        job = self.scheduler.find(client.id, m.job)
        if job is None:
            raise Refusal(ErrorCode.unknown_job, f"job {m.job} is not known")
        if job.live or job.final is None:
            raise Refusal(ErrorCode.not_finished, f"job {m.job} is {job.state}")
        self.pacer.start(client.id, replay(job.id, list(job.bars), job.final, m))

    # -- live MIDI out ---------------------------------------------------------------------
    def _book(self) -> LoopBook:
        if self.loops is None or self.player is None:
            raise Refusal(ErrorCode.midi_off, "the server was started without --midi-out")
        return self.loops

    def on_play(self, sender: Address, client: ClientState, m: p.Play) -> None:
        """/playing answers when the loop's first notes are due (the player says when)."""
        loops = self._book()
        try:
            loop = loops.get(client.id, m.job, m.variation)
        except ChannelError as e:
            raise requests.invalid(str(e)) from None
        job = self.scheduler.find(client.id, m.job)
        if loop is None:
            if job is None:
                raise Refusal(ErrorCode.unknown_job, f"job {m.job} is not known")
            if job.request.mode != "loop":
                raise requests.invalid(f"job {m.job} is an {job.request.mode} job, not a loop")
            which = f"variation {m.variation}" if m.variation else "no variation"
            raise Refusal(ErrorCode.not_finished, f"job {m.job}: {which} finished yet")
        tempo = loops.tempos.get(client.id, job.tempo if job is not None else None)
        self.player.play(loop, loops.follow(client.id, m.job, m.variation), tempo)

    def on_stop(self, sender: Address, client: ClientState, m: p.Stop) -> None:
        self._book()
        self.player.stop()

    def on_tempo(self, sender: Address, client: ClientState, m: p.Tempo) -> None:
        """The client's own tempo; it changes the sound now only if its loop is loaded."""
        self._book().tempos[client.id] = m.bpm
        loop = self.player.loop
        if loop is not None and loop.owner == client.id:
            self.player.set_tempo(m.bpm)

    def on_channels(self, sender: Address, client: ClientState, m: p.Channels) -> None:
        chosen = {c.track - 1: c.channel - 1 for c in m.channels}
        self._book().set_channels(client.id, chosen)


def _number(cls: type[p.Message], args: tuple) -> int:
    """The job (else the piece) a message that did not parse named, if that argument is in
    range; else 0."""
    fields = cls.fixed()
    name = "job" if "job" in fields else "piece" if "piece" in fields else None
    if name is None:
        return 0
    i = fields.index(name)
    ok = i < len(args) and type(args[i][1]) is int and 1 <= args[i][1] <= p.INT32
    return args[i][1] if ok else 0
