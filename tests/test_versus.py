"""training/versus.py: two models' compare reports, task by task over the tasks both hold."""

from __future__ import annotations

import json

import pytest

from training import versus


def _report(values: dict[int, float], split: str = "pop909-valid") -> dict:
    records = [{"seed": 0, "work": f"song-{i}", "track": 1, "bars": [4, 7], "pc_correlation": v,
                "onset_overlap": 0.5, "in_key": 1.0, "outside_range": 0.0}
               for i, v in values.items()]  # fmt: skip
    mean = sum(values.values()) / len(values)
    return {"split": split, "records": {"model": records},
            "generators": {"model": {"pc_correlation": mean}}}  # fmt: skip


def test_differences_are_taken_over_the_common_tasks_only():
    result = versus.versus(_report({0: 0.7, 1: 0.5, 2: 0.9}), _report({0: 0.6, 1: 0.2, 3: 0.1}))
    assert result["tasks"] == 2
    paired = result["paired"]["pc_correlation"]
    assert paired["mean"] == pytest.approx(0.2) and paired["tasks"] == 2  # (0.1 + 0.3) / 2
    assert paired["se"] == pytest.approx(0.1)  # sd 0.1414 / sqrt(2)
    assert result["paired"]["onset_overlap"]["mean"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="share no task"):
        versus.versus(_report({0: 0.7}), _report({1: 0.7}))


def test_the_command_refuses_reports_of_different_splits(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_report({0: 0.7})))
    b.write_text(json.dumps(_report({0: 0.6}, split="classical-valid")))
    with pytest.raises(SystemExit, match="splits differ"):
        versus.main([str(a), str(b)])
    b.write_text(json.dumps(_report({0: 0.6})))
    versus.main([str(a), str(b)])
    assert "pc_correlation: +0.100" in capsys.readouterr().out
