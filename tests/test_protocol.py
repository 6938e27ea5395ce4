"""docs/osc-protocol.md against the code: the generated reference is current, every documented
address has a handler (and nothing else is handled), every message survives the wire, and
arguments are coerced and refused as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pythonosc.osc_message import OscMessage

from midigen.server.daemon import oscwire
from midigen.server.daemon import protocol as p
from midigen.server.daemon.handlers import Handlers
from midigen.server.daemon.protocoldoc import reference_markdown
from midigen.server.engine import generation

DOC = Path(__file__).resolve().parents[1] / "docs" / "osc-protocol.md"


def test_the_generated_reference_in_the_doc_is_current():
    text = DOC.read_text()
    assert reference_markdown() in text, (
        "docs/osc-protocol.md is out of date: python -m midigen.server.daemon.protocoldoc --write "
        "docs/osc-protocol.md"
    )
    assert f"version {p.PROTOCOL_VERSION}" in text.splitlines()[0]


def documented(direction: str) -> set[str]:
    """Addresses under the doc's "Client to server" or "Server to client" heading."""
    end = "#### Server to client" if direction == "Client to server" else "### Limits"
    body = DOC.read_text().split(f"#### {direction}", 1)[1].split(end, 1)[0]
    return set(re.findall(r"^##### `(/midigen/[a-z/_]+)`", body, re.M))


def test_every_documented_address_is_handled_and_nothing_else():
    incoming = documented("Client to server")
    assert incoming == set(p.INCOMING) and len(incoming) >= 15
    assert documented("Server to client") == set(p.OUTGOING)
    handled = {
        p.PREFIX + "/" + name[3:].replace("_", "/")
        for name in dir(Handlers)
        if name.startswith("on_")
    }
    assert handled == incoming
    for required in ("/midigen/hello", "/midigen/welcome", "/midigen/refused", "/midigen/failed"):
        assert required in p.INCOMING or required in p.OUTGOING


def test_every_error_code_and_limit_is_documented():
    text = DOC.read_text()
    for code in p.ErrorCode:
        assert f"| `{code.name}` |" in text
    assert p.MAX_VARIATIONS == generation.MAX_VARIATIONS
    assert p.MAX_NEW_BARS == generation.MAX_NEW_BARS


SEL = [1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1]  # track 1, bar 1, all controls "any"
SAMPLES = {
    p.Hello: [2, 9001, "rpr0123456789abcdef"],
    p.Ping: [9001],
    p.Bye: [17],
    p.UploadBegin: [17, 7, 4, 8, 120.0],
    p.UploadTrack: [17, 7, 1, 33, 0, "Bass"],
    p.UploadMeter: [17, 7, 1, 6, 8],
    p.UploadNotes: [17, 7, 1, 2, 60, 0, 48, 100, 64, 144, 24, 90],
    p.UploadEnd: [17, 7, 4, 1, 3, 150],
    p.Generate: [17, 7, 1, "loop", 3, 0.75, 0.5, 42, 1, 0, 1, 1, 4, -1, 5, 1, 2, -1, -1, 36, 60],
    p.Status: [17, 7],
    p.Result: [17, 7, 2, 0, 3, 4],
    p.Cancel: [17, 7],
    p.Play: [17, 7, 0],
    p.Stop: [17],
    p.Tempo: [17, 96],
    p.Channels: [17, 1, 2, 3, 10],
    p.Welcome: [17, 2, "0.1.0", "m", "cpu", 8, 8, 425984, "density=1..10"],
    p.Pong: [2, "0.1.0", "m", "cpu", 8, 8, 425984, "density=1..10"],
    p.Uploaded: [7, 2],
    p.UploadMissing: [7, 1, 0, 3, 9],
    p.Accepted: [7, 0],
    p.Progress: [7, 0.5],
    p.Notes: [7, 1, 2, 3, 60, 768, 48, 100],
    p.Bar: [7, 1, 2, 3, 1, 768, 1152],
    p.Done: [7, 1, 4, 0.5, 100.0, 150.0, 300.0, 99, 1234],
    p.Cancelled: [7, "gone"],
    p.Failed: [7, "internal", "text"],
    p.State: [7, "queued", 2, 0, 8],
    p.Playing: [7, 2],
    p.Refused: ["/midigen/generate", "queue_full", 7, "text"],
}


@pytest.mark.parametrize("cls", p.MESSAGES, ids=lambda c: c.address)
def test_every_message_round_trips_through_the_wire(cls):
    message = cls.from_args(SAMPLES[cls])
    wire = OscMessage(message.encode())  # python-osc reads what we write
    assert wire.address == cls.address
    assert cls.from_args(wire.params) == message
    (ours,) = oscwire.decode(message.encode())
    assert cls.from_osc(ours.args) == message
    tags = wire.dgram.split(b",", 1)[1].split(b"\0", 1)[0].decode()
    assert tags == "".join(tag for tag, _ in message.to_args())
    assert set(tags) <= {"i", "f", "s"}


