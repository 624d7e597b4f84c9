"""One run from a table to a scored, saved model; failures end in the run's status."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import multi_label_frame, small_frame, tiny_full_config

from textclf_core.config import RunConfig
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline import runner
from textclf_core.store.runs import RunStore

BASELINE = RunConfig(strategy="baseline")


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


def test_baseline_run_writes_every_file_and_event(store):
    frame = small_frame(30)
    seen = []
    run = runner.execute(BASELINE, frame, store=store, emit=seen.append)
    status = run.status()
    assert status["state"] == "finished", status
    assert status["accuracy"] is not None and "accuracy" in status["message"]
    for name in (
        "config.json",
        "status.json",
        "data.json",
        "split.csv",
        "labels.json",
        "metrics.jsonl",
        "eval.json",
        "predictions.csv",
        "model/textclf.json",
    ):
        assert (run.path / name).is_file(), name

    config = run.config
    assert (config.text_col, config.label_col) == ("review", "sentiment")  # guessed and recorded
    assert run.read_json("labels.json")["classes"] == ["neg", "pos"]
    assert run.read_json("data.json")["rows"] == 60

    split = pd.read_csv(run.path / "split.csv", encoding="utf-8-sig")
    assert list(split.columns) == ["row", "split"] and len(split) == 60
    assert split["split"].value_counts().to_dict() == {"train": 48, "validation": 6, "test": 6}

    evaluation = run.read_json("eval.json")
    assert evaluation["accuracy"] >= 0.8 and evaluation["split"] == "test"
    assert evaluation["validation"]["n"] == 6 and evaluation["train_seconds"] >= 0
    assert evaluation["confusion_matrix"] and evaluation["n"] == 6

    preds = pd.read_csv(run.path / "predictions.csv", encoding="utf-8-sig")
    assert list(preds.columns) == ["row", "text", "gold", "predicted", "confidence", "prob_neg", "prob_pos", "correct"]
    assert sorted(preds["row"]) == sorted(split.loc[split["split"] == "test", "row"])

    types = [e["type"] for e in run.events()]
    assert types[0] == "started" and types[-1] == "finished" and "step" in types and "evaluation" in types
    assert [e["type"] for e in seen] == types  # forwarded to emit as written
    finished = run.events()[-1]
    assert finished["test"]["accuracy"] == evaluation["accuracy"]
    started = run.events()[0]
    assert started["n_train"] == 48 and started["run_id"] == run.id

    texts = frame["review"].head(5).tolist()
    assert load_predictor(run).predict(texts)["label"].tolist() == [
        ["neg", "pos"][i] for i in load_predictor(run).predict_proba(texts).argmax(1)
    ]


def test_same_seed_same_split(store):
    frame = small_frame(30)
    a = runner.execute(BASELINE, frame, store=store)
    b = runner.execute(BASELINE, frame, store=store)
    assert (a.path / "split.csv").read_text() == (b.path / "split.csv").read_text()


def test_duplicate_texts_never_straddle_train_and_test(store):
    """A text repeated (case and spacing aside) lands in one split, so the test score is not flattered."""
    frame = small_frame(30)  # 60 rows
    copies = frame.iloc[:20].copy()
    copies["review"] = "  " + copies["review"].str.upper() + "  "
    frame = pd.concat([frame, copies, frame.iloc[:20]], ignore_index=True)
    run = runner.execute(BASELINE, frame, store=store)
    assert run.status()["state"] == "finished"
    split = pd.read_csv(run.path / "split.csv").set_index("row")["split"]
    for i in range(20):
        assert split[i] == split[60 + i] == split[80 + i], f"row {i} and its copies are in different splits"
    assert {"train", "test"} <= set(split)


def test_reads_the_file_when_no_frame_is_given(store, tmp_path):
    path = tmp_path / "reviews.csv"
    small_frame(25).to_csv(path, index=False)
    run = runner.execute(BASELINE.replace(data_path=str(path)), store=store)
    assert run.status()["state"] == "finished"
    assert run.read_json("data.json")["path"] == str(path)


def test_formulas_in_texts_are_neutralised_in_predictions(store):
    frame = small_frame(30)
    frame.loc[:, "review"] = '=HYPERLINK("x") ' + frame["review"]
    run = runner.execute(BASELINE.replace(test_size=0.3), frame, store=store)
    text = (run.path / "predictions.csv").read_text(encoding="utf-8-sig")
    assert "\n=" not in text and "'=HYPERLINK" in text


def test_unlabelled_and_empty_rows_stay_out_of_training(store):
    frame = small_frame(30)
    frame.loc[:4, "sentiment"] = None
    frame.loc[5:6, "review"] = "   "
    run = runner.execute(BASELINE, frame, store=store)
    split = pd.read_csv(run.path / "split.csv", encoding="utf-8-sig").set_index("row")["split"]
    assert set(split.loc[0:4]) == {"unlabelled"}
    assert set(split.loc[5:6]) == {"excluded"}
    assert run.status()["state"] == "finished"


def test_split_column_is_honoured(store):
    frame = small_frame(30)
    frame["split"] = ["test" if i % 5 == 0 else "train" for i in range(len(frame))]
    run = runner.execute(BASELINE.replace(split_col="split"), frame, store=store)
    split = pd.read_csv(run.path / "split.csv", encoding="utf-8-sig")
    assert (split.loc[split["row"] % 5 == 0, "split"] == "test").all()


def test_multi_label_run_tunes_thresholds(store):
    run = runner.execute(BASELINE, multi_label_frame(120), store=store)
    assert run.status()["state"] == "finished", run.status()
    evaluation = run.read_json("eval.json")
    assert len(evaluation["thresholds"]) == 3 and evaluation["micro_f1"] > 0.6
    predictor = load_predictor(run)
    assert predictor.multi_label and predictor.thresholds == evaluation["thresholds"]
    out = predictor.predict(["goal match team shares profit"])
    assert set(out["label"][0].split(";")) <= {"money", "sport", "tech"}


def test_bad_data_fails_the_run_with_the_message(store):
    frame = pd.DataFrame({"text": ["a b c", "d e f", "g h i"], "label": ["x", "x", "x"]})
    run = runner.execute(BASELINE, frame, store=store)
    status = run.status()
    assert status["state"] == "failed"
    assert "two different labels" in status["message"]
    assert run.events()[-1]["type"] == "failed"
    assert not run.has_model


def test_missing_data_file_fails_clearly(store, tmp_path):
    run = runner.execute(BASELINE.replace(data_path=str(tmp_path / "nope.csv")), store=store)
    assert run.status()["state"] == "failed" and "nope.csv" in run.status()["message"]


def test_bad_data_can_be_raised_for_the_cli(store):
    from textclf_core.errors import TextclfError

    frame = pd.DataFrame({"text": ["a", "b"], "label": ["x", "x"]})
    with pytest.raises(TextclfError):
        runner.execute(BASELINE, frame, store=store, raise_errors=True)


def test_a_bug_is_logged_not_shown(store, monkeypatch):
    import textclf_core.strategies.baseline as baseline

    def broken(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(baseline, "train_baseline", broken)
    run = runner.execute(BASELINE, small_frame(20), store=store)
    status = run.status()
    assert status["state"] == "failed"
    assert "internal error" in status["message"] and "oops" not in status["message"]
    assert "ZeroDivisionError" in (run.path / "error.log").read_text()


def test_cancel_before_training_ends_as_cancelled(store):
    run = runner.execute(BASELINE, small_frame(20), store=store, should_stop=lambda: True)
    assert run.status()["state"] == "cancelled"
    assert run.events()[-1]["type"] == "cancelled"


def test_cancel_after_the_model_is_saved_keeps_it(store, monkeypatch):
    from textclf_core.store.runs import Run

    real_stage = Run.stage_model
    saved = {"flag": False}

    def stage_then_stop(self):
        saved["flag"] = True  # the user presses Cancel while the model is being written
        return real_stage(self)

    monkeypatch.setattr(Run, "stage_model", stage_then_stop)
    run = runner.execute(BASELINE, small_frame(20), store=store, should_stop=lambda: saved["flag"])
    assert run.status()["state"] == "cancelled"
    assert "kept" in run.status()["message"] and run.has_model


def test_uses_a_run_created_by_the_caller(store):
    run = store.create(BASELINE)
    result = runner.execute(BASELINE, small_frame(20), store=store, run=run)
    assert result == run and run.status()["state"] == "finished"
    assert len(store.list()) == 1


def test_transformer_strategies_go_to_the_engine(store, monkeypatch):
    """The runner hands non-baseline strategies to training.fit and evaluates what it returns."""
    import sys
    import types

    from textclf_core.strategies.baseline import train_baseline

    class Result:
        def __init__(self, predictor):
            self.predictor = predictor
            self.best = {"epoch": 1, "macro_f1": 1.0}

    def fake_fit(config, train_df, val_df, label_space, *, run, emit, should_stop):
        emit({"type": "step", "step": 1, "total_steps": 1, "epoch": 1.0, "loss": 0.5})
        model = train_baseline(RunConfig(strategy="baseline"), train_df, val_df, label_space)
        with run.stage_model() as folder:
            model.save(folder)
        return Result(model)

    fake = types.ModuleType("textclf_core.strategies.transformer")
    fake.fit = fake_fit
    monkeypatch.setitem(sys.modules, "textclf_core.strategies.transformer", fake)
    run = runner.execute(RunConfig(strategy="feature-extraction"), small_frame(30), store=store)
    assert run.status()["state"] == "finished", run.status()
    assert run.read_json("eval.json")["best"] == {"epoch": 1, "macro_f1": 1.0}
    assert json.loads((run.path / "model" / "textclf.json").read_text())["kind"] == "baseline"
    assert np.isfinite(run.read_json("eval.json")["accuracy"])


@pytest.mark.parametrize("strategy", ["full", "feature-extraction"])
def test_transformer_run_end_to_end_with_a_tiny_model(store, tiny_bert, strategy):
    """The real engine on a tiny local BERT: the run finishes, is scored and predicts from disk."""
    config = RunConfig(
        strategy=strategy,
        model=str(tiny_bert),
        epochs=1,
        batch_size=8,
        lr=3e-3,
        precision="fp32",
        max_length=32,
        early_stopping_patience=None,
    )
    run = runner.execute(config, small_frame(20), store=store)
    status = run.status()
    assert status["state"] == "finished", (
        status,
        (run.path / "error.log").read_text() if (run.path / "error.log").exists() else "",
    )
    evaluation = run.read_json("eval.json")
    assert evaluation["accuracy"] is not None and evaluation["validation"]["n"] > 0
    assert evaluation["train_seconds"] > 0
    predictor = load_predictor(run)
    assert predictor.kind in ("transformer", "features")
    out = predictor.predict(["great wonderful film"])
    assert list(out.columns) == ["label", "confidence", "prob_neg", "prob_pos"]


def test_validation_figures_are_those_of_the_checkpoint_choice(store, tiny_bert, monkeypatch):
    """A fine-tuning run reports the validation scores its training chose the model on (the same
    figures the Training page showed) and does not predict the validation rows a second time."""
    from textclf_core.models.predictors import TransformerPredictor

    predicted: list[str] = []
    original = TransformerPredictor.predict_proba

    def spy(self, texts, *args, **kwargs):
        predicted.extend(texts)
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(TransformerPredictor, "predict_proba", spy)
    config = tiny_full_config(tiny_bert, seed=42)  # the default seed, as this test had
    run = runner.execute(config, small_frame(20), store=store)
    assert run.status()["state"] == "finished"
    split = pd.read_csv(run.path / "split.csv", encoding="utf-8-sig")
    texts = pd.read_csv(run.path / "predictions.csv", encoding="utf-8-sig")["text"].tolist()
    assert sorted(predicted) == sorted(texts)  # the test rows only
    evaluations = [e for e in run.events() if e["type"] == "evaluation"]
    best = max(evaluations, key=lambda e: e["macro_f1"])
    reported = run.read_json("eval.json")["validation"]
    assert reported["n"] == int((split["split"] == "validation").sum())
    assert reported["accuracy"] == pytest.approx(best["accuracy"])
