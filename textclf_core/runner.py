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

from .config import RunConfig
from .errors import CancelledError, DataError, TextclfError
from .labels import LabelSpace
from .runs import Run, RunStore

log = logging.getLogger(__name__)

Emit = Callable[[dict], None]
GENERIC_FAILURE = "Training stopped because of an internal error; the details are in error.log in the run folder"
OUT_OF_MEMORY = ("The device ran out of memory. Lower the batch size or the maximum length, "
                 "or use a lighter strategy (LoRA, partial or feature extraction).")


def _is_out_of_memory(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (and older RuntimeError 'CUDA out of memory'), e.g. while scoring the test split."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _resolve_columns(config: RunConfig, frame: pd.DataFrame) -> RunConfig:
    """Fill in text/label/split columns the user left to be guessed."""
    from .data import guess_columns

    if config.text_col and config.label_col:
        return config
    guess = guess_columns(frame)
    text_col = config.text_col or guess.text_col
    label_col = config.label_col or guess.label_col
    if not text_col:
        raise DataError("No column with texts was found", hint="Choose the text column (--text-col)")
    if not label_col:
        raise DataError("No column with labels was found", hint="Choose the label column (--label-col)")
    split_col = config.split_col or guess.split_col
    return config.replace(text_col=text_col, label_col=label_col, split_col=split_col)


def _write_csv(run: Run, name: str, frame: pd.DataFrame, *, neutralize: bool) -> None:
    from .data import write_csv
    from .runs import _store_error

    try:
        write_csv(frame, run.path / name, neutralize=neutralize)
    except OSError as exc:
        raise _store_error(exc, run.path / name) from None


def prepare_splits(config: RunConfig, frame: pd.DataFrame) -> tuple[RunConfig, pd.DataFrame, LabelSpace]:
    """Columns resolved, rows prepared (``row``, ``text``, ``label``, ``split``) and the label space."""
    from .data import assign_splits, duplicate_keys, prepare

    config = _resolve_columns(config, frame)
    prepared = prepare(frame, config.text_col, config.label_col, split_col=config.split_col)
    labelled = prepared["label"].notna().to_numpy()
    label_space = LabelSpace.from_labels(prepared.loc[labelled, "label"].tolist(), multi_label=config.multi_label,
                                         separator=config.label_sep)
    # Rows without text teach nothing; keep them out of every split (shown as "excluded").
    has_text = prepared["text"].str.strip().ne("").to_numpy()
    usable = prepared[has_text]
    split_values = usable["split_value"].tolist() if "split_value" in usable.columns else None
    # Rows whose texts are the same (case and spacing aside) stay in one split: a duplicate in
    # both train and test would make the test score look better than it is.
    groups = duplicate_keys(usable["text"].tolist())
    splits = assign_splits(usable["label"].tolist(), val_size=config.val_size, test_size=config.test_size,
                           seed=config.seed, split_values=split_values, multi_label=label_space.multi_label,
                           groups=groups)
    prepared["split"] = "excluded"
    prepared.loc[has_text, "split"] = np.asarray(splits, dtype=object)
    return config, prepared, label_space


def augment_training_rows(config: RunConfig, train: pd.DataFrame, label_space: LabelSpace
                          ) -> tuple[pd.DataFrame, dict]:
    """The training rows plus augmented copies of those of scarce classes (``config.augment``), and what was
    added (``{"method", "added", "per_class", ...}``). Validation and test rows are never augmented, so the
    scores stay honest. Seeded: every process of a launched run gets the same rows."""
    summary = {"method": config.augment, "added": 0, "per_class": {}}
    if config.augment == "off" or len(train) == 0:
        return train, summary
    from .fewshot import augment_scarce

    texts, labels, sources, summary = augment_scarce(
        train["text"].tolist(), train["label"].tolist(), config.augment, copies=config.augment_copies,
        max_per_class=config.augment_max_per_class, model=config.model, seed=config.seed,
        separator=label_space.separator if label_space.multi_label else None, max_length=config.max_length)
    summary.update(copies=config.augment_copies, max_per_class=config.augment_max_per_class)
    if not texts:
        return train, summary
    # Each new row keeps the row number of the text it was made from (for tracing, never for scoring).
    added = pd.DataFrame({"row": train["row"].to_numpy()[sources], "text": texts, "label": labels,
                          "split": "train"})
    return pd.concat([train, added.reindex(columns=train.columns)], ignore_index=True), summary


def _check_training_rows(train: pd.DataFrame, label_space: LabelSpace) -> None:
    if len(train) == 0:
        raise DataError("No labelled rows are left for training",
                        hint="Label more rows or lower the validation and test shares")
    if not label_space.multi_label:
        present = set(train["label"])
        if len(present) < 2:
            raise DataError(f"The training rows contain only the class '{next(iter(present))}'",
                            hint="Add examples of another class")


def _evaluate(predictor, part: pd.DataFrame, label_space: LabelSpace, thresholds=None, proba=None):
    """Metrics and probabilities of ``part``; ``proba``: already computed probabilities of its rows."""
    from .evaluation import compute_metrics

    texts = part["text"].tolist()
    if proba is None:
        proba = predictor.predict_proba(texts) if texts else np.zeros((0, label_space.num_classes))
    proba = np.asarray(proba, dtype=float)
    metrics = compute_metrics(part["label"].tolist(), proba, label_space.classes,
                              multi_label=label_space.multi_label, thresholds=thresholds,
                              separator=label_space.separator or ";")
    return metrics, proba


def execute(config: RunConfig, frame: pd.DataFrame | None = None, *, store: RunStore | None = None,
            run: Run | None = None, emit: Emit | None = None, should_stop: Callable[[], bool] | None = None,
            raise_errors: bool = False) -> Run | None:
    """Train, evaluate and save one run; returns the :class:`Run` (check ``run.status()``).

    ``frame`` is the table (read from ``config.data_path`` when None). ``run`` is an
    already created run folder (the job manager creates it to show its id at once);
    otherwise one is created in ``store``. ``should_stop()`` returning True cancels.
    With ``raise_errors`` the error is re-raised after it is recorded (the CLI uses it).

    Under ``accelerate launch`` (several processes) only the main process creates and writes the
    run; the others train their share and return None (see :mod:`textclf_core.distributed`).
    """
    from . import distributed

    should_stop = should_stop or (lambda: False)
    if distributed.launched():
        config, frame = distributed.preflight(config, frame)
        if not distributed.is_main_process():
            distributed.run_worker(config, frame, should_stop=should_stop)
            return None
    store = store or RunStore()
    if run is None:
        run = store.create(config)
    user_emit = emit

    def emit_event(event: dict) -> None:
        event = run.append_event(event)
        if user_emit is not None:
            try:
                user_emit(event)
            except CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a broken listener must not stop training
                log.exception("textclf: event listener failed")

    def check_stop() -> None:
        if should_stop():
            raise CancelledError()

    try:
        _execute(config, frame, run, emit_event, should_stop, check_stop)
    except CancelledError:
        kept = run.has_model
        message = "Cancelled; the best model so far was kept" if kept else "Cancelled before a model was saved"
        _finish(run, emit_event, "cancelled", message)
        if raise_errors:
            raise
    except KeyboardInterrupt:
        _finish(run, emit_event, "cancelled", "Stopped with Ctrl-C")
        raise
    except TextclfError as exc:
        _finish(run, emit_event, "failed", str(exc))
        if raise_errors:
            raise
    except Exception as exc:  # noqa: BLE001 - a bug: keep the details, show a plain message
        text = traceback.format_exc()
        try:
            run.write_text("error.log", text)
        except TextclfError:
            pass
        log.error("textclf run %s failed: %s", run.id, exc)
        _finish(run, emit_event, "failed", OUT_OF_MEMORY if _is_out_of_memory(exc) else GENERIC_FAILURE)
        if raise_errors:
            raise
    return run


def _finish(run: Run, emit_event: Emit, state: str, message: str, **extra) -> None:
    try:
        emit_event({"type": state, "message": message, **extra})
    except Exception:  # noqa: BLE001 - the status below matters more than the event
        log.exception("textclf: could not record the %s event", state)
    try:
        run.set_status(state, message)
    except TextclfError:
        log.exception("textclf: could not record the final status of run %s", run.id)


def _execute(config: RunConfig, frame, run: Run, emit: Emit, should_stop, check_stop) -> None:
    from .data import fingerprint, read_table

    run.set_status("running", "Reading the data")
    if frame is None:
        if not config.data_path:
            raise DataError("No data file is given", hint="Choose a file (textclf train --data FILE)")
        frame = read_table(config.data_path)
    check_stop()

    # --- data, split, label space ---------------------------------------------------
    config, prepared, label_space = prepare_splits(config, frame)
    run.write_json("config.json", config.to_dict())  # resolved columns: the run can be repeated exactly
    run.write_json("labels.json", label_space.to_dict())
    run.write_json("data.json", {"fingerprint": fingerprint(frame), "rows": int(len(frame)),
                                 "path": config.data_path, "text_col": config.text_col,
                                 "label_col": config.label_col, "split_col": config.split_col})
    _write_csv(run, "split.csv", prepared[["row", "split"]], neutralize=False)
    parts = {name: prepared[prepared["split"] == name].reset_index(drop=True)
             for name in ("train", "validation", "test")}
    train_df, val_df, test_df = parts["train"], parts["validation"], parts["test"]
    _check_training_rows(train_df, label_space)
    counts = prepared["split"].value_counts().to_dict()
    n_original = len(train_df)
    if config.augment != "off":
        run.set_status("running", "Augmenting scarce classes")
    train_df, augmentation = augment_training_rows(config, train_df, label_space)
    emit({"type": "started", "run_id": run.id, "config": config.to_dict(), "classes": label_space.classes,
          "multi_label": label_space.multi_label, "n_train": n_original, "n_val": len(val_df),
          "n_test": len(test_df), "n_unlabelled": int(counts.get("unlabelled", 0)),
          "n_excluded": int(counts.get("excluded", 0)), "n_augmented": augmentation["added"],
          "augmentation": augmentation})
    run.set_status("running", "Training")
    check_stop()

    # --- train ------------------------------------------------------------------------
    started = time.time()
    if config.strategy == "baseline":
        from .baseline import train_baseline

        predictor = train_baseline(config, train_df, val_df, label_space, emit, should_stop=should_stop)
        thresholds = _tune_thresholds(predictor, val_df, label_space)
        if thresholds is not None:
            predictor.info["thresholds"] = thresholds
        with run.stage_model() as folder:
            predictor.save(folder)
        fit_info: dict = {}
        result = None
    else:
        extra_args: dict = {}
        if config.strategy == "auto":  # several members within a time budget, saved as one ensemble (auto.py)
            from .auto import fit

            extra_args = {"n_test": len(test_df)}
        elif config.strategy == "fewshot":
            from .fewshot import fit  # SetFit-style; saves a "features" model folder like feature extraction
        else:
            from .training import fit  # the transformer engine (torch) only when needed

        result = fit(config, train_df, val_df, label_space, run=run, emit=emit, should_stop=should_stop,
                     **extra_args)
        predictor = getattr(result, "predictor", None)
        if predictor is None:
            from .predict import load_predictor

            predictor = load_predictor(run)
        thresholds = getattr(result, "thresholds", None) or getattr(predictor, "thresholds", None)
        if label_space.multi_label and thresholds is None:
            thresholds = _tune_thresholds(predictor, val_df, label_space)
        fit_info = _fit_info(result)
    train_seconds = time.time() - started
    if fit_info.get("train_seconds"):  # the engine's own clock leaves out loading the model
        train_seconds = float(fit_info["train_seconds"])
    check_stop()

    # --- evaluate -----------------------------------------------------------------------
    run.set_status("running", "Evaluating")
    val_proba = getattr(result, "val_proba", None)  # the engine scored these rows when it chose the model
    if val_proba is not None and len(val_proba) != len(val_df):
        val_proba = None
    val_metrics, val_proba = _evaluate(predictor, val_df, label_space, thresholds, val_proba) if len(val_df) \
        else (None, None)
    if len(test_df):
        test_metrics, proba = _evaluate(predictor, test_df, label_space, thresholds)
        scored, split_name = test_df, "test"
    elif len(val_df):  # no test rows were asked for: report validation, and say so
        test_metrics, proba = val_metrics, val_proba
        scored, split_name = val_df, "validation"
    else:
        test_metrics, proba, scored, split_name = None, None, None, None
    evaluation = dict(test_metrics or {"accuracy": None, "macro_f1": None})
    evaluation.update(split=split_name, validation=val_metrics, train_seconds=round(train_seconds, 3),
                      n_train=n_original, n_augmented=augmentation["added"], augmentation=augmentation,
                      n_val=len(val_df), n_test=len(test_df),
                      thresholds=thresholds, strategy=config.strategy, best=fit_info or None)
    if getattr(result, "auto", None):  # auto: leaderboard and what was chosen (auto.py)
        evaluation["auto"] = result.auto
    run.write_json("eval.json", evaluation)
    if scored is not None:
        from .evaluation import predictions_frame

        frame_out = predictions_frame(scored["text"].tolist(), scored["label"].tolist(), proba,
                                      label_space.classes, multi_label=label_space.multi_label,
                                      thresholds=thresholds, rows=scored["row"].tolist(),
                                      separator=label_space.separator or ";")
        _write_csv(run, "predictions.csv", frame_out, neutralize=True)

    test = {"accuracy": evaluation.get("accuracy"), "macro_f1": evaluation.get("macro_f1")}
    message = "Finished"
    if test["accuracy"] is not None:
        message = f"Finished: {split_name} accuracy {test['accuracy']:.3f}, macro F1 {test['macro_f1']:.3f}"
    emit({"type": "finished", "message": message, "test": test, "train_seconds": round(train_seconds, 3)})
    run.set_status("finished", message, accuracy=test["accuracy"], macro_f1=test["macro_f1"],
                   train_seconds=round(train_seconds, 3))


def _tune_thresholds(predictor, val_df: pd.DataFrame, label_space: LabelSpace):
    """Per-class thresholds for multi-label tasks, tuned on validation (None for single-label)."""
    if not label_space.multi_label:
        return None
    if len(val_df) == 0:
        return [0.5] * label_space.num_classes
    from .evaluation import tune_thresholds

    proba = predictor.predict_proba(val_df["text"].tolist())
    return tune_thresholds(val_df["label"].tolist(), proba, label_space.classes,
                           separator=label_space.separator or ";")


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
