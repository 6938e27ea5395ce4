"""The strict OSC decoder (server/daemon/oscwire.py): byte-exact against python-osc for what
clients send, and bounded on what hostile clients send — the datagrams that stopped protocol 1's
server (a negative bundle element size, bundles nested hundreds deep) are refused in one pass.
"""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from midigen.server.daemon import oscwire as w


def python_osc(address, *args):
    builder = OscMessageBuilder(address)
    for tag, value in args:
        builder.add_arg(value, tag)
    return builder.build().dgram


VECTORS = [
    ("/midigen/ping", [("i", 9001)]),
    ("/midigen/hello", [("i", 2), ("i", 9001), ("s", "rpr0123456789abcdef")]),
    ("/midigen/upload/begin", [("i", 17), ("i", 1), ("i", 4), ("i", 8), ("f", 120.0)]),
    ("/x", [("i", 2**31 - 1), ("i", -(2**31)), ("h", 2**40), ("d", 0.1), ("s", "")]),
    ("/x", [("s", "abc"), ("s", "abcd"), ("s", "Ünïcödé")]),
    ("/x", []),
]


@pytest.mark.parametrize("address,args", VECTORS)
def test_encode_matches_python_osc_and_decodes_back(address, args):
    data = w.encode(address, args)
    assert data == python_osc(address, *args)
    (message,) = w.decode(data)
    assert message.address == address
    assert [t for t, _ in message.args] == [t for t, _ in args]
    for (_, got), (tag, want) in zip(message.args, args):
        assert got == (pytest.approx(want) if tag == "f" else want)


def test_bundles_in_order_and_time_tags_ignored():
    inner = OscBundleBuilder(IMMEDIATELY)
    inner.add_content(OscMessageBuilder("/b").build())
    a, c = (OscMessageBuilder(x).build().dgram for x in ("/a", "/c"))
    outer = w.bundle([a, inner.build().dgram, c], timetag=2**62)  # far ahead: decoded now
    assert [m.address for m in w.decode(outer)] == ["/a", "/b", "/c"]


def test_negative_bundle_element_size_is_refused_at_once():
    """protocol 1 killer: python-osc loops forever on these 20 bytes."""
    data = w.BUNDLE + struct.pack(">Q", 1) + struct.pack(">i", -4)
    assert len(data) == 20
    t0 = time.perf_counter()
    with pytest.raises(w.Malformed, match="size -4"):
        w.decode(data)
    assert time.perf_counter() - t0 < 0.1


def test_deep_nesting_and_too_many_messages_are_refused():
    message = w.encode("/m", [])
    data = message
    for _ in range(300):  # deep nesting was a RecursionError in protocol 1's server
        data = w.bundle([data])
    with pytest.raises(w.Malformed, match="nested"):
        w.decode(data)
    nested = message
    for _ in range(w.MAX_DEPTH):
        nested = w.bundle([nested])
    assert len(w.decode(nested)) == 1
    with pytest.raises(w.Malformed, match="nested"):
        w.decode(w.bundle([nested]))
    assert len(w.decode(w.bundle([message] * w.MAX_MESSAGES))) == w.MAX_MESSAGES
    with pytest.raises(w.Malformed, match="more than"):
        w.decode(w.bundle([message] * (w.MAX_MESSAGES + 1)))


def test_patterns_are_plain_addresses():
    """An address of 32 `*` is a string to look up, not a pattern to expand."""
    (m,) = w.decode(w.encode("/" + "*" * 32, [("i", 1)]))
    assert m.address == "/" + "*" * 32


def test_bad_utf8_argument_is_kept_for_an_answer_but_bad_address_is_not():
    bad = b"/x\0\0,s\0\0\xff\xfe\0\0"
    (m,) = w.decode(bad)
    assert not w.is_utf8(m.args[0][1])
    with pytest.raises(w.Malformed, match="UTF-8"):
        w.decode(b"/\xff\0\0,\0\0\0")


@pytest.mark.parametrize(
    "data,why",
    [
        (b"", "element of 0"),
        (b"/ab", "multiples of 4"),
        (b"xyz\0", "neither"),
        (b"/abc", "NUL"),
        (b"/a\0\0i\0\0\0", "','"),
        (b"/a\0\0,i\0\0", "cut short"),
        (b"/a\0\0,q\0\0", "not supported"),
        (b"/a\0\0,[\0\0", "not supported"),
        (b"/a\0\0,b\0\0" + struct.pack(">i", -8), "blob"),
        (b"/a\0\0,\0\0\0\0\0\0\0", "after the last"),
        (b"#bundle\0" + b"\0" * 4, "shorter"),
        (b"x" * (w.MAX_IN + 4), "limit"),
    ],
)
def test_malformed_datagrams_say_why(data, why):
    with pytest.raises(w.Malformed, match=why):
        w.decode(data)


def test_truncations_of_every_vector_are_malformed_or_shorter_messages():
    for address, args in VECTORS:
        data = w.encode(address, args)
        for cut in range(len(data)):
            try:
                w.decode(data[:cut])
            except w.Malformed:
                pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_decode_or_raise_malformed(data):
    try:
        w.decode(data)
    except w.Malformed:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=8), st.integers(0, 64))
def test_mutated_bundles_never_hang(sizes, cut):
    body = b"".join(struct.pack(">i", s) + w.encode("/m", [("i", s)]) for s in sizes)
    data = (w.BUNDLE + struct.pack(">Q", 1) + body)[: 16 + cut * 4]
    try:
        w.decode(data)
    except w.Malformed:
        pass


def test_encode_refuses_values_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        w.encode("/x", [("i", 2**31)])
    with pytest.raises(ValueError, match="cannot encode"):
        w.encode("/x", [("T", True)])
