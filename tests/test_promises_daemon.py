"""Promises of docs/osc-protocol.md that a client builds on, each checked from the wire (or the
stored piece) in a way that fails when the promise breaks: seeds, exactly one ending per job
(shutdown included), /result on a live job, a track selected twice, the upload's cut at the
piece's end, the continue limit and /tempo without --midi-out.

"No more replies will come" is established by an event, never a sleep (tests/wire.py).
"""

from __future__ import annotations

import pytest

import tiny_bundle
from midigen.server.daemon import oscwire
from midigen.server.daemon import protocol as p
from midigen.server.daemon.client import Client, Selection, bars
from midigen.server.daemon.main import Daemon
from midigen.server.language.midifiles import read_midi
from wire import WAIT, drained

FINAL = (p.Done, p.Cancelled, p.Failed)


@pytest.fixture
def serve(engine):
    """Daemons on free loopback ports; each stopped once afterwards (a test may stop it)."""
    started = []

    def start(**kw):
        kw.setdefault("max_bar_tokens", 40)  # a random model would ramble to 512 tokens a bar
        started.append(Daemon(engine, port=0, **kw).start())
        return started[-1]

    yield start
    for daemon in started:
        if not daemon._stop.is_set():
            daemon.stop()


@pytest.fixture
def client(serve):
    """One client that said /hello to a fresh daemon, with piece 1 (prompt_bmw) uploaded."""
    daemon = serve()
    with Client(daemon.address) as c:
        c.hello()
        c.daemon = daemon
        c.upload(1, read_midi(tiny_bundle.MIDI / "prompt_bmw.mid"))
        yield c


def endings(c: Client, job: int, since: int = 0) -> list[p.Message]:
    return [m for m in c.replies(job, since) if isinstance(m, FINAL)]


def long_job(c: Client, job: int, tracks=(1, 2, 3), piece: int = 1) -> int:
    """A job that runs long enough to be cancelled mid-way; its first bar has arrived."""
    since = len(c.inbox)
    c.generate(job, piece, "infill", [Selection(t, 1, 8) for t in tracks], variations=16, seed=3)
    c.wait(lambda m: isinstance(m, p.Bar) and m.job == job, WAIT, since)
    return since


def run(c: Client, job: int, seed: int) -> tuple[p.Done, dict]:
    since = len(c.inbox)
    c.generate(job, 1, "infill", [Selection(1, 2, 3), Selection(2, 2, 3)], variations=2,
               seed=seed)  # fmt: skip
    done = c.finished(job, WAIT, since)
    assert isinstance(done, p.Done), done
    got = bars(c.replies(job, since))
    assert sum(len(notes) for notes in got.values()) > 0  # equal results must mean something
    assert len(got) == done.bars == 2 * 2 * 2  # variations x tracks x bars, each group once
    assert 0 <= done.queue_ms and 0 < done.first_bar_ms <= done.total_ms  # milliseconds
    assert c.status(job) == p.State(job=job, state="done", position=0, bars_sent=8, bars_total=8)
    return done, got


def test_a_fresh_seed_is_reported_and_sending_it_back_repeats_the_job(client):
    first, first_bars = run(client, 1, seed=-1)
    second, _ = run(client, 2, seed=-1)
    assert 0 <= first.seed <= p.INT32 and 0 <= second.seed <= p.INT32
    assert first.seed != second.seed  # -1 is fresh each time (a repeat: 1 in 2**31)
    again, again_bars = run(client, 3, seed=first.seed)
    assert again.seed == first.seed and again_bars == first_bars
    assert [client.status(job).state for job in (1, 2, 3)] == ["done"] * 3  # all kept (<= 16)


def test_seed_0_is_a_seed_not_a_request_for_a_fresh_one(client):
    a, a_bars = run(client, 1, seed=0)
    b, b_bars = run(client, 2, seed=0)
    assert a.seed == b.seed == 0 and a_bars == b_bars


def test_a_running_job_cancelled_twice_ends_once(client):
    since = long_job(client, 1)
    client.cancel(1)
    client.cancel(1)
    assert client.finished(1, WAIT, since) == p.Cancelled(job=1, reason="cancel")
    assert client.status(1).state == "cancelled"  # its ending was sent before this answer
    drained(client)
    assert endings(client, 1, since) == [p.Cancelled(job=1, reason="cancel")]


