"""Explanations: exact linear attributions for the baseline, batched occlusion for transformers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import small_frame

from textclf_core.config import RunConfig
from textclf_core.models import explain as ex
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore


@pytest.fixture(scope="module")
def baseline_predictor(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("explain-runs"))
    run = execute(
        RunConfig(strategy="baseline", text_col="review", label_col="sentiment"), small_frame(40), store=store
    )
    assert run.status()["state"] == "finished"
    return load_predictor(run)


def test_baseline_word_scores_add_up_to_the_linear_score(baseline_predictor):
    text = "The plot was dull, but the acting was great and wonderful!"
    e = ex.explain(baseline_predictor, text, target="pos")
    model = baseline_predictor.model
    weights, _ = ex._class_weights(model, baseline_predictor.classes.index("pos"))
    linear = float(np.asarray(model.features.transform([text]) @ weights).ravel()[0])
    assert e.scores.sum() == pytest.approx(linear, rel=1e-9, abs=1e-9)
    assert e.label == "pos" and e.probability == pytest.approx(
        baseline_predictor.predict_proba([text])[0, 1]
        if baseline_predictor.classes[1] == "pos"
        else baseline_predictor.predict_proba([text])[0, 0]
    )


def test_baseline_top_words_follow_the_model_coefficients(baseline_predictor):
    model = baseline_predictor.model
    pos = baseline_predictor.classes.index("pos")
    weights, _ = ex._class_weights(model, pos)
    vocab = model.features.blocks[0]["vocabulary"]
    unigram = {w: weights[j] for j, w in enumerate(vocab) if " " not in w}
    text = "the story was great but the script was awful and the scene superb"
    e = ex.explain(baseline_predictor, text, target="pos")
    scores = dict(zip(e.words, e.scores))
    # each class word pushes the way its own coefficient points
    for word in ("great", "superb", "awful"):
        assert np.sign(scores[word]) == np.sign(unigram[word])
    top = [w for w, _ in e.top(2, positive=True)]
    assert set(top) == {"great", "superb"}
    assert [w for w, _ in e.top(1, positive=False)] == ["awful"]
    # towards the other class every sign flips
    other = ex.explain(baseline_predictor, text, target="neg")
    assert np.allclose(other.scores, -e.scores) if model.link == "sigmoid" else True
    assert dict(zip(other.words, other.scores))["awful"] > 0


def test_highlight_html_escapes_the_text(baseline_predictor):
    text = 'great <script>alert("x")</script> & awful'
    e = ex.explain(baseline_predictor, text)
    page = ex.highlight_html(e)
    assert "<script" not in page and "</script" not in page
    assert page.count("&lt;") == 2 and "&quot;" in page and "&amp;" in page
    assert "rgba(44,160,44" in page and "rgba(214,39,40" in page  # green and red words
    assert ex.highlight_html(ex.explain(baseline_predictor, "")).startswith("<div")


def test_unknown_target_is_a_clear_error(baseline_predictor):
    from textclf_core.errors import TextclfError

    with pytest.raises(TextclfError, match="not one of the classes"):
        ex.explain(baseline_predictor, "great", target="maybe")


def _tiny_transformer_folder(tiny_bert, dest):
    """A transformer model folder (random head) as training would save it."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    model.save_pretrained(dest)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(dest)
    (dest / "textclf.json").write_text(
        json.dumps(
            {"kind": "transformer", "max_length": 64, "label_space": {"classes": ["neg", "pos"], "multi_label": False}}
        )
    )
    return dest


def test_occlusion_scores_are_probability_drops(tiny_bert, tmp_path):
    predictor = load_predictor(_tiny_transformer_folder(tiny_bert, tmp_path / "model"))
    text = "great movie, loved it; terrible plot and bad acting"
    e = ex.explain(predictor, text, target="pos")
    # 9 words: the "," and ";" are not words, so they are never deleted nor scored
    assert e.method == "word occlusion" and len(e.scores) == len(e.words) == 9
    assert e.words[:3] == ["great", "movie", "loved"]
    assert e.probability == pytest.approx(float(predictor.predict_proba([text])[0, 1]), abs=1e-5)
    i = int(np.argmax(e.scores))
    assert ex.deletion_drop(predictor, text, [i], target="pos") == pytest.approx(e.scores[i], abs=1e-5)


