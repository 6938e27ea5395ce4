"""The REAPER client's pure-Lua OSC codec (reaper_scripts/midigen/osc.lua) against two OSC
implementations we did not write: python-osc (byte for byte, both directions) and liblo
(oscsend's datagrams byte for byte, and oscdump reading ours)."""

from __future__ import annotations

import select
import shlex
import socket
import subprocess
import time

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from reaper_lua import lua, require

from deadlines import deadline as pipe_deadline

# address, type tags, arguments: the shapes the midigen protocol uses, plus edge cases
# (empty and 4-aligned strings, negative and extreme ints, floats that are not exact in f32).
VECTORS = [
    ("/midigen/ping", "i", [9001]),
    ("/midigen/upload/begin", "iiiif", [9001, 7, 4, 8, 120.0]),
    ("/midigen/upload/track", "iiiiis", [9001, 7, 1, 33, 0, "Bass"]),
    ("/midigen/upload/track", "iiiiis", [9001, 7, 2, 0, 1, ""]),
    ("/midigen/upload/track", "iiiiis", [9001, 7, 3, 0, 0, "Lead"]),
    ("/midigen/upload/notes", "iiiiffiiffi", [9001, 7, 1, 36, 0.0, 0.5, 100, 38, 0.1, 1 / 3, 90]),
    ("/midigen/generate", "iisiffiii" + "i" * 9, [9001, 7, "infill", 2, 1.0, 0.95, -1, 1, 0]
     + [2, 3, 6, -1, 5, -1, 1, -1, -1]),
    ("/midigen/error", "iss", [-1, "bad_message", "Ünïcödé text, 'quoted'"]),
    ("/x", "ii", [2147483647, -2147483648]),
    ("/x", "f", [-1234.5678]),
    ("/x", "", []),
]  # fmt: skip


def python_osc(address, types, args):
    builder = OscMessageBuilder(address)
    for tag, value in zip(types, args):
        builder.add_arg(value, tag)
    return builder.build().dgram


def line(address, types, args):
    return "\t".join([address, types, *map(str, args)])


def lua_encode(vectors):
    require("lua5.4")
    result = lua("spec/tools/osc_cli.lua", "encode", stdin="\n".join(line(*v) for v in vectors))
    assert result.returncode == 0, result.stderr
    return [bytes.fromhex(h) for h in result.stdout.split()]


def lua_decode(datagrams):
    require("lua5.4")
    result = lua("spec/tools/osc_cli.lua", "decode", stdin="\n".join(d.hex() for d in datagrams))
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_lua_encodes_byte_for_byte_as_python_osc():
    ours = lua_encode(VECTORS)
    assert len(ours) == len(VECTORS)
    for vector, data in zip(VECTORS, ours):
        assert data == python_osc(*vector), vector


def test_lua_decodes_python_osc_messages_and_bundles():
    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(OscMessageBuilder("/midigen/progress").build())
    message = OscMessageBuilder("/midigen/done")
    for value, tag in [(7, "i"), (0.5, "f"), ("seed", "s")]:
        message.add_arg(value, tag)
    bundle.add_content(message.build())
    out = lua_decode([python_osc(*v) for v in VECTORS] + [bundle.build().dgram])
    assert len(out) == len(VECTORS) + 2
    for vector, text in zip(VECTORS, out):
        address, types, *fields = text.split("\t")
        assert (address, types) == vector[:2]
        for tag, field, value in zip(types, fields, vector[2]):
            if tag == "f":
                assert float(field) == pytest.approx(value, rel=1e-6)
            elif tag == "i":
                assert int(field) == value
            else:
                assert field == value
    assert out[-2:] == ["/midigen/progress\t", "/midigen/done\tifs\t7\t0.5\tseed"]


def test_lua_reports_truncated_python_osc_datagrams():
    data = python_osc(*VECTORS[5])
    out = lua_decode([data[: len(data) - 4]])
    assert out[0].startswith("error\tosc: /midigen/upload/notes: argument")


def liblo_vectors():
    """The vectors oscsend can express (it needs at least one argument)."""
    return [v for v in VECTORS if v[1]]


def test_liblo_oscsend_sends_the_bytes_lua_encodes():
    require("oscsend", "lua5.4")
    vectors = liblo_vectors()
    ours = lua_encode(vectors)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        for (address, types, args), data in zip(vectors, ours):
            # oscsend writes floats with %f-like parsing: pass repr so it sees every digit
            subprocess.run(
                ["oscsend", "127.0.0.1", str(port), address, types, *map(repr_arg, args)],
                check=True,
                timeout=10,
                capture_output=True,
            )
            received, _ = sock.recvfrom(65536)
            assert received == data, (address, types)


def repr_arg(value):
    return repr(value) if isinstance(value, float) else str(value)


def test_liblo_oscdump_reads_what_lua_encodes():
    require("oscdump", "lua5.4")
    vectors = liblo_vectors()
    ours = lua_encode(vectors)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dump = subprocess.Popen(
        ["stdbuf", "-oL", "oscdump", "-L", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            ready = python_osc("/ready", "i", [1])
            deadline = time.monotonic() + 10
            while not select.select([dump.stdout], [], [], 0.05)[0]:  # until oscdump listens
                assert time.monotonic() < deadline, "oscdump printed nothing"
                sock.sendto(ready, ("127.0.0.1", port))
            for data in ours:
                sock.sendto(data, ("127.0.0.1", port))
            lines = []
            with pipe_deadline(dump, 30):
                while len(lines) < len(ours):  # the /ready probes come first
                    text = dump.stdout.readline()
                    assert text, "oscdump stopped (or printed too little in 30 s)"
                    if " /ready " not in text:
                        lines.append(text)
    finally:
        dump.terminate()
        dump.wait(5)
    for (address, types, args), text in zip(vectors, lines):
        _, got_address, got_types, *fields = shlex.split(text)
        assert (got_address, got_types) == (address, types)
        for tag, field, value in zip(types, fields, args):
            if tag == "f":
                assert float(field) == pytest.approx(value, rel=1e-6)
            elif tag == "i":
                assert int(field) == value
            else:
                assert field == value