@pytest.mark.parametrize(
    "cls, args, says, code",
    [
        (p.Ping, [], "takes 1 arguments, got 0", "bad_message"),
        (p.Ping, [9001, 2], "takes 1 arguments, got 2", "bad_message"),
        (p.Ping, [9001.5], "reply_port", "bad_message"),  # not a whole number
        (p.Ping, [True], "reply_port", "bad_message"),
        (p.Ping, [70000], "reply_port", "bad_message"),
        (p.Status, [17, 2**31], "job", "bad_message"),  # int64 job numbers are range-checked
        (p.Hello, [2, 9001, "1234567890"], "client_id", "bad_message"),  # must start with a letter
        (p.Hello, [2, 9001, "short"], "client_id", "bad_message"),
        (p.UploadBegin, [17, 1, 4, 8, "120"], "tempo", "bad_message"),
        (p.UploadBegin, [17, 1, 4, 8, float("nan")], "tempo", "bad_message"),
        (p.UploadBegin, [17, 1, 33, 8, 120.0], "tracks", "too_large"),
        (p.UploadTrack, [17, 1, 1, 0, 0, "x" * 65], "name", "too_large"),
        (p.UploadNotes, [17, 1, 1, 1], "notes", "bad_message"),  # at least one note
        (p.UploadNotes, [17, 1, 1, 1, 60, 0, 96], "take 4 arguments", "bad_message"),
        (p.UploadNotes, [17, 1, 1, 1, 128, 0, 96, 100], "pitch", "bad_message"),
        (p.UploadNotes, [17, 1, 1, 1, 60, 0, 0, 100], "duration", "bad_message"),
        (p.UploadNotes, [17, 1, 1, 1, *[60, 0, 96, 90] * 61], "at most 60", "too_large"),
        (p.Generate, [17, 1, 1, "remix", 1, 1.0, 1.0, -1, 1, 0, *SEL], "mode", "bad_message"),
        (p.Generate, [17, 1, 1, "infill", 17, 1.0, 1.0, -1, 1, 0, *SEL], "variations", "too_large"),
        (p.Generate, [17, 1, 1, "infill", 1, 1.0, 1.0, 2**31, 1, 0, *SEL], "seed", "bad_message"),
        (p.Generate, [17, 1, 1, "infill", 1, 1.0, 1.0, -1, 1, 0, *SEL[:4], 11, *SEL[5:]],
         "density", "bad_message"),
        (p.Generate, [17, 1, 1, "infill", 1, 1.0, 1.0, -1, 1, 0, *SEL[:9], 128, -1],
         "pitch_min", "bad_message"),
        (p.Generate, [17, 1, 1, "infill", 1, 1.0, 1.0, -1, 1, 0, 33, *SEL[1:]],
         "selections.track", "too_large"),  # a limit inside the repeated group
        (p.Generate, [17, 1, 1, "infill", 1, 1.0, 1.0, -1, 1, 0, *SEL[:2], 100000, *SEL[3:]],
         "selections.last_bar", "too_large"),
        (p.Channels, [17, 33, 1], "track", "too_large"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named_in_one_line(cls, args, says, code):
    with pytest.raises(p.BadMessage) as e:
        cls.from_args(args)
    assert says in str(e.value) and "\n" not in str(e.value) and len(str(e.value)) <= 200
    assert e.value.code.name == code


def test_whole_floats_and_int64_are_taken_for_ints_and_ints_for_floats():
    m = p.Generate.from_osc(
        [("i", 17), ("h", 7), ("f", 1.0), ("s", "infill"), ("d", 2.0), ("i", 1), ("f", 0.0)]
        + [("i", -1), ("i", 1), ("i", 0)] + [("f", 1.0)] * 3 + [("i", -1)] * 8
    )  # fmt: skip
    assert (m.job, m.piece, m.variations, m.temperature, m.selections[0].track) == (7, 1, 2, 1.0, 1)
    with pytest.raises(p.BadMessage, match="UTF-8"):
        p.UploadTrack.from_osc([("i", 17), ("i", 1), ("i", 1), ("i", 0), ("i", 0), ("s", "\udcff")])
    with pytest.raises(p.BadMessage, match="OSC type T"):
        p.Status.from_osc([("i", 17), ("T", True)])


def test_error_text_is_capped_and_quotes_little_input():
    with pytest.raises(p.BadMessage) as e:
        p.UploadTrack.from_args([17, 1, 1, 0, 0, "é" * 5000])
    assert len(str(e.value)) <= 200 and str(e.value).count("é") <= 40
    r = p.refused("/midigen/" + "x" * 500, p.ErrorCode.bad_message, 0, "y" * 5000)
    assert len(r.request) <= 64 and len(r.message) <= 200