@pytest.mark.integration
def test_deleting_top_words_hurts_more_than_random_words(movie_reviews_path, tmp_path):
    """A feature-extraction run of the bundled model on 400 movie reviews: over 30 test reviews,
    deleting the 3 most attributed words lowers the predicted probability more than 3 random words."""
    import torch

    torch.set_num_threads(1)
    frame = pd.read_csv(movie_reviews_path).sample(400, random_state=0).reset_index(drop=True)
    config = RunConfig(strategy="feature-extraction", test_size=0.1, val_size=0.1, seed=0)
    run = execute(config, frame, store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "finished", run.status()
    predictor = load_predictor(run)
    texts = pd.read_csv(run.path / "predictions.csv")["text"].astype(str).tolist()[:30]
    rng = np.random.default_rng(0)
    top_drops, random_drops = [], []
    for text in texts:
        e = ex.explain(predictor, text)
        words = [i for i, w in enumerate(e.words) if w.isalnum()]
        if len(words) < 6:
            continue
        top = sorted(words, key=lambda i: -e.scores[i])[:3]
        top_drops.append(ex.deletion_drop(predictor, text, top, target=e.label))
        random_drops.append(
            ex.deletion_drop(predictor, text, list(rng.choice(words, 3, replace=False)), target=e.label)
        )
    assert len(top_drops) >= 20
    assert np.mean(top_drops) > np.mean(random_drops) + 0.02


def test_words_the_model_never_reads_score_zero(tiny_bert, tmp_path):
    predictor = load_predictor(_tiny_transformer_folder(tiny_bert, tmp_path / "model"))
    text = " ".join(["great movie loved it terrible plot"] * 30)  # 180 words, the model reads 64 tokens
    e = ex.explain(predictor, text, target="pos")
    assert len(e.words) == 180
    assert np.count_nonzero(e.scores[:40]) > 20 and not np.any(e.scores[80:])


# --- any language: segmented words, punctuation never scored ----------------------------------------

PUNCTUATION = set("，。！？、；：,.!?;:'\"()-")


def test_english_punctuation_is_never_a_scored_word(baseline_predictor):
    text = "The plot was dull, but the acting -- great!!! (really) wonderful; isn't it?"
    e = ex.explain(baseline_predictor, text, target="pos")
    assert not any(set(w) & PUNCTUATION - {"'"} for w in e.words)
    assert "isn't" in e.words and "dull" in e.words and "great" in e.words
    # every character n-gram, those of "--" and "!!!" included, still lands on a word: scores add up exactly
    model = baseline_predictor.model
    weights, _ = ex._class_weights(model, baseline_predictor.classes.index("pos"))
    linear = float(np.asarray(model.features.transform([text]) @ weights).ravel()[0])
    assert e.scores.sum() == pytest.approx(linear, rel=1e-9, abs=1e-9)


@pytest.fixture(scope="module")
def chinese_predictor(tmp_path_factory, chinese_reviews_path):
    frame = pd.read_csv(chinese_reviews_path).iloc[:600]
    store = RunStore(tmp_path_factory.mktemp("explain-zh-runs"))
    run = execute(RunConfig(strategy="baseline"), frame, store=store)
    assert run.status()["state"] == "finished"
    return load_predictor(run)


def test_chinese_explanations_score_segmented_words_never_punctuation(chinese_predictor):
    text = "酒店的位置很好，服务也不错。但是早餐太差了！"
    e = ex.explain(chinese_predictor, text, target="positive")
    assert chinese_predictor.model.info["features"] == "segmented"
    assert "，" not in e.words and "。" not in e.words and "！" not in e.words
    assert not any(set(w) & PUNCTUATION for w in e.words)
    # words, not the whole clause: several words per clause, each a few characters
    assert len(e.words) >= 8 and max(len(w) for w in e.words) <= 4
    assert "".join(e.words) == "".join(ch for ch in text if ch not in PUNCTUATION)
    for (start, end), word in zip(e.spans, e.words):
        assert text[start:end] == word
    model = chinese_predictor.model
    weights, _ = ex._class_weights(model, chinese_predictor.classes.index("positive"))
    linear = float(np.asarray(model.features.transform([text]) @ weights).ravel()[0])
    assert e.scores.sum() == pytest.approx(linear, rel=1e-9, abs=1e-9)
    scores = dict(zip(e.words, e.scores))
    assert scores["不错"] > 0 and scores["太差"] < 0  # "not bad" pushes to positive, "too bad" away from it
    page = ex.highlight_html(e)
    assert "，" in page and "。" in page  # punctuation is shown, just never highlighted


def test_chinese_occlusion_deletes_words_not_clauses(tiny_bert, tmp_path):
    predictor = load_predictor(_tiny_transformer_folder(tiny_bert, tmp_path / "model"))
    text = "质量很好，物流也快。"
    e = ex.explain(predictor, text)
    assert e.method == "word occlusion" and "，" not in e.words and "。" not in e.words
    assert len(e.words) >= 4 and len(e.scores) == len(e.words)


@pytest.mark.parametrize("language", ["english", "chinese"])
def test_large_path_models_are_explained_by_their_hashed_terms(language, chinese_reviews_path, monkeypatch):
    """A model of the large-data path keeps no vocabulary: the text's n-grams are hashed again to find them."""
    import textclf_core.strategies.baseline as baseline
    from textclf_core.labels import LabelSpace

    monkeypatch.setattr(baseline, "HASH_FEATURES", 2**18)
    monkeypatch.setenv("TEXTCLF_BASELINE_WORKERS", "1")
    if language == "chinese":
        frame = pd.read_csv(chinese_reviews_path).iloc[:400]
        text, target = "酒店的位置很好，服务也不错。", "positive"
    else:
        frame = small_frame(40).rename(columns={"review": "text", "sentiment": "label"})
        text, target = "the acting was great, the plot dull!", "pos"
    space = LabelSpace.from_labels(frame["label"])
    model = baseline.train_baseline(
        RunConfig(strategy="baseline", extra={"baseline_path": "large"}), frame.iloc[:300], frame.iloc[300:], space
    )
    assert model.features.hashed
    e = ex.explain(model, text, target=target)
    weights, _ = ex._class_weights(model, space.classes.index(target))
    linear = float(np.asarray(model.features.transform([text]) @ weights).ravel()[0])
    assert e.scores.sum() == pytest.approx(linear, rel=1e-6, abs=1e-9)
    assert not any(p in w for w in e.words for p in "，。,!")
