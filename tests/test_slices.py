"""Slice analysis: per-group scores of a run's test predictions, flagged weak groups, bucketing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import small_frame

from textclf_core.config import RunConfig
from textclf_core.errors import TextclfError
from textclf_core.evaluation import slices
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore


def test_slice_metrics_flags_the_weak_group():
    gold = ["a"] * 50 + ["b"] * 50 + ["a"] * 30
    pred = ["a"] * 50 + ["b"] * 50 + ["b"] * 15 + ["a"] * 15  # group z: half wrong
    groups = ["x"] * 50 + ["y"] * 50 + ["z"] * 30
    table = slices.slice_metrics(pd.DataFrame({"gold": gold, "predicted": pred}), groups, classes=["a", "b"])
    by = table.set_index("group")
    assert by.loc["x", "accuracy"] == 1.0 and by.loc["z", "accuracy"] == 0.5
    assert by.loc["z", "flagged"] and not by.loc["x", "flagged"]
    assert by.loc["z", "confusion_matrix"] == [[15, 15], [0, 0]]
    assert table.attrs["overall"]["accuracy"] == pytest.approx(115 / 130)
    assert "'z' (30 texts)" in slices.summary_lines(table)[0]


def test_small_groups_are_not_flagged():
    table = slices.slice_metrics(
        pd.DataFrame({"gold": ["a"] * 45 + ["a"] * 5, "predicted": ["a"] * 45 + ["b"] * 5}),
        ["big"] * 45 + ["tiny"] * 5,
        classes=["a", "b"],
    )
    assert not table["flagged"].any()


def test_dates_are_bucketed_by_month_numbers_by_quantiles_text_by_top_values():
    dates = pd.Series(["2024-01-05", "2024-01-30", "2024-02-11", None, "2024-03-01"])
    groups, how = slices.group_values(dates)
    assert how == "month" and groups.tolist() == ["2024-01", "2024-01", "2024-02", slices.MISSING, "2024-03"]

    groups, how = slices.group_values(pd.Series(np.arange(100, dtype=float)))
    assert "quantile" in how and groups.nunique() == 4

    many = pd.Series([f"shop{i % 30}" for i in range(300)] + ["shop0"] * 50)
    groups, how = slices.group_values(many)
    assert groups.nunique() == 21 and (groups == slices.OTHER).sum() == 100

    few = pd.Series([1, 2, 3, 1, 2])  # a small code column stays as values, not bins
    assert slices.group_values(few)[0].tolist() == ["1", "2", "3", "1", "2"]


@pytest.fixture
def baseline_run(tmp_path):
    frame = small_frame(60)
    frame["source"] = np.where(np.arange(len(frame)) % 2 == 0, "web", "mail")
    frame["date"] = pd.date_range("2024-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    config = RunConfig(
        strategy="baseline", text_col="review", label_col="sentiment", data_path=str(path), test_size=0.4
    )
    run = execute(config, frame, store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "finished"
    return run, frame


def test_evaluate_by_reads_the_runs_data_file(baseline_run):
    run, frame = baseline_run
    table = slices.evaluate_by(run, "source")
    assert set(table["group"]) == {"web", "mail"}
    preds = slices.read_run_predictions(run)
    assert table["n"].sum() == len(preds)
    # the groups are the source values of exactly the test rows
    expected = frame["source"].iloc[preds["row"].to_numpy()].value_counts()
    assert table.set_index("group")["n"].to_dict() == expected.to_dict()
    months = slices.evaluate_by(run, "date")
    assert months.attrs["grouping"] == "month" and months["group"].str.match(r"2024-\d\d").all()
    assert "source" in slices.available_columns(run) and "review" not in slices.available_columns(run)


def test_evaluate_by_with_data_frame_when_the_file_is_gone(baseline_run, tmp_path):
    run, frame = baseline_run
    (tmp_path / "data.csv").unlink()
    with pytest.raises(TextclfError, match="not available"):
        slices.evaluate_by(run, "source")
    table = slices.evaluate_by(run, "source", data=frame)
    assert set(table["group"]) == {"web", "mail"}
    with pytest.raises(TextclfError, match="no column 'nope'"):
        slices.evaluate_by(run, "nope", data=frame)
    assert set(slices.evaluate_by(run, "gold")["group"]) == {"pos", "neg"}


def test_cli_evaluate_by(baseline_run, capsys, monkeypatch):
    from textclf_core.cli import commands as cli

    run, _ = baseline_run
    monkeypatch.setenv("TEXTCLF_HOME", str(run.path.parent.parent))
    monkeypatch.chdir(run.path.parent.parent)
    code = cli.main(["evaluate", run.id, "--by", "source"])
    out = capsys.readouterr().out
    assert code == 0 and "by source" in out and "web" in out and "mail" in out


def test_slice_figure():
    from textclf_core.figures import slice_accuracy

    table = slices.slice_metrics(
        pd.DataFrame({"gold": ["a"] * 40, "predicted": ["a"] * 20 + ["b"] * 20}),
        ["x"] * 20 + ["y"] * 20,
        classes=["a", "b"],
    )
    fig = slice_accuracy(table)
    assert list(fig.data[0].x) == ["x", "y"] and fig.data[0].marker.color[1] == "#d62728"
