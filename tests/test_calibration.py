"""Temperature scaling, ECE and the near-uniform warning; the runner saves the temperature and every
loaded predictor applies it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.small_data import multi_label_frame, small_frame, tiny_full_config
from scipy.special import softmax

from textclf_core.config import RunConfig
from textclf_core.evaluation import calibration
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore


def overconfident(n=2000, k=3, sharpen=4.0, seed=0):
    """Labels drawn from softmax(z); the model reports softmax(4 z): right argmax, far too sure."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.5, size=(n, k))
    truth = softmax(z, axis=1)
    y = np.array([rng.choice(k, p=p) for p in truth])
    return softmax(sharpen * z, axis=1), y


def test_temperature_lowers_ece_of_an_overconfident_model_and_keeps_every_label():
    proba, y = overconfident()
    t = calibration.fit_temperature(proba[:1000], y[:1000])
    assert 3.0 < t < 5.5  # the true answer is 4
    before = calibration.expected_calibration_error(proba[1000:], y[1000:])
    fixed = calibration.apply_temperature(proba[1000:], t)
    after = calibration.expected_calibration_error(fixed, y[1000:])
    assert before > 0.15 and after < 0.05 and after < before / 3
    assert (fixed.argmax(1) == proba[1000:].argmax(1)).all()
    np.testing.assert_allclose(fixed.sum(1), 1.0)
    np.testing.assert_allclose(calibration.undo_temperature(fixed, t), proba[1000:], atol=1e-9)


def test_a_calibrated_model_keeps_temperature_one():
    rng = np.random.default_rng(1)
    proba = softmax(rng.normal(size=(3000, 2)), axis=1)
    y = np.array([rng.choice(2, p=p) for p in proba])
    assert abs(calibration.fit_temperature(proba, y) - 1.0) < 0.15


def test_multi_label_temperature_finds_the_overconfidence_and_keeps_every_decision():
    """One T for every class (what auto fits per member): the sigmoid of logit / T."""
    rng = np.random.default_rng(2)
    z = rng.normal(scale=1.5, size=(3000, 4))
    y = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(float)
    proba = 1 / (1 + np.exp(-3.0 * z))  # three times too sure
    t = calibration.fit_temperature(proba, y, multi_label=True)
    assert 2.4 < t < 3.6
    fixed = calibration.apply_temperature(proba, t, multi_label=True)
    assert ((fixed >= 0.5) == (proba >= 0.5)).all()
    honest = 1 / (1 + np.exp(-z))
    assert abs(calibration.fit_temperature(honest, y, multi_label=True) - 1.0) < 0.15
    # per-class temperatures: each class rescaled by its own
    per_class = calibration.apply_temperature(proba[:5], [t, 1.0, 1.0, 1.0], multi_label=True)
    np.testing.assert_allclose(per_class[:, 0], fixed[:5, 0])
    np.testing.assert_allclose(per_class[:, 1:], proba[:5, 1:])


def test_reliability_bins_count_every_text():
    proba, y = overconfident(500)
    rel = calibration.reliability(proba, y, bins=10)
    assert sum(b["count"] for b in rel["bins"]) == rel["n"] == 500
    full = [b for b in rel["bins"] if b["count"]]
    assert all(b["low"] <= b["confidence"] <= b["high"] for b in full)
    assert rel["bins"][-1]["accuracy"] < rel["bins"][-1]["confidence"]  # "0.95" is right less often


def test_calibrate_explains_when_it_skips():
    assert "no validation rows" in calibration.calibrate(None, [], ["a", "b"]).reason
    small = calibration.calibrate(np.full((5, 2), 0.5), [0, 1, 0, 1, 0], ["a", "b"])
    assert small.temperature is None and "too few" in small.reason
    multi = calibration.calibrate(np.full((30, 2), 0.7), ["a;b"] * 30, ["a", "b"], multi_label=True)
    assert multi.temperature is None and "threshold" in multi.reason and multi.before["n"] == 60


