"""The "fewshot" strategy through runner.execute: files, events, loading, moving, cancelling."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers.small_data import multi_label_frame, small_frame

from textclf_core.config import RunConfig
from textclf_core.errors import TextclfError
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline import runner
from textclf_core.store.runs import RunStore
from textclf_core.strategies.fewshot import linear_head


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


def fewshot_config(tiny_bert, **changes) -> RunConfig:
    settings = dict(
        strategy="fewshot",
        model=str(tiny_bert),
        max_length=32,
        epochs=1,
        batch_size=16,
        lr=1e-3,
        fewshot_max_pairs=64,
        num_threads=1,
    )
    settings.update(changes)
    return RunConfig(**settings)


def test_fewshot_run_finishes_and_its_model_predicts(store, tiny_bert, tmp_path):
    run = runner.execute(fewshot_config(tiny_bert), small_frame(12), store=store)
    status = run.status()
    assert status["state"] == "finished", status
    for name in (
        "eval.json",
        "predictions.csv",
        "model/textclf.json",
        "model/head.safetensors",
        "model/encoder/model.safetensors",
    ):
        assert (run.path / name).is_file(), name
    evaluation = run.read_json("eval.json")
    assert evaluation["strategy"] == "fewshot" and evaluation["accuracy"] is not None
    events = run.events()
    steps = [e for e in events if e["type"] == "step"]
    assert steps and steps[-1]["step"] == steps[-1]["total_steps"] == 4  # 64 pairs / batch 16
    assert any(e["type"] == "evaluation" for e in events) and events[-1]["type"] == "finished"

    texts = ["the great wonderful superb film", "the awful boring dull film"]
    predictor = load_predictor(run)
    assert predictor.classes == ["neg", "pos"]
    expected = predictor.predict(texts)
    assert set(expected["label"]) <= {"neg", "pos"}

    # The encoder is referenced relative to the model folder: a moved run predicts the same.
    moved = RunStore(tmp_path / "elsewhere")
    shutil.copytree(run.path, moved.root / run.id)
    shutil.rmtree(run.path)
    again = load_predictor(moved.get(run.id)).predict(texts)
    assert again["label"].tolist() == expected["label"].tolist()
    assert np.allclose(again["confidence"], expected["confidence"], atol=1e-5)


def test_exported_and_imported_fewshot_run_predicts(store, tiny_bert, tmp_path):
    run = runner.execute(fewshot_config(tiny_bert), small_frame(10), store=store)
    texts = ["the great wonderful superb film"]
    expected = load_predictor(run).predict(texts)["label"].tolist()
    zipped = store.export_zip(run.id, tmp_path / "run.zip")
    other = RunStore(tmp_path / "other")
    imported = other.import_zip(zipped)
    assert load_predictor(imported).predict(texts)["label"].tolist() == expected


def test_tuned_embeddings_are_not_served_from_the_frozen_encoders_cache(store, tiny_bert):
    from textclf_core.engine.encoders import embed

    texts = ["the great wonderful superb film", "the awful boring dull film"]
    frozen = embed(texts, str(tiny_bert), max_length=32)  # fills the disk cache for the untuned encoder
    run = runner.execute(fewshot_config(tiny_bert, lr=5e-3), small_frame(10), store=store)
    from textclf_core.models.predictors import FeaturePredictor

    tuned = FeaturePredictor(run.model_dir).embed(texts)
    assert not np.allclose(frozen, tuned, atol=1e-4)


def test_cancel_stops_a_fewshot_run(store, tiny_bert):
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 4  # a few checks in: during the contrastive steps

    run = runner.execute(
        fewshot_config(tiny_bert, fewshot_max_pairs=400), small_frame(12), store=store, should_stop=should_stop
    )
    assert run.status()["state"] == "cancelled"
    assert not any(e["type"] == "finished" for e in run.events())


def test_multi_label_data_is_refused_clearly(store, tiny_bert):
    run = runner.execute(fewshot_config(tiny_bert), multi_label_frame(30), store=store)
    status = run.status()
    assert status["state"] == "failed" and "one label per text" in status["message"]


def test_binary_logistic_head_becomes_two_softmax_logits():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = (x[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(int)
    lr = LogisticRegression().fit(x, y)
    weight, bias = linear_head(lr, ["a", "b"], ["a", "b", "c"])  # "c" never seen in training
    logits = x @ weight.T + bias
    proba = np.exp(logits - logits.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    assert np.allclose(proba[:, :2], lr.predict_proba(x), atol=1e-5)
    assert (proba[:, 2] < 1e-6).all()


def test_fewshot_settings_are_checked():
    assert RunConfig(strategy="few-shot").strategy == "fewshot"
    with pytest.raises(TextclfError, match="fewshot_max_pairs"):
        RunConfig(strategy="fewshot", fewshot_max_pairs=0)


def test_cli_trains_a_fewshot_run(tiny_bert, tmp_path, capsys):
    from textclf_core.cli import main

    path = tmp_path / "reviews.csv"
    small_frame(10).to_csv(path, index=False)
    assert (
        main(
            [
                "train",
                "--data",
                str(path),
                "--strategy",
                "few-shot",
                "--model",
                str(tiny_bert),
                "--max-pairs",
                "32",
                "--max-length",
                "32",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "test accuracy" in capsys.readouterr().out
    [summary] = RunStore().list()
    assert summary.state == "finished" and summary.strategy == "fewshot"
    config = RunStore().get(summary.id).config
    assert (config.fewshot_max_pairs, config.epochs, config.lr) == (32, 1, 2e-5)  # flag over few-shot defaults
    assert main(["predict", summary.id, "--text", "great wonderful film"]) == 0
    assert capsys.readouterr().out.split("\t")[0] in {"pos", "neg"}


def test_recommendation_picks_fewshot_only_for_tiny_single_label_classes():
    from textclf_core.strategies import advice as strategies

    limit = strategies.FEWSHOT_MAX_SMALLEST_CLASS  # set from the measurement; 0 would mean "never"
    if limit >= 1:
        tiny, reason = strategies.recommend_single({"a": limit, "b": 400})
        assert tiny.strategy == "fewshot" and f"{limit} examples" in reason
        assert tiny.epochs == strategies.STRATEGY_DEFAULTS["fewshot"]["epochs"]
        assert strategies.recommend_single({"a": limit, "b": 400}, multi_label=True)[0].strategy != "fewshot"
        # The recommendation itself is auto, with few-shot among its candidates and as the single-strategy advice.
        auto_cfg, auto_reason = strategies.recommend({"a": limit, "b": 400})
        assert auto_cfg.strategy == "auto" and "If you want one strategy: Few-shot" in auto_reason
    assert strategies.recommend_single({"a": limit + 1, "b": 400})[0].strategy != "fewshot"
    assert "few-shot" not in strategies.recommend({"a": limit + 1, "b": 400})[1].lower()
    assert "pairs" in strategies.describe_strategy("fewshot")
    slow = strategies.estimate(RunConfig(strategy="fewshot"), 100).seconds_per_epoch
    assert slow > strategies.estimate(RunConfig(strategy="fewshot", fewshot_max_pairs=100), 100).seconds_per_epoch


def test_shared_server_still_loads_a_fewshot_runs_own_encoder(tiny_bert, monkeypatch):
    store = RunStore()  # the server's own run store ($TEXTCLF_HOME/runs)
    run = runner.execute(fewshot_config(tiny_bert), small_frame(10), store=store)
    monkeypatch.setenv("TEXTCLF_SHARED", "1")  # no local model folders allowed…
    predicted = load_predictor(store.get(run.id)).predict(["the great wonderful superb film"])
    assert predicted["label"].iloc[0] in {"neg", "pos"}  # …but the run's tuned encoder is textclf's own
