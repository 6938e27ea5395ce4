"""OSC 1.0 datagrams, decoded strictly by our own code before anything else sees them.

Why not python-osc's parser: a 20-byte bundle whose element size is negative sends it into an
endless loop (the server stops answering and ignores SIGTERM), bundles nested a few hundred
deep raise RecursionError, and its dispatcher expands OSC address patterns with regular
expressions whose cost grows as the 7th-8th power of the number of `*`. This decoder is a single
bounded pass: every size is checked against what is left, bundles may nest `MAX_DEPTH` deep and
carry `MAX_MESSAGES` messages in all, and addresses are returned as plain strings for an exact
dictionary lookup (no pattern is ever expanded). Anything it cannot read raises `Malformed`
with one line saying why; it never raises anything else and never loops.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_IN = 8192  # bytes in one incoming datagram (protocol 2's limit)
MAX_DEPTH = 4  # bundle nesting: a bundle inside a bundle ... four levels at most
MAX_MESSAGES = 16  # messages in one datagram, over all its bundles

BUNDLE = b"#bundle\0"

# Tags whose values take a fixed number of bytes; `s`, `S` and `b` are read by length.
_FIXED = {"i": ">i", "h": ">q", "f": ">f", "d": ">d", "t": ">Q", "c": ">i", "r": ">I", "m": ">I"}
_EMPTY = {"T": True, "F": False, "N": None, "I": math.inf}


class Malformed(ValueError):
    """A datagram that is not well-formed OSC within our limits; the text says why."""


@dataclass(frozen=True)
class OscMessage:
    """One decoded message: its address as sent and its arguments as (type tag, value).

    String arguments that are not valid UTF-8 keep their bytes as surrogate escapes, so the
    message can still be answered (`bad_message`) instead of dropped."""

    address: str
    args: tuple[tuple[str, Any], ...]


def decode(data: bytes, max_depth: int = MAX_DEPTH, max_messages: int = MAX_MESSAGES) -> list:
    """The messages of one datagram, in order; Malformed when any part of it is not OSC."""
    if len(data) > MAX_IN:
        raise Malformed(f"{len(data)} bytes, over the {MAX_IN}-byte limit")
    out: list[OscMessage] = []
    _element(bytes(data), 0, len(data), 0, out, max_depth, max_messages)
    return out


def _element(
    data: bytes, start: int, end: int, depth: int, out: list, max_depth: int, max_messages: int
) -> None:
    """The element data[start:end]: a bundle (read element by element) or one message."""
    size = end - start
    if size == 0 or size % 4:
        raise Malformed(f"an element of {size} bytes (OSC sizes are positive multiples of 4)")
    if data.startswith(BUNDLE, start):
        if depth >= max_depth:
            raise Malformed(f"bundles nested more than {max_depth} deep")
        if size < 16:
            raise Malformed("a bundle shorter than its header")
        pos = start + 16  # "#bundle\0" and the time tag, which the server ignores
        while pos < end:
            if pos + 4 > end:
                raise Malformed("a bundle element size cut short")
            (n,) = struct.unpack_from(">i", data, pos)
            pos += 4
            if n <= 0 or n % 4 or n > end - pos:
                raise Malformed(f"a bundle element of size {n} with {end - pos} bytes left")
            _element(data, pos, pos + n, depth + 1, out, max_depth, max_messages)
            pos += n
        return
    if data[start] != ord("/"):
        raise Malformed("neither a message (starts with /) nor a bundle")
    if len(out) >= max_messages:
        raise Malformed(f"more than {max_messages} messages in one datagram")
    out.append(_message(data, start, end))


def _string(data: bytes, pos: int, end: int, what: str) -> tuple[str, int]:
    """An OSC string at `pos`: NUL-terminated, padded to 4; returns it and the next position."""
    nul = data.find(b"\0", pos, end)
    if nul < 0:
        raise Malformed(f"{what} without its terminating NUL")
    after = pos + ((nul - pos) // 4 + 1) * 4
    if after > end:
        raise Malformed(f"{what} without its padding")
    return data[pos:nul].decode("utf-8", "surrogateescape"), after


def _message(data: bytes, start: int, end: int) -> OscMessage:
    address, pos = _string(data, start, end, "an address")
    if _has_surrogates(address):
        raise Malformed("an address that is not UTF-8")
    if pos >= end:  # OSC 1.0 allows a message without a type tag string: no arguments
        return OscMessage(address, ())
    tags, pos = _string(data, pos, end, "a type tag string")
    if not tags.startswith(","):
        raise Malformed("a type tag string that does not start with ','")
    args = []
    for tag in tags[1:]:
        where = f"argument {len(args) + 1} ({tag})"
        if tag in _FIXED:
            fmt = _FIXED[tag]
            size = struct.calcsize(fmt)
            if pos + size > end:
                raise Malformed(f"{where} cut short")
            (value,) = struct.unpack_from(fmt, data, pos)
            pos += size
        elif tag in ("s", "S"):
            value, pos = _string(data, pos, end, where)
        elif tag == "b":
            if pos + 4 > end:
                raise Malformed(f"{where} cut short")
            (size,) = struct.unpack_from(">i", data, pos)
            if size < 0 or pos + 4 + size > end:
                raise Malformed(f"a blob of size {size} with {end - pos - 4} bytes left")
            value = data[pos + 4 : pos + 4 + size]
            pos += 4 + (size + 3) // 4 * 4
        elif tag in _EMPTY:
            value = _EMPTY[tag]
        else:  # arrays ([ ]) and unknown tags: the protocol has no use for them
            raise Malformed(f"type tag {tag!r} is not supported")
        args.append((tag, value))
    if pos != end:
        raise Malformed(f"{end - pos} bytes after the last argument")
    return OscMessage(address, tuple(args))


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def is_utf8(text: str) -> bool:
    """False for a string decoded from bytes that were not UTF-8 (see OscMessage)."""
    return not _has_surrogates(text)


def _pad(raw: bytes) -> bytes:
    return raw + b"\0" * (4 - len(raw) % 4)


def encode(address: str, args: Sequence[tuple[str, Any]]) -> bytes:
    """One OSC message from (tag, value) pairs; tags `i` (int32), `f` (float32), `s`, `h`, `d`.
    ValueError when a value does not fit its tag (an int32 out of range, say)."""
    tags, body = ",", []
    for tag, value in args:
        if tag == "s":
            body.append(_pad(str(value).encode("utf-8")))
        elif tag in ("i", "h", "f", "d"):
            try:
                body.append(struct.pack(_FIXED[tag], value))
            except struct.error as e:
                raise ValueError(f"{value!r} does not fit OSC type {tag}: {e}") from None
        else:
            raise ValueError(f"cannot encode OSC type {tag!r}")
        tags += tag
    return _pad(address.encode("utf-8")) + _pad(tags.encode()) + b"".join(body)


def bundle(elements: Sequence[bytes], timetag: int = 1) -> bytes:
    """An OSC bundle of already encoded messages or bundles (tests and the fuzzer use it)."""
    parts = [BUNDLE, struct.pack(">Q", timetag)]
    for e in elements:
        parts += [struct.pack(">i", len(e)), e]
    return b"".join(parts)
