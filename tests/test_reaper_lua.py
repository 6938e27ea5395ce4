"""The REAPER client's Lua test suites, run by pytest so the README's test command counts them:
busted's unit specs of the pure modules (reaper_scripts/spec/), the offline end-to-end specs
(scripts on the fake REAPER without a server: absent server, missing LuaSocket, Settings), and
the ReaPack index (regenerated and compared, then read as XML and checked against the files)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote

from reaper_lua import SCRIPTS, busted, lua, require


def test_busted_unit_specs_of_the_pure_modules():
    passed = busted("spec/")
    assert len(passed) >= 55  # bars, chunks, job, net, osc, plan and writer specs


def test_scripts_offline_absent_server_missing_luasocket_and_settings():
    passed = busted("e2e/offline_spec.lua")
    assert len(passed) == 6


def test_reapack_index_is_generated_from_the_scripts():
    require("lua5.4")
    result = lua("tools/reapack_index.lua", "--check")
    assert result.returncode == 0, result.stderr


def test_reapack_index_lists_every_action_and_module_with_one_version():
    index = ET.parse(SCRIPTS / "index.xml").getroot()
    assert index.tag == "index" and index.get("version") == "1" and index.get("name")
    packages = index.findall("./category/reapack")
    assert len(packages) == 1 and packages[0].get("type") == "script"
    description = packages[0].find("./metadata/description").text
    assert description.startswith("{\\rtf1") and "Mavriq Lua Sockets" in description
    versions = packages[0].findall("version")
    assert [v.get("name") for v in versions] == ["0.1.0"]
    sources = versions[0].findall("source")
    mains = sorted(s.get("file") for s in sources if s.get("main") == "main")
    actions = sorted(
        p.name for p in SCRIPTS.glob("*.lua") if "@version" in p.read_text().split("\n", 3)[1]
    )
    assert mains == actions and len(actions) == 5
    modules = sorted(s.get("file") for s in sources if s.get("main") is None)
    assert modules == sorted(f"midigen/{p.name}" for p in (SCRIPTS / "midigen").glob("*.lua"))
    for s in sources:
        assert re.fullmatch(r"https://[^\s]+", s.text), s.text
        assert unquote(s.text).endswith("/reaper_scripts/" + s.get("file"))
        assert (SCRIPTS / s.get("file")).is_file()
    for path in SCRIPTS.glob("*.lua"):  # every action's header says the same version
        if path.name in actions:
            assert "-- @version 0.1.0\n" in path.read_text()


def test_the_scripts_only_call_reaper_from_the_reaper_layer():
    """Pure modules stay testable outside REAPER: no `reaper.` outside the thin layer."""
    layer = {"app.lua", "project.lua", "takes.lua", "writer.lua", "config.lua", "dialogs.lua"}
    for path in (SCRIPTS / "midigen").glob("*.lua"):
        if path.name not in layer:
            assert "reaper." not in path.read_text(), path.name
