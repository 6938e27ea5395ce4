"""What the live MIDI out plays: loops built from a loop job's finished bars, the MIDI channel
each track sounds on, and the book of finished variations that /play picks from.

Channels are stable: they depend on the piece's tracks, not on which of them a job generated,
so a track keeps its channel from job to job. Drum tracks play on channel 10; the melodic
tracks take channels 1-9 and 11-16 in track order (the first melodic track is channel 1 even
when the drums are track 1). A piece with more than 15 melodic tracks cannot be mapped that
way: its 16th melodic track and beyond need a channel chosen by the client (/channels), and a
loop that would need one is refused, never wrapped onto a channel another track already uses.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..language.piece import Note

NOTE_ON, NOTE_OFF = 0x90, 0x80
DRUM_CHANNEL = 9  # channel 10, counted from 0
MELODIC_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]
Follow = Callable[["Loop"], "Loop | None"]  # the loop to play after a cycle of this one


class ChannelError(ValueError):
    """A track has no channel: more melodic tracks than channels and no explicit mapping."""


def channel_map(drums: Sequence[bool], chosen: Mapping[int, int] | None = None) -> list[int | None]:
    """The channel (0-15) of each track (0-based) of a piece whose tracks are drums or not;
    `chosen` (track -> channel) overrides. None where a track has no channel."""
    chosen = chosen or {}
    out: list[int | None] = []
    melodic = 0
    for track, is_drum in enumerate(drums):
        if is_drum:
            ch: int | None = DRUM_CHANNEL
        else:
            ch = MELODIC_CHANNELS[melodic] if melodic < len(MELODIC_CHANNELS) else None
            melodic += 1
        out.append(chosen.get(track, ch))
    return out


@dataclass(frozen=True)
class Loop:
    """One variation of a loop job as MIDI events. Offsets are quarters from the loop's first
    bar (`start`, a song position in quarters); a note-off never lies past `length`."""

    owner: object  # the client that asked for it (it hears /playing)
    job: int
    variation: int  # 1-based
    start: float
    length: float
    events: tuple[tuple[float, int, tuple[int, ...]], ...]  # (offset, 0 off / 1 on, message)
    offsets: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "offsets", [e[0] for e in self.events])

    def between(self, lo: float, hi: float) -> tuple[tuple[float, int, tuple[int, ...]], ...]:
        """Events with lo <= offset < hi."""
        return self.events[
            bisect.bisect_left(self.offsets, lo) : bisect.bisect_left(self.offsets, hi)
        ]


def build_loop(
    owner: object,
    job: int,
    variation: int,
    start: float,
    length: float,
    tracks: Iterable[tuple[int, bool, Iterable[Note]]],
    channels: Sequence[int | None] | None = None,
) -> Loop:
    """A loop from (track, is_drum, notes) with piece times; notes are cut at the loop end.
    `channels` is channel_map's answer for the piece (default: these tracks alone)."""
    tracks = list(tracks)
    if channels is None:
        drums = [False] * (max((t for t, _, _ in tracks), default=-1) + 1)
        for t, is_drum, _ in tracks:
            drums[t] = is_drum
        channels = channel_map(drums)
    events = []
    for track, _, notes in tracks:
        ch = channels[track] if track < len(channels) else None
        if ch is None:
            raise ChannelError(
                f"track {track + 1} has no MIDI channel: more than {len(MELODIC_CHANNELS)} "
                "melodic tracks; choose its channel with /midigen/channels"
            )
        for n in notes:
            on = n.start - start
            if not 0 <= on < length:
                continue
            off = min(n.start + n.duration - start, length)
            events.append((on, 1, (NOTE_ON | ch, n.pitch, n.velocity)))
            events.append((off, 0, (NOTE_OFF | ch, n.pitch, 0)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))  # offs before ons at the same time
    return Loop(owner, job, variation, start, length, tuple(events))


@dataclass
class _Take:
    """A finished variation's bars, kept so its loop can be rebuilt when channels change."""

    start: float
    length: float
    drums: list[bool]
    tracks: list[tuple[int, bool, list[Note]]]
    loop: Loop | None = None
    error: str = ""


