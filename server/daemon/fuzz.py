"""Hostile datagrams for the hardening run (stress.py): each one labelled with what the server
must answer, so the run can check that every addressable bad request gets exactly one
/refused and nothing else gets any reply.

Kinds: random bytes, truncated messages, wrong or unknown type tags, huge strings, NaN and
infinity, wrong arity, int64 and out-of-range values, OSC patterns and unknown addresses,
bundles nested (within and past the limit, with far-future time tags, with negative or lying
element sizes), and lying uploads (chunks and ends for pieces never begun).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from . import oscwire
from . import protocol as p


@dataclass(frozen=True)
class Case:
    kind: str
    data: bytes
    refusals: int  # /refused replies the server must send for it (0: it must stay silent)


def _msg(address: str, args: list[tuple[str, object]]) -> bytes:
    return oscwire.encode(address, args)


class Fuzzer:
    """Cases for one hello'd client (its token); `piece` numbers it never began."""

    def __init__(self, token: int, seed: int = 0):
        self.token, self.rng = token, random.Random(seed)

    def cases(self, n: int) -> Iterator[Case]:
        makers = [
            self.random_bytes, self.truncated, self.bad_tags, self.huge_string, self.not_finite,
            self.wrong_arity, self.out_of_range, self.pattern, self.unknown_address,
            self.nested, self.broken_bundle, self.lying_upload, self.oversized,
        ]  # fmt: skip
        for _ in range(n):
            yield self.rng.choice(makers)()

    # -- the server must stay silent -------------------------------------------------------
    def random_bytes(self) -> Case:
        data = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(0, 200)))
        if data.startswith(b"/") or data.startswith(b"#"):
            data = b"x" + data  # keep it non-OSC, so its expected answer is certain
        return Case("random", data, 0)

    def truncated(self) -> Case:
        whole = _msg(p.Status.address, [("i", self.token), ("i", 5)])
        cut = self.rng.randrange(1, len(whole) // 4) * 4 - self.rng.choice((0, 1, 2))
        # cut right after the address, it is a message without arguments (OSC 1.0 allows
        # that): refused like any message without a token
        address_only = (len(p.Status.address) // 4 + 1) * 4
        return Case("truncated", whole[:cut], 1 if cut == address_only else 0)

    def broken_bundle(self) -> Case:
        size = self.rng.choice((-4, -1, 0, 3, 1 << 30))
        body = struct.pack(">i", size) + _msg(p.Status.address, [("i", self.token), ("i", 1)])
        return Case("broken bundle", oscwire.BUNDLE + struct.pack(">Q", 1) + body, 0)

    def oversized(self) -> Case:
        text = "x" * (oscwire.MAX_IN + self.rng.randrange(1, 4000))
        return Case("oversized", _msg(p.UploadTrack.address, [("s", text)]), 0)

    # -- the server must answer /refused once per message ----------------------------------
    def bad_tags(self) -> Case:
        tag = self.rng.choice("TFNs")
        args = [("i", self.token)] + ([(tag, "x")] if tag == "s" else [])
        raw = _msg(p.Cancel.address, args)
        if tag != "s":  # T, F, N carry no data: write the tag string by hand
            raw = _msg(p.Cancel.address, [("i", self.token)])
            raw = raw.replace(b",i\0\0", b",i" + tag.encode() + b"\0")
        return Case("bad tags", raw, 1)

    def huge_string(self) -> Case:
        name = "é" * self.rng.randrange(65, 2000)
        args = [("i", self.token), ("i", 9), ("i", 1), ("i", 0), ("i", 0), ("s", name)]
        return Case("huge string", _msg(p.UploadTrack.address, args), 1)

    def not_finite(self) -> Case:
        value = self.rng.choice((float("nan"), float("inf"), float("-inf")))
        return Case("nan/inf", _msg(p.Tempo.address, [("i", self.token), ("f", value)]), 1)

    def wrong_arity(self) -> Case:
        extra = self.rng.choice((0, 2, 3))  # /status takes a token and a job: not 1, 3 or 4
        args = [("i", self.token)] + [("i", 1)] * extra
        return Case("arity", _msg(p.Status.address, args), 1)

    def out_of_range(self) -> Case:
        job = self.rng.choice((0, -5, 2**31, 2**40, 2**63 - 1))
        tag = "i" if -(2**31) <= job < 2**31 else "h"
        return Case("range", _msg(p.Cancel.address, [("i", self.token), (tag, job)]), 1)

    def pattern(self) -> Case:
        address = "/midigen/" + "".join(self.rng.choice("*?[]{},!ab") for _ in range(32))
        return Case("pattern", _msg(address, [("i", self.token)]), 1)

    def unknown_address(self) -> Case:
        tail = "".join(self.rng.choice("abcdefgh/") for _ in range(self.rng.randrange(1, 30)))
        return Case("address", _msg("/midigen/zz" + tail, [("i", self.token)]), 1)

    def nested(self) -> Case:
        inner = _msg(p.Cancel.address, [("i", self.token), ("i", 424242)])  # unknown job
        depth = self.rng.randrange(1, 12)
        data = inner
        for _ in range(depth):
            data = oscwire.bundle([data], timetag=self.rng.choice((1, 2**63, 2**64 - 1)))
        return Case("nested", data, 1 if depth <= oscwire.MAX_DEPTH else 0)

    def lying_upload(self) -> Case:
        piece = self.rng.randrange(10**6, 2**31 - 1)  # never begun: every message is refused
        notes = [("i", 60), ("i", self.rng.randrange(-5, 10**9)), ("i", 96), ("i", 90)]
        head = [("i", self.token), ("i", piece)]
        kinds = [
            (p.UploadNotes.address, head + [("i", 1), ("i", 1), *notes]),
            (p.UploadEnd.address, head + [("i", 3)] * 4),
            (p.UploadMeter.address, head + [("i", 1), ("i", 7), ("i", 3)]),
        ]
        address, args = self.rng.choice(kinds)
        return Case("lying upload", _msg(address, args), 1)