def test_a_queued_job_cancelled_twice_ends_once_and_the_second_is_refused(client):
    since = long_job(client, 1, tracks=(1, 3))
    client.generate(2, 1, "infill", [Selection(2, 1, 1)], seed=1)  # another track: queued
    client.wait(lambda m: isinstance(m, p.Accepted) and m.job == 2, WAIT, since)
    client.cancel(2)
    client.cancel(2)
    refused = client.wait(lambda m: isinstance(m, p.Refused), WAIT, since)
    assert (refused.request, refused.code, refused.number) == ("/midigen/cancel", "unknown_job", 2)
    client.cancel(1)
    client.finished(1, WAIT, since)
    drained(client)
    assert endings(client, 2, since) == [p.Cancelled(job=2, reason="cancel")]


def test_shutdown_ends_every_live_job_once_with_shutdown(client):
    """The running job and the queued ones all hear /cancelled shutdown, once each."""
    since = long_job(client, 1, tracks=(1,))
    client.generate(2, 1, "infill", [Selection(2, 1, 8)], seed=1)
    client.generate(3, 1, "infill", [Selection(3, 1, 8)], seed=1)
    for job in (2, 3):
        client.wait(lambda m, j=job: isinstance(m, p.Accepted) and m.job == j, WAIT, since)
    client.daemon.stop()  # returns after the worker ended and the socket closed
    drained(client)
    for job in (1, 2, 3):
        assert endings(client, job, since) == [p.Cancelled(job=job, reason="shutdown")]


def test_result_of_a_live_job_is_refused_not_finished(client):
    since = long_job(client, 1, tracks=(1, 3))
    client.generate(2, 1, "infill", [Selection(2, 1, 2)], variations=3, seed=1)  # queued
    client.wait(lambda m: isinstance(m, p.Accepted) and m.job == 2, WAIT, since)
    state = client.status(2)  # known before it runs: 3 variations x 2 bars
    assert (state.state, state.position, state.bars_sent, state.bars_total) == ("queued", 1, 0, 6)
    running = client.status(1)  # position: jobs before it while queued, else 0
    assert (running.state, running.position) == ("running", 0), running
    for job in (1, 2):  # running, queued
        mark = len(client.inbox)
        client.result(job)
        r = client.wait(lambda m: isinstance(m, p.Refused), WAIT, mark)
        assert (r.request, r.code, r.number) == ("/midigen/result", "not_finished", job)
    client.cancel(1)
    client.cancel(2)
    client.finished(1, WAIT, since)
    assert not [m for m in client.inbox[since:] if isinstance(m, p.Done)]


def test_a_track_selected_twice_keeps_its_first_selections_controls(client):
    """Two bar ranges of one track: the controls are the track's, the first selection's. The
    register and the longest duration class are hard rules of the grammar, and the two
    selections' values do not meet: notes within 40-52, none an 8th or longer (class 1 is
    a 16th, docs/language.md), in both ranges."""
    first = Selection(1, 2, 2, dur_max=1, pitch_min=40, pitch_max=52)
    second = Selection(1, 4, 4, dur_min=4, dur_max=5, pitch_min=80, pitch_max=90)
    client.generate(1, 1, "infill", [first, second], variations=2, seed=2)
    assert isinstance(client.finished(1, WAIT), p.Done)
    notes = [n for notes in bars(client.replies(1)).values() for n in notes]
    assert notes and all(40 <= n.pitch <= 52 for n in notes), notes
    assert all(n.duration < 0.5 for n in notes), notes  # in quarters


def test_continue_adds_at_most_max_new_bars(client):
    """Checked before /accepted: a refused job uses nothing up (bmw has 8 bars)."""
    last = 8 + p.MAX_NEW_BARS
    since = len(client.inbox)
    client.generate(1, 1, "continue", [Selection(1, 9, last + 1)])
    r = client.wait(lambda m: isinstance(m, p.Refused), WAIT, since)
    assert (r.code, r.number) == ("too_large", 1) and str(p.MAX_NEW_BARS) in r.message
    client.generate(1, 1, "continue", [Selection(1, 9, last)])  # the limit itself is accepted
    client.wait(lambda m: isinstance(m, p.Accepted) and m.job == 1, WAIT, since)
    client.cancel(1)
    client.finished(1, WAIT, since)
    assert not [m for m in client.inbox[since:] if isinstance(m, p.Refused)][1:]


