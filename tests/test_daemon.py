"""The daemon over real UDP on loopback: reference clients say /hello, upload real MIDI files in
numbered chunks, generate on the tiny random bundle, and check every streamed bar, /status,
filtered /result, cancel, supersede, the queue bounds, several clients, and that malformed
messages are refused without hurting the server.
"""

from __future__ import annotations

import importlib.metadata
import re
import socket
import threading
import time

import pytest

import tiny_bundle
from midigen.server.daemon import protocol as p
from midigen.server.daemon.client import Client, Selection, bars
from midigen.server.daemon.main import Daemon
from midigen.server.language.midifiles import read_midi
from midigen.server.language.piece import Note, Piece
from wire import drained

WAIT = 30.0  # seconds any one reply may take on a loaded 2-core machine


@pytest.fixture
def serve(engine):
    """Start a daemon on a free loopback port; stopped (and its jobs cancelled) afterwards."""
    started = []

    def start(**kw):
        kw.setdefault("max_bar_tokens", 40)  # a random model would ramble to 512 tokens a bar
        daemon = Daemon(engine, port=0, **kw).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def clients():
    """Reference clients that have said /hello."""
    made = []

    def make(daemon, hello=True):
        made.append(Client(daemon.address))
        if hello:
            made[-1].hello()
        return made[-1]

    yield make
    for c in made:
        c.close()


def crop(piece: Piece, n_bars: int) -> Piece:
    end = piece.bars()[n_bars].start
    tracks = []
    for t in piece.tracks:
        notes = [Note(n.start, n.pitch, min(n.duration, end - n.start), n.velocity)
                 for n in t.notes if n.start < end]  # fmt: skip
        tracks.append(type(t)(t.program, t.is_drum, t.name, notes))
    return Piece(tracks, piece.time_signatures, piece.tempos, end)


@pytest.fixture(scope="module")
def bach():
    """8 bars x 4 tracks (the 4th an empty part with an instrument) of a real prompt file."""
    return crop(read_midi(tiny_bundle.MIDI / "prompt_bach.mid"), 8)


@pytest.fixture(scope="module")
def bmw():
    return read_midi(tiny_bundle.MIDI / "prompt_bmw.mid")  # 8 bars: bass, solo, dense drums


def uploaded(client, number, piece):
    count = client.upload(number, piece)
    assert count == sum(len(t.notes) for t in piece.tracks)
    return count


def slow_job(client, job, piece_no, tracks=(1, 2, 3)):
    """A job long enough to be cancelled or superseded while it runs (piece already up)."""
    since = len(client.inbox)
    client.generate(job, piece_no, "infill", [Selection(t, 1, 8) for t in tracks],
                    variations=16, seed=3)  # fmt: skip
    return since


def refusals(client, since=0):
    return client.refusals(since)


def refused(client, since, request=None):
    return client.wait(
        lambda m: isinstance(m, p.Refused) and request in (None, m.request), WAIT, since
    )


def test_ping_and_hello_say_what_is_served(serve, clients, engine):
    daemon = serve()
    c = clients(daemon, hello=False)
    pong = c.ping()
    # literals, not the constants the server sends: a changed version must change this test
    assert (pong.protocol, pong.model, pong.device) == (2, "tiny-bundle", "cpu")
    assert pong.version == importlib.metadata.version("midigen")
    assert (pong.window_bars, pong.max_tracks) == (engine.window_bars, engine.max_tracks)
    assert "density=1..10" in pong.controls and "pitch_min=0..127" in pong.controls
    assert pong.rcvbuf == daemon.server.rcvbuf >= 200_000
    welcome = c.hello()
    assert 1 <= welcome.token <= p.INT32 and welcome.rcvbuf == pong.rcvbuf


