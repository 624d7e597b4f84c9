"""One training run from a table to a scored, saved model in the run store.

:func:`execute` is what the app's job manager and ``textclf train`` call. It
never talks to a user interface: progress goes out as events (plain dicts,
see ARCHITECTURE.md) that are appended to the run's ``metrics.jsonl`` and
passed to ``emit``. Failures end in the run's status, not in a traceback:

- a :class:`TextclfError` (bad data, model not available…) → ``failed`` with its one-line message;
- a :class:`CancelledError` (the user pressed Cancel) → ``cancelled``; a model saved so far is kept;
- anything else (a bug) → ``failed`` with a generic message, the traceback in ``error.log``.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Callable

import numpy as np
import pandas as pd

from textclf_core import events
from textclf_core.config import RunConfig
from textclf_core.errors import CancelledError, TextclfError, is_out_of_memory, out_of_memory_error
from textclf_core.events import Reporter
from textclf_core.labels import LabelSpace
from textclf_core.store.runs import Run, RunStore
from textclf_core.strategy_registry import get_strategy

from . import setup as training_setup

# The setup moved to training_setup (one call for every process); these names stay importable from here.
from .setup import augment_training_rows, check_training_rows, prepare_splits  # noqa: F401
from .setup import resolve_columns as _resolve_columns  # noqa: F401

_check_training_rows = check_training_rows

log = logging.getLogger(__name__)

Emit = Callable[[dict], None]
GENERIC_FAILURE = "Training stopped because of an internal error; the details are in error.log in the run folder"


def _write_csv(run: Run, name: str, frame: pd.DataFrame, *, neutralize: bool) -> None:
    from textclf_core.data import write_csv
    from textclf_core.store.runs import store_error

    try:
        write_csv(frame, run.path / name, neutralize=neutralize)
    except OSError as exc:
        raise store_error(exc, run.path / name) from None


def _evaluate(predictor, part: pd.DataFrame, label_space: LabelSpace, thresholds=None, proba=None):
    """Metrics and probabilities of ``part``; ``proba``: already computed probabilities of its rows."""
    from textclf_core.evaluation.metrics import space_metrics

    texts = part["text"].tolist()
    if proba is None:
        proba = predictor.predict_proba(texts) if texts else np.zeros((0, label_space.num_classes))
    proba = np.asarray(proba, dtype=float)
    metrics = space_metrics(part["label"].tolist(), proba, label_space, thresholds)
    return metrics, proba


def execute(
    config: RunConfig,
    frame: pd.DataFrame | None = None,
    *,
    store: RunStore | None = None,
    run: Run | None = None,
    emit: Emit | None = None,
    should_stop: Callable[[], bool] | None = None,
    raise_errors: bool = False,
) -> Run | None:
    """Train, evaluate and save one run; returns the :class:`Run` (check ``run.status()``).

    ``frame`` is the table (read from ``config.data_path`` when None). ``run`` is an
    already created run folder (the job manager creates it to show its id at once);
    otherwise one is created in ``store``. ``should_stop()`` returning True cancels.
    With ``raise_errors`` the error is re-raised after it is recorded (the CLI uses it).

    Under ``accelerate launch`` (several processes) only the main process creates and writes the
    run; the others train their share and return None (see :mod:`textclf_core.pipeline.launch`).
    """
    from . import launch as distributed

    if distributed.launched():
        config, frame = distributed.preflight(config, frame)
        if not distributed.is_main_process():
            distributed.run_worker(config, frame, should_stop=should_stop)
            return None
    store = store or RunStore()
    if run is None:
        run = store.create(config)
    from .tracking import with_tracking

    user_emit = with_tracking(config, run, emit)  # MLflow listener when tracking is on (tracking.py)

    def emit_event(event: dict) -> None:
        event = run.append_event(event)
        if user_emit is not None:
            try:
                user_emit(event)
            except CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a broken listener must not stop training
                log.exception("textclf: event listener failed")

    reporter = Reporter(emit_event, should_stop)
    try:
        _execute(config, frame, run, reporter)
    except CancelledError:
        kept = run.has_model
        message = "Cancelled; the best model so far was kept" if kept else "Cancelled before a model was saved"
        _finish(run, reporter, "cancelled", message)
        if raise_errors:
            raise
    except KeyboardInterrupt:
        _finish(run, reporter, "cancelled", "Stopped with Ctrl-C")
        raise
    except TextclfError as exc:
        _finish(run, reporter, "failed", str(exc))
        if raise_errors:
            raise
    except Exception as exc:  # noqa: BLE001 - a bug: keep the details, show a plain message
        text = traceback.format_exc()
        try:
            run.write_text("error.log", text)
        except TextclfError:
            pass
        log.error("textclf run %s failed: %s", run.id, exc)
        _finish(run, reporter, "failed", str(out_of_memory_error()) if is_out_of_memory(exc) else GENERIC_FAILURE)
        if raise_errors:
            raise
    return run


def _finish(run: Run, reporter: Reporter, state: str, message: str, **extra) -> None:
    try:
        reporter.emit(events.final(state, message, **extra))
    except Exception:  # noqa: BLE001 - the status below matters more than the event
        log.exception("textclf: could not record the %s event", state)
    try:
        run.set_status(state, message)
    except TextclfError:
        log.exception("textclf: could not record the final status of run %s", run.id)


def _prepare(config: RunConfig, frame, run: Run, reporter: Reporter):
    """Read the data and make the training setup (split, label space, augmentation), record it in the run
    (config.json, labels.json, data.json, split.csv) and emit the ``started`` event; returns the
    :class:`training_setup.TrainingSetup`, whose ``config`` has the columns resolved."""
    from textclf_core.data import fingerprint

    run.set_status("running", "Reading the data")
    frame = training_setup.read_frame(config, frame)
    reporter.check_stop()

    # --- data, split, label space: the one setup every process of a launched run makes too ----------
    setup = training_setup.prepare_training(config, frame, on_stage=lambda message: run.set_status("running", message))
    config, prepared, label_space = setup.config, setup.prepared, setup.label_space
    run.write_json("config.json", config.to_dict())  # resolved columns: the run can be repeated exactly
    run.write_json("labels.json", label_space.to_dict())
    run.write_json(
        "data.json",
        {
            "fingerprint": fingerprint(frame),
            "rows": int(len(frame)),
            "path": config.data_path,
            "text_col": config.text_col,
            "label_col": config.label_col,
            "split_col": config.split_col,
            "label_source": setup.label_source,
        },
    )
    _write_csv(run, "split.csv", prepared[["row", "split"]], neutralize=False)
    val_df, test_df = setup.validation, setup.test
    counts, n_original, augmentation = setup.counts, setup.n_original, setup.augmentation
    reporter.emit(
        events.started(
            run_id=run.id,
            config=config.to_dict(),
            classes=label_space.classes,
            multi_label=label_space.multi_label,
            n_train=n_original,
            n_val=len(val_df),
            n_test=len(test_df),
            n_unlabelled=int(counts.get("unlabelled", 0)),
            n_excluded=int(counts.get("excluded", 0)),
            n_augmented=augmentation["added"],
            augmentation=augmentation,
        )
    )
    run.set_status("running", "Training")
    reporter.check_stop()
    return setup


def _train(config: RunConfig, setup, run: Run, reporter: Reporter):
    """Train with the strategy's own fit function (from the registry); returns ``(result, predictor,
    thresholds, fit_info, train_seconds)``: the fit's result, the model to score with, the multi-label
    thresholds (tuned on validation when the fit gave none), the fit's summary and the training time."""
    train_df, val_df, test_df, label_space = setup.train, setup.validation, setup.test, setup.label_space
    # --- train: the strategy's own fit function, from the registry ------------------------------------
    started = time.time()
    strategy = get_strategy(config.strategy)
    # a budgeted strategy (auto) leaves time in its budget to score the test rows afterwards
    extra_args = {"n_test": len(test_df)} if strategy.budgeted else {}
    result = strategy.load_fit()(
        config,
        train_df,
        val_df,
        label_space,
        run=run,
        emit=reporter.emit,
        should_stop=reporter.should_stop,
        **extra_args,
    )
    predictor = getattr(result, "predictor", None)
    if predictor is None:
        from textclf_core.models.predict import load_predictor

        predictor = load_predictor(run)
    thresholds = getattr(result, "thresholds", None) or getattr(predictor, "thresholds", None)
    if label_space.multi_label and thresholds is None:
        thresholds = _tune_thresholds(predictor, val_df, label_space)
    fit_info = _fit_info(result)
    train_seconds = time.time() - started
    if fit_info.get("train_seconds"):  # the engine's own clock leaves out loading the model
        train_seconds = float(fit_info["train_seconds"])
    reporter.check_stop()
    return result, predictor, thresholds, fit_info, train_seconds


