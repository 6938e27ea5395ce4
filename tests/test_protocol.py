"""docs/osc-protocol.md against the code: the generated reference is current, every documented
address is routed by the server (and nothing else is), and every message survives the wire."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pythonosc.osc_message import OscMessage

from midigen.server.daemon import protocol as p
from midigen.server.daemon.handlers import Handlers
from midigen.server.daemon.oscserver import OscServer, mapped_addresses, route
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
    assert incoming == set(p.INCOMING) and len(incoming) >= 9
    assert documented("Server to client") == set(p.OUTGOING)
    server = OscServer(("127.0.0.1", 0))
    try:
        route(server.dispatcher, lambda *a: None, list(p.INCOMING))
        assert mapped_addresses(server.dispatcher) == incoming
    finally:
        server.server_close()
    for address in incoming:  # a handler method per address
        name = "on_" + address[len(p.PREFIX) + 1 :].replace("/", "_")
        assert callable(getattr(Handlers, name, None)), name
    for required in ("/midigen/ping", "/midigen/pong", "/midigen/error"):
        assert required in p.INCOMING or required in p.OUTGOING


def test_every_error_code_and_limit_is_documented():
    text = DOC.read_text()
    for code in p.ErrorCode:
        assert f"| `{code.name}` |" in text
    assert p.MAX_VARIATIONS == generation.MAX_VARIATIONS


SAMPLES = {
    p.Ping: [9001],
    p.UploadBegin: [9001, 7, 4, 8, 120.0],
    p.UploadTrack: [9001, 7, 1, 33, 0, "Bass"],
    p.UploadMeter: [9001, 7, 1, 6, 8],
    p.UploadNotes: [9001, 7, 2, 60, 0.0, 0.5, 100, 64, 1.5, 0.25, 90],
    p.UploadEnd: [9001, 7, 2],
    p.Generate: [9001, 7, "loop", 3, 0.75, 0.5, 42, 1, 0, 1, 1, 4, -1, 5, 1, 2, -1, -1],
    p.Cancel: [9001, 7],
    p.Result: [9001, 7],
    p.Play: [9001, 7, 0],
    p.Stop: [9001],
    p.Tempo: [9001, 96],
    p.Pong: [1, "0.1.0", "m", "cpu", 8, 8, "density=1..10"],
    p.Uploaded: [7, 2],
    p.Accepted: [7, 0],
    p.Progress: [7, 0.5],
    p.Notes: [7, 1, 2, 3, 60, 8.0, 0.5, 100],
    p.Bar: [7, 1, 2, 3, 1, 8.0, 12.0],
    p.Done: [7, 1, 4, 0.5, 100.0, 150.0, 300.0, 99, 1234],
    p.Cancelled: [7, "superseded"],
    p.Playing: [7, 2],
    p.Error: [-1, "bad_message", "text"],
}


@pytest.mark.parametrize("cls", p.MESSAGES, ids=lambda c: c.address)
def test_every_message_round_trips_through_the_wire(cls):
    message = cls.from_args(SAMPLES[cls])
    wire = OscMessage(message.encode())
    assert wire.address == cls.address
    assert cls.from_args(wire.params) == message
    tags = wire.dgram.split(b",", 1)[1].split(b"\0", 1)[0].decode()
    assert tags == "".join(tag for tag, _ in message.to_args())


SEL = [1, 1, 1, -1, -1, -1, -1, -1, -1]  # track 1, bar 1, all controls "any"


@pytest.mark.parametrize(
    "cls, args, says",
    [
        (p.Ping, [], "takes 1 arguments, got 0"),
        (p.Ping, [9001, 2], "takes 1 arguments, got 2"),
        (p.Ping, [9001.0], "reply_port"),  # an int argument refuses a float
        (p.Ping, [True], "reply_port"),  # and a boolean
        (p.Ping, [70000], "reply_port"),
        (p.UploadBegin, [9001, 1, 4, 8, "120"], "tempo"),
        (p.UploadNotes, [9001, 1, 1], "notes"),  # at least one note
        (p.UploadNotes, [9001, 1, 1, 60, 0.0, 1.0], "groups take 4 arguments"),
        (p.UploadNotes, [9001, 1, 1, 128, 0.0, 1.0, 100], "pitch"),
        (p.UploadNotes, [9001, 1, 1, 60, 0.0, 0.0, 100], "duration"),
        (p.Generate, [9001, 1, "remix", 1, 1.0, 1.0, -1, 1, 0, *SEL], "mode"),
        (p.Generate, [9001, 1, "infill", 17, 1.0, 1.0, -1, 1, 0, *SEL], "variations"),
        (p.Generate, [9001, 1, "infill", 1, 1.0, 1.0, -1, 1, 0, *SEL[:4], 11, *SEL[5:]], "density"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named_in_one_line(cls, args, says):
    with pytest.raises(p.BadMessage) as e:
        cls.from_args(args)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_float_arguments_take_ints():
    assert p.UploadBegin.from_args([9001, 1, 4, 8, 120]).tempo == 120.0
