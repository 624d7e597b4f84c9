"""Run store: folders, atomic writes, interrupted runs, safe ids, zip export and import."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers.small_data import small_frame

from textclf_core.config import RunConfig
from textclf_core.errors import RunStoreError
from textclf_core.labels import LabelSpace
from textclf_core.models.predict import load_predictor
from textclf_core.store.runs import Run, RunStore, default_root
from textclf_core.strategies.baseline import train_baseline

CONFIG = RunConfig(strategy="baseline")


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def _baseline_model():
    frame = small_frame(20).rename(columns={"review": "text", "sentiment": "label"})
    space = LabelSpace.from_labels(frame["label"])
    return train_baseline(CONFIG, frame, frame.iloc[:10], space), frame["text"].tolist()


def test_default_root_follows_textclf_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTCLF_HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / "runs"
    run = RunStore().create(CONFIG)
    assert run.path.parent == tmp_path / "home" / "runs"
    monkeypatch.delenv("TEXTCLF_HOME")
    assert default_root() == Path("runs")


def test_create_writes_config_and_running_status(store):
    run = store.create(CONFIG.replace(name="first try"), data_fingerprint="abc")
    assert run.config.name == "first try"
    status = run.status()
    assert status["state"] == "running"
    assert status["pid"] == os.getpid() and status["host"] == socket.gethostname() and status["started_at"]
    assert run.read_json("data.json")["fingerprint"] == "abc"
    assert store.get(run.id) == run


def test_json_writes_leave_no_temporary_files(store):
    run = store.create(CONFIG)
    run.write_json("eval.json", {"accuracy": np.float64(0.5), "cm": np.array([[1, 2]]), "bad": float("nan")})
    assert run.read_json("eval.json") == {"accuracy": 0.5, "cm": [[1, 2]], "bad": None}
    assert not [p for p in run.path.iterdir() if p.name.startswith(".")]


def test_events_are_appended_and_a_torn_last_line_is_skipped(store):
    run = store.create(CONFIG)
    run.append_event({"type": "started"})
    run.append_event({"type": "step", "step": 1, "loss": np.float32(0.25)})
    with open(run.path / "metrics.jsonl", "a") as fh:
        fh.write('{"type": "step", "st')  # a crash in the middle of a write
    events = run.events()
    assert [e["type"] for e in events] == ["started", "step"]
    assert events[1]["loss"] == 0.25 and "time" in events[0]
    assert [e["type"] for e in run.events(types=("step",))] == ["step"]


def test_list_is_newest_first_with_summary_fields(store):
    a = store.create(CONFIG)
    a.set_status("finished", "done", accuracy=0.8, macro_f1=0.7, train_seconds=3.0, started_at="2020-01-01T00:00:00")
    b = store.create(CONFIG.replace(baseline_model="nb"))
    b.set_status("failed", "bad data")
    rows = store.list()
    assert [r.id for r in rows] == [b.id, a.id]
    assert rows[1].accuracy == 0.8 and rows[1].macro_f1 == 0.7 and rows[1].train_seconds == 3.0
    assert rows[0].state == "failed" and rows[0].strategy == "baseline" and rows[0].name == "TF-IDF + nb"


# --- atomic model folder ------------------------------------------------------------


def test_crash_while_staging_leaves_no_model_folder(store):
    run = store.create(CONFIG)
    with pytest.raises(RuntimeError):
        with run.stage_model() as folder:
            (folder / "weights.npz").write_bytes(b"half")
            raise RuntimeError("power cut")
    assert not run.model_dir.exists()
    assert not run.has_model
    assert [p.name for p in run.path.iterdir() if p.name.startswith(".model")] == []


def test_crash_while_staging_keeps_the_older_model_loadable(store):
    model, texts = _baseline_model()
    run = store.create(CONFIG)
    with run.stage_model() as folder:
        model.save(folder)
    before = load_predictor(run).predict_proba(texts)
    with pytest.raises(KeyboardInterrupt):
        with run.stage_model() as folder:
            (folder / "features.json").write_text("{")
            raise KeyboardInterrupt
    np.testing.assert_array_equal(load_predictor(run).predict_proba(texts), before)


def test_a_model_folder_without_its_description_is_never_installed(store):
    run = store.create(CONFIG)
    with pytest.raises(RunStoreError):
        with run.stage_model() as folder:
            (folder / "arrays.npz").write_bytes(b"x")
    assert not run.model_dir.exists()


def test_crash_between_the_two_renames_restores_the_old_model(store):
    model, texts = _baseline_model()
    run = store.create(CONFIG)
    with run.stage_model() as folder:
        model.save(folder)
    os.replace(run.model_dir, run.path / ".model-old-1234")  # the first rename happened, the second did not
    assert run.has_model
    assert load_predictor(run).predict_proba(texts).shape == (len(texts), 2)


# --- ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../escape", "..", ".", "a/b", "/etc", "", "-x", "a" * 90, "a\\b", "x\x00"])
def test_unsafe_run_ids_are_rejected(store, bad):
    with pytest.raises(RunStoreError):
        store.get(bad)
    with pytest.raises(RunStoreError):
        store.delete(bad)


def test_a_link_out_of_the_runs_folder_is_rejected(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text(json.dumps(CONFIG.to_dict()))
    store.root.mkdir(parents=True)
    (store.root / "sneaky").symlink_to(outside)
    with pytest.raises(RunStoreError):
        store.get("sneaky")
    with pytest.raises(RunStoreError):
        store.delete("sneaky")
    assert outside.exists()


def test_missing_run_says_how_to_find_runs(store):
    with pytest.raises(RunStoreError, match="textclf runs"):
        store.get("no-such-run")


# --- interrupted runs -------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_running_run_whose_process_died_is_listed_as_interrupted(store):
    run = store.create(CONFIG)
    status = run.read_json("status.json")
    run.write_json("status.json", dict(status, pid=_dead_pid()))
    assert run.status()["state"] == "interrupted"
    [row] = store.list()
    assert row.state == "interrupted"
    assert run.read_json("status.json")["state"] == "interrupted"  # persisted


def test_a_run_of_this_process_stays_running(store):
    run = store.create(CONFIG)
    assert store.list()[0].state == "running"
    assert run.status()["state"] == "running"


def test_runs_of_another_machine_use_the_heartbeat(store):
    silent = store.create(CONFIG)
    silent.write_json(
        "status.json", dict(silent.read_json("status.json"), host="elsewhere", heartbeat_at="2020-01-01T00:00:00+00:00")
    )
    alive = store.create(CONFIG)
    alive.write_json("status.json", dict(alive.read_json("status.json"), host="elsewhere"))
    states = {r.id: r.state for r in store.list()}
    assert states == {silent.id: "interrupted", alive.id: "running"}


# --- delete -----------------------------------------------------------------------------


def test_delete_removes_the_folder(store):
    run = store.create(CONFIG)
    run.set_status("finished")
    store.delete(run.id)
    assert not run.path.exists() and store.list() == []


def test_delete_refuses_a_run_still_training(store):
    run = store.create(CONFIG)
    with pytest.raises(RunStoreError, match="Cancel"):
        store.delete(run.id)
    assert run.path.exists()


# --- zip ---------------------------------------------------------------------------------


def _finished_run(store):
    model, texts = _baseline_model()
    run = store.create(CONFIG)
    with run.stage_model() as folder:
        model.save(folder)
    run.write_json("eval.json", {"accuracy": 1.0})
    run.set_status("finished", "done")
    return run, texts


def test_export_and_import_round_trip(store, tmp_path):
    run, texts = _finished_run(store)
    zip_path = store.export_zip(run.id, tmp_path / "out")
    other = RunStore(tmp_path / "other-runs")
    imported = other.import_zip(zip_path)
    assert imported.id == run.id
    assert sorted(p.relative_to(imported.path) for p in imported.path.rglob("*")) == sorted(
        p.relative_to(run.path) for p in run.path.rglob("*")
    )
    np.testing.assert_array_equal(
        load_predictor(imported).predict_proba(texts), load_predictor(run).predict_proba(texts)
    )
    assert imported.status()["state"] == "finished"

    again = store.import_zip(zip_path)  # same store: the id is taken
    assert again.id != run.id and again.read_json("eval.json") == {"accuracy": 1.0}


def _zip(path: Path, members: dict, links=()):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    "members,links,match",
    [
        ({"r/config.json": "{}", "r/../../evil.txt": "x"}, (), "unsafe path"),
        ({"config.json": "{}", "/abs.txt": "x"}, (), "unsafe path"),
        ({"config.json": "{}"}, ("model",), "link"),
        ({"r/eval.json": "{}"}, (), "config.json is missing"),
        ({"config.json": "not json"}, (), "cannot be read"),
    ],
)
def test_import_rejects_unsafe_or_foreign_zips(store, tmp_path, members, links, match):
    path = _zip(tmp_path / "bad.zip", members, links)
    with pytest.raises(RunStoreError, match=match):
        store.import_zip(path)
    assert not (tmp_path / "evil.txt").exists()
    assert store.list() == []


def test_import_rejects_non_zip_and_oversized(store, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(RunStoreError, match="not a zip"):
        store.import_zip(junk)
    big = _zip(tmp_path / "big.zip", {"config.json": "{}", "blob": "0" * 5000})
    with pytest.raises(RunStoreError, match="more than"):
        store.import_zip(big, max_bytes=1000)


# --- disk problems ---------------------------------------------------------------------


def test_full_disk_is_reported_with_advice(store, monkeypatch):
    run = store.create(CONFIG)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(RunStoreError, match="disk is full.*TEXTCLF_HOME"):
        run.write_json("eval.json", {})
    assert not (run.path / "eval.json").exists()


def test_unwritable_root_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunStoreError):
        RunStore(blocker / "runs").create(CONFIG)


def test_run_equality_and_repr(store):
    run = store.create(CONFIG)
    assert Run(run.path) == run and run.id in repr(run)
