"""Static embeddings (static_embeddings.py): a token table distilled from the tiny local encoder classifies,
and the static keys work end to end as a feature-extraction model (train, save, predict, export zip)."""

import json

import numpy as np
import pandas as pd
import pytest

from textclf_core.config import RunConfig
from textclf_core.engine import encoders as features
from textclf_core.engine import static as static_embeddings
from textclf_core.store import catalog as models

SPORT = [
    "the team won the match",
    "a great goal in the last minute",
    "the players trained for the cup",
    "the coach praised the team",
    "fans cheered the winning goal",
    "the match ended in a draw",
]
MONEY = [
    "shares rose as profits grew",
    "the bank raised interest rates",
    "markets fell on weak profits",
    "investors sold shares",
    "the company reported strong profits",
    "rates and markets moved",
]


@pytest.fixture
def static_from_tiny(tiny_bert, tmp_path, monkeypatch):
    """``minilm-static`` distilled from the tiny local encoder into this test's own model cache."""
    monkeypatch.setenv("TEXTCLF_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setitem(static_embeddings.SOURCES, "minilm-static", str(tiny_bert))
    static_embeddings.clear_loaded()
    yield "minilm-static"
    static_embeddings.clear_loaded()


def test_distil_writes_a_table_per_token(tiny_bert, tmp_path):
    folder = static_embeddings.distill(str(tiny_bert), tmp_path / "static")
    info = json.loads((folder / static_embeddings.INFO_FILE).read_text())
    model = static_embeddings.StaticModel(folder)
    tokenizer = models.load_tokenizer(str(tiny_bert))
    assert model.table.shape == (len(tokenizer), 32)  # PCA keeps the encoder's 32 dimensions (< 256)
    assert info["vocabulary"] == len(tokenizer) and info["dims"] == 32
    assert not model.table[tokenizer.cls_token_id].any()  # special tokens are never read
    vectors = model.encode(SPORT + ["", "数据 分类"])
    np.testing.assert_allclose(np.linalg.norm(vectors[: len(SPORT)], axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(vectors).all()  # empty and unknown-only (Chinese for this vocabulary) texts: zeros


def test_static_vectors_classify(static_from_tiny):
    from sklearn.linear_model import LogisticRegression

    texts = SPORT + MONEY
    y = np.array([0] * len(SPORT) + [1] * len(MONEY))
    x = features.embed(texts, static_from_tiny)  # the one entry point routes the static key
    assert x.shape == (len(texts), 32)
    train = np.arange(len(texts)) % 3 != 0
    head = LogisticRegression(C=10.0, max_iter=2000).fit(x[train], y[train])
    assert head.score(x[~train], y[~train]) == 1.0
    # distilled once, kept in the model cache
    assert static_embeddings.static_dir(static_from_tiny).is_dir()


def test_static_key_is_distilled_once(static_from_tiny, monkeypatch):
    features.embed(["a first text"], static_from_tiny)
    static_embeddings.clear_loaded()
    monkeypatch.setattr(static_embeddings, "distill", lambda *a, **k: pytest.fail("distilled twice"))
    assert features.embed(["a second text"], static_from_tiny).shape == (1, 32)


def test_catalog_lists_the_static_keys():
    keys = {m.key for m in models.CATALOG}
    assert {"minilm-static", "mpnet-static"} <= keys
    assert models.resolve("minilm-static") == "minilm-static"  # features.embed reads the key, not a folder
    assert "minilm-static" in static_embeddings.available_keys()


def test_feature_extraction_run_with_static_key(static_from_tiny, tmp_path):
    from textclf_core.models.predict import load_predictor
    from textclf_core.pipeline import runner
    from textclf_core.store.runs import RunStore

    frame = pd.DataFrame({"text": (SPORT + MONEY) * 4, "label": (["sport"] * 6 + ["money"] * 6) * 4})
    store = RunStore(tmp_path / "runs")
    config = RunConfig(strategy="feature-extraction", model=static_from_tiny, head="logreg", head_c=10.0)
    run = runner.execute(config, frame, store=store)
    assert run.status()["state"] == "finished", run.status()
    predictor = load_predictor(run)
    out = predictor.predict(["the team scored a goal", "profits and shares rose"])
    assert list(out["label"]) == ["sport", "money"]
    zipped = store.export_zip(run.id, tmp_path / "run.zip")
    assert zipped.stat().st_size > 0


@pytest.mark.parametrize("strategy", ["partial", "full", "lora", "fewshot"])
def test_tuning_a_static_table_says_what_it_is_and_what_to_use(strategy, tmp_path):
    """A static table has no layers: the run fails with that, not with "not downloaded ... offline"."""
    from textclf_core.pipeline import runner
    from textclf_core.store.runs import RunStore

    frame = pd.DataFrame({"text": (SPORT + MONEY) * 4, "label": (["sport"] * 6 + ["money"] * 6) * 4})
    run = runner.execute(RunConfig(strategy=strategy, model="minilm-static"), frame, store=RunStore(tmp_path))
    status = run.status()
    assert status["state"] == "failed"
    assert "static word table" in status["message"] and "feature extraction" in status["message"]
    assert "offline" not in status["message"]


def test_static_key_estimate_is_never_negative():
    from textclf_core.strategies import advice as strategies

    estimate = strategies.estimate(RunConfig(strategy="feature-extraction", model="minilm-static"), 5000)
    assert (
        0
        <= estimate.seconds_per_epoch
        < strategies.estimate(RunConfig(strategy="feature-extraction"), 5000).seconds_per_epoch
    )
