"""The daemon over real UDP on loopback: python-osc clients upload real MIDI files, generate on
the tiny random bundle, and check every streamed bar, cancel, supersede, the queue bound,
several clients, and that malformed messages get /midigen/error without hurting the server.
"""

from __future__ import annotations

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
    made = []

    def make(daemon):
        made.append(Client(daemon.address))
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


def uploaded(client, job, piece):
    since = len(client.inbox)
    count = client.upload(job, piece)
    reply = client.wait(lambda m: getattr(m, "job", None) == job, WAIT, since)
    assert reply == p.Uploaded(job=job, notes=count), reply
    return count


def slow_job(client, job, piece, tracks=(1, 2, 3)):
    """A job long enough to be cancelled or superseded while it runs."""
    uploaded(client, job, piece)
    since = len(client.inbox)
    client.generate(job, "infill", [Selection(t, 1, 8) for t in tracks], variations=16, seed=3)
    return since


def errors(client, job=None, since=0):
    return [m for m in client.inbox[since:] if isinstance(m, p.Error) and job in (None, m.job)]


def test_ping_says_what_is_served(serve, clients, engine):
    pong = clients(serve()).ping()
    assert (pong.protocol, pong.model, pong.device) == (p.PROTOCOL_VERSION, "tiny-bundle", "cpu")
    assert (pong.window_bars, pong.max_tracks) == (engine.window_bars, engine.max_tracks)
    assert "density=1..10" in pong.controls and "variations=1..16" in pong.controls


def test_infill_end_to_end_streams_every_bar(serve, clients, bach):
    c = clients(serve())
    assert uploaded(c, 1, bach) == sum(len(t.notes) for t in bach.tracks)
    sel = Selection(2, 3, 6, density=4, poly_max=1, dur_max=3)  # one voice, <= quarter class
    t0 = time.perf_counter()
    c.generate(1, "infill", [sel], variations=2, seed=5)
    c.wait(lambda m: isinstance(m, p.Bar), WAIT)
    first_bar_s = time.perf_counter() - t0
    done = c.finished(1, WAIT)
    assert isinstance(done, p.Done), done
    replies = c.replies(1)
    kinds = [type(m) for m in replies]
    assert kinds[:2] == [p.Uploaded, p.Accepted] and replies[1].position == 0
    assert kinds[-1] is p.Done and kinds.count(p.Done) == 1

    got = bars(replies)
    assert set(got) == {(v, 2, b) for v in (1, 2) for b in range(3, 7)}
    grid = bach.bars()
    for m in (m for m in replies if isinstance(m, p.Bar)):
        assert (m.start, m.end) == (grid[m.bar - 1].start, grid[m.bar - 1].end)
    for notes in got.values():
        notes = sorted(notes)
        for a, b in zip(notes, notes[1:]):  # poly_max 1: no overlap
            assert a.start + a.duration <= b.start + 1e-4
        assert all(n.duration < 2.0 for n in notes)  # class 3 ends below a half note
    for (_, _, b), notes in got.items():
        assert all(grid[b - 1].start - 1e-4 <= n.start < grid[b - 1].end for n in notes)
    assert (done.variations, done.bars, done.seed) == (2, 8, 5)
    assert done.tokens > 0 and 0 < done.first_bar_ms <= done.total_ms
    fractions = [m.fraction for m in replies if isinstance(m, p.Progress)]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    print(f"\nfirst bar after {first_bar_s * 1e3:.0f} ms (server: {done.first_bar_ms:.0f} ms)")

    # UDP may drop datagrams: the client can ask for the whole result again
    since = len(c.inbox)
    c.request(p.Result, job=1)
    assert c.finished(1, WAIT, since) == done
    assert bars(c.replies(1, since)) == got

    # the reported seed repeats the job exactly, over the wire too
    uploaded(c, 2, bach)
    since = len(c.inbox)
    c.generate(2, "infill", [sel], variations=2, seed=done.seed)
    assert isinstance(c.finished(2, WAIT, since), p.Done)
    assert bars(c.replies(2, since)) == got


