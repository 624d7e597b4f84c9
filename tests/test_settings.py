"""Typed settings: everything the core reads is a documented RunConfig field (or a documented developer
switch), ``extra`` only carries unknown keys forward, and "no limit" is a budget of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from textclf_core.config import DEVELOPER_SWITCHES, NO_LIMIT, RunConfig, developer_switch
from textclf_core.errors import TextclfError

CORE = Path(__file__).resolve().parents[1] / "textclf_core"


def test_the_core_never_reads_extra():
    """Only config.py touches RunConfig.extra (to carry unknown keys forward and read old keys into fields)."""
    found = []
    for path in CORE.rglob("*.py"):
        if path.name == "config.py" and path.parent == CORE:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\b(config|cfg|self\.config|run_config)\.extra\b", line):
                found.append(f"{path.relative_to(CORE.parent)}:{n}: {line.strip()}")
    assert not found, "Read a typed RunConfig field instead of extra:\n" + "\n".join(found)


def test_old_extra_keys_become_fields_and_unknown_ones_are_kept():
    config = RunConfig.from_dict(
        {
            "strategy": "auto",
            "extra": {
                "no_budget": True,
                "auto_members": ["tfidf-logreg"],
                "baseline_c": 4,
                "baseline_path": "large",
                "members_dir": "/tmp/m",
                "from_the_future": 1,
            },
            "a_newer_setting": "x",
        }
    )
    assert config.budget_s == NO_LIMIT and config.no_budget_limit and config.budget_seconds(600) is None
    assert config.auto_members == ["tfidf-logreg"] and config.baseline_c == 4.0 and config.baseline_path == "large"
    assert config.auto_members_dir == "/tmp/m"
    assert config.extra == {"from_the_future": 1, "a_newer_setting": "x"}
    assert RunConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("value, seconds", [(None, 600.0), (90, 90.0), ("none", None), ("No limit", None)])
def test_budget_default_number_or_no_limit(value, seconds):
    assert RunConfig(strategy="auto", budget_s=value).budget_seconds(600.0) == seconds


@pytest.mark.parametrize(
    "bad",
    [
        {"budget_s": 0},
        {"budget_s": "soon"},
        {"auto_members": "tfidf-logreg"},
        {"baseline_path": "fast"},
        {"baseline_c": -1},
        {"baseline_epochs": 0},
    ],
)
def test_bad_settings_are_refused_in_one_line(bad):
    with pytest.raises(TextclfError) as err:
        RunConfig(strategy="auto", **bad)
    assert "\n" not in str(err.value) and next(iter(bad)) in str(err.value)


def test_developer_switches_are_documented_environment_variables(monkeypatch):
    for name in DEVELOPER_SWITCHES:
        monkeypatch.delenv(f"TEXTCLF_{name}", raising=False)
        assert not developer_switch(name)
        monkeypatch.setenv(f"TEXTCLF_{name}", "1")
        assert developer_switch(name)
    with pytest.raises(KeyError):
        developer_switch("NOT_A_SWITCH")


def test_cli_budget_none_means_no_limit(tmp_path, monkeypatch):
    """`textclf train --budget none` (documented in the README) runs auto with no time limit, not the default."""
    from textclf_core.cli import commands

    seen = {}

    def fake_execute(config, frame=None, **kwargs):
        seen["config"] = config
        raise SystemExit(0)

    monkeypatch.setattr("textclf_core.pipeline.runner.execute", fake_execute)
    data = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"text {i}" for i in range(30)], "label": ["a", "b"] * 15}).to_csv(data, index=False)
    with pytest.raises(SystemExit):
        commands.main(["train", "--data", str(data), "--strategy", "auto", "--budget", "none", "--no-progress"])
    assert seen["config"].budget_s == NO_LIMIT and seen["config"].budget_seconds(600) is None
