"""The server killed hard (SIGKILL) while training or while saving a model: after a restart every
earlier run is intact and loadable, the killed run is listed as interrupted, and no half-written
model is ever loaded. The killed processes are real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.reliability import baseline_config, reviews
from helpers.small_data import small_frame

from textclf_core.errors import ModelLoadError
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline.jobs import JobManager
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore

ROOT = Path(__file__).resolve().parents[2]
PROBE = ["the wonderful film was great fun", "a dull and boring mess of a plot"]


def _env(home: Path) -> dict:
    env = dict(
        os.environ,
        TEXTCLF_HOME=str(home),
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            pytest.fail(f"the subprocess ended (rc {proc.returncode}) before {what}:\n{out[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _event_types(run_dir: Path) -> list[str]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    types = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            types.append(json.loads(line).get("type"))
        except json.JSONDecodeError:
            pass  # the line being written when the process died
    return types


@pytest.fixture()
def earlier_runs(tmp_path):
    """Two finished runs (and their predictions) made before the crashes."""
    store = RunStore(tmp_path / "home" / "runs")
    runs = []
    for seed in (1, 2):
        run = execute(baseline_config(seed=seed), small_frame(20, seed=seed), store=store)
        assert run.status()["state"] == "finished"
        runs.append((run.id, load_predictor(run).predict_proba(PROBE)))
    return store, runs


def test_sigkill_during_cli_training_and_during_model_save(tiny_bert, earlier_runs, tmp_path):
    store, earlier = earlier_runs
    home = store.root.parent
    data = tmp_path / "reviews.csv"
    reviews(30).to_csv(data, index=False)

    # 1. `textclf train` killed in the middle of fine-tuning (after its first reported step).
    before = {p.name for p in store.root.iterdir()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "textclf_core.cli",
            "train",
            "--data",
            str(data),
            "--strategy",
            "full",
            "--model",
            str(tiny_bert),
            "--epochs",
            "200",
            "--batch-size",
            "2",
            "--precision",
            "fp32",
            "--device",
            "cpu",
            "--patience",
            "0",
            "--no-progress",
        ],
        cwd=ROOT,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def training_started() -> bool:
        new = [p for p in store.root.iterdir() if p.name not in before and p.is_dir()]
        return bool(new) and "step" in _event_types(new[0])

    _wait_for(training_started, proc, "the first training step")
    _kill(proc)
    (killed_id,) = [p.name for p in store.root.iterdir() if p.name not in before and p.is_dir()]

    # 2. A process killed while it stages a new model over an earlier run's model, and one killed
    #    while staging the first model of a run: the rename to model/ never happens.
    script = textwrap.dedent(f"""
        import shutil, sys, time
        from pathlib import Path
        from textclf_core.store.runs import RunStore
        from textclf_core.config import RunConfig
        store = RunStore({str(store.root)!r})
        old = store.get({earlier[0][0]!r})
        fresh = store.create(RunConfig(strategy="baseline"))
        print(fresh.id, flush=True)
        with old.stage_model() as a, fresh.stage_model() as b:
            for folder in (a, b):
                shutil.copytree(old.model_dir, folder, dirs_exist_ok=True)
                (folder / "arrays.npz").write_bytes(b"PK half written")
            Path({str(tmp_path / "ready")!r}).write_text("1")
            time.sleep(600)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    _wait_for((tmp_path / "ready").exists, proc, "the models being staged")
    fresh_id = proc.stdout.readline().decode().strip()
    _kill(proc)

    # 3. "Restart": a new store and job manager in this process.
    store = RunStore(store.root)
    summaries = {s.id: s for s in store.list()}
    assert summaries[killed_id].state == "interrupted"
    assert summaries[fresh_id].state == "interrupted"
    assert store.get(killed_id).status()["state"] == "interrupted"  # persisted, not only displayed
    for run_id, proba in earlier:
        assert summaries[run_id].state == "finished"
        np.testing.assert_allclose(load_predictor(store.get(run_id)).predict_proba(PROBE), proba, atol=1e-9)
    # No half-written model is loadable: the killed runs have none, and nothing staged was installed.
    for run_id in (killed_id, fresh_id):
        assert not (store.get(run_id).model_dir / "textclf.json").exists()
        with pytest.raises(ModelLoadError, match="no saved model"):
            load_predictor(store.get(run_id))
    # Interrupted runs can be exported and deleted like any other.
    assert store.export_zip(killed_id, tmp_path / "out").is_file()
    store.delete(fresh_id)
    assert fresh_id not in {s.id for s in store.list()}
    # The restarted server trains again.
    manager = JobManager(store)
    try:
        snap = manager.wait(manager.submit(baseline_config(), small_frame(20)), timeout=120)
        assert snap.state == "finished", snap.message
    finally:
        manager.close()
