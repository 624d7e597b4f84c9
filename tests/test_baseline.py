"""TF-IDF baseline: learns, saves without pickle, reloads to identical predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers.small_data import multi_label_frame, small_frame
from textclf_core.strategies.baseline import (
    _linear_from_estimator,
    _make_estimator,
    load_baseline,
    train_baseline,
)
from textclf_core.config import RunConfig
from textclf_core.errors import CancelledError, TextclfError
from textclf_core.labels import LabelSpace


def _split(frame: pd.DataFrame):
    frame = frame.rename(columns={"review": "text", "sentiment": "label"})
    n = len(frame)
    return frame.iloc[: int(n * 0.7)], frame.iloc[int(n * 0.7):]


@pytest.mark.parametrize("classifier", ["logreg", "nb", "svm"])
@pytest.mark.parametrize("classes", [("pos", "neg"), ("pos", "neg", "other")])
def test_each_classifier_learns_and_reloads_identically(tmp_path, classifier, classes):
    train, val = _split(small_frame(30, classes=classes))
    space = LabelSpace.from_labels(train["label"])
    events = []
    model = train_baseline(RunConfig(strategy="baseline", baseline_model=classifier), train, val, space,
                           events.append)
    proba = model.predict_proba(val["text"])
    assert proba.shape == (len(val), len(classes))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    accuracy = (np.asarray(space.classes)[proba.argmax(1)] == val["label"].to_numpy()).mean()
    assert accuracy >= 0.9

    model.save(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["arrays.npz", "features.json", "textclf.json"]  # data only, no pickle
    np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False)
    assert json.loads((tmp_path / "m" / "textclf.json").read_text())["kind"] == "baseline"
    again = load_baseline(tmp_path / "m")
    texts = val["text"].tolist() + ["unseen words only", "", "GREAT Wonderful!!"]
    np.testing.assert_array_equal(again.predict_proba(texts), model.predict_proba(texts))
    assert again.classes == space.classes

    types = [e["type"] for e in events]
    assert types.count("evaluation") >= 2 and types[0] == "step"
    steps = [e for e in events if e["type"] == "step"]
    assert steps[-1]["step"] == steps[-1]["total_steps"]
    assert {"step", "total_steps", "epoch", "loss", "lr", "elapsed_s", "eta_s"} <= set(steps[-1])


@pytest.mark.parametrize("classifier", ["logreg", "nb"])
@pytest.mark.parametrize("k", [2, 3])
def test_saved_form_reproduces_scikit_learn(classifier, k):
    """The linear form written to disk gives scikit-learn's own probabilities."""
    from textclf_core.strategies.baseline import _fit_features
    from scipy.special import expit, softmax

    frame = small_frame(20, classes=("pos", "neg", "other")[:k]).rename(columns={"review": "text",
                                                                                  "sentiment": "label"})
    _, X = _fit_features(frame["text"].tolist())
    y = LabelSpace.from_labels(frame["label"]).encode(frame["label"])
    est = _make_estimator(classifier, 1.0, None, False, k, 0).fit(X, y)
    coef, intercept, link = _linear_from_estimator(est, classifier, False, k)
    scores = np.asarray(X @ coef.T) + intercept
    mine = softmax(scores, axis=1) if link == "softmax" else np.column_stack([1 - expit(scores[:, 0]),
                                                                             expit(scores[:, 0])])
    np.testing.assert_allclose(mine, est.predict_proba(X), atol=1e-8)


def test_multi_label_one_vs_rest(tmp_path):
    frame = multi_label_frame(120)
    train, val = frame.iloc[:90], frame.iloc[90:]
    space = LabelSpace.from_labels(frame["label"])
    assert space.multi_label
    model = train_baseline(RunConfig(strategy="baseline"), train, val, space)
    proba = model.predict_proba(val["text"])
    assert proba.shape == (30, 3)
    predicted = proba >= 0.5
    assert (predicted == space.encode(val["label"]).astype(bool)).all(axis=1).mean() >= 0.8
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(load_baseline(tmp_path / "m").predict_proba(val["text"]), proba)


def test_works_without_validation_rows_and_with_class_weights():
    train, _ = _split(small_frame(20))
    space = LabelSpace.from_labels(train["label"])
    model = train_baseline(RunConfig(strategy="baseline", baseline_model="svm", class_weights=True), train,
                           train.iloc[:0], space)
    assert model.predict_proba(["great wonderful"]).argmax() == space.classes.index("pos")


def test_single_class_training_is_a_clear_error():
    train, val = _split(small_frame(20))
    space = LabelSpace(["neg", "pos"])
    with pytest.raises(TextclfError, match="only one class"):
        train_baseline(RunConfig(strategy="baseline"), train[train["label"] == "pos"], val, space)


def test_cancel_stops_training():
    train, val = _split(small_frame(20))
    space = LabelSpace.from_labels(train["label"])
    with pytest.raises(CancelledError):
        train_baseline(RunConfig(strategy="baseline"), train, val, space, should_stop=lambda: True)


def test_unreadable_model_folder_is_a_model_load_error(tmp_path):
    from textclf_core.errors import ModelLoadError

    (tmp_path / "textclf.json").write_text('{"kind": "baseline"}')
    with pytest.raises(ModelLoadError):
        load_baseline(tmp_path)


@pytest.mark.integration
def test_movie_reviews_accuracy_well_above_chance(movie_reviews_path):
    from textclf_core.data import assign_splits, prepare, read_table

    frame = prepare(read_table(movie_reviews_path), "text", "label")
    splits = assign_splits(frame["label"], val_size=0.1, test_size=0.1, seed=42)
    train, val, test = (frame[splits == s] for s in ("train", "validation", "test"))
    space = LabelSpace.from_labels(frame["label"])
    model = train_baseline(RunConfig(strategy="baseline"), train, val, space)
    predicted = np.asarray(space.classes)[model.predict_proba(test["text"]).argmax(1)]
    accuracy = (predicted == test["label"].to_numpy()).mean()
    assert accuracy > 0.72, f"baseline test accuracy {accuracy:.3f} on movie reviews"