class LoopBook:
    """Finished variations of loop jobs (per client), each client's channel choice and tempo.

    The variation policy: `/play job 0` cycles through every finished variation of the
    client's newest loop job, one per loop cycle, taking in variations (and newer jobs) as they
    finish; `/play job k` holds variation k. Everything of a client is dropped when it leaves.
    """

    KEEP = 64  # finished variations remembered (all clients)
    PARTIAL = 64  # loop jobs whose bars are still being collected (all clients)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bars: dict[tuple, list] = {}
        # (owner, job) -> the request its bars and takes came from: a job number reused by a
        # new job (after a cancel, a failure or a supersede) must not inherit the old one's bars
        self._requests: OrderedDict[tuple, object] = OrderedDict()
        self._takes: OrderedDict[tuple, _Take] = OrderedDict()
        self.channels: dict[object, dict[int, int]] = {}  # client -> {track: channel}
        self.tempos: dict[object, float] = {}  # client -> bpm for free-running

    def add_bar(self, owner: object, job: int, piece: object, request: object, bar: object) -> None:
        """Called by the worker for every finished bar (generation.BarDone) of every job."""
        if request.mode != "loop":
            return
        cells = sum(s.last_bar - s.first_bar + 1 for s in request.selection)
        key = (owner, job, int(bar.variation) + 1)
        with self._lock:
            self._adopt(owner, job, request)
            bars = self._bars.setdefault(key, [])
            bars.append(bar)
            if len(bars) < cells:
                return
            del self._bars[key]
            start, end = min(b.start for b in bars), max(b.end for b in bars)
            drums = [t.is_drum for t in piece.tracks]
            tracks = [(int(b.track), drums[b.track], list(b.notes)) for b in bars]
            take = _Take(start, end - start, drums, tracks)
            self._build(key, take)
            self._takes[key] = take
            while len(self._takes) > self.KEEP:
                self._takes.popitem(last=False)

    def _adopt(self, owner: object, job: int, request: object) -> None:
        """Make `request` the one job number `job` of `owner` stands for; what an earlier job
        of that number left (partial bars, finished variations) goes. Bounded: the oldest
        jobs' partial bars go first when more than PARTIAL are being collected."""
        if self._requests.get((owner, job)) is request:
            self._requests.move_to_end((owner, job))
            return
        self._drop(lambda k: k[:2] == (owner, job))
        self._requests[(owner, job)] = request
        while len(self._requests) > self.PARTIAL:
            (old_owner, old_job), _ = self._requests.popitem(last=False)
            for key in [k for k in self._bars if k[:2] == (old_owner, old_job)]:
                del self._bars[key]

    def _drop(self, which: Callable[[tuple], bool]) -> None:
        for key in [k for k in self._takes if which(k)]:
            del self._takes[key]
        for key in [k for k in self._bars if which(k)]:
            del self._bars[key]
        for key in [k for k in self._requests if which(k)]:
            del self._requests[key]

    def _build(self, key: tuple, take: _Take) -> None:
        channels = channel_map(take.drums, self.channels.get(key[0]))
        try:
            take.loop = build_loop(*key, take.start, take.length, take.tracks, channels)
            take.error = ""
        except ChannelError as e:
            take.loop, take.error = None, str(e)

    def set_channels(self, owner: object, chosen: Mapping[int, int]) -> None:
        """The client's track -> channel choice (0-based both); its loops are rebuilt with it
        (a loop already playing keeps its channels until it is played again)."""
        with self._lock:
            self.channels[owner] = dict(chosen)
            for key, take in self._takes.items():
                if key[0] == owner:
                    self._build(key, take)

    def get(self, owner: object, job: int, variation: int) -> Loop | None:
        """Variation 1..K of a job, or 0 for its newest finished one. ChannelError when it
        cannot be mapped to channels."""
        with self._lock:
            mine = [k[2] for k in self._takes if k[:2] == (owner, job)]  # in finishing order
            if not mine or (variation and variation not in mine):
                return None
            take = self._takes[(owner, job, variation or mine[-1])]
            if take.loop is None:
                raise ChannelError(take.error)
            return take.loop

    def follow(self, owner: object, job: int, variation: int) -> Follow | None:
        """What plays after each cycle: None holds the variation; else the cycle above."""
        if variation:
            return None

        def after(current: Loop) -> Loop | None:
            with self._lock:
                mine = [(k, t) for k, t in self._takes.items() if k[0] == owner and t.loop]
                if not mine:
                    return None
                newest = mine[-1][0][1]
                loops = sorted((k[2], t.loop) for k, t in mine if k[1] == newest)
                if newest != current.job:
                    return loops[0][1]
                later = [loop for v, loop in loops if v > current.variation]
                return (later or [loops[0][1]])[0]

        return after

    def forget(self, owner: object) -> None:
        """The client left: its variations, channels and tempo go."""
        with self._lock:
            self._drop(lambda k: k[0] == owner)
            self.channels.pop(owner, None)
            self.tempos.pop(owner, None)
