"""A non-editable install is a single `midigen` package whose subpackages are the folders, with
the language document (and the models folder) inside it."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_maps_the_folders_into_one_package(tmp_path):
    # built from a copy: setuptools reuses a build/ folder left in the checkout, which would
    # hide a subpackage missing from pyproject's `packages`
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "node_modules"
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    wheel = next(tmp_path.glob("midigen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("midigen-")}
    assert top == {"midigen"}, top  # no top-level `server`, `exporter`, ...
    for required in (
        "midigen/server/language/language.json",
        "midigen/server/language/grammar.py",
        "midigen/exporter/__init__.py",
        "midigen/models/__init__.py",
    ):
        assert required in names
    for bundle in ("midigen-base", "midigen-base-fp32"):  # the default model, all its files
        for file in ("midigen.json", "model.onnx", "model.onnx.data", "prefill.onnx"):
            assert f"midigen/models/{bundle}/{file}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("midigen =", "midigen-server =", "midigen-export =", "midigen-bench ="):
        assert script in text

    # installed without the editable finder, the package data is found from site-packages
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import midigen.server.language.vocab as v; print(v.__file__); print(len(v.load()))"
    )
    out = _run_installed(code, target)
    where, size = out.stdout.split()
    assert where.startswith(str(target)) and size == "519"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from midigen.models import default_bundle; "
        "from midigen.exporter.bundle import load_bundle; b = load_bundle(default_bundle()); "
        "print(b.path, b.prefill_path.is_file())"
    )
    where, twin = _run_installed(code, target).stdout.split()
    assert where.startswith(str(target)) and twin == "True"

    # every module of the wheel imports from it (a subpackage left out of `packages` fails here)
    code = (
        "import sys, importlib, pkgutil; sys.path.insert(0, sys.argv[1]); import midigen; "
        "names = [m.name for p in ('server', 'exporter', 'models') for m in pkgutil.walk_packages("
        "[sys.argv[1] + '/midigen/' + p], 'midigen.' + p + '.')]; "
        "mods = [importlib.import_module(n) for n in names]; "
        "print(len(names), all(m.__file__.startswith(sys.argv[1]) for m in mods))"
    )
    out = _run_installed(code, target)
    count, from_wheel = out.stdout.split()
    assert int(count) >= 40 and from_wheel == "True", out.stdout


def _run_installed(code: str, target: Path) -> subprocess.CompletedProcess:
    """Python code run against the wheel installed in `target`, without site-packages' editable
    finder (-S); the dependencies come from the venv's site-packages on PYTHONPATH."""
    out = subprocess.run(
        [sys.executable, "-S", "-c", code, str(target)],
        capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(Path(__import__("numpy").__file__).parents[1])},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out


# The three floors of server/: language <- engine <- daemon, tools (see server/__init__.py).
MAY_IMPORT = {
    "language": {"language"},
    "engine": {"language", "engine"},
    "daemon": {"language", "engine", "daemon"},
    "tools": {"language", "engine", "tools"},
}


def _server_imports(path: Path) -> set[str]:
    """The server rooms a module imports, relative or absolute, at any depth in the file."""
    import ast

    room = path.parent.name
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.add(room)
            elif node.level == 2:
                found.update([node.module.split(".")[0]] if node.module else [])
                if not node.module:  # `from .. import x`: x is a room, or __version__
                    found.update(a.name for a in node.names if a.name in MAY_IMPORT)
            elif node.module and node.module.startswith("midigen.server."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("midigen.server."):
                    found.add(a.name.split(".")[2])
    return found


def test_server_rooms_import_one_way():
    server = REPO / "server"
    rooms = sorted(p.name for p in server.iterdir() if (p / "__init__.py").exists())
    assert rooms == sorted(MAY_IMPORT), rooms
    assert sorted(p.name for p in server.glob("*.py")) == ["__init__.py"]  # no loose modules
    checked = 0
    for room, allowed in MAY_IMPORT.items():
        for module in sorted((server / room).glob("*.py")):
            imported = _server_imports(module)
            assert imported <= allowed, f"{module.relative_to(REPO)} imports {imported - allowed}"
            checked += 1
    assert checked >= 30