def test_near_uniform_warns_on_the_issue_case_only():
    rng = np.random.default_rng(0)
    timid = rng.uniform(0.50, 0.58, 200)
    warning = calibration.near_uniform(np.column_stack([timid, 1 - timid]))
    assert warning and "0.5" in warning
    sure = rng.uniform(0.8, 1.0, 200)
    assert calibration.near_uniform(np.column_stack([sure, 1 - sure])) is None
    assert calibration.near_uniform(np.full((10, 4), 0.25))  # four classes, pure guess
    assert calibration.near_uniform(np.full((10, 3), 0.48), multi_label=True)
    assert calibration.near_uniform(np.zeros((0, 2))) is None


def noisy_frame():
    """Separable texts with every 6th label flipped: a model that trusts its words is over-confident."""
    frame = small_frame(100, seed=2)
    frame.loc[::6, "sentiment"] = frame.loc[::6, "sentiment"].map({"pos": "neg", "neg": "pos"})
    return frame


def test_runner_saves_the_temperature_and_every_predictor_applies_it():
    run = execute(
        RunConfig(strategy="baseline", baseline_model="nb", seed=3, val_size=0.2), noisy_frame(), store=RunStore()
    )
    assert run.status()["state"] == "finished"
    saved = run.read_json("calibration.json")
    meta = json.loads((run.model_dir / "textclf.json").read_text())
    assert saved["temperature"] == meta["temperature"] and meta["temperature"] != 1.0
    assert saved["validation"]["before"]["ece"] is not None and saved["validation"]["after"]["ece"] is not None
    predictor = load_predictor(run)
    preds = run.read_json("eval.json")
    texts = ["the great wonderful film", "the awful boring plot"]
    raw = predictor.model.predict_proba(texts)
    calibrated = predictor.predict_proba(texts)
    np.testing.assert_allclose(calibrated, calibration.apply_temperature(raw, meta["temperature"]))
    assert (calibrated.argmax(1) == raw.argmax(1)).all()
    # predictions.csv holds what the loaded predictor says (calibrated), so the page and the file agree
    from textclf_core.evaluation.slices import read_run_predictions

    test = read_run_predictions(run)
    again = predictor.predict(test["text"].tolist())
    np.testing.assert_allclose(test["confidence"].astype(float), again["confidence"], rtol=1e-5)
    assert preds["accuracy"] == pytest.approx(float((test["gold"] == test["predicted"]).mean()))
    report = calibration.run_report(run)
    assert report["temperature"] == meta["temperature"]
    assert report["test"]["before"]["n"] == report["test"]["after"]["n"] == len(test)


def test_multi_label_runs_keep_raw_probabilities_and_say_why():
    run = execute(RunConfig(strategy="baseline", multi_label=True, seed=0), multi_label_frame(120), store=RunStore())
    assert run.status()["state"] == "finished", run.status()
    meta = json.loads((run.model_dir / "textclf.json").read_text())
    assert "temperature" not in meta
    report = calibration.run_report(run)
    assert report["temperature"] is None and "threshold" in report["reason"]
    assert report["test"]["before"]["ece"] is not None and report["test"]["after"] is None


def test_near_uniform_file_reads_the_probability_columns():
    import pandas as pd

    frame = pd.DataFrame({"text": ["a", "b", "c"], "prob_x": [0.52, 0.55, 0.49], "prob_y": [0.48, 0.45, 0.51]})
    assert calibration.near_uniform_file(frame, ["x", "y"])
    assert calibration.near_uniform_file(frame, ["x", "z"]) is None


def test_a_transformer_run_is_calibrated_and_its_loaded_predictor_applies_it(tiny_bert):
    config = tiny_full_config(tiny_bert, val_size=0.25)
    run = execute(config, noisy_frame().head(120), store=RunStore())
    assert run.status()["state"] == "finished", run.status()
    saved = run.read_json("calibration.json")
    assert saved["reason"] is None and saved["temperature"] is not None
    meta = json.loads((run.model_dir / "textclf.json").read_text())
    assert meta.get("temperature", 1.0) == saved["temperature"]
    predictor = load_predictor(run)
    texts = ["the great wonderful film", "the awful boring plot"]
    np.testing.assert_allclose(
        predictor.predict_proba(texts),
        calibration.apply_temperature(predictor.model.predict_proba(texts), saved["temperature"]),
        rtol=1e-5,
    )
