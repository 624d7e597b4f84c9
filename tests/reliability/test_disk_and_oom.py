"""A full disk, a runs folder that cannot be written, and a GPU out of memory: each ends in a clear
one-line message, no run is left corrupted, and the job manager keeps serving the next job."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch
from helpers.reliability import baseline_config, reviews, tiny_config
from helpers.small_data import small_frame

from textclf_core.cli import commands as cli
from textclf_core.errors import ModelLoadError, RunStoreError
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline.jobs import JobManager
from textclf_core.pipeline.runner import execute
from textclf_core.store import runs
from textclf_core.store.runs import RunStore
from textclf_core.strategies.baseline import BaselineModel

PROBE = ["the wonderful film was great fun", "a dull and boring mess of a plot"]


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _assert_store_healthy(store: RunStore) -> None:
    """Every listed run has a readable state, and no staging folder was left behind."""
    for summary in store.list():
        assert summary.state in runs.STATES
        run = store.get(summary.id)
        assert not [p for p in run.path.iterdir() if p.name.startswith((".model-staging-", ".import-"))]
        if summary.state != "finished":
            assert summary.message


@pytest.fixture()
def served(tmp_path):
    """A job manager with one finished run already in its store."""
    store = RunStore(tmp_path / "runs")
    earlier = execute(baseline_config(), small_frame(20), store=store)
    assert earlier.status()["state"] == "finished"
    manager = JobManager(store)
    yield manager, store, earlier, load_predictor(earlier).predict_proba(PROBE)
    manager.close()


def test_disk_full_while_saving_the_model(served, monkeypatch):
    manager, store, earlier, proba = served

    def save_half(self, directory):
        (directory / "arrays.npz").write_bytes(b"PK")  # part of the model, then the disk is full
        _enospc()

    monkeypatch.setattr(BaselineModel, "save", save_half)
    snap = manager.wait(manager.submit(baseline_config(), small_frame(20)), timeout=120)
    assert snap.state == "failed"
    assert "disk is full" in snap.message and "\n" not in snap.message
    run = store.get(snap.run_id)
    assert run.status()["state"] == "failed"
    assert "disk is full" in run.status()["message"]
    assert not run.model_dir.exists()
    with pytest.raises(ModelLoadError, match="no saved model"):
        load_predictor(run)
    np.testing.assert_allclose(load_predictor(earlier).predict_proba(PROBE), proba)
    _assert_store_healthy(store)

    monkeypatch.undo()  # space was freed: the same server trains again
    snap = manager.wait(manager.submit(baseline_config(), small_frame(20)), timeout=120)
    assert snap.state == "finished", snap.message


def test_disk_full_from_the_first_write(served, monkeypatch):
    manager, store, earlier, proba = served
    monkeypatch.setattr(runs.os, "replace", _enospc)  # every atomic write fails
    snap = manager.wait(manager.submit(baseline_config(), small_frame(20)), timeout=120)
    assert snap.state == "failed"
    assert "disk is full" in snap.message
    monkeypatch.undo()
    assert [s.id for s in store.list()] == [earlier.id]  # nothing half-made is listed
    np.testing.assert_allclose(load_predictor(earlier).predict_proba(PROBE), proba)
    _assert_store_healthy(store)
    assert manager.wait(manager.submit(baseline_config(), small_frame(20)), timeout=120).state == "finished"


def test_disk_full_in_the_middle_of_a_run(served, monkeypatch):
    """The status cannot be written any more: the run must not stay 'running' for ever."""
    manager, store, earlier, proba = served
    real_replace = os.replace
    full = {"on": False}

    def replace(src, dst, *a, **kw):
        if full["on"]:
            _enospc()
        return real_replace(src, dst, *a, **kw)

    real_save = BaselineModel.save

    def fill_disk_then_save(self, directory):
        full["on"] = True
        return real_save(self, directory)

    monkeypatch.setattr(runs.os, "replace", replace)
    monkeypatch.setattr(BaselineModel, "save", fill_disk_then_save)
    snap = manager.wait(manager.submit(baseline_config(), small_frame(20)), timeout=120)
    assert snap.state == "failed" and "disk is full" in snap.message
    monkeypatch.undo()
    run = store.get(snap.run_id)
    assert run.status()["state"] != "running"  # shown as failed or interrupted, never as training
    assert not run.has_model
    store.delete(run.id)  # and it can be cleaned up without restarting the server
    _assert_store_healthy(store)


def test_runs_folder_that_is_a_file(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "runs").write_text("not a folder")
    monkeypatch.setenv("TEXTCLF_HOME", str(home))
    with pytest.raises(RunStoreError) as err:
        RunStore().create(baseline_config())
    assert "\n" not in str(err.value) and str(home / "runs") in str(err.value)

    manager = JobManager(RunStore())
    try:
        snap = manager.wait(manager.submit(baseline_config(), small_frame(20)), timeout=60)
        assert snap.state == "failed" and "runs" in snap.message
    finally:
        manager.close()

    data = tmp_path / "data.csv"
    small_frame(20).to_csv(data, index=False)
    code = cli.main(["train", "--data", str(data), "--strategy", "baseline", "--no-progress"])
    out = capsys.readouterr()
    assert code == 2
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert lines and "Traceback" not in out.err and "runs" in lines[-1]
    assert (home / "runs").read_text() == "not a folder"


# --- GPU out of memory ---------------------------------------------------------------------


def _raise_oom(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)")


def test_out_of_memory_while_training_fails_with_advice_and_the_server_keeps_serving(tiny_bert, tmp_path, monkeypatch):
    from transformers import BertForSequenceClassification

    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    try:
        monkeypatch.setattr(BertForSequenceClassification, "forward", _raise_oom)
        snap = manager.wait(manager.submit(tiny_config(tiny_bert), reviews(3)), timeout=300)
        assert snap.state == "failed"
        assert "out of memory" in snap.message.lower()
        assert "batch size" in snap.message and "length" in snap.message
        run = store.get(snap.run_id)
        assert run.status()["state"] == "failed" and "batch size" in run.status()["message"]
        assert not run.model_dir.exists()
        monkeypatch.undo()
        nxt = manager.wait(manager.submit(tiny_config(tiny_bert), reviews(3)), timeout=300)
        assert nxt.state == "finished", nxt.message
    finally:
        manager.close()


def test_out_of_memory_while_scoring_the_test_split_also_gives_advice(tiny_bert, tmp_path, monkeypatch):
    """Scoring uses bigger batches than training, so it can be the step that runs out of memory."""
    from textclf_core.models import predictors as inference

    store = RunStore(tmp_path / "runs")
    monkeypatch.setattr(inference.TransformerPredictor, "predict_proba", _raise_oom)
    run = execute(tiny_config(tiny_bert), reviews(3), store=store)
    status = run.status()
    assert status["state"] == "failed"
    assert "out of memory" in status["message"].lower() and "batch size" in status["message"]