def test_continue_and_loop_over_the_wire(serve, clients, bmw):
    c = clients(serve())
    uploaded(c, 1, bmw)
    c.generate(1, "continue", [Selection(1, 9, 10), Selection(3, 9, 10)], seed=1)
    assert isinstance(c.finished(1, WAIT), p.Done)
    got = bars(c.replies(1))
    assert set(got) == {(1, t, b) for t in (1, 3) for b in (9, 10)}
    assert all(n.start >= 32.0 for notes in got.values() for n in notes)
    uploaded(c, 2, bmw)
    c.generate(2, "loop", [Selection(2, 5, 6, program=81)], seed=1)
    assert isinstance(c.finished(2, WAIT), p.Done)
    assert set(bars(c.replies(2))) == {(1, 2, 5), (1, 2, 6)}


def test_a_lost_upload_datagram_is_reported(serve, clients, bmw):
    c = clients(serve())
    count = c.upload(1, bmw)
    c.request(p.UploadEnd, job=1, notes=count + 5)  # as if a /upload/notes had been lost
    err = c.wait(lambda m: isinstance(m, p.Error), WAIT)
    assert (err.job, err.code) == (1, "upload_incomplete") and f"of {count + 5}" in err.message
    c.generate(1, "infill", [Selection(1, 1, 1)])  # the broken upload is gone
    err = c.wait(lambda m: isinstance(m, p.Error) and m.code == "no_upload", WAIT)
    assert err.job == 1


def test_bad_messages_get_errors_and_the_server_survives(serve, clients, bmw, caplog):
    daemon = serve()
    c = clients(daemon)
    port = c.port
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.sendto(b"not osc at all", daemon.address)  # logged, no reply possible
    raw.sendto(b"/midigen/ping\0\0\0,i\0\0\0\0", daemon.address)  # truncated argument
    raw.close()
    c.send("/midigen/ping")  # no reply port: logged only
    c.send("/midigen/ping", 9001.5)
    cases = [
        (("/midigen/nope", port), -1, "unknown_address"),
        (("/midigen/upload/begin", port, 3, 4, 8, "fast"), 3, "bad_message"),
        (("/midigen/upload/begin", port, 3, 99, 8, 120.0), 3, "bad_message"),  # > 32 tracks
        (("/midigen/upload/track", port, 4, 1, 0, 0, ""), 4, "no_upload"),
        (("/midigen/cancel", port, 77), 77, "unknown_job"),
        (("/midigen/result", port, 77), 77, "unknown_job"),
        (("/midigen/play", port, 1, 0), 1, "midi_off"),  # no --midi-out
        (("/midigen/stop", port), -1, "midi_off"),
        (("/midigen/upload/notes", port, 5, 1, *[60, 0.0, 1.0, 90] * 257), 5, "bad_message"),
    ]
    for args, job, code in cases:
        since = len(c.inbox)
        c.send(*args)
        err = c.wait(lambda m: isinstance(m, p.Error), WAIT, since)
        assert (err.job, err.code) == (job, code), (args[0], err)
        assert "\n" not in err.message

    uploaded(c, 1, bmw)
    for sel, says in [
        (Selection(4, 1, 2), "the piece has 3 tracks"),
        (Selection(1, 7, 9), "bar 9 of a 8-bar piece"),
        (Selection(1, 3, 2), "reversed"),
        (Selection(1, 1, 2, poly_min=5, poly_max=2), "poly_min 5 is above poly_max 2"),
    ]:
        since = len(c.inbox)
        c.generate(1, "infill", [sel])
        err = c.wait(lambda m: isinstance(m, p.Error), WAIT, since)
        assert (err.job, err.code) == (1, "invalid_request") and says in err.message, err
    since = len(c.inbox)
    c.generate(1, "continue", [Selection(1, 8, 9)])
    assert "first_bar must be 9" in c.wait(lambda m: isinstance(m, p.Error), WAIT, since).message
    # a refused request can be corrected without uploading again
    since = len(c.inbox)
    c.generate(1, "infill", [Selection(1, 7, 8)], seed=2)
    assert isinstance(c.finished(1, WAIT, since), p.Done)
    assert c.ping().protocol == p.PROTOCOL_VERSION
    assert not c.unparsed
    assert "not OSC" in caplog.text and "no reply port" in caplog.text