def test_infill_end_to_end_streams_every_bar(serve, clients, bach, caplog):
    caplog.set_level("INFO", logger="midigen")
    c = clients(serve())
    uploaded(c, 1, bach)
    sel = Selection(2, 3, 6, density=4, poly_max=1, dur_max=3)  # one voice, <= quarter class
    t0 = time.perf_counter()
    since = len(c.inbox)
    c.generate(1, 1, "infill", [sel], variations=2, seed=5)
    c.wait(lambda m: isinstance(m, p.Bar), WAIT)
    first_bar_s = time.perf_counter() - t0
    done = c.finished(1, WAIT)
    assert isinstance(done, p.Done), done
    replies = c.replies(1, since)
    kinds = [type(m) for m in replies]
    assert kinds[0] is p.Accepted and replies[0].position == 0
    assert kinds[-1] is p.Done and kinds.count(p.Done) == 1

    got = bars(replies)
    assert set(got) == {(v, 2, b) for v in (1, 2) for b in range(3, 7)}
    grid = bach.bars()
    for m in (m for m in replies if isinstance(m, p.Bar)):  # bar bounds in integer ticks
        assert (m.start, m.end) == (
            round(grid[m.bar - 1].start * 96),
            round(grid[m.bar - 1].end * 96),
        )
    for notes in got.values():
        notes = sorted(notes)
        for x, y in zip(notes, notes[1:]):  # poly_max 1: no overlap
            assert x.start + x.duration <= y.start + 1e-4
        assert all(n.duration < 2.0 for n in notes)  # class 3 ends below a half note
    for (_, _, b), notes in got.items():
        assert all(grid[b - 1].start - 1e-4 <= n.start < grid[b - 1].end for n in notes)
    assert (done.variations, done.bars, done.seed) == (2, 8, 5)
    assert done.tokens > 0 and 0 < done.first_bar_ms <= done.total_ms
    fractions = [m.fraction for m in replies if isinstance(m, p.Progress)]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert c.status(1) == p.State(job=1, state="done", position=0, bars_sent=8, bars_total=8)
    print(f"\nfirst bar after {first_bar_s * 1e3:.0f} ms (server: {done.first_bar_ms:.0f} ms)")

    # UDP may drop datagrams: the client asks for the whole result again, or just a slice
    since = len(c.inbox)
    c.result(1)
    assert c.finished(1, WAIT, since) == done
    assert bars(c.replies(1, since)) == got
    since = len(c.inbox)
    c.result(1, variation=2, track=2, first=4, last=5)
    assert c.finished(1, WAIT, since) == done
    assert bars(c.replies(1, since)) == {k: got[k] for k in [(2, 2, 4), (2, 2, 5)]}

    # the reported seed repeats the job exactly, on the same piece, without uploading again;
    # the engine kept the first job's prompt, so the repeat computes only its last piece
    since = len(c.inbox)
    c.generate(2, 1, "infill", [sel], variations=2, seed=done.seed)
    assert isinstance(c.finished(2, WAIT, since), p.Done)
    assert bars(c.replies(2, since)) == got
    reused = re.compile(r"job 2 of .* (\d+) of (\d+) prompt tokens reused")
    deadline = time.monotonic() + WAIT  # the worker logs the job just after sending /done
    while not (found := [m for r in caplog.records if (m := reused.search(r.getMessage()))]):
        assert time.monotonic() < deadline, "job 2's log line never came"
        time.sleep(0.01)
    assert 0 < int(found[0][1]) < int(found[0][2])


def test_continue_and_loop_over_the_wire(serve, clients, bmw):
    c = clients(serve())
    uploaded(c, 1, bmw)
    c.generate(1, 1, "continue", [Selection(1, 9, 10), Selection(3, 9, 10)], seed=1)
    assert isinstance(c.finished(1, WAIT), p.Done)
    got = bars(c.replies(1))
    assert set(got) == {(1, t, b) for t in (1, 3) for b in (9, 10)}
    written = [n for notes in got.values() for n in notes]
    assert written and all(n.start >= 32.0 for n in written)  # all() of no notes would hold
    c.generate(2, 1, "loop", [Selection(2, 5, 6, program=81, pitch_min=60, pitch_max=84)], seed=1)
    assert isinstance(c.finished(2, WAIT), p.Done)
    got = bars(c.replies(2))
    assert set(got) == {(1, 2, 5), (1, 2, 6)}
    written = [n for notes in got.values() for n in notes]
    assert written and all(60 <= n.pitch <= 84 for n in written)


