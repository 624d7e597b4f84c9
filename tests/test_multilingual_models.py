"""A Chinese or multilingual hub-like model end to end, with a tiny random BERT whose locally built vocabulary
covers CJK characters: it reads the Chinese sample (the bundled English model does not), trains with every
strategy, predicts, exports and is served, as the English tiny models are in the other tests."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from textclf_core.config import RunConfig
from textclf_core.data.language import readability
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline import runner
from textclf_core.store.catalog import load_tokenizer
from textclf_core.store.runs import RunStore

ZH_TEXTS = ["质量很好，物流也快。", "太差了，再也不会买了！", "服务不错，推荐。", "屏幕太暗，失望。"]


@pytest.fixture(scope="module")
def chinese_rows(chinese_reviews_path) -> pd.DataFrame:
    """60 Chinese reviews (the tiny model's vocabulary was built from the first 600 rows)."""
    return pd.read_csv(chinese_reviews_path).head(60)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return RunStore(tmp_path_factory.mktemp("zh-runs"))


def _settings(strategy: str, model) -> RunConfig:
    extra = {"fewshot": {"fewshot_max_pairs": 64}, "partial": {"layers": 1}}.get(strategy, {})
    return RunConfig(
        strategy=strategy,
        model=str(model),
        epochs=1,
        batch_size=8,
        lr=3e-3,
        precision="fp32",
        max_length=32,
        early_stopping_patience=None,
        seed=0,
        **extra,
    )


def test_the_cjk_vocabulary_reads_chinese_and_the_english_one_does_not(tiny_cjk_bert, tiny_bert, chinese_rows):
    texts = chinese_rows["text"].tolist()
    cjk = readability(load_tokenizer(str(tiny_cjk_bert)), texts, model="tiny CJK BERT")
    english = readability(load_tokenizer(str(tiny_bert)), texts, model="tiny English BERT")
    assert cjk.reads and cjk.unknown_share < 0.02 and cjk.sentence == ""
    assert not english.reads and english.unknown_share > 0.5
    assert english.sentence.startswith("tiny English BERT cannot read these texts")
    # one token per Chinese character, as bert-base-chinese
    assert load_tokenizer(str(tiny_cjk_bert)).tokenize("质量很好")[:4] == ["质", "量", "很", "好"]


@pytest.mark.parametrize("strategy", ["feature-extraction", "full", "partial", "lora", "fewshot"])
def test_every_strategy_trains_and_predicts_chinese(store, tiny_cjk_bert, chinese_rows, strategy):
    run = runner.execute(_settings(strategy, tiny_cjk_bert), chinese_rows, store=store)
    status = run.status()
    assert status["state"] == "finished", (
        status,
        (run.path / "error.log").read_text() if (run.path / "error.log").exists() else "",
    )
    assert run.read_json("eval.json")["accuracy"] is not None
    out = load_predictor(run).predict(ZH_TEXTS)
    assert list(out.columns) == ["label", "confidence", "prob_negative", "prob_positive"]
    assert set(out["label"]) <= {"negative", "positive"} and np.isfinite(out["confidence"]).all()


@pytest.fixture(scope="module")
def full_run(store, tiny_cjk_bert, chinese_rows):
    run = runner.execute(_settings("full", tiny_cjk_bert), chinese_rows, store=store)
    assert run.status()["state"] == "finished", run.status()
    return run


def test_chinese_model_exports_to_onnx_with_the_same_labels(full_run, tmp_path):
    from textclf_core.models.quantized import export

    folder = export(full_run, "onnx", tmp_path / "onnx")
    own, onnx = load_predictor(full_run), load_predictor(folder)
    np.testing.assert_allclose(onnx.predict_proba(ZH_TEXTS), own.predict_proba(ZH_TEXTS), atol=1e-4)


def test_chinese_model_zip_reloads_with_its_tokenizer(full_run, tmp_path):
    import zipfile

    from textclf_core.models.export import model_zip_bytes

    path = tmp_path / "model.zip"
    path.write_bytes(model_zip_bytes(full_run))
    with zipfile.ZipFile(path) as z:
        z.extractall(tmp_path / "unzipped")
    folder = next(p.parent for p in (tmp_path / "unzipped").rglob("textclf.json"))
    assert load_tokenizer(str(folder)).tokenize("质量") == ["质", "量"]  # its CJK vocabulary travels with it
    np.testing.assert_allclose(
        load_predictor(folder).predict_proba(ZH_TEXTS), load_predictor(full_run).predict_proba(ZH_TEXTS), atol=1e-5
    )


def test_the_rest_server_answers_chinese_texts(full_run):
    from test_server import live

    from textclf_core.rest.server import create_app, open_model

    own = load_predictor(full_run)
    with live(create_app(open_model(full_run))) as url:
        reply = httpx.post(f"{url}/v1/predict", json={"texts": ZH_TEXTS})
    assert reply.status_code == 200
    got = np.array([[p["probabilities"][c] for c in own.classes] for p in reply.json()["predictions"]])
    np.testing.assert_allclose(got, own.predict_proba(ZH_TEXTS), atol=1e-5)
