"""Mutation testing of the core modules with cosmic-ray, in a scratch copy of the checkout.

    make mutation                          # every mutant of every target (hours on 2 cores)
    make mutation ARGS="--sample 10"       # 10 mutants per module, fixed seed: minutes
    .venv/bin/python mutation/run.py --module server/daemon/uploads.py --sample 30

cosmic-ray mutates a file on disk and runs a test command; here that happens in a copy of the
last commit under a temporary folder, so the working tree (which other people's test runs
read) never holds a mutant. The copy is imported through a folder of `midigen` links placed
first on PYTHONPATH, ahead of the editable install that points at the checkout. Each module is
tested by the test files that exercise it (TARGETS), stopping at the first failure.

A mutant is killed when its tests fail or time out, survives when they pass, and is
incompetent when it cannot even be imported (a syntax-level mutant). The score is
killed / (killed + survived). Survivors are listed with their line and operator: each is
either a missing test or an equivalent mutant to explain.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COSMIC_RAY = "cosmic-ray==8.7.0"
DAEMON = ["tests/test_promises_daemon.py", "tests/test_daemon.py"]
TARGETS = {  # module: the tests that guard it
    "server/language/grammar.py": ["tests/test_grammar.py", "tests/test_registers.py"],
    "server/daemon/uploads.py": [*DAEMON, "tests/test_daemon_hardening.py"],
    "server/daemon/jobs.py": [*DAEMON, "tests/test_daemon_hardening.py"],
    "server/daemon/handlers.py": DAEMON,
    "server/daemon/requests.py": DAEMON,
    "server/engine/generation.py": ["tests/test_generation.py", *DAEMON],
    "server/tools/cli_generate.py": ["tests/test_promises_cli.py", "tests/test_cli_generate.py"],
    "server/tools/results.py": ["tests/test_promises_cli.py", "tests/test_cli_generate.py"],
}
PACKAGES = {"server": "server", "exporter": "exporter", "models": "models"}  # pyproject's dirs


def scratch_copy(into: Path) -> Path:
    """The last commit's files under into/checkout (uncommitted edits, including other
    people's work in progress, stay out), ../shared beside it, and into/pkg/midigen/*
    linking to the copy; returns the copy."""
    copy = into / "checkout"
    copy.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True,
                             check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(copy)], input=archive, check=True)
    if (ROOT.parent / "shared").exists():
        (into / "shared").symlink_to(ROOT.parent / "shared")
    package = into / "pkg" / "midigen"
    package.mkdir(parents=True)
    for name, folder in PACKAGES.items():
        (package / name).symlink_to(copy / folder)
    return copy


def baseline(copy: Path, env: dict, tests: list[str], timeout: float) -> None:
    """The tests pass on the unmutated copy, or every mutant would count as killed."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                          *tests], cwd=copy, env=env, capture_output=True, text=True,
                         timeout=timeout)  # fmt: skip
    if run.returncode != 0:
        sys.exit(f"baseline failed for {' '.join(tests)}:\n{run.stdout[-3000:]}")


def tool(into: Path) -> Path:
    """cosmic-ray in a venv of its own (the project's venv stays as `make test` built it)."""
    venv = into / "cosmic-ray-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", COSMIC_RAY], check=True)
    return venv / "bin" / "cosmic-ray"


def mutants(cosmic_ray: Path, copy: Path, module: str) -> list[dict]:
    """Every mutation cosmic-ray's operators make in a module (its `init`, then `dump`)."""
    config, session = copy / "cr.toml", copy / "cr.sqlite"
    config.write_text(
        f'[cosmic-ray]\nmodule-path = "{module}"\ntimeout = 600.0\nexcluded-modules = []\n'
        'test-command = "true"\n\n[cosmic-ray.distributor]\nname = "local"\n'
    )
    session.unlink(missing_ok=True)
    subprocess.run([str(cosmic_ray), "init", str(config), str(session)], cwd=copy, check=True)
    dump = subprocess.run([str(cosmic_ray), "dump", str(session)], cwd=copy, check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    return [json.loads(line)[0]["mutations"][0] for line in dump.splitlines() if line.strip()]


def outcome(cosmic_ray: Path, copy: Path, env: dict, m: dict, tests: list[str],
            timeout: float) -> str:  # fmt: skip
    """killed, survived or incompetent, for one mutant (the file is restored after)."""
    command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider {' '.join(tests)}"
    args = [str(cosmic_ray), "mutate-and-test", m["module_path"], m["operator_name"],
            str(m["occurrence"]), command]  # fmt: skip
    original = (copy / m["module_path"]).read_bytes()
    try:
        run = subprocess.run(args, cwd=copy, env=env, capture_output=True, text=True,
                             timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "killed"  # a mutant that hangs the tests is caught by their timeouts in CI
    finally:
        (copy / m["module_path"]).write_bytes(original)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    return result.get("test_outcome") or "incompetent"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", action="append", choices=sorted(TARGETS),
                    help="only this module (repeatable; default: all of TARGETS)")  # fmt: skip
    ap.add_argument("--sample", type=int, default=0, help="mutants per module (0: all)")
    ap.add_argument("--seed", type=int, default=1, help="which sample (fixed: comparable runs)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant's tests")
    ap.add_argument("--cosmic-ray", help="an installed cosmic-ray (default: install one)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="midigen-mutation-") as tmp:
        into = Path(tmp)
        copy = scratch_copy(into)
        cosmic_ray = Path(args.cosmic_ray) if args.cosmic_ray else tool(into)
        env = {**os.environ, "PYTHONPATH": str(into / "pkg")}
        totals = {"killed": 0, "survived": 0, "incompetent": 0}
        survivors = []
        for module in args.module or sorted(TARGETS):
            baseline(copy, env, TARGETS[module], args.timeout)
            found = mutants(cosmic_ray, copy, module)
            chosen = found
            if args.sample and args.sample < len(found):
                chosen = random.Random(f"{args.seed}:{module}").sample(found, args.sample)
            counts = dict.fromkeys(totals, 0)
            for m in chosen:
                result = outcome(cosmic_ray, copy, env, m, TARGETS[module], args.timeout)
                counts[result] = counts.get(result, 0) + 1
                where = f"{module}:{m['start_pos'][0]} {m['operator_name']} #{m['occurrence']}"
                print(f"{result:11} {where}", flush=True)
                if result == "survived":
                    survivors.append(where)
            for key in totals:
                totals[key] += counts.get(key, 0)
            print(f"== {module}: {counts['killed']} killed, {counts['survived']} survived, "
                  f"{counts['incompetent']} incompetent of {len(chosen)} "
                  f"({len(found)} mutants in all)", flush=True)  # fmt: skip
    tested = totals["killed"] + totals["survived"]
    print(f"kill rate: {totals['killed']}/{tested} = {totals['killed'] / max(1, tested):.0%}")
    for where in survivors:
        print(f"survived: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
