"""The REAPER client's protocol module (reaper_scripts/midigen/protocol2.lua) against the
server's own message models (midigen.server.daemon.protocol): every message the client sends
parses on the server with the values meant, and every message the server sends parses in the
client with its ticks turned into quarter notes. Messages the end-to-end run rarely or never
sends (/result, /status, /bye, /upload/missing, /state, /failed, /refused) are covered here."""

from __future__ import annotations

from reaper_lua import lua, require

from midigen.server.daemon import oscwire
from midigen.server.daemon import protocol as p


def client_messages():
    require("lua5.4")
    result = lua("spec/tools/wire_cli.lua", "client")
    assert result.returncode == 0, result.stderr
    out = []
    for line in result.stdout.split():
        (m,) = oscwire.decode(bytes.fromhex(line))
        out.append(p.INCOMING[m.address].from_osc(m.args))
    return out


def test_every_client_message_parses_on_the_server_as_meant():
    ping, hello, begin, track1, track2, meter1, meter2, chunk, end, generate, *rest = (
        client_messages()
    )
    status, result, cancel, bye = rest
    assert ping == p.Ping(reply_port=9001)
    assert (hello.protocol, hello.reply_port, hello.client_id) == (2, 9001, "rpr0123456789abcdef")
    assert (begin.token, begin.piece, begin.tracks, begin.bars, begin.tempo) == (
        1729384,
        5,
        2,
        2,
        96.5,
    )
    assert track1.name == "Klänge " + "x" * 57 and len(track1.name) == p.MAX_NAME
    assert (track1.program, track1.drum, track2.drum, track2.name) == (33, 0, 1, "Drums")
    assert [(m.bar, m.numerator, m.denominator) for m in (meter1, meter2)] == [(1, 4, 4), (2, 7, 8)]
    assert chunk.chunk == 1 and chunk.track == 1
    assert [(n.pitch, n.start, n.duration, n.velocity) for n in chunk.notes] == [
        (36, 0, 48, 100),
        (38, 32, 1, 1),  # 1/3 quarter = 32 ticks; 1/192 rounds to 1 tick, never 0
    ]
    assert (end.tracks, end.meters, end.chunks, end.notes) == (2, 2, 1, 2)
    assert (generate.job, generate.piece, generate.mode, generate.variations) == (7, 5, "infill", 2)
    first, second = generate.selections
    assert (first.track, first.first_bar, first.last_bar, first.density) == (1, 2, 2, 6)
    assert (first.program, first.poly_max, first.pitch_min, first.pitch_max) == (-1, -1, 30, 60)
    assert (second.track, second.first_bar, second.last_bar, second.program) == (2, 1, 2, 0)
    assert (status.job, cancel.job, bye.token) == (7, 7, 1729384)
    assert (result.job, result.variation, result.track, result.first_bar, result.last_bar) == (
        7, 0, 0, 0, 0
    )  # fmt: skip


SERVER = [
    p.Welcome(token=5, protocol=2, version="0.1.0", model="m", device="cpu", window_bars=4,
              max_tracks=8, rcvbuf=4194304, controls="density=1..10"),
    p.Pong(protocol=2, version="0.1.0", model="m", device="cpu", window_bars=4, max_tracks=8,
           rcvbuf=1, controls=""),
    p.Uploaded(piece=5, notes=409),
    p.UploadMissing(piece=5, tracks=1, meters=0, chunks=[{"chunk": 3}, {"chunk": 9}]),
    p.Accepted(job=7, position=2),
    p.Progress(job=7, fraction=0.5),
    p.Notes(job=7, variation=2, track=1, bar=3,
            notes=[{"pitch": 45, "start": 768, "duration": 48, "velocity": 96}]),
    p.Bar(job=7, variation=2, track=1, bar=3, notes=1, start=768, end=1152),
    p.Done(job=7, variations=2, bars=8, queue_ms=0.5, first_bar_ms=158.5, model_ms=206.9,
           total_ms=377.9, tokens=102, seed=1234),
    p.Cancelled(job=7, reason="superseded"),
    p.Failed(job=7, code="internal", message="a bug"),
    p.State(job=7, state="running", position=0, bars_sent=5, bars_total=8),
    p.Refused(request="/midigen/generate", code="invalid_request", number=8,
              message="track 9: the piece has 4 tracks"),
]  # fmt: skip

EXPECTED = [
    "welcome controls=density=1..10 device=cpu max_tracks=8 model=m protocol=2 rcvbuf=4194304"
    " token=5 version=0.1.0 window_bars=4",
    "pong controls= device=cpu max_tracks=8 model=m protocol=2 rcvbuf=1 version=0.1.0"
    " window_bars=4",
    "uploaded notes=409 piece=5",
    "upload_missing chunks=[3,9] meters=0 piece=5 tracks=1",
    "accepted job=7 position=2",
    "progress fraction=0.5 job=7",
    "notes bar=3 job=7 notes=[45@8+0.5:96] track=1 variation=2",
    "bar bar=3 finish=12 job=7 notes=1 start=8 track=1 variation=2",
    "done bars=8 first_bar_ms=158.5 job=7 model_ms=206.9 queue_ms=0.5 seed=1234 tokens=102"
    " total_ms=377.9 variations=2",
    "cancelled job=7 reason=superseded",
    "failed code=internal job=7 message=a bug",
    "state bars_sent=5 bars_total=8 job=7 position=0 state=running",
    "refused address=/midigen/generate code=invalid_request message=track 9: the piece has 4"
    " tracks number=8",
]


def test_every_server_message_parses_in_the_client_in_quarter_notes():
    require("lua5.4")
    assert {type(m) for m in SERVER} == set(p.OUTGOING.values()) - {p.Playing}
    result = lua(
        "spec/tools/wire_cli.lua", "parse", stdin="\n".join(m.encode().hex() for m in SERVER)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == EXPECTED
