"""Auto on the pages: offered first with a budget and the plan; its leaderboard on Training and Evaluation."""

from __future__ import annotations

import io

import pandas as pd

from test_pages import no_trouble, tiny_csv, upload
from textclf_core.config import RunConfig


def test_strategy_page_offers_auto_first_with_budget_and_plan(app):
    upload(app, "reviews.csv", tiny_csv())
    app.switch_page("pages/strategy.py").run()
    no_trouble(app)
    assert not app.error, [e.value for e in app.error]
    radio = next(r for r in app.radio if r.label == "How to train")
    assert radio.options[0] in ("auto", "Auto (recommended)") and radio.value == "auto"
    assert any("Recommended: Auto" in i.value for i in app.info)
    budget = next(r for r in app.radio if r.label == "Time budget")
    assert list(budget.options) == ["1 min", "3 min", "10 min", "30 min", "no limit"]
    assert budget.value == "10 min"  # the CPU default
    plan = app.dataframe[0].value
    assert list(plan["candidate"][:2]) == ["TF-IDF + logistic regression", "TF-IDF + linear SVM"]
    assert "MiniLM embeddings" in set(plan["candidate"]) and plan["estimated time"].notna().all()
    assert any("fits in one window" in c.value or "longer than one window" in c.value for c in app.caption)
    budget.set_value("1 min").run()
    no_trouble(app)
    assert any("Budget: 1 min" in c.value for c in app.caption)


def test_leaderboard_on_training_and_evaluation_pages(app, tiny_bert):
    from pages._ui import job_manager

    upload(app, "reviews.csv", tiny_csv())
    frame = pd.read_csv(io.BytesIO(tiny_csv()))
    config = RunConfig(strategy="auto", model=str(tiny_bert), text_col="review", label_col="sentiment",
                       budget_s=300, extra={"auto_members": ["tfidf-logreg", f"embeddings-{tiny_bert.name.lower()}"]})
    project = app.session_state["dataset"]["project"]  # as the Strategy page submits: the upload's project
    job_id = job_manager().submit(config, frame, run_meta={"project": project})
    snap = job_manager().wait(job_id, timeout=240)
    assert snap.state == "finished", snap.message
    app.session_state["training_job"] = job_id
    app.switch_page("pages/training.py").run()
    no_trouble(app)
    assert any(s.value == "Auto leaderboard" for s in app.subheader)
    board = next(d.value for d in app.dataframe if "ensemble weight" in d.value.columns)
    assert set(board["member"]) == {"TF-IDF + logistic regression", f"{tiny_bert.name} embeddings"}
    assert board["ensemble weight"].sum() == 1.0 or abs(board["ensemble weight"].sum() - 1.0) < 1e-3
    summary = [i.value for i in app.info if "validation" in i.value]
    assert summary
    app.switch_page("pages/evaluation.py").run()
    no_trouble(app)
    assert app.session_state["eval_run"] == snap.run_id
    assert any(s.value == "Auto leaderboard" for s in app.subheader)
    assert any(summary[0] == i.value for i in app.info)
    assert any("stands in for the ensemble" in c.value for c in app.caption)
