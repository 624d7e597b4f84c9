"""Using a trained run: texts and files in, labels and probabilities out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import small_frame

from textclf_core.config import RunConfig
from textclf_core.errors import DataError, ModelLoadError
from textclf_core.models.predict import load_predictor, predict_file, predict_texts
from textclf_core.pipeline import runner
from textclf_core.store.runs import RunStore


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("predict") / "runs")
    run = runner.execute(RunConfig(strategy="baseline"), small_frame(30), store=store)
    assert run.status()["state"] == "finished"
    return store, run


def test_predict_returns_label_confidence_and_every_probability(trained):
    _, run = trained
    predictor = load_predictor(run)
    assert predictor.classes == ["neg", "pos"] and not predictor.multi_label and predictor.kind == "baseline"
    out = predictor.predict(["a great wonderful film", "boring awful mess", None])
    assert list(out.columns) == ["label", "confidence", "prob_neg", "prob_pos"]
    assert out["label"].tolist()[:2] == ["pos", "neg"]
    np.testing.assert_allclose(out[["prob_neg", "prob_pos"]].sum(axis=1), 1.0)
    assert (out["confidence"] == out[["prob_neg", "prob_pos"]].max(axis=1)).all()
    assert predictor.predict_proba([]).shape == (0, 2)


def test_load_by_run_id_folder_or_model_folder(trained, monkeypatch):
    store, run = trained
    monkeypatch.setenv("TEXTCLF_HOME", str(store.root.parent))
    texts = ["loved it"]
    expected = load_predictor(run).predict_proba(texts)
    for ref in (run.id, str(run.path), run.path, run.model_dir):
        np.testing.assert_array_equal(load_predictor(ref).predict_proba(texts), expected)
    assert predict_texts(run, texts)["text"].tolist() == texts


def test_a_run_without_model_says_so(tmp_path):
    run = RunStore(tmp_path / "runs").create(RunConfig(strategy="baseline"))
    run.set_status("failed", "bad data")
    with pytest.raises(ModelLoadError, match="no saved model.*failed"):
        load_predictor(run)


def test_unknown_model_kind(tmp_path):
    (tmp_path / "textclf.json").write_text(json.dumps({"kind": "quantum", "label_space": {"classes": ["a", "b"]}}))
    with pytest.raises(ModelLoadError, match="unknown kind"):
        load_predictor(tmp_path)


def test_predict_file_keeps_columns_and_neutralises_formulas(trained, tmp_path):
    _, run = trained
    source = tmp_path / "new.csv"
    pd.DataFrame({"id": [1, 2, 3], "review": ["=cmd|' /C calc'!A0 great fun", "dull boring", "superb"]}).to_csv(
        source, index=False
    )
    out = tmp_path / "out.csv"
    result = predict_file(run, source, out=out)
    assert list(result.columns) == ["id", "review", "predicted_label", "confidence", "prob_neg", "prob_pos"]
    written = pd.read_csv(out, encoding="utf-8-sig")
    assert list(written.columns) == list(result.columns) and len(written) == 3
    assert written["review"][0].startswith("'=")
    assert written["predicted_label"].tolist()[1:] == ["neg", "pos"]


def test_predict_file_to_excel_with_named_column(trained, tmp_path):
    _, run = trained
    source = tmp_path / "new.csv"
    pd.DataFrame({"a": ["x", "y"], "b": ["loved it", "hated it"]}).to_csv(source, index=False)
    predict_file(run, source, text_col="b", out=tmp_path / "out.xlsx")
    back = pd.read_excel(tmp_path / "out.xlsx")
    assert back["predicted_label"].tolist() == ["pos", "neg"]


def test_predict_file_unknown_column(trained, tmp_path):
    _, run = trained
    source = tmp_path / "new.csv"
    pd.DataFrame({"a": ["x"]}).to_csv(source, index=False)
    with pytest.raises(DataError, match="no column 'text'"):
        predict_file(run, source, text_col="text")


# --- a text in a language the model was not trained on ------------------------------------------

THINGS = ["手机", "电池", "屏幕", "服务", "酒店", "房间", "快递", "价格"]
GOOD = ["很好", "满意", "喜欢", "推荐", "不错", "舒服"]
BAD = ["很差", "失望", "讨厌", "退货", "糟糕", "太慢"]


def chinese_frame(n_per_class: int = 30, seed: int = 0) -> pd.DataFrame:
    """Short Chinese reviews written for these tests: each class has its own words."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in (("好评", GOOD), ("差评", BAD)):
        for _ in range(n_per_class):
            a, b = rng.choice(words, 2, replace=False)
            rows.append({"text": f"{rng.choice(THINGS)}{a}，{rng.choice(THINGS)}也{b}。", "label": label})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="module")
def chinese_run(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("predict-zh") / "runs")
    run = runner.execute(RunConfig(strategy="baseline"), chinese_frame(), store=store)
    assert run.status()["state"] == "finished"
    return run


def test_predict_warns_on_english_text_given_to_a_chinese_model(chinese_run, tmp_path):
    predictor = load_predictor(chinese_run)
    assert predictor.training_language["languages"] == {"Chinese": 1.0}
    warning = predictor.language_warning("This phone is great, I recommend it.")
    assert warning and warning.startswith("This text looks like Latin script") and "Chinese" in warning
    assert predictor.language_warning("手机很好，电池也不错。") is None
    out = predict_texts(chinese_run, ["This phone is great, I recommend it."])
    assert out.attrs["warnings"] == [warning]
    # a file: the share of rows
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"text": ["手机很好。"] * 3 + ["Great phone."]}).to_csv(path, index=False)
    result = predict_file(chinese_run, path)
    assert result.attrs["warnings"] and "25% of these texts (1 of 4)" in result.attrs["warnings"][0]
    from textclf_core.models.predict import predict_to_file

    said = []
    assert predict_to_file(chinese_run, path, tmp_path / "out.csv", chunk_rows=2, on_warning=said.append) == 4
    assert said == result.attrs["warnings"]


def test_an_english_model_says_nothing_about_english_texts(trained):
    _, run = trained
    assert load_predictor(run).language_warning(["a great wonderful film", "12345"]) is None
    assert predict_texts(run, ["boring awful mess"]).attrs["warnings"] == []


def test_cli_predict_says_the_language_warning(chinese_run, tmp_path, capsys):
    """`textclf predict --text` and `--data --out` print the warning on stderr; the predictions still come."""
    from textclf_core.cli import main

    assert main(["predict", str(chinese_run.path), "--text", "This phone is great, I recommend it."]) == 0
    out, err = capsys.readouterr()
    assert "Warning: This text looks like Latin script" in err and out.strip()
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"text": ["手机很好。"] * 3 + ["Great phone."]}).to_csv(path, index=False)
    assert main(["predict", str(chinese_run.path), "--data", str(path), "--out", str(tmp_path / "o.csv")]) == 0
    assert "25% of these texts (1 of 4)" in capsys.readouterr().err