def test_cancel_mid_job_keeps_the_bars_sent(serve, clients, bmw):
    c = clients(serve())
    since = slow_job(c, 1, bmw)
    c.wait(lambda m: isinstance(m, p.Bar), WAIT, since)
    c.request(p.Cancel, job=1)
    t0 = time.perf_counter()
    end = c.finished(1, WAIT, since)
    assert end == p.Cancelled(job=1, reason="cancel")
    assert time.perf_counter() - t0 < 5.0
    partial = bars(c.replies(1, since))
    assert 0 < len(partial) < 16 * 3 * 8
    time.sleep(0.2)
    assert not [m for m in c.replies(1, since) if isinstance(m, (p.Bar, p.Done))][len(partial) :]
    since = len(c.inbox)
    c.request(p.Result, job=1)
    assert c.finished(1, WAIT, since) == end and bars(c.replies(1, since)) == partial
    since = len(c.inbox)
    c.request(p.Cancel, job=1)  # already over
    assert c.wait(lambda m: isinstance(m, p.Error), WAIT, since).code == "unknown_job"


def test_a_new_job_on_the_same_track_supersedes_the_old(serve, clients, bmw):
    daemon = serve()
    a, b = clients(daemon), clients(daemon)
    since = slow_job(a, 1, bmw, tracks=(1, 3))
    a.wait(lambda m: isinstance(m, p.Bar), WAIT, since)
    slow_job(b, 1, bmw, tracks=(1, 3))  # another client: never superseded by a's jobs
    uploaded(a, 2, bmw)
    a.generate(2, "infill", [Selection(2, 1, 1)], seed=1)  # track 2 only: no overlap
    uploaded(a, 3, bmw)
    a.generate(3, "infill", [Selection(3, 2, 2)], seed=1)  # track 3: supersedes job 1
    assert a.finished(1, WAIT) == p.Cancelled(job=1, reason="superseded")
    b.request(p.Cancel, job=1)
    assert b.finished(1, WAIT) == p.Cancelled(job=1, reason="cancel")
    assert isinstance(a.finished(2, WAIT), p.Done) and isinstance(a.finished(3, WAIT), p.Done)
    accepted = [m.position for m in a.inbox if isinstance(m, p.Accepted)]
    assert accepted == [0, 2, 3]  # behind a's job 1 (running) and b's job 1


def test_a_full_queue_refuses_and_drops_nothing(serve, clients, bmw):
    daemon = serve(max_queue=1)
    a, b, c = clients(daemon), clients(daemon), clients(daemon)
    since = slow_job(a, 1, bmw)
    a.wait(lambda m: isinstance(m, p.Bar), WAIT, since)
    uploaded(b, 1, bmw)
    b.generate(1, "infill", [Selection(1, 1, 1)], seed=1)
    assert b.wait(lambda m: isinstance(m, p.Accepted), WAIT) == p.Accepted(job=1, position=1)
    uploaded(c, 1, bmw)
    c.generate(1, "infill", [Selection(2, 1, 1)], seed=1)
    err = c.wait(lambda m: isinstance(m, p.Error), WAIT)
    assert (err.job, err.code) == (1, "queue_full")
    a.request(p.Cancel, job=1)
    assert isinstance(b.finished(1, WAIT), p.Done)
    since = len(c.inbox)
    c.generate(1, "infill", [Selection(2, 1, 1)], seed=1)  # the upload waited for the retry
    assert isinstance(c.finished(1, WAIT, since), p.Done)
    assert [type(m) for m in c.replies(1)].count(p.Accepted) == 1


def test_several_clients_each_get_only_their_own_bars(serve, clients, bach, bmw):
    daemon = serve()
    pieces = [bach, bmw, bach]
    cs = [clients(daemon) for _ in pieces]
    failures = []

    def run(c, piece, track):
        try:
            uploaded(c, 1, piece)  # every client uses job 1: jobs belong to their client
            c.generate(1, "infill", [Selection(track, 2, 3)], seed=track)
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
        assert not errors(c)
