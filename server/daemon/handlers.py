"""What each client message does: validate, touch uploads or jobs, answer. Runs on the network
thread, so nothing here waits for the model; anything that goes wrong becomes /midigen/error.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

from ..engine.generation import Request
from ..engine.sampling import SamplingOptions
from ..engine.session import Engine
from ..language.controls import Controls
from ..language.piece import Piece
from ..language.windows import Selection
from . import protocol as p
from .jobs import Client, Job, Rejected, Scheduler, Send
from .midiout import LoopBook
from .uploads import UploadError, Uploads

log = logging.getLogger("midigen.handlers")


class Handlers:
    """One method per incoming address (`on_<address tail>`); `handle` is the dispatcher's entry."""

    def __init__(
        self,
        engine: Engine,
        scheduler: Scheduler,
        send: Send,
        pong: p.Pong,
        max_bar_tokens: int = 512,
        loops: LoopBook | None = None,
    ):
        self.engine, self.scheduler, self.send, self.pong = engine, scheduler, send, pong
        self.loops = loops  # None without --midi-out
        self.uploads = Uploads()
        self.max_bar_tokens = max_bar_tokens  # lowered by tests: a random model rambles on

    def addresses(self) -> list[str]:
        return list(p.INCOMING)

    def handle(self, sender: tuple[str, int], address: str, *args: Any) -> None:
        """Parse and run one message; never raises (the network loop must keep going)."""
        cls = p.INCOMING.get(address)
        try:
            if cls is None:
                raise p.BadMessage(f"no such address: {address}")
            message = cls.from_args(args)
        except p.BadMessage as e:
            code = p.ErrorCode.bad_message if cls else p.ErrorCode.unknown_address
            self._refuse(sender, args, code, str(e))
            return
        client = (sender[0], message.reply_port)
        job = getattr(message, "job", -1)
        try:
            name = "on_" + address[len(p.PREFIX) + 1 :].replace("/", "_")
            getattr(self, name)(client, message)
        except (UploadError, Rejected) as e:
            log.info("%s from %s:%d: %s", address, *client, e)
            self.send(client, p.error(job, e.code, str(e)))
        except Exception as e:
            log.exception("%s from %s:%d failed", address, *client)
            self.send(client, p.error(job, p.ErrorCode.internal, f"{type(e).__name__}: {e}"))

    def _refuse(self, sender: tuple[str, int], args: Sequence[Any], code: p.ErrorCode, text: str):
        """Answer a message that did not parse, if it says where to (its first int argument)."""
        port = args[0] if args and type(args[0]) is int and 1 <= args[0] <= 65535 else None
        job = args[1] if len(args) > 1 and type(args[1]) is int and args[1] >= 1 else -1
        if port is None:
            log.warning("from %s:%d, no reply port: %s", *sender[:2], text)
            return
        log.info("from %s:%d: %s", sender[0], port, text)
        self.send((sender[0], port), p.error(job, code, text))

    # -- messages ---------------------------------------------------------------------------
    def on_ping(self, client: Client, m: p.Ping) -> None:
        self.send(client, self.pong)

    def on_upload_begin(self, client: Client, m: p.UploadBegin) -> None:
        if self.scheduler.is_live(client, m.job):
            raise Rejected(p.ErrorCode.job_in_use, f"job {m.job} is still queued or running")
        self.uploads.begin(client, m)

    def on_upload_track(self, client: Client, m: p.UploadTrack) -> None:
        self.uploads.get(client, m.job).add_track(m)

    def on_upload_meter(self, client: Client, m: p.UploadMeter) -> None:
        self.uploads.get(client, m.job).add_meter(m)

    def on_upload_notes(self, client: Client, m: p.UploadNotes) -> None:
        self.uploads.get(client, m.job).add_notes(m)

    def on_upload_end(self, client: Client, m: p.UploadEnd) -> None:
        upload = self.uploads.get(client, m.job)
        try:
            piece = upload.finish(m.notes)
        except UploadError:
            self.uploads.discard(client, m.job)
            raise
        n = sum(len(t.notes) for t in piece.tracks)
        self.send(client, p.Uploaded(job=m.job, notes=n))

    def on_generate(self, client: Client, m: p.Generate) -> None:
        piece = self.uploads.piece(client, m.job)
        piece, request = self._request(piece, m)
        self.scheduler.submit(Job(client, m.job, piece, request))
        self.uploads.discard(client, m.job)  # only now: a refused request can be fixed and resent

    def on_cancel(self, client: Client, m: p.Cancel) -> None:
        if not self.scheduler.cancel(client, m.job):
            job = self.scheduler.find(client, m.job)
            state = f"is {job.state}" if job else "is not known"
            raise Rejected(p.ErrorCode.unknown_job, f"job {m.job} {state}; nothing to cancel")

    def on_result(self, client: Client, m: p.Result) -> None:
        job = self.scheduler.find(client, m.job)
        if job is None:
            raise Rejected(p.ErrorCode.unknown_job, f"job {m.job} is not known")
        if job.live:
            raise Rejected(p.ErrorCode.not_finished, f"job {m.job} is {job.state}")
        for reply in list(job.replies):
            self.send(client, reply)

    # -- live MIDI out ---------------------------------------------------------------------
    def _player(self) -> LoopBook:
        if self.loops is None:
            raise Rejected(p.ErrorCode.midi_off, "the server was started without --midi-out")
        return self.loops

    def on_play(self, client: Client, m: p.Play) -> None:
        loops = self._player()
        loop = loops.get(client, m.job, m.variation)
        if loop is None:
            job = self.scheduler.find(client, m.job)
            if job is None:
                raise Rejected(p.ErrorCode.unknown_job, f"job {m.job} is not known")
            if job.request.mode != "loop":
                raise _invalid(f"job {m.job} is an {job.request.mode} job, not a loop")
            which = f"variation {m.variation}" if m.variation else "no variation"
            raise Rejected(p.ErrorCode.not_finished, f"job {m.job}: {which} finished yet")
        job = self.scheduler.find(client, m.job)
        if job is not None:
            loops.player.set_tempo(job.piece.tempo_at(loop.start), explicit=False)
        loops.player.play(loop)

    def on_stop(self, client: Client, m: p.Stop) -> None:
        self._player().player.stop()

    def on_tempo(self, client: Client, m: p.Tempo) -> None:
        self._player().player.set_tempo(m.bpm)

    # -- /generate to a generation request -------------------------------------------------
    def _request(self, piece: Piece, m: p.Generate) -> tuple[Piece, Request]:
        """Check the selections against the piece and build the 0-based request."""
        n_bars, n_tracks = len(piece.bars()), len(piece.tracks)
        selection, controls, programs = [], {}, {}
        for s in m.selections:
            if s.track > n_tracks:
                raise _invalid(f"track {s.track}: the piece has {n_tracks} tracks")
            if s.first_bar > s.last_bar:
                raise _invalid(f"track {s.track}: bars {s.first_bar}-{s.last_bar} are reversed")
            if m.mode == "continue":
                if s.first_bar != n_bars + 1:
                    raise _invalid(
                        f"continue writes bars after the piece's {n_bars}: first_bar must be "
                        f"{n_bars + 1}, got {s.first_bar}"
                    )
                if s.last_bar - n_bars > p.MAX_NEW_BARS:
                    raise _invalid(f"continue adds at most {p.MAX_NEW_BARS} bars")
            elif s.last_bar > n_bars:
                raise _invalid(f"track {s.track}: bar {s.last_bar} of a {n_bars}-bar piece")
            t = s.track - 1
            selection.append(Selection(t, s.first_bar - 1, s.last_bar - 1))
            c = [None if v < 0 else v for v in (s.density, s.poly_min, s.poly_max)]
            c += [None if v < 0 else v for v in (s.dur_min, s.dur_max)]
            controls.setdefault(t, Controls(*c))
            if s.program >= 0:
                programs.setdefault(t, s.program)
        for t, c in controls.items():
            try:
                c.validate(self.engine.vocab)
            except ValueError as e:
                raise _invalid(f"track {t + 1}: {e}") from None
        if m.mode == "continue" and len({s.last_bar for s in selection}) > 1:
            raise _invalid("continue: every selection must end at the same bar")
        if programs:
            piece = copy.deepcopy(piece)
            for t, program in programs.items():
                piece.tracks[t].program = program
        sampling = SamplingOptions(
            temperature=m.temperature,
            top_p=m.top_p,
            seed=None if m.seed < 0 else m.seed,
            max_bar_tokens=self.max_bar_tokens,
        )
        request = Request(
            mode=m.mode,
            selection=selection,
            new_bars=selection[0].last_bar + 1 - n_bars if m.mode == "continue" else 0,
            controls=controls,
            velocity=bool(m.velocity),
            microtiming=bool(m.microtiming),
            variations=m.variations,
            sampling=sampling,
        )
        return piece, request


def _invalid(text: str) -> Rejected:
    return Rejected(p.ErrorCode.invalid_request, text)
