"""95% intervals of the headline scores: Wilson for accuracy, a seeded bootstrap for macro-F1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from textclf_core.evaluation import metrics as evaluation


def test_wilson_interval_matches_the_textbook_case():
    low, high = evaluation.wilson_interval(50, 100)
    # Wilson, 95%, 50 of 100: 0.5 ± 1.96·sqrt(0.25/100)/(1 + 1.96²/100) = (0.4038, 0.5962)
    assert (low, high) == pytest.approx((0.40383, 0.59617), abs=1e-4)
    assert high - low == pytest.approx(0.1923, abs=1e-3)
    low, high = evaluation.wilson_interval(58, 60)  # "96.7%" on 60 texts
    assert low < 0.89 and high > 0.99


def frame(n, accuracy, seed=0):
    rng = np.random.default_rng(seed)
    gold = rng.choice(["a", "b"], n)
    wrong = rng.random(n) > accuracy
    pred = np.where(wrong, np.where(gold == "a", "b", "a"), gold)
    return pd.DataFrame({"gold": gold, "predicted": pred})


def test_bootstrap_macro_f1_is_seeded_contains_the_score_and_narrows_with_data():
    small = evaluation.score_intervals(frame(200, 0.8), ["a", "b"])
    again = evaluation.score_intervals(frame(200, 0.8), ["a", "b"])
    assert small["macro_f1"]["low"] == again["macro_f1"]["low"]
    f1 = small["macro_f1"]
    assert f1["low"] < f1["value"] < f1["high"]
    # ~ 2 · 1.96 · sqrt(0.8 · 0.2 / 200) = 0.11 wide for a balanced binary task
    assert f1["high"] - f1["low"] == pytest.approx(0.11, abs=0.02)
    big = evaluation.score_intervals(frame(3200, 0.8), ["a", "b"])["macro_f1"]
    assert (big["high"] - big["low"]) == pytest.approx((f1["high"] - f1["low"]) / 4, rel=0.25)  # √16 = 4
    perfect = evaluation.score_intervals(frame(50, 1.0), ["a", "b"])
    assert perfect["macro_f1"]["low"] == perfect["macro_f1"]["high"] == 1.0


def test_the_score_equals_compute_metrics_and_small_tests_get_a_caution():
    df = frame(60, 0.9, seed=3)
    out = evaluation.score_intervals(df, ["a", "b"])
    ids = {"a": 0, "b": 1}
    proba = np.eye(2)[df["predicted"].map(ids)]
    metrics = evaluation.compute_metrics(df["gold"].tolist(), proba, ["a", "b"])
    assert out["accuracy"]["value"] == pytest.approx(metrics["accuracy"])
    assert out["macro_f1"]["value"] == pytest.approx(metrics["macro_f1"])
    assert out["caution"] and "Only 60 test texts" in out["caution"]
    assert evaluation.score_intervals(frame(150, 0.9), ["a", "b"])["caution"] is None


def test_multi_label_intervals():
    df = pd.DataFrame({"gold": ["x;y", "x", "y", "x"] * 30, "predicted": ["x;y", "x", "x", "x"] * 30})
    out = evaluation.score_intervals(df, ["x", "y"], multi_label=True)
    assert out["accuracy"]["value"] == pytest.approx(0.75)
    assert out["macro_f1"]["low"] <= out["macro_f1"]["value"] <= out["macro_f1"]["high"]
