"""Projects in the app (AppTest): the URL carries the project, edits survive a new session, the
sidebar picks/renames/deletes, per-project run lists, someone else's run asks before cancelling,
and sign-in with a users file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from textclf_core.config import RunConfig

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def csv(prefix: str = "") -> bytes:
    lines = ["review,sentiment"]
    for i in range(12):
        lines += [f'"{prefix}great film, loved it ({i})",pos', f'"{prefix}dull and boring ({i})",neg']
    return ("\n".join(lines) + "\n").encode("utf-8")


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader(key="uploader").set_value((name, content, "text/csv")).run()
    ok(at)
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def fresh(**params) -> AppTest:
    """A new browser session (a reload, or a shared link) with these URL parameters."""
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    ok(at)
    return at


def test_upload_makes_a_project_and_a_reload_finds_it_with_its_edits(app):
    upload(app, "reviews.csv", csv())
    pid = app.session_state["project_id"]
    assert app.query_params["project"] == [pid] or app.query_params["project"] == pid
    changes = app.session_state["changes"]
    changes.relabel(0, "neg", old_label="pos")
    changes.relabel(2, "neg", old_label="pos")
    changes.drop(4, old_label="pos")

    again = fresh(project=pid)  # a reload: a new session, same URL
    again.switch_page("app_pages/label_review.py").run()
    ok(again)
    metrics = {m.label: m.value for m in again.metric}
    assert (metrics["Relabelled"], metrics["Dropped"], metrics["Rows in use"]) == ("2", "1", "23")
    # (AppTest draws the sidebar only on the first run of a session, so a second fresh one reads it)
    assert any("reviews.csv" in c.value and "23 rows" in c.value for c in fresh(project=pid).sidebar.caption)


def test_the_same_file_uploaded_twice_keeps_the_session_on_the_newer_project(app):
    """Two projects that read alike in the sidebar (same file, same rows, same minute): the browser sends the
    picker's choice back as its label, so alike labels switched the session to the older project on the
    next page (found by the two-sessions test). Each now shows which project it is."""
    upload(app, "reviews.csv", csv())
    first = app.session_state["project_id"]
    upload(app, "reviews.csv", csv())
    second = app.session_state["project_id"]
    assert first != second
    for page in ("app_pages/strategy.py", "app_pages/training.py", "app_pages/upload.py"):
        app.switch_page(page).run()
        ok(app)
        assert app.session_state["project_id"] == second, page
    options = fresh(project=second).sidebar.selectbox[0].options
    assert len(set(options)) == 2 and any(second in o for o in options), options


def test_sidebar_lists_projects_and_the_url_picks_one(app):
    # AppTest draws the sidebar only on a session's first run, so each check is a fresh session
    # (as a reload or a shared link is); picking in the sidebar itself is covered in Chromium.
    upload(app, "first.csv", csv("a "))
    first = app.session_state["project_id"]
    upload(app, "second.csv", csv("b "))
    second = app.session_state["project_id"]
    assert first != second
    at = fresh(project=first)
    picker = at.sidebar.selectbox[0]
    assert picker.value == first and len(picker.options) == 2
    assert all("24 rows" in o and "2 classes" in o for o in picker.options)
    assert any("first.csv" in h.value for h in at.subheader)
    assert any(b.label == "Delete project" and b.disabled for b in at.sidebar.button)  # asks first
    from app_ui import project_store

    project_store().get(first).rename("Cleaned reviews")
    assert any(o.startswith("Cleaned reviews ·") for o in fresh(project=second).sidebar.selectbox[0].options)
    project_store().delete(first)
    assert len(fresh(project=second).sidebar.selectbox[0].options) == 1


@pytest.mark.parametrize("bad", ["../../etc", "no-such-project"])
def test_bad_project_in_the_url_is_a_clear_message(app, bad):
    at = fresh(project=bad)
    errors = [e.value for e in at.sidebar.error]
    assert errors and ("not a valid project id" in errors[0] or "There is no project" in errors[0])
    assert "None loaded yet" in [c.value for c in at.sidebar.caption]


def test_damaged_project_is_listed_and_the_others_still_open(app):
    upload(app, "good.csv", csv())
    good = app.session_state["project_id"]
    upload(app, "broken.csv", csv("x "))
    broken = app.session_state["project_id"]
    from app_ui import project_store

    (project_store().root / broken / "project.json").write_text("{oops")
    at = fresh(project=good)
    assert any("cannot be read" in c.value for c in at.sidebar.caption)
    assert at.sidebar.selectbox[0].options == [o for o in at.sidebar.selectbox[0].options if broken not in o]
    assert any("good.csv" in h.value for h in at.subheader)


def test_training_lists_this_projects_runs_unless_all_are_asked_for(app):
    from app_ui import run_store

    upload(app, "mine.csv", csv())
    pid = app.session_state["project_id"]
    store = run_store()
    mine = store.create(
        RunConfig(strategy="baseline"), meta={"project": pid, "dataset": "mine.csv", "started_by": "guest-aaaa"}
    )
    mine.set_status("finished", "done", macro_f1=0.8)
    other = store.create(RunConfig(strategy="baseline"), meta={"project": "elsewhere-123", "dataset": "other.csv"})
    other.set_status("finished", "done", macro_f1=0.6)
    app.switch_page("app_pages/training.py").run()
    ok(app)
    table = app.dataframe[-1].value
    assert list(table["id"]) == [mine.id] and list(table["run"]) == ["mine · TF-IDF + logreg"]
    app.toggle(key="all_projects_training").set_value(True).run()
    assert set(app.dataframe[-1].value["id"]) == {mine.id, other.id}

    app.switch_page("app_pages/compare.py").run()
    ok(app)
    table = app.dataframe[0].value
    assert list(table["id"]) == [mine.id] and list(table["dataset"]) == ["mine.csv"]


def test_someone_elses_run_asks_before_cancelling_and_the_owner_sees_who(app):
    from app_ui import job_manager

    upload(app, "reviews.csv", csv())
    manager = job_manager()
    release = threading.Event()

    def slow_runner(config, frame, *, store, run, emit, should_stop):
        emit({"type": "started", "total_steps": 10})
        while not (should_stop() or release.is_set()):
            release.wait(0.05)
        emit({"type": "cancelled", "message": "Cancelled"})
        return run

    manager._runner = slow_runner
    owner = app.session_state["who"]
    job = manager.submit(RunConfig(strategy="baseline"), started_by=owner)
    try:
        other = fresh()
        other.switch_page("app_pages/training.py").run()
        ok(other)
        button(other, "Cancel this run").click().run()
        assert manager.snapshot(job).state == "running"  # not yet: it asks
        assert any(owner in w.value for w in other.warning)
        button(other, "Yes, cancel their run").click().run()
        snap = manager.wait(job, timeout=30)
        assert snap.state == "cancelled" and snap.cancelled_by == other.session_state["who"]
        app.switch_page("app_pages/training.py").run()
        ok(app)
        assert any(f"Cancelled by {other.session_state['who']}" in w.value for w in app.warning)
    finally:
        release.set()
        manager.cancel(job)


def test_sign_in_with_a_users_file(app, tmp_path, monkeypatch):
    from textclf_core.store import auth
    from textclf_core.store.projects import ProjectStore

    users = tmp_path / "users.json"
    auth.add_user("ann", "correct horse", users)
    auth.add_user("bob", "battery staple", users)
    assert "correct horse" not in users.read_text()  # hashes only
    ProjectStore().create(csv(), filename="bobs.csv", owner="bob")
    monkeypatch.setenv("TEXTCLF_USERS_FILE", str(users))

    at = fresh()
    assert any("Sign in" in t.value for t in at.title)
    at.text_input(key="login_user").set_value("ann")
    at.text_input(key="login_password").set_value("wrong password")
    at.button[0].click().run()
    assert any("Wrong user name or password" in e.value for e in at.error)
    at.text_input(key="login_password").set_value("correct horse")
    at.button[0].click().run()
    ok(at)
    assert at.session_state["signed_in"] == "ann"
    assert any("Signed in as **ann**" in c.value for c in at.sidebar.caption)
    assert "None loaded yet" in [c.value for c in at.sidebar.caption]  # bob's project is not listed
    upload(at, "anns.csv", csv())
    assert ProjectStore().get(at.session_state["project_id"]).meta["owner"] == "ann"
    assert [p.dataset for p in ProjectStore().list(user="ann")] == ["anns.csv"]


def test_a_failed_upload_says_which_dataset_is_still_in_use(app):
    upload(app, "good.csv", csv())
    app.file_uploader(key="uploader").set_value(
        ("broken.xlsx", b"PK\x03\x04 not a workbook", "application/octet-stream")
    ).run()
    ok(app)
    assert app.error
    assert any("Still in use: **good.csv** (24 rows)" in i.value for i in app.info), [i.value for i in app.info]


def test_title_row_above_the_header_and_choosing_the_header_row(app):
    import io

    import pandas as pd

    rows = [["Customer survey (export)", None], ["text", "label"]]
    rows += [[f"great service {i}", "pos"] for i in range(6)] + [[f"rude staff {i}", "neg"] for i in range(6)]
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        pd.DataFrame(rows).to_excel(writer, header=False, index=False)
    app.switch_page("app_pages/upload.py").run()
    app.file_uploader(key="uploader").set_value(("survey.xlsx", buf.getvalue(), "application/octet-stream")).run()
    ok(app)
    assert any("The header is row 2" in c.value for c in app.caption)
    assert any("Ready to train: 12 labelled rows in 2 classes" in s.value for s in app.success)
    first = app.session_state["project_id"]
    header = next(n for n in app.number_input if n.label == "Header row")
    header.set_value(1).run()  # the title taken as the header: 'label' becomes a class
    ok(app)
    assert app.session_state["project_id"] != first  # re-read as a new project; the untouched one is gone
    assert not app.success  # never "Ready to train" while a header word is counted as a class
    assert any("'label' is counted as a class" in e.value for e in app.error)