def test_tempo_without_midi_out_is_refused_midi_off(client):
    since = len(client.inbox)
    client.request(p.Tempo, bpm=120.0)  # a valid tempo: only the missing MIDI out refuses it
    r = client.wait(lambda m: isinstance(m, p.Refused), WAIT, since)
    assert (r.request, r.code) == ("/midigen/tempo", "midi_off")


def upload_one_bar(c: Client, piece: int, notes: list[tuple[int, int, int, int]]) -> p.Message:
    """A 1-bar 4/4 piece (384 ticks) with these (pitch, start, duration, velocity) notes."""
    since = len(c.inbox)
    c.request(p.UploadBegin, piece=piece, tracks=1, bars=1, tempo=120.0)
    c.request(p.UploadTrack, piece=piece, track=1, program=0, drum=0, name="")
    chunk = [dict(pitch=a, start=b, duration=d, velocity=v) for a, b, d, v in notes]
    c.request(p.UploadNotes, piece=piece, chunk=1, track=1, notes=chunk)
    c.request(p.UploadEnd, piece=piece, tracks=1, meters=0, chunks=1, notes=len(notes))
    return c.wait(
        lambda m: isinstance(m, (p.Uploaded, p.UploadMissing, p.Refused)) and
        getattr(m, "piece", getattr(m, "number", None)) == piece, WAIT, since,
    )  # fmt: skip


def test_a_note_ringing_past_the_end_is_cut_there(client):
    end = 4 * p.TICKS  # one bar of 4/4
    assert upload_one_bar(client, 2, [(60, 0, 1000, 90), (62, 96, 96, 90)]) == p.Uploaded(
        piece=2, notes=2
    )
    stored = client.daemon.pieces.piece(client.client_id, 2)
    got = sorted((n.pitch, n.start, n.start + n.duration) for n in stored.tracks[0].notes)
    assert got == [(60, 0.0, end / p.TICKS), (62, 1.0, 2.0)]


@pytest.mark.parametrize("start", [4 * 96, 4 * 96 + 1, 10_000])
def test_a_note_starting_at_or_after_the_end_is_refused_and_the_upload_dropped(client, start):
    r = upload_one_bar(client, 2, [(60, 0, 96, 90), (64, start, 10, 90)])
    assert isinstance(r, p.Refused), r
    assert (r.request, r.code, r.number) == ("/midigen/upload/end", "bad_message", 2)
    since = len(client.inbox)
    client.generate(1, 2, "infill", [Selection(1, 1, 1)])
    r = client.wait(lambda m: isinstance(m, p.Refused), WAIT, since)
    assert (r.code, r.number) == ("no_upload", 1)