def _execute(config: RunConfig, frame, run: Run, reporter: Reporter) -> None:
    """Prepare, train, evaluate and record one run (eval.json, predictions.csv, its final status)."""
    setup = _prepare(config, frame, run, reporter)
    config, label_space = setup.config, setup.label_space
    train_df, val_df, test_df = setup.train, setup.validation, setup.test
    n_original, augmentation = setup.n_original, setup.augmentation
    result, predictor, thresholds, fit_info, train_seconds = _train(config, setup, run, reporter)

    # --- evaluate -----------------------------------------------------------------------
    run.set_status("running", "Evaluating")
    val_proba = getattr(result, "val_proba", None)  # the engine scored these rows when it chose the model
    if val_proba is not None and len(val_proba) != len(val_df):
        val_proba = None
    val_metrics, val_proba = (
        _evaluate(predictor, val_df, label_space, thresholds, val_proba) if len(val_df) else (None, None)
    )
    from textclf_core.evaluation.calibration import (
        calibrate_run,  # temperature fitted on validation, saved in model/textclf.json
    )

    predictor, val_proba = calibrate_run(run, predictor, val_df["label"].tolist(), val_proba, label_space)
    from textclf_core.store.model_folder import (
        record_language,  # the training texts' languages: Predict warns on others
    )

    record_language(run.model_dir, train_df["text"])
    if len(test_df):
        test_metrics, proba = _evaluate(predictor, test_df, label_space, thresholds)
        scored, split_name = test_df, "test"
    elif len(val_df):  # no test rows were asked for: report validation, and say so
        test_metrics, proba = val_metrics, val_proba
        scored, split_name = val_df, "validation"
    else:
        test_metrics, proba, scored, split_name = None, None, None, None
    evaluation = dict(test_metrics or {"accuracy": None, "macro_f1": None})
    evaluation.update(
        split=split_name,
        validation=val_metrics,
        train_seconds=round(train_seconds, 3),
        n_train=n_original,
        n_augmented=augmentation["added"],
        augmentation=augmentation,
        n_val=len(val_df),
        n_test=len(test_df),
        thresholds=thresholds,
        strategy=config.strategy,
        best=fit_info or None,
    )
    if getattr(result, "auto", None):  # auto: leaderboard and what was chosen (auto.py)
        evaluation["auto"] = result.auto
    run.write_json("eval.json", evaluation)
    if scored is not None:
        from textclf_core.evaluation.metrics import predictions_frame

        frame_out = predictions_frame(
            scored["text"].tolist(),
            scored["label"].tolist(),
            proba,
            label_space.classes,
            multi_label=label_space.multi_label,
            thresholds=thresholds,
            rows=scored["row"].tolist(),
            separator=label_space.separator or ";",
        )
        _write_csv(run, "predictions.csv", frame_out, neutralize=True)

    test = {"accuracy": evaluation.get("accuracy"), "macro_f1": evaluation.get("macro_f1")}
    message = "Finished"
    if test["accuracy"] is not None:
        message = f"Finished: {split_name} accuracy {test['accuracy']:.3f}, macro F1 {test['macro_f1']:.3f}"
    reporter.emit(events.finished(message=message, test=test, train_seconds=round(train_seconds, 3)))
    run.set_status(
        "finished", message, accuracy=test["accuracy"], macro_f1=test["macro_f1"], train_seconds=round(train_seconds, 3)
    )


def _tune_thresholds(predictor, val_df: pd.DataFrame, label_space: LabelSpace):
    """Per-class thresholds for multi-label tasks, tuned on validation (None for single-label)."""
    if not label_space.multi_label:
        return None
    if len(val_df) == 0:
        return [0.5] * label_space.num_classes
    from textclf_core.evaluation.metrics import tune_thresholds

    proba = predictor.predict_proba(val_df["text"].tolist())
    return tune_thresholds(val_df["label"].tolist(), proba, label_space.classes, separator=label_space.separator or ";")


def _fit_info(result) -> dict:
    """What the engine reports about its best checkpoint, as plain data for eval.json."""
    info: dict = {}
    best = getattr(result, "best", None)
    if isinstance(best, dict):
        info.update(best)
    for key in ("best_metric", "best_epoch", "train_seconds", "params"):
        value = getattr(result, key, None)
        if value is not None:
            info[key] = list(value) if isinstance(value, tuple) else value
    return info
