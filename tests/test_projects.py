"""Project store: create, the append-only change log (undo, grouped undo), list, delete, damaged
folders, concurrent appends, SIGKILL mid-append; runs that record their project."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers.small_data import small_frame

from textclf_core.config import RunConfig
from textclf_core.store.projects import ProjectError, ProjectStore, read_change_log
from textclf_core.store.runs import RunStore, readable_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path) -> ProjectStore:
    return ProjectStore(tmp_path / "projects")


@pytest.fixture
def csv_bytes() -> bytes:
    return small_frame(10).to_csv(index=False).encode("utf-8")


def test_create_keeps_the_original_bytes_and_a_readable_copy(store, csv_bytes):
    project = store.create(csv_bytes, filename="Movie reviews.csv", owner=None)
    assert project.id.startswith("movie-reviews-")
    assert project.original_path.read_bytes() == csv_bytes  # unchanged, byte for byte
    meta = project.meta
    assert (meta["text_col"], meta["label_col"]) == ("review", "sentiment")
    assert meta["rows"] == 20 and meta["classes"] == 2 and meta["filename"] == "Movie reviews.csv"
    df = project.frame()
    assert list(df.columns) == ["review", "sentiment"] and len(df) == 20
    # Nothing half-made is left beside it.
    assert [p.name for p in store.root.iterdir()] == [project.id]


def test_edits_are_on_disk_at_once_and_undo_is_appended(store, csv_bytes):
    project = store.create(csv_bytes, filename="reviews.csv")
    log = project.change_log(by="ann")
    log.relabel(0, "neg", old_label="pos")
    log.drop(1, old_label="neg")
    log.relabel(2, "pos", old_label="neg")
    # A fresh reader (another session, or after a restart) sees the three edits.
    again = project.change_log()
    assert [(c.row, c.action, c.new_label) for c in again] == [
        (0, "relabel", "neg"),
        (1, "drop", None),
        (2, "relabel", "pos"),
    ]
    assert log.undo().row == 2
    assert [c.row for c in project.change_log()] == [0, 1]
    lines = (project.path / "changes.jsonl").read_text().splitlines()
    assert [json.loads(line)["op"] for line in lines] == ["add", "add", "add", "undo"]  # append-only
    assert json.loads(lines[0])["by"] == "ann"
    assert project.working_frame().shape[0] == 19  # row 1 dropped
    assert project.working_frame().loc[0, "sentiment"] == "neg"
    assert log.undo_all() == 2 and len(project.change_log()) == 0


def test_grouped_undo_takes_back_one_action_and_notes_set_later_are_kept(store, csv_bytes):
    project = store.create(csv_bytes, filename="reviews.csv")
    log = project.change_log()
    log.relabel(5, "pos", old_label="neg")
    for row in (6, 7, 8):  # the Label review page sets the note after recording (batch edits)
        log.drop(row, old_label="pos")
        log.changes[-1].note = "batch:1:drop"
    log.refresh()
    assert [c.note for c in project.change_log()] == [None, "batch:1:drop", "batch:1:drop", "batch:1:drop"]
    taken = log.undo_action()
    assert [c.row for c in taken] == [6, 7, 8]
    assert [c.row for c in project.change_log()] == [5]
    assert [c.row for c in read_change_log(project.path / "changes.jsonl")] == [5]


def test_two_sessions_see_each_others_edits(store, csv_bytes):
    project = store.create(csv_bytes, filename="reviews.csv")
    a, b = project.change_log(by="a"), project.change_log(by="b")
    a.relabel(0, "neg")
    b.relabel(1, "neg")  # b catches up before writing: a's edit is not overwritten
    assert [c.row for c in b] == [0, 1]
    assert [c.row for c in a.refresh()] == [0, 1]


def test_concurrent_appends_from_two_threads_lose_nothing(store, csv_bytes):
    project = store.create(csv_bytes, filename="reviews.csv")
    errors = []

    def edit(offset):
        try:
            log = project.change_log(by=f"t{offset}")
            for i in range(40):
                log.relabel(offset * 100 + i, "pos")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=edit, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = sorted(c.row for c in project.change_log())
    assert rows == sorted([100 + i for i in range(40)] + [200 + i for i in range(40)])
    for line in (project.path / "changes.jsonl").read_text().splitlines():
        json.loads(line)  # every line whole


def test_sigkill_mid_append_loses_at_most_the_edit_in_flight(store, csv_bytes, tmp_path):
    project = store.create(csv_bytes, filename="reviews.csv")
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from textclf_core.store.projects import ProjectStore, ProjectChangeLog
        log = ProjectStore({str(store.root)!r}).get({project.id!r}).change_log()
        for i in range(3):
            log.relabel(i, "neg")
        real_write = os.write
        def slow_write(fd, data):  # the 4th edit: half its line reaches the disk, then the process dies
            real_write(fd, data[: len(data) // 2])
            os.fsync(fd)
            open({str(ready)!r}, "w").close()
            time.sleep(60)
        os.write = slow_write
        log.relabel(3, "neg")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        for _ in range(300):
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists(), "the child never reached the half-written edit"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log = project.change_log()
    assert [c.row for c in log] == [0, 1, 2]  # the three whole edits survive; the cut one is gone
    log.relabel(9, "pos")  # the next edit does not merge with the cut line
    assert [c.row for c in project.change_log()] == [0, 1, 2, 9]


def test_list_shows_details_and_damaged_folders_without_stopping(store, csv_bytes):
    good = store.create(csv_bytes, filename="reviews.csv", name="Reviews")
    bad = store.create(csv_bytes, filename="other.csv")
    (bad.path / "project.json").write_text("{not json")
    lost = store.create(csv_bytes, filename="lost.csv")
    (lost.path / "data.parquet").unlink()
    rows = store.list()
    assert [r.id for r in rows][0] == good.id and not rows[0].damaged
    assert rows[0].name == "Reviews" and rows[0].rows == 20 and rows[0].classes == 2
    damaged = {r.id: r for r in rows if r.damaged}
    assert set(damaged) == {bad.id, lost.id}
    assert "cannot be read" in damaged[bad.id].message and "\n" not in damaged[bad.id].message
    assert "lost its data copy" in damaged[lost.id].message
    with pytest.raises(ProjectError, match="cannot be read"):
        store.get(bad.id).frame()
    assert len(store.get(good.id).frame()) == 20  # the others still open


def test_rename_notes_columns_and_delete(store, csv_bytes):
    project = store.create(csv_bytes, filename="reviews.csv")
    project.rename("My reviews")
    project.set_notes("first pass")
    project.set_columns("review", "sentiment")
    with pytest.raises(ProjectError, match="not in the data"):
        project.set_columns("nope", "sentiment")
    assert store.get(project.id).meta["name"] == "My reviews"
    assert store.list()[0].name == "My reviews"
    store.delete(project.id)
    assert store.list() == []
    with pytest.raises(ProjectError, match="no project"):
        store.get(project.id)


@pytest.mark.parametrize("bad", ["../runs", "..", "a/b", "", "/etc", ".hidden"])
def test_ids_are_validated_like_run_ids(store, bad):
    with pytest.raises(ProjectError, match="not a valid project id"):
        store.get(bad)


def test_unknown_id_has_a_clear_message(store):
    with pytest.raises(ProjectError, match="There is no project 'nothing-here'"):
        store.get("nothing-here")


def test_owners_see_their_projects_and_shared_ones_only(store, csv_bytes):
    ann = store.create(csv_bytes, filename="ann.csv", owner="ann")
    bob = store.create(csv_bytes, filename="bob.csv", owner="bob")
    assert [p.id for p in store.list(user="ann")] == [ann.id]
    with pytest.raises(ProjectError, match="no project"):
        store.get(bob.id, user="ann")
    bob.share("ann")
    assert {p.id for p in store.list(user="ann")} == {ann.id, bob.id}
    with pytest.raises(ProjectError, match="belongs to bob"):
        store.delete(bob.id, user="ann")
    assert {p.id for p in store.list()} == {ann.id, bob.id}  # login off: one user sees all


def test_runs_record_their_project_and_list_by_project(tmp_path, csv_bytes, store):
    runs = RunStore(tmp_path / "runs")
    project = store.create(csv_bytes, filename="tweets.csv")
    config = RunConfig(strategy="baseline")
    mine = runs.create(config, meta={"project": project.id, "dataset": "tweets.csv", "started_by": "ann"})
    mine.set_status("finished", "done", macro_f1=0.7)
    other = runs.create(config)
    other.set_status("finished", "done", macro_f1=0.9)
    listed = runs.list(project=project.id)
    assert [r.id for r in listed] == [mine.id]
    assert listed[0].name == "tweets · TF-IDF + logreg" and listed[0].started_by == "ann"
    mine.rename("first try")
    mine.set_notes("with stop words")
    row = runs.list(project=project.id)[0]
    assert (row.name, row.notes) == ("first try", "with stop words")
    summary = store.list(runs=runs)[0]
    assert (summary.runs, summary.best_macro_f1, summary.best_run) == (1, 0.7, mine.id)


def test_readable_names_tell_runs_apart():
    partial = RunConfig(strategy="partial", layers=2, max_length=64, epochs=3)
    assert readable_name(partial, "tweets.csv") == "tweets · partial top-2 · 64 tokens · 3 epochs"
    assert (
        readable_name(RunConfig(strategy="feature-extraction"), "news.xlsx") == "news · feature extraction · 128 tokens"
    )
    assert readable_name(partial) != readable_name(partial.replace(layers=4))


def test_bulk_action_is_recorded_and_on_disk(store, csv_bytes):
    import pandas as pd

    project = store.create(csv_bytes, filename="reviews.csv")
    log = project.change_log()
    findings = pd.DataFrame(
        {
            "row": [3, 4, 5],
            "given_label": ["pos", "pos", "neg"],
            "suggested_label": ["neg", "neg", "pos"],
            "finding": "label issue",
        }
    )
    assert log.record_many(findings, "accept") == 3
    lines = (project.path / "changes.jsonl").read_text().splitlines()
    assert len(lines) == 3 and [c.new_label for c in project.change_log()] == ["neg", "neg", "pos"]


def test_cli_projects_and_train_on_a_project(tmp_path, monkeypatch, capsys):
    from textclf_core.cli import commands as cli

    monkeypatch.setenv("TEXTCLF_HOME", str(tmp_path / "home"))
    data = tmp_path / "tweets.csv"
    data.write_text("Export of 1 March\n" + small_frame(10).to_csv(index=False))  # a title line above
    assert cli.main(["projects", "create", str(data), "--name", "Tweets"]) == 0
    project_id = ProjectStore().list()[0].id
    ProjectStore().get(project_id).change_log().drop(0)  # an edit made in the app
    assert cli.main(["train", "--project", project_id, "--strategy", "baseline", "--no-progress"]) == 0
    runs = RunStore().list(project=project_id)
    assert len(runs) == 1 and runs[0].name == "tweets · TF-IDF + logreg" and runs[0].started_by.startswith("cli")
    assert RunStore().get(runs[0].id).read_json("data.json")["rows"] == 19  # the dropped row stayed out
    capsys.readouterr()
    assert cli.main(["projects", "rename", project_id, "Tweets v2"]) == 0
    assert cli.main(["projects"]) == 0
    out = capsys.readouterr().out
    assert "Tweets v2" in out and "tweets.csv" in out
    assert cli.main(["projects", "delete", "../etc", "--yes"]) == 2
    assert "not a valid project id" in capsys.readouterr().err
    assert cli.main(["projects", "delete", project_id, "--yes"]) == 0
    assert ProjectStore().list() == []


def test_a_group_of_edits_is_one_undo_on_disk_too(store, csv_bytes):
    """The Label review page renames a class as one group (ChangeLog.group); on a project's log one
    Undo takes the whole rename back, for this session and for a fresh reader."""
    project = store.create(csv_bytes, filename="reviews.csv")
    log = project.change_log(by="ann")
    log.relabel(0, "neg", old_label="pos")
    with log.group("rename pos → good"):
        for row in (1, 2, 3):
            log.relabel(row, "good", old_label="pos")
    assert (
        log.record_many(
            pd.DataFrame({"row": [4, 5], "given_label": ["neg", "neg"], "finding": ["label error"] * 2}),
            "drop",
            note="bulk drop",
        )
        == 2
    )
    assert [c.row for c in log.undo_action()] == [4, 5]  # the bulk drop, one line on disk
    assert log.undo().row == 3  # the whole rename
    assert [c.row for c in project.change_log()] == [0]