def test_a_piece_holds_at_most_max_notes_and_a_resent_chunk_counts_once():
    from midigen.server.daemon.errors import Refusal
    from midigen.server.daemon.uploads import Pieces

    pieces = Pieces(stored_notes=10 * p.MAX_NOTES)
    pieces.begin("a", p.UploadBegin(token=1, piece=1, tracks=1, bars=8, tempo=120.0))
    note = p.NoteArgs(pitch=60, start=0, duration=96, velocity=90)
    sizes = [60] * (p.MAX_NOTES // 60) + ([p.MAX_NOTES % 60] if p.MAX_NOTES % 60 else [])

    def chunk(number: int, count: int) -> p.UploadNotes:
        return p.UploadNotes(token=1, piece=1, chunk=number, track=1, notes=[note] * count)

    for number, size in enumerate(sizes, 1):
        pieces.add_notes("a", chunk(number, size))
    pieces.add_notes("a", chunk(1, 60))  # resent: replaces chunk 1, no growth
    assert pieces.stored == p.MAX_NOTES
    with pytest.raises(Refusal) as refused:
        pieces.add_notes("a", chunk(len(sizes) + 1, 1))
    assert refused.value.code.name == "too_large" and str(p.MAX_NOTES) in str(refused.value)
    assert pieces.stored == p.MAX_NOTES  # the refused chunk stored nothing


def test_open_uploads_are_never_evicted_for_room_a_new_one_is_too_large():
    from midigen.server.daemon.errors import Refusal
    from midigen.server.daemon.uploads import Pieces

    pieces = Pieces(stored_notes=100)
    note = p.NoteArgs(pitch=60, start=0, duration=96, velocity=90)
    for client in ("a", "b"):
        pieces.begin(client, p.UploadBegin(token=1, piece=1, tracks=1, bars=8, tempo=120.0))
    pieces.add_notes("a", p.UploadNotes(token=1, piece=1, chunk=1, track=1, notes=[note] * 60))
    with pytest.raises(Refusal) as refused:
        pieces.add_notes("b", p.UploadNotes(token=1, piece=1, chunk=1, track=1, notes=[note] * 60))
    assert refused.value.code.name == "too_large"
    assert pieces.stored == 60  # a's open upload is intact


def test_overlapping_selections_are_refused_in_wire_numbers(client):
    """Tracks and bars are 1-based on the wire, refusal texts included."""
    since = len(client.inbox)
    client.generate(1, 1, "infill", [Selection(2, 1, 3), Selection(2, 3, 4)])
    r = client.wait(lambda m: isinstance(m, p.Refused), WAIT, since)
    assert (r.code, r.number) == ("invalid_request", 1)
    assert "track 2: selections overlap at bar 3" in r.message, r.message


@pytest.mark.parametrize("job", [-5, 0, -(2**31), 2**31, 2**40])
def test_a_refusal_names_the_job_only_once_it_parsed(client, job):
    """`number` is the job it named once that argument parsed (1..INT32), else 0."""
    since = len(client.inbox)
    tags = "i" if -(2**31) <= job < 2**31 else "h"  # int64 on the wire, coerced then checked
    client.send_bytes(oscwire.encode("/midigen/cancel", [("i", client.token), (tags, job)]))
    r = client.wait(lambda m: isinstance(m, p.Refused), WAIT, since)
    assert (r.request, r.code, r.number) == ("/midigen/cancel", "bad_message", 0)


def test_ping_is_answered_at_the_reply_port_it_names(serve):
    """As `oscsend 127.0.0.1 9000 /midigen/ping i 9001` does: sent from one port, the
    /pong goes to the port named (README), not to the sender's."""
    daemon = serve()
    with Client(daemon.address) as listener, Client(daemon.address) as sender:
        sender.request(p.Ping, reply_port=listener.port)
        pong = listener.wait(lambda m: isinstance(m, p.Pong), WAIT)
        assert pong.protocol == p.PROTOCOL_VERSION
        drained(sender)
        assert not [m for m in sender.inbox if isinstance(m, p.Pong) and m.version != "marker"]


@pytest.mark.parametrize(
    "message",
    [
        lambda port: p.Hello(protocol=1, reply_port=port, client_id="py0123456789abcdef"),
        lambda port: oscwire.encode(p.Ping.address, [("i", port), ("i", 7)]),  # one too many
    ],
    ids=["hello-wrong-protocol", "ping-bad-arguments"],
)  # fmt: skip
def test_a_refused_open_message_is_answered_at_the_reply_port_it_names(serve, message):
    """/hello and /ping carry no token: their refusals, like their answers, go to the port the
    message names (a DAW script may send from one socket and listen on another)."""
    daemon = serve()
    with Client(daemon.address) as listener, Client(daemon.address) as sender:
        made = message(listener.port)
        sender.send_bytes(made if isinstance(made, bytes) else made.encode())
        refusal = listener.wait(lambda m: isinstance(m, p.Refused), WAIT)
        assert refusal.code in ("wrong_protocol", "bad_message")
        drained(sender)
        assert not [m for m in sender.inbox if isinstance(m, p.Refused)]


def test_a_refusal_of_a_message_missing_its_job_names_job_0(client):
    since = len(client.inbox)
    client.send("/midigen/cancel", client.token)  # the job argument is missing
    r = client.wait(lambda m: isinstance(m, p.Refused), WAIT, since)
    assert (r.request, r.code, r.number) == ("/midigen/cancel", "bad_message", 0)


def test_dur_max_0_is_the_shortest_class_not_any(client):
    """Duration classes run 0 (32nd: below a 16th) .. 5; -1 alone means any."""
    client.generate(1, 1, "infill", [Selection(2, 2, 5, dur_max=0)], variations=2, seed=6)
    assert isinstance(client.finished(1, WAIT), p.Done)
    notes = [n for notes in bars(client.replies(1)).values() for n in notes]
    assert notes and all(n.duration < 0.25 for n in notes), notes  # quarters
