"""The README's Usage section runs as written: every `midigen` command in it (on the default
model) and its Python example, from a checkout with the shared prompts beside it, and the
output it shows is the output the command prints.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from midigen.server.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def usage_blocks() -> list[tuple[str, list[str]]]:
    """(language, lines) of each fenced block of the README's Usage section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Usage\n", 1)[1].split("\n## ", 1)[0]
    return [
        (lang, body.splitlines())
        for lang, body in re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    ]


def commands() -> list[tuple[str, list[str]]]:
    """(command line, output lines the README shows for it) for every midigen command."""
    out: list[tuple[str, list[str]]] = []
    for lang, lines in usage_blocks():
        if lang == "python":
            continue
        for line in lines:
            if line.startswith("$ midigen ") or line.startswith("midigen "):
                out.append((line.removeprefix("$ "), []))
            elif out and lines[0].startswith("$ "):
                out[-1][1].append(line)
    return out


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A working folder with ../shared beside it, as a fresh clone has."""
    if not (SHARED / "midi").is_dir():
        pytest.skip(f"{SHARED} not available")
    (tmp_path / "shared").symlink_to(SHARED)
    (tmp_path / "midigen").mkdir()
    monkeypatch.chdir(tmp_path / "midigen")
    monkeypatch.delenv("MIDIGEN_MODEL", raising=False)
    return tmp_path / "midigen"


def test_the_usage_section_has_commands_and_python():
    assert len(commands()) >= 6
    assert any(lang == "python" for lang, _ in usage_blocks())


@pytest.mark.parametrize(
    "command, shown", commands(), ids=lambda c: c if isinstance(c, str) else ""
)
def test_a_usage_command_runs_as_written(command, shown, checkout, capsys):
    pytest.importorskip("matplotlib")
    args = shlex.split(command)
    assert args[0] == "midigen"
    assert main(args[1:]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out.splitlines()
    for line in shown:
        if line == "...":
            continue
        if line.endswith(" ..."):  # a long line, cut in the README
            assert any(p.startswith(line[:-4]) for p in printed), line
        else:
            assert line in printed, line
    if "-o" in args:
        output = Path(args[args.index("-o") + 1])
        if "--variations" in args:
            output = output.with_name(f"{output.stem}-1{output.suffix}")
        assert output.stat().st_size > 0


def test_the_python_example_runs_as_written(checkout):
    code = next("\n".join(lines) for lang, lines in usage_blocks() if lang == "python")
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["g"].mask().any()


def test_the_osc_client_example_runs_as_written(checkout, capsys):
    """The OSC client example against a real daemon on the default model: only its port is
    changed (9000 may be taken: `make serve` is allowed to run beside the tests)."""
    from midigen.models import default_bundle
    from midigen.server.daemon.main import Daemon
    from midigen.server.engine.session import Engine

    text = (ROOT / "README.md").read_text()
    section = text.split("\n## OSC client example\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    assert '("127.0.0.1", 9000)' in code
    daemon = Daemon(Engine(default_bundle(), device="cpu", threads=1), port=0).start()
    try:
        port = daemon.address[1]
        exec(compile(code.replace("9000", str(port)), "README.md", "exec"), {})
    finally:
        daemon.stop()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("protocol=2"), printed[0]
    assert printed[1].startswith("job=1 variations=2 bars=8 "), printed[1]  # /done
    assert all(int(line.split()[-2]) > 0 for line in printed[2:])  # density 6: notes in each
    bars_printed = [line for line in printed[2:] if line.startswith("variation ")]
    expected = [f"variation {v} track 2 bar {b}:" for v in (1, 2) for b in range(5, 9)]
    assert [line.rsplit(" ", 2)[0] for line in bars_printed] == expected