def test_lost_upload_chunks_are_listed_and_resent(serve, clients, bmw):
    c = clients(serve())
    count = sum(len(t.notes) for t in bmw.tracks)
    real = c.request
    dropped = []

    def lossy(cls, **fields):  # lose chunks 2 and 5, the drum track's header and the meter
        key = (cls.__name__, fields.get("chunk", fields.get("track", fields.get("bar"))))
        lost = {("UploadNotes", 2), ("UploadNotes", 5), ("UploadTrack", 3), ("UploadMeter", 1)}
        if key in lost and key not in dropped:
            dropped.append(key)
            return
        real(cls, **fields)

    c.request = lossy
    assert c.upload(1, bmw) == count
    assert len(dropped) == 4
    missing = [m for m in c.inbox if isinstance(m, p.UploadMissing)]
    assert [(m.tracks, m.meters, [x.chunk for x in m.chunks]) for m in missing] == [(1, 1, [2, 5])]
    c.request = real
    # a lying end (more notes than its chunks hold) is refused and the upload discarded
    since = len(c.inbox)
    c.request(p.UploadBegin, piece=2, tracks=1, bars=1, tempo=120.0)
    c.request(p.UploadNotes, piece=2, chunk=1, track=1,
              notes=[dict(pitch=60, start=0, duration=96, velocity=90)])  # fmt: skip
    c.request(p.UploadEnd, piece=2, tracks=0, meters=0, chunks=1, notes=5)
    r = refused(c, since)
    assert (r.request, r.code, r.number) == ("/midigen/upload/end", "upload_incomplete", 2)
    since = len(c.inbox)
    c.generate(1, 2, "infill", [Selection(1, 1, 1)])  # the broken upload is gone
    assert (refused(c, since).code, refused(c, since).number) == ("no_upload", 1)


def test_bad_messages_are_refused_and_the_server_survives(serve, clients, bmw, caplog):
    daemon = serve()
    c = clients(daemon)
    tok = c.token
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.sendto(b"not osc at all", daemon.address)  # logged, no reply possible
    raw.sendto(b"/midigen/ping\0\0\0,i\0\0\0\0", daemon.address)  # truncated argument
    raw.close()
    cases = [
        (("/midigen/nope", tok), 0, "unknown_address"),
        (("/midigen/*", tok), 0, "unknown_address"),
        (("/midigen/upload/begin", tok, 3, 4, 8, "fast"), 3, "bad_message"),
        (("/midigen/upload/begin", tok, 3, 99, 8, 120.0), 3, "too_large"),  # > 32 tracks
        (("/midigen/upload/track", tok, 4, 1, 0, 0, ""), 4, "no_upload"),
        (("/midigen/cancel", tok, 77), 77, "unknown_job"),
        (("/midigen/result", tok, 77, 0, 0, 0, 0), 77, "unknown_job"),
        (("/midigen/play", tok, 1, 0), 1, "midi_off"),  # no --midi-out
        (("/midigen/stop", tok), 0, "midi_off"),
        (("/midigen/tempo", tok, 500.0), 0, "bad_message"),
        (("/midigen/upload/notes", tok, 5, 1, 1, *[60, 0, 96, 90] * 61), 5, "too_large"),
        (("/midigen/status", tok + 1 if tok < p.INT32 else 1, 1), 0, "unknown_client"),
        (("/midigen/hello", 1, c.port, "pyabcdefgh"), 0, "wrong_protocol"),
    ]
    for args, number, code in cases:
        since = len(c.inbox)
        c.send(*args)
        r = refused(c, since)
        assert (r.request, r.number, r.code) == (args[0], number, code), (args, r)
        assert "\n" not in r.message and len(r.message) <= 200

    uploaded(c, 1, bmw)
    for sel, says in [
        (Selection(4, 1, 2), "the piece has 3 tracks"),
        (Selection(1, 7, 9), "bar 9 of a 8-bar piece"),
        (Selection(1, 3, 2), "reversed"),
        (Selection(1, 1, 2, poly_min=5, poly_max=2), "poly_min 5 is above poly_max 2"),
        (Selection(1, 1, 2, pitch_min=70, pitch_max=60), "pitch_min 70 > pitch_max 60"),
    ]:
        since = len(c.inbox)
        c.generate(1, 1, "infill", [sel])
        r = refused(c, since)
        assert (r.number, r.code) == (1, "invalid_request") and says in r.message, r
    since = len(c.inbox)
    c.generate(1, 1, "continue", [Selection(1, 8, 9)])
    assert "first_bar must be 9" in refused(c, since).message
    since = len(c.inbox)
    c.generate(1, 1, "loop", [Selection(1, 1, 2), Selection(2, 2, 3)])
    assert "same bars" in refused(c, since).message  # checked before /accepted
    assert not [m for m in c.inbox if isinstance(m, p.Accepted)]
    since = len(c.inbox)
    c.generate(1, 1, "infill", [Selection(1, 7, 8)], seed=2)
    assert isinstance(c.finished(1, WAIT, since), p.Done)
    assert c.ping().protocol == p.PROTOCOL_VERSION
    assert not c.unparsed
    assert "not OSC" in caplog.text and "Traceback" not in caplog.text


