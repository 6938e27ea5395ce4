"""The Max-for-Live device (max4live/): its Node test suite, run here so `make test` counts it,
and the .amxd the build script writes, read back by a reader of our own that shares no code
with the writer (max4live/build.js).

The container (documented in max4live/README.md): little-endian chunks `ampf` (device type),
`meta`, `ptch`; `ptch` holds a frozen archive `mx@c` (big-endian) whose files are the device
patcher (JSON, NUL-terminated) and every script it uses, listed in a `dlst` of `dire`
entries (type, fnam, sz32, of32, vers, flag, mdat).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEVICE = ROOT / "max4live"


def node_or_skip() -> str:
    """CI (.ci/run sets MIDIGEN_REQUIRE_PEERS) installs Debian's nodejs; elsewhere, skip."""
    node = shutil.which("node")
    if node:
        return node
    if os.environ.get("MIDIGEN_REQUIRE_PEERS"):
        pytest.fail("node missing: apt-get install nodejs")
    pytest.skip("node (nodejs) not installed")


def chunks_le(data: bytes) -> list[tuple[str, bytes]]:
    out, at = [], 0
    while at < len(data):
        assert at + 8 <= len(data), f"truncated chunk header at {at}"
        name = data[at : at + 4].decode("ascii")
        size = int.from_bytes(data[at + 4 : at + 8], "little")
        out.append((name, data[at + 8 : at + 8 + size]))
        assert at + 8 + size <= len(data), f"chunk {name} runs past the file"
        at += 8 + size
    return out


def fields_be(data: bytes) -> list[tuple[str, bytes]]:
    out, at = [], 0
    while at < len(data):
        name = data[at : at + 4].decode("ascii")
        size = int.from_bytes(data[at + 4 : at + 8], "big")
        assert size >= 8 and at + size <= len(data), f"bad field {name} size {size}"
        out.append((name, data[at + 8 : at + size]))
        at += size
    return out


def read_amxd(path: Path) -> tuple[str, dict[str, tuple[str, int, bytes]]]:
    """(device type, {file name: (type, flag, bytes)}) of a frozen .amxd."""
    chunks = chunks_le(path.read_bytes())
    assert [name for name, _ in chunks] == ["ampf", "meta", "ptch"]
    device_type = chunks[0][1].decode("ascii")
    ptch = chunks[2][1]
    assert ptch[:4] == b"mx@c"
    header = int.from_bytes(ptch[4:8], "big")
    directory_at = int.from_bytes(ptch[8:16], "big")
    assert header == 16
    ((name, dlst),) = fields_be(ptch[directory_at:])
    assert name == "dlst"
    files = {}
    for kind, entry in fields_be(dlst):
        assert kind == "dire"
        f = dict(fields_be(entry))
        assert set(f) == {"type", "fnam", "sz32", "of32", "vers", "flag", "mdat"}
        fname = f["fnam"].rstrip(b"\0").decode("ascii")
        assert len(f["fnam"]) % 4 == 0 and f["fnam"].endswith(b"\0"), fname
        size = int.from_bytes(f["sz32"], "big")
        offset = int.from_bytes(f["of32"], "big")
        assert header <= offset and offset + size <= directory_at, fname
        files[fname] = (f["type"].decode("ascii"), int.from_bytes(f["flag"], "big"),
                        ptch[offset : offset + size])  # fmt: skip
    return device_type, files


def scripts_used(patcher: dict, sources: Path) -> set[str]:
    """Scripts named by [js] boxes, and the modules they require, transitively."""
    todo = [
        m.group(1)
        for b in patcher["patcher"]["boxes"]
        if (m := re.match(r"(?:js|v8)\s+(\S+\.js)", b["box"].get("text", "")))
    ]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [f"{m}.js" for m in re.findall(r'require\("(\w+)"\)', (sources / name).read_text())]
    return seen


def test_built_amxd_is_a_frozen_midi_effect_with_every_script(tmp_path):
    node = node_or_skip()
    out = tmp_path / "midigen.amxd"
    subprocess.run([node, str(DEVICE / "build.js"), "--out", str(out)], check=True, timeout=60,
                   capture_output=True)  # fmt: skip
    device_type, files = read_amxd(out)
    assert device_type == "mmmm"  # a MIDI effect
    kind, flag, patcher_bytes = files["midigen.amxd"]
    assert kind == "JSON" and patcher_bytes.endswith(b"\0")
    patcher = json.loads(patcher_bytes[:-1])
    assert patcher_bytes[:-1] == (DEVICE / "midigen.maxpat").read_bytes()
    classes = {b["box"]["maxclass"] for b in patcher["patcher"]["boxes"]}
    assert {"live.tab", "live.numbox", "live.menu", "live.dial", "live.text"} <= classes
    texts = {b["box"].get("text", "").split(" ")[0] for b in patcher["patcher"]["boxes"]}
    assert {"js", "udpsend", "udpreceive", "live.thisdevice", "midiin", "midiout"} <= texts
    # Every parameter-enabled object is in the patcher's parameter table under a unique long
    # name (Live renames duplicates, which would break saved sets and mappings).
    boxes = [b["box"] for b in patcher["patcher"]["boxes"]]
    enabled = {b["id"]: b["saved_attribute_attributes"]["valueof"] for b in boxes
               if b.get("parameter_enable")}  # fmt: skip
    table = {k: v for k, v in patcher["patcher"]["parameters"].items() if k.startswith("obj-")}
    assert set(table) == set(enabled)
    names = [v["parameter_longname"] for v in enabled.values()]
    assert len(names) == len(set(names)) and all(
        table[k][0] == enabled[k]["parameter_longname"] for k in table
    )
    used = scripts_used(patcher, DEVICE / "js")
    assert "midigen.js" in used and "mg_protocol2.js" in used
    assert set(files) == used | {"midigen.amxd"}
    for name in used:
        kind, flag, data = files[name]
        assert (kind, flag) == ("TEXT", 0), name
        assert data == (DEVICE / "js" / name).read_bytes(), f"{name} differs from its source"


def test_committed_amxd_is_what_the_sources_build():
    node = node_or_skip()
    result = subprocess.run([node, str(DEVICE / "build.js"), "--check"], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_node_suite():
    """max4live/test/*.test.js under `node --test`: unit tests of the device's modules and the
    end-to-end tests (fake LiveAPI, real UDP, the real midigen-server on a free port)."""
    node = node_or_skip()
    files = sorted(str(p) for p in (DEVICE / "test").glob("*.test.js"))
    assert files, "no Node tests found"
    env = dict(os.environ, NODE_PATH=str(DEVICE / "js"))
    env.setdefault("MIDIGEN_SERVER", str(Path(sys.executable).parent / "midigen-server"))
    result = subprocess.run([node, "--test", *files], capture_output=True, text=True, env=env,
                            timeout=600, cwd=DEVICE)  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
