"""Auto on the pages: offered first with a budget and the plan; its leaderboard on Training and Evaluation."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from helpers.app_pages import button, no_trouble, tiny_csv, upload

from textclf_core.config import RunConfig


def test_strategy_page_offers_auto_first_with_budget_and_plan(app):
    upload(app, "reviews.csv", tiny_csv())
    app.switch_page("app_pages/strategy.py").run()
    no_trouble(app)
    assert not app.error, [e.value for e in app.error]
    radio = next(r for r in app.radio if r.label == "How to train")
    assert radio.options[0] in ("auto", "Auto (recommended)") and radio.value == "auto"
    assert any("Recommended: Auto" in i.value for i in app.info)
    budget = next(r for r in app.radio if r.label == "Time budget")
    assert list(budget.options) == ["1 min", "3 min", "10 min", "30 min", "no limit"]
    assert budget.value == "10 min"  # the CPU default
    plan = app.dataframe[0].value
    assert plan["candidate"][0] == "TF-IDF + logistic regression"
    assert {"TF-IDF + linear SVM", "TF-IDF + naive Bayes"} <= set(plan["candidate"])
    assert "MiniLM embeddings" in set(plan["candidate"]) and plan["estimated time"].notna().all()
    assert any("fits in one window" in c.value or "longer than one window" in c.value for c in app.caption)
    budget.set_value("1 min").run()
    no_trouble(app)
    assert any("Budget: 1 min" in c.value for c in app.caption)
    candidates = next(m for m in app.multiselect if m.label == "Candidates")
    static = {"minilm-static"} | ({"mpnet-static"} if "mpnet embeddings" in set(plan["candidate"]) else set())
    assert set(candidates.value) == {
        "tfidf-logreg",
        "tfidf-svm",
        "tfidf-nb",
        "embeddings-minilm",
        "partial-minilm",
        "full-minilm",
    } | static | ({"embeddings-mpnet"} if "mpnet embeddings" in set(plan["candidate"]) else set())
    candidates.set_value(["tfidf-logreg", "embeddings-minilm"]).run()
    no_trouble(app)
    assert list(app.dataframe[0].value["candidate"]) == ["TF-IDF + logistic regression", "MiniLM embeddings"]


def test_strategy_page_reads_the_registry(app):
    from textclf_core.strategy_registry import REGISTRY, strategies

    upload(app, "reviews.csv", tiny_csv())
    app.switch_page("app_pages/strategy.py").run()
    no_trouble(app)
    radio = next(r for r in app.radio if r.label == "How to train")
    assert set(radio.options) == {s.title for s in strategies(multi_label=False)}  # every registered one, titled
    assert radio.options[0] == REGISTRY["auto"].title
    assert any("If you want one strategy: " in i.value for i in app.info if "Recommended" in i.value)
    for name, widget in (
        ("partial", "Top layers to train"),
        ("lora", "LoRA rank"),
        ("feature-extraction", "Classifier on the embeddings"),
    ):
        next(r for r in app.radio if r.label == "How to train").set_value(name).run()
        no_trouble(app)
        shown = [w.label for w in list(app.slider) + list(app.number_input) + list(app.selectbox)]
        assert widget in shown and "Model" in shown, name
    next(r for r in app.radio if r.label == "How to train").set_value("baseline").run()
    assert "Linear classifier" in [s.label for s in app.selectbox] and "Model" not in [s.label for s in app.selectbox]
    assert [b.label for b in app.get("download_button")][-1:] == ["Download these settings"]


def test_track_in_mlflow_toggle_logs_the_run(app, monkeypatch):
    pytest.importorskip("mlflow")
    import os

    from app_ui import job_manager, run_store

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    upload(app, "reviews.csv", tiny_csv())
    app.switch_page("app_pages/strategy.py").run()
    next(r for r in app.radio if r.label == "How to train").set_value("baseline").run()
    toggle = next(t for t in app.toggle if t.label == "Track in MLflow")
    assert toggle.value is False  # opt-in: no MLFLOW_TRACKING_URI on this server
    where = f"sqlite:///{os.environ['TEXTCLF_HOME']}"
    assert where in toggle.help and "mlflow.db" in toggle.help and "mlflow ui" in toggle.help
    toggle.set_value(True).run()
    no_trouble(app)
    button(app, "Start training").click().run()
    no_trouble(app)
    snap = job_manager().wait(app.session_state["training_job"], timeout=180)
    assert snap.state == "finished", snap.message
    run = run_store().get(snap.run_id)
    assert run.config.track == "mlflow"
    link = run.read_json("tracking.json")
    assert link["tracking_uri"].endswith("mlflow.db") and link.get("mlflow_run_id"), link


def test_leaderboard_on_training_and_evaluation_pages(app, tiny_bert):
    from app_ui import job_manager

    upload(app, "reviews.csv", tiny_csv())
    frame = pd.read_csv(io.BytesIO(tiny_csv()))
    config = RunConfig(
        strategy="auto",
        model=str(tiny_bert),
        text_col="review",
        label_col="sentiment",
        budget_s=300,
        extra={"auto_members": ["tfidf-logreg", f"embeddings-{tiny_bert.name.lower()}"], "no_extra_rounds": True},
    )
    project = app.session_state["dataset"]["project"]  # as the Strategy page submits: the upload's project
    job_id = job_manager().submit(config, frame, run_meta={"project": project})
    snap = job_manager().wait(job_id, timeout=240)
    assert snap.state == "finished", snap.message
    app.session_state["training_job"] = job_id
    app.switch_page("app_pages/training.py").run()
    no_trouble(app)
    assert any(s.value == "Auto leaderboard" for s in app.subheader)
    board = next(d.value for d in app.dataframe if "est. at start" in d.value.columns)
    assert set(board["member"]) == {"TF-IDF + logistic regression", f"{tiny_bert.name} embeddings"}
    weights = pd.to_numeric(board["weight"].replace("", "0"))
    assert abs(weights.sum() - 1.0) < 1e-2
    assert not board.isin(["None", "nan"]).any().any()  # blank cells, never "None"
    assert {"planned", "est. at start", "took", "rows"} <= set(board.columns)
    summary = [i.value for i in app.info if "validation" in i.value]
    assert summary
    # The headline is the kept model's validation macro-F1, not the last member's.
    info = job_manager().snapshot(job_id)
    kept = info.last_evaluation
    assert kept.get("kept")
    headline = next(m for m in app.metric if m.label.startswith("Validation macro-F1"))
    assert headline.label == "Validation macro-F1, kept model"
    from textclf_core.store.runs import RunStore

    chosen = RunStore().get(snap.run_id).read_json("eval.json")["auto"]["validation"]["macro_f1"]
    assert abs(kept["macro_f1"] - chosen) < 1e-9
    assert any(c.value.startswith(f"Kept: {kept['kept']}") for c in app.caption)
    app.switch_page("app_pages/evaluation.py").run()
    no_trouble(app)
    assert app.session_state["eval_run"] == snap.run_id
    assert any(s.value == "Auto leaderboard" for s in app.subheader)
    assert any(summary[0] == i.value for i in app.info)
    assert any("stands in for the ensemble" in c.value for c in app.caption)
    model_line = next(m.value for m in app.markdown if m.value.startswith("**Model:**"))
    assert kept["kept"].split(" (")[0] in model_line and "max length" not in model_line


def test_track_toggle_follows_the_servers_tracking_uri(app, monkeypatch):
    from textclf_core.pipeline import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://user:secret@mlflow.example:5000")
    assert tracking.track_setting(True) == "mlflow" and tracking.track_setting(False) == "off"
    upload(app, "reviews.csv", tiny_csv())
    app.switch_page("app_pages/strategy.py").run()
    no_trouble(app)
    toggle = next(t for t in app.toggle if t.label == "Track in MLflow")
    assert toggle.value is True  # the server tracks every run: the toggle says so and can turn it off
    assert "http://user:***@mlflow.example:5000" in toggle.help and "secret" not in toggle.help
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking.track_setting(False) is None  # off is the default then: nothing to override
