"""Learning curve: nested subsets, a score per size on the same validation rows, the trend and its sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import small_frame

from textclf_core.cli import main
from textclf_core.config import RunConfig
from textclf_core.errors import DataError
from textclf_core.pipeline import curve
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore


def test_subsets_are_nested_growing_and_keep_the_class_mix():
    labels = ["a"] * 300 + ["b"] * 100 + ["c"] * 20
    subsets = curve.nested_subsets(labels, seed=4)
    sizes = [len(s) for s in subsets]
    assert sizes == [42, 105, 210, 420]
    for small, big in zip(subsets, subsets[1:]):
        assert set(small) < set(big) and (big[: len(small)] == small).all()
    assert sorted(subsets[-1]) == list(range(420))
    first = pd.Series(np.asarray(labels)[subsets[0]]).value_counts()
    assert first["a"] == pytest.approx(30, abs=2) and first["b"] == pytest.approx(10, abs=2) and first["c"] >= 1
    assert (curve.nested_subsets(labels, seed=4)[1] == subsets[1]).all()  # seeded


def test_trend_is_the_gain_per_doubling():
    n = [100, 200, 400, 800]
    trend = curve.fit_trend(n, [0.60, 0.62, 0.64, 0.66])
    assert trend["per_doubling"] == pytest.approx(0.02)
    points = pd.DataFrame({"member": curve.TFIDF, "n_train": n, "macro_f1": [0.60, 0.62, 0.64, 0.66]})
    assert "would add about 2 macro-F1 points" in curve.sentence_for({curve.TFIDF: trend}, points)
    flat = curve.fit_trend(n, [0.8, 0.8, 0.8, 0.8])
    assert "flat" in curve.sentence_for({curve.TFIDF: flat}, points.assign(macro_f1=0.8))
    assert curve.fit_trend([100, 200], [0.5, 0.6]) is None
    falling = curve.fit_trend(n, [0.7, 0.66, 0.62, 0.6])
    assert "did not grow" in curve.sentence_for({curve.TFIDF: falling}, points.assign(macro_f1=0.6))


def test_curve_of_a_run_scores_each_size_on_its_validation_rows(capsys):
    frame = small_frame(60, classes=("pos", "neg", "neutral"), seed=1)
    path = RunStore().root.parent / "data.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    run = execute(RunConfig(strategy="baseline", data_path=str(path)), None, store=RunStore())
    assert main(["curve", run.id]) == 0  # computes and keeps it in the run folder
    printed = capsys.readouterr()
    assert "labelled rows" in printed.out
    progress = [line for line in printed.err.splitlines() if "labelled rows" in line]
    assert [line.split(":")[0].strip() for line in progress] == ["1/4", "2/4", "3/4", "4/4"]  # one per size
    assert "best macro F1" in progress[-1]
    result = curve.saved_curve(run)
    tfidf = result.points[result.points["member"] == curve.TFIDF]
    n_train = int((pd.read_csv(run.path / "split.csv")["split"] == "train").sum())
    assert tfidf["n_train"].tolist() == [round(f * n_train) for f in curve.FRACTIONS]
    assert result.n_val == int((pd.read_csv(run.path / "split.csv")["split"] == "validation").sum())
    assert tfidf["macro_f1"].between(0, 1).all() and curve.TFIDF in result.trends
    assert curve.EMBEDDINGS in result.skipped and "not cached" in result.skipped[curve.EMBEDDINGS]
    assert result.sentence.startswith(
        ("Doubling your labels", f"The {curve.TFIDF} curve is flat", f"The {curve.TFIDF} scores did not grow")
    )
    assert f"only {result.n_val} validation texts" in result.sentence  # a tiny validation split says so
    assert curve.run_curve(run).sentence == result.sentence  # read back, not computed again
    assert main(["curve", "--data", str(path), "--json", "--no-progress"]) == 0
    printed = capsys.readouterr()
    assert '"trends"' in printed.out and "labelled rows" not in printed.err


def test_frozen_embeddings_join_once_they_are_cached(tiny_bert):
    from textclf_core.engine.encoders import embed

    frame = small_frame(40, seed=3)
    config = RunConfig(
        strategy="features", model=str(tiny_bert), max_length=16, text_col="review", label_col="sentiment"
    )
    first = curve.curve_for_data(frame, config)
    assert curve.EMBEDDINGS in first.skipped
    embed(frame["review"].tolist(), str(tiny_bert), max_length=16)
    second = curve.curve_for_data(frame, config)
    assert curve.EMBEDDINGS not in second.skipped
    members = second.points.groupby("member")["n_train"].apply(list).to_dict()
    assert members[curve.EMBEDDINGS] == members[curve.TFIDF]  # same nested sizes, same validation rows


def test_no_validation_rows_is_a_plain_error():
    with pytest.raises(DataError, match="validation rows"):
        curve.curve_for_data(small_frame(30), RunConfig(strategy="baseline", val_size=0.0))


def test_a_run_trained_from_the_app_takes_its_table_from_the_session():
    from textclf_core.errors import TextclfError

    frame = small_frame(40, seed=6)
    run = execute(RunConfig(strategy="baseline"), frame, store=RunStore())  # no file: like the app's runs
    with pytest.raises(TextclfError, match="not at hand") as err:
        curve.curve_for_run(run)
    assert "Upload page" in str(err.value)
    with pytest.raises(TextclfError, match="not at hand"):
        curve.curve_for_run(run, data=small_frame(40, seed=7))  # another table: its rows would not match
    result = curve.run_curve(run, data=frame)
    assert len(result.points) == 4 and curve.saved_curve(run) is not None


def test_the_curve_reports_each_size_and_stops_when_asked():
    from textclf_core.errors import CancelledError
    from textclf_core.events import check

    frame = small_frame(60, seed=2)
    config = RunConfig(strategy="baseline", text_col="review", label_col="sentiment")
    seen = []
    result = curve.curve_for_data(frame, config, emit=seen.append)
    for event in seen:
        check(event)  # typed: the schema (and ARCHITECTURE.md's table) knows every key
    assert [e["done"] for e in seen] == [0, 1, 2, 3, 4]
    assert [e["n_train"] for e in seen[1:]] == result.points["n_train"].tolist()
    assert [e["macro_f1"] for e in seen[1:]] == result.points["macro_f1"].tolist()  # only TF-IDF here

    done = []
    with pytest.raises(CancelledError):  # Cancel pressed once two sizes are scored: the third never trains
        curve.curve_for_data(frame, config, emit=lambda e: done.append(e["done"]), should_stop=lambda: 2 in done)
    assert done == [0, 1, 2]
