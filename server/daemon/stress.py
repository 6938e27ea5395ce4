"""The hardening run: fuzz, load and amplification against a running midigen-server, with the
figures docs/reliability.md records. The tests run a reduced form in-process; the full run
starts its own server (on a free port) on the default model and measures that process:

    python -m midigen.server.daemon.stress --fuzz 100000 --clients 16 --jobs 50

Everything is bounded in count and time and uses loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..language.midifiles import read_midi
from ..language.piece import Piece
from . import protocol as p
from .client import Client, Selection
from .fuzz import Fuzzer

Address = tuple[str, int]


def rss_of(pid: int) -> int:
    """Resident set size of a process in bytes (Linux /proc), 0 where unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def fuzz(server: Address, n: int, seed: int = 0, rss: Callable[[], int] = lambda: 0) -> dict:
    """Send n hostile datagrams from one hello'd client; every one that can be answered must
    get exactly one /refused, the rest nothing. Sends in windows of 200 and waits for their
    refusals, so the figures measure the server, not the kernel's buffer."""
    with Client(server) as c:
        c.hello()
        before, t0 = rss(), time.monotonic()
        expected, kinds = 0, {}
        for i, case in enumerate(Fuzzer(c.token, seed).cases(n), 1):
            c.send_bytes(case.data)
            expected += case.refusals
            kinds[case.kind] = kinds.get(case.kind, 0) + 1
            if i % 200 == 0:
                _settle(c, expected)
        _settle(c, expected, 10.0)
        elapsed = time.monotonic() - t0
        got = len(c.refusals())
        others = [m for m in c.inbox if not isinstance(m, (p.Refused, p.Welcome))]
        alive = c.ping(10).protocol == p.PROTOCOL_VERSION
        return dict(
            datagrams=n, seconds=round(elapsed, 1), rate=round(n / elapsed),
            expected_refusals=expected, refusals=got, other_replies=len(others),
            unparsed=len(c.unparsed), alive=alive, kinds=kinds,
            bytes_out=c.bytes_out, bytes_in=c.bytes_in,
            rss_growth_mb=round((rss() - before) / 2**20, 1),
        )  # fmt: skip


def _settle(c: Client, expected: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(c.refusals()) < expected and time.monotonic() < deadline:
        time.sleep(0.005)


def load(server: Address, piece: Piece, clients: int, jobs: int, single: int = 10) -> dict:
    """Latency of a 1-bar infill alone and with `clients` clients each running `jobs` jobs
    back to back (retrying `queue_full`); every job must end done, failed or cancelled."""
    alone = _run_client(server, piece, single, 0)
    results: list[dict] = [{} for _ in range(clients)]

    def run(i: int) -> None:
        results[i] = _run_client(server, piece, jobs, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(3600)
    elapsed = time.monotonic() - t0
    latencies = [x for r in results for x in r.get("latencies", [])]
    ends: dict[str, int] = {}
    for r in results:
        for k, v in r.get("ends", {}).items():
            ends[k] = ends.get(k, 0) + v
    return dict(
        clients=clients, jobs_each=jobs, ends=ends, lost=clients * jobs - sum(ends.values()),
        retries=sum(r.get("retries", 0) for r in results),
        single_p50_ms=_pct(alone["latencies"], 50), single_p95_ms=_pct(alone["latencies"], 95),
        loaded_p50_ms=_pct(latencies, 50), loaded_p95_ms=_pct(latencies, 95),
        loaded_max_ms=round(max(latencies, default=0)),
        jobs_per_s=round(len(latencies) / elapsed, 2),
    )  # fmt: skip


def _pct(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return round(values[0])
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1])


def _run_client(server: Address, piece: Piece, jobs: int, index: int) -> dict:
    ends: dict[str, int] = {}
    latencies, retries = [], 0
    n_tracks, n_bars = len(piece.tracks), len(piece.bars())
    with Client(server) as c:
        c.hello(30)
        c.upload(1, piece, timeout=60)
        for job in range(1, jobs + 1):
            sel = Selection(1 + (index + job) % n_tracks, 1 + job % n_bars, 1 + job % n_bars)
            t0 = time.monotonic()
            while True:
                since = len(c.inbox)
                c.generate(job, 1, "infill", [sel], seed=job)
                reply = c.wait(
                    lambda m, j=job: getattr(m, "job", None) == j
                    and isinstance(m, (p.Accepted, p.Failed))
                    or isinstance(m, p.Refused) and m.number == j,
                    120, since,
                )  # fmt: skip
                if isinstance(reply, p.Refused) and reply.code == "queue_full":
                    retries += 1
                    time.sleep(0.2)
                    continue
                break
            if isinstance(reply, p.Refused):
                ends["refused"] = ends.get("refused", 0) + 1
                continue
            final = c.finished(job, 600, since)
            latencies.append((time.monotonic() - t0) * 1e3)
            kind = type(final).__name__.lower()
            ends[kind] = ends.get(kind, 0) + 1
    return dict(latencies=latencies, ends=ends, retries=retries)


def amplification(server: Address, piece: Piece) -> dict:
    """Reply bytes per request byte for the requests that answer most."""
    out = {}
    with Client(server) as c:
        c.hello()
        c.upload(1, piece)
        c.generate(1, 1, "infill", [Selection(1, 1, len(piece.bars()))], variations=4, seed=1)
        c.finished(1, 600)
        for name, send in [
            ("ping", lambda: c.request(p.Ping, reply_port=c.port)),
            ("refusal", lambda: c.send("/midigen/nope", c.token)),
            ("status", lambda: c.request(p.Status, job=1)),
            ("result", lambda: c.result(1)),
        ]:
            time.sleep(0.5)
            b_in, b_out = c.bytes_in, c.bytes_out
            send()
            time.sleep(3.0 if name == "result" else 0.3)
            out[name] = round((c.bytes_in - b_in) / max(1, c.bytes_out - b_out), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m midigen.server.daemon.stress")
    parser.add_argument("--fuzz", type=int, default=100_000, help="hostile datagrams")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=50, help="jobs per client")
    parser.add_argument("--model", help="bundle folder (default: the embedded model)")
    parser.add_argument("--midi", help="piece to upload (default: a test prompt)")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[2]
    midi = Path(args.midi or root.parent / "shared" / "midi" / "prompt_bmw.mid")
    server_cmd = [sys.executable, "-m", "midigen.server.daemon.main", "--port", "0"]
    server_cmd += ["--log-level", "warning", "--max-refusals", "1000000"]  # see every answer
    server_cmd += ["--model", args.model] if args.model else []
    log = open(f"/tmp/midigen-stress-{os.getpid()}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = proc.stdout.readline()  # "midigen-server ...: ... on udp 127.0.0.1:PORT"
        if not line.startswith("midigen-server "):
            raise SystemExit(f"the server did not start: {Path(log.name).read_text()}")
        address = ("127.0.0.1", int(line.rsplit(":", 1)[1]))
        piece = read_midi(midi)
        report = {"fuzz": fuzz(address, args.fuzz, rss=lambda: rss_of(proc.pid))}
        report["load"] = load(address, piece, args.clients, args.jobs)
        report["amplification"] = amplification(address, piece)
        report["server_rss_mb"] = round(rss_of(proc.pid) / 2**20, 1)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    text = Path(log.name).read_text()
    report["log_lines"], report["tracebacks"] = len(text.splitlines()), text.count("Traceback")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