def test_cancel_mid_job_keeps_the_bars_sent(serve, clients, bmw):
    c = clients(serve())
    uploaded(c, 1, bmw)
    since = slow_job(c, 1, 1)
    c.wait(lambda m: isinstance(m, p.Bar), WAIT, since)
    assert c.status(1).state == "running"
    c.cancel(1)
    t0 = time.perf_counter()
    end = c.finished(1, WAIT, since)
    assert end == p.Cancelled(job=1, reason="cancel")
    assert time.perf_counter() - t0 < 5.0
    partial = bars(c.replies(1, since))
    assert 0 < len(partial) < 16 * 3 * 8
    c.status(1)  # a round trip: the job is over on the server's side too
    drained(c)
    assert not [m for m in c.replies(1, since) if isinstance(m, (p.Bar, p.Done))][len(partial) :]
    since = len(c.inbox)
    c.result(1)
    assert c.finished(1, WAIT, since) == end and bars(c.replies(1, since)) == partial
    since = len(c.inbox)
    c.cancel(1)  # already over
    assert refused(c, since).code == "unknown_job"


def test_supersede_only_on_the_same_piece_and_track(serve, clients, bmw):
    daemon = serve()
    a, b = clients(daemon), clients(daemon)
    uploaded(a, 1, bmw)
    uploaded(a, 2, bmw)  # another song (same notes): never superseded by piece 1's jobs
    uploaded(b, 1, bmw)
    since = slow_job(a, 1, 1, tracks=(1, 3))
    a.wait(lambda m: isinstance(m, p.Bar), WAIT, since)
    slow_job(b, 1, 1, tracks=(1, 3))  # another client: never superseded by a's jobs
    a.generate(2, 2, "infill", [Selection(3, 1, 1)], seed=1)  # piece 2: no supersede
    a.generate(3, 1, "infill", [Selection(2, 1, 1)], seed=1)  # track 2 only: no overlap
    a.generate(4, 1, "infill", [Selection(3, 2, 2)], seed=1)  # piece 1, track 3: supersedes 1
    assert a.finished(1, WAIT) == p.Cancelled(job=1, reason="superseded")
    b.cancel(1)
    assert b.finished(1, WAIT) == p.Cancelled(job=1, reason="cancel")
    for job in (2, 3, 4):
        assert isinstance(a.finished(job, WAIT), p.Done)


