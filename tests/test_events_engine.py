"""The training core's shape: typed events (their schema is ARCHITECTURE.md's table), the one Reporter,
the shared loop pieces, one training setup for every process, and the strategy registry."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.small_data import multi_label_frame, small_frame

from textclf_core import events
from textclf_core.config import RunConfig
from textclf_core.engine import loop as engine
from textclf_core.errors import CancelledError
from textclf_core.pipeline import launch as distributed
from textclf_core.pipeline import runner
from textclf_core.pipeline import setup as training_setup
from textclf_core.store.runs import RunStore
from textclf_core.strategy_registry import REGISTRY, Strategy, get_strategy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


# --- events ---------------------------------------------------------------------------------------
def _documented_events() -> dict[str, tuple[set, set]]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text[text.index("## Events") :]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`[a-z0-9_]+`", cells[0]):
            names = [set(re.findall(r"`([a-z0-9_]+)`", c)) for c in cells[1:3]]
            table[cells[0].strip("`")] = (names[0], names[1])
    return table


def test_event_schema_in_code_is_the_table_in_architecture_md():
    documented = _documented_events()
    assert set(documented) == set(events.SCHEMA)
    for kind, spec in events.SCHEMA.items():
        required, optional = documented[kind]
        assert required == set(spec.required), kind
        assert optional == set(spec.optional), kind


def test_every_event_of_real_runs_matches_the_schema(store, tiny_bert):
    """A baseline run (multi-label) and a feature-extraction run with a tiny model: each line of
    metrics.jsonl has the documented keys, and the shapes readers rely on are there."""
    baseline = runner.execute(RunConfig(strategy="baseline"), multi_label_frame(60), store=store)
    fe = runner.execute(
        RunConfig(strategy="feature-extraction", model=str(tiny_bert), max_length=32, head="linear", precision="fp32"),
        small_frame(12),
        store=store,
    )
    for run in (baseline, fe):
        assert run.status()["state"] == "finished", run.status()
        lines = run.events()
        for event in lines:
            events.check(event)
        kinds = [e["type"] for e in lines]
        assert kinds[0] == "started" and kinds[-1] == "finished" and "evaluation" in kinds
    fe_events = fe.events()
    assert any(e["type"] == "progress" and e["stage"] == "embedding" for e in fe_events)
    steps = [e for e in fe_events if e["type"] == "step"]  # the torch head's passes
    assert steps and all(e["lr"] > 0 and e["eta_s"] == 0.0 for e in steps)


def test_constructors_refuse_what_the_schema_does_not_know():
    with pytest.raises(ValueError, match="unknown"):
        events.check({"type": "step", "time": 0, "step": 1, "total_steps": 1, "epoch": 1, "loss": 0.1, "speed": 3})
    with pytest.raises(ValueError, match="missing"):
        events.check({"type": "finished", "time": 0, "message": "done"})
    with pytest.raises(ValueError):
        events.final("paused", "no such state")
    event = events.step(step=3, total_steps=9, epoch=None, loss=0.5)
    assert set(event) == {"type", "time", "step", "total_steps", "epoch", "loss"}  # optional keys left out


def test_reporter_throttles_per_key_and_carries_the_stop_flag():
    now = [0.0]
    seen: list[dict] = []
    stop = [False]
    reporter = events.Reporter(seen.append, lambda: stop[0], clock=lambda: now[0])
    make = lambda: events.progress(stage="embedding", done=1, total=2)  # noqa: E731
    assert reporter.throttled("progress", make)  # the first always goes out
    now[0] = 0.5
    assert not reporter.throttled("progress", make)  # within the second: dropped
    assert reporter.throttled("step", lambda: events.step(step=1, total_steps=1, epoch=1, loss=0.1))  # own clock
    assert reporter.throttled("progress", make, force=True)  # the last one of a stage is forced
    now[0] = 1.6
    assert reporter.throttled("progress", make)
    assert [e["type"] for e in seen] == ["progress", "step", "progress", "progress"]
    reporter.with_fields(stage="embedding").emit({"type": "progress"})
    assert seen[-1] == {"type": "progress", "stage": "embedding"}
    reporter.quiet().emit({"type": "step"})
    assert len(seen) == 5
    reporter.check_stop()
    stop[0] = True
    with pytest.raises(CancelledError):
        reporter.quiet().check_stop()


# --- loop pieces ------------------------------------------------------------------------------------
def test_early_stopping_modes_and_patience():
    f1 = engine.EarlyStopping("macro_f1", patience=2)
    assert [f1.update(v) for v in (0.5, 0.6, 0.6, 0.55)] == [True, True, False, False]
    assert f1.stop and f1.best == 0.6
    loss = engine.EarlyStopping("val_loss", patience=None)
    assert [loss.update(v) for v in (1.0, 0.8, 0.9, 0.9, 0.9)] == [True, True, False, False, False]
    assert not loss.stop and loss.best == 0.8  # patience None: never stops


def _softmax(logits):
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


@pytest.mark.parametrize("case", ["binary", "multiclass", "missing"])
def test_one_sklearn_to_head_converter(case):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 4))
    if case == "binary":
        y, k = (x[:, 0] > 0).astype(int), 2
    elif case == "multiclass":
        y, k = np.digitize(x[:, 0], [-0.5, 0.5]), 3
    else:  # classes 0 and 2 of 3 in the training rows; class 1 never seen
        y, k = np.where(x[:, 0] > 0, 2, 0), 3
    clf = LogisticRegression().fit(x, y)
    weight, bias = engine.sklearn_linear_head(clf, k)
    proba = _softmax(x @ weight.T + bias)
    assert np.allclose(proba[:, clf.classes_], clf.predict_proba(x), atol=1e-6)
    if case == "missing":
        assert (proba[:, 1] < 1e-12).all() and (proba.argmax(1) != 1).all()
    # the few-shot head goes through the same converter (classes named, in another order)
    from textclf_core.strategies.fewshot import linear_head

    names = [f"c{i}" for i in range(k)]
    w2, b2 = linear_head(clf, names, list(reversed(names)))
    assert np.allclose(_softmax(x @ w2.T + b2)[:, ::-1], proba, atol=1e-5)


def test_schedule_warms_up_then_decays():
    import torch

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = engine.make_optimizer([param], "adamw", lr=1.0)
    scheduler = engine.make_scheduler(optimizer, "linear", total_steps=20, warmup_ratio=0.1)
    lrs = []
    for _ in range(20):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == 0.0 and lrs[2] == pytest.approx(1.0) and lrs[-1] < 0.1
    assert engine.make_optimizer([torch.nn.Parameter(torch.zeros(1))], "adam", 1e-3, 0.5).defaults["weight_decay"] == 0


# --- one training setup ------------------------------------------------------------------------------
def test_single_and_multi_process_paths_call_the_same_setup(store, monkeypatch):
    """The runner, the launched preflight and a launched worker all go through
    training_setup.prepare_training, and the worker hands the strategy the same training rows."""
    from textclf_core.strategies import transformer as training
    from textclf_core.strategies.baseline import train_baseline

    calls: list[str] = []
    real = training_setup.prepare_training

    def spy(config, frame, **kwargs):
        calls.append("augment" if kwargs.get("augment", True) else "check")
        return real(config, frame, **kwargs)

    trained: list[list[str]] = []

    def fake_fit(config, train_df, val_df, label_space, *, run, emit, should_stop):
        trained.append(train_df["text"].tolist())
        if run is None:  # a worker: trains its share, writes nothing
            return None
        model = train_baseline(RunConfig(strategy="baseline"), train_df, val_df, label_space)
        with run.stage_model() as folder:
            model.save(folder)
        return engine.FitResult(model, None, None)

    monkeypatch.setattr(training_setup, "prepare_training", spy)
    monkeypatch.setattr(training, "fit", fake_fit)
    config = RunConfig(strategy="feature-extraction", augment="eda", augment_max_per_class=100)
    frame = small_frame(20)
    run = runner.execute(config, frame, store=store)
    assert run.status()["state"] == "finished", run.status()
    assert calls == ["augment"]
    checked_config, checked_frame = distributed.preflight(config, frame)
    assert calls == ["augment", "check"]
    distributed.run_worker(checked_config, checked_frame)
    assert calls == ["augment", "check", "augment"]
    assert len(trained) == 2 and trained[0] == trained[1]  # same rows, same order, augmented copies included
    assert len(trained[0]) > 32  # 32 original training rows + the augmented ones


# --- the strategy registry ----------------------------------------------------------------------------
def test_every_configurable_strategy_is_registered_and_loads():
    from textclf_core.config import STRATEGIES, STRATEGY_ALIASES
    from textclf_core.store import model_folder

    assert set(STRATEGIES) == set(REGISTRY)
    for name, strategy in REGISTRY.items():
        assert callable(strategy.load_fit()), name
        assert strategy.model_kind in model_folder.kinds(), name  # the folder it writes can be loaded
    for alias, name in STRATEGY_ALIASES.items():
        assert RunConfig(strategy=alias).strategy == name
    assert not get_strategy("fewshot").multi_label and get_strategy("tfidf").name == "baseline"


def test_a_new_strategy_is_one_registry_entry(store, monkeypatch):
    """What `auto` will do: one entry, and the config accepts it and the runner dispatches to its fit."""
    entry = Strategy(
        "echo",
        "Echo",
        "The baseline under another name.",
        "textclf_core.strategies.baseline:fit_baseline",
        "baseline",
        needs_torch=False,
        supports_distributed=False,
        uses_model=False,
        trains="none",
    )
    monkeypatch.setitem(REGISTRY, "echo", entry)
    run = runner.execute(RunConfig(strategy="echo"), small_frame(20), store=store)
    assert run.status()["state"] == "finished", run.status()
    assert run.read_json("eval.json")["strategy"] == "echo"
    assert RunConfig(strategy="echo").display_name().startswith("TF-IDF")


def test_advice_imports_no_torch():
    code = (
        "import sys\n"
        "from textclf_core.strategies.advice import (describe_strategy, estimate, recommend, recommend_single,\n"
        "                                     strategy_defaults)\n"
        "from textclf_core.strategy_registry import REGISTRY\n"
        "from textclf_core.hardware import Hardware, gpu_count\n"
        "cfg, why = recommend_single({'a': 8, 'b': 40}, 30, hardware=Hardware('cpu', 'x', 2, False))\n"
        "assert cfg.strategy == 'fewshot' and cfg.lr == REGISTRY['fewshot'].defaults['lr'], cfg\n"
        "cfg, why = recommend({'a': 8, 'b': 40}, 30, hardware=Hardware('cpu', 'x', 2, False))\n"
        "assert cfg.strategy == 'auto' and estimate(cfg, 40).seconds_per_epoch == cfg.budget_s, cfg\n"
        "assert isinstance(gpu_count(), int)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr


def test_gpu_count_respects_visible_devices(monkeypatch):
    from textclf_core import hardware

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,-1,3")
    assert hardware._visible(8) == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert hardware._visible(8) == 0
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert hardware._visible(4) == 4