def test_fair_queue_and_its_bounds_drop_nothing(serve, clients, bmw):
    daemon = serve(max_queue=3)
    a, b, c = clients(daemon), clients(daemon), clients(daemon)
    for x in (a, b, c):
        uploaded(x, 1, bmw)
    uploaded(a, 2, bmw)
    since = slow_job(a, 1, 2)  # on piece 2: the jobs on piece 1 do not supersede it
    a.wait(lambda m: isinstance(m, p.Bar), WAIT, since)
    a.generate(2, 1, "infill", [Selection(1, 1, 1)], seed=1)
    a.generate(3, 1, "infill", [Selection(2, 1, 1)], seed=1)
    b.generate(1, 1, "infill", [Selection(1, 1, 1)], seed=1)
    accepted = [
        a.wait(lambda m, j=j: isinstance(m, p.Accepted) and m.job == j, WAIT) for j in (2, 3)
    ]
    assert [m.position for m in accepted] == [1, 2]
    # round robin: b's job runs after a's job 2 and before a's job 3
    assert b.wait(lambda m: isinstance(m, p.Accepted), WAIT).position == 2
    assert a.status(3).position == 3
    c.generate(1, 1, "infill", [Selection(2, 1, 1)], seed=1)
    r = refused(c, 0)
    assert (r.number, r.code) == (1, "queue_full")
    a.cancel(1)
    assert isinstance(b.finished(1, WAIT), p.Done)
    since = len(c.inbox)
    c.generate(1, 1, "infill", [Selection(2, 1, 1)], seed=1)  # the piece waited for the retry
    assert isinstance(c.finished(1, WAIT, since), p.Done)
    for job in (2, 3):
        assert isinstance(a.finished(job, WAIT), p.Done)


def test_a_reloaded_client_finds_its_jobs_and_others_cannot_touch_them(serve, clients, bmw):
    daemon = serve()
    a = clients(daemon)
    uploaded(a, 1, bmw)
    since = slow_job(a, 1, 1, tracks=(1,))
    a.wait(lambda m: isinstance(m, p.Bar), WAIT, since)
    # another local process: it cannot cancel a's job without a's token
    thief = clients(daemon)
    thief.send("/midigen/cancel", a.token + 1 if a.token < p.INT32 else 1, 1)
    assert refused(thief, 0).code == "unknown_client"
    since = len(thief.inbox)
    thief.cancel(1)  # its own token: job 1 of the thief is not a's job 1
    assert refused(thief, since).code == "unknown_job"
    # a reloads: a new socket (new port), the same client id
    b = clients(daemon, hello=False)
    b.client_id = a.client_id
    b.hello()
    assert b.token != a.token
    since_a = len(a.inbox)
    a.request(p.Status, job=1)  # the old token is dead
    assert refused(a, since_a).code == "unknown_client"
    assert b.status(1).state in ("running", "done")
    done = b.finished(1, WAIT)  # the rest of the stream followed the client to its new port
    assert isinstance(done, p.Done)
    b.result(1)
    assert b.finished(1, WAIT, 1) == done
    since = len(b.inbox)
    b.generate(2, 1, "infill", [Selection(2, 1, 1)], seed=1)  # its piece is still there
    assert isinstance(b.finished(2, WAIT, since), p.Done)


def test_several_clients_each_get_only_their_own_bars(serve, clients, bach, bmw):
    daemon = serve()
    pieces = [bach, bmw, bach]
    cs = [clients(daemon) for _ in pieces]
    failures = []

    def run(c, piece, track):
        try:
            uploaded(c, 1, piece)  # every client uses piece 1 and job 1: they are per client
            c.generate(1, 1, "infill", [Selection(track, 2, 3)], seed=track)
            assert isinstance(c.finished(1, WAIT), p.Done)
        except Exception as e:  # reported by the main thread
            failures.append(e)

    threads = [threading.Thread(target=run, args=(c, pc, i + 1)) for i, (c, pc) in
               enumerate(zip(cs, pieces))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(2 * WAIT)
    assert not failures, failures
    for i, c in enumerate(cs):
        assert set(bars(c.inbox)) == {(1, i + 1, 2), (1, i + 1, 3)}
        assert not c.refusals()
