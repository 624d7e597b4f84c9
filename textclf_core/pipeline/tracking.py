"""Runs logged to MLflow, opt-in like the Hugging Face Trainer's ``report_to``.

Tracking is on when ``RunConfig.track == "mlflow"`` (``textclf train --track mlflow``), or when
``track`` is left empty and ``MLFLOW_TRACKING_URI`` is set; ``track="off"`` turns it off even then.
Without a URI, ``--track mlflow`` logs to ``sqlite:///$TEXTCLF_HOME/mlflow.db`` (MLflow 3's default
kind of store; ``mlflow-skinny`` + SQLAlchemy + Alembic are enough for it), artifacts next to it.

It is an event listener: :func:`with_tracking` wraps the runner's ``emit`` and turns the events that
every strategy already sends into MLflow calls, so no training code knows about MLflow:

- ``started``: the resolved configuration as params (plus row counts), tags cross-linking the runs;
- ``step``: ``train_loss`` (at most once a second) with the step;
- ``evaluation``: ``val_accuracy``, ``val_macro_f1``, ``val_loss`` with the step;
- ``finished``: the test metrics of ``eval.json``, ``eval.json`` itself, the confusion matrix, the
  leaderboard when the run has one, and the model folder as artifacts;
- ``failed`` / ``cancelled``: the MLflow run ends FAILED / KILLED.

The textclf run id is the MLflow tag ``textclf.run_id`` (and the MLflow run name); the MLflow run id is in
the run folder's ``tracking.json``. A store that cannot be reached gives a :class:`TrackingWarning` (also
written to ``tracking.json``) and the training goes on untracked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import warnings
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

TRACKERS = ("mlflow", "off")
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "textclf"
PROBE_SECONDS = 3.0
STEP_EVERY_S = 1.0
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
LEADERBOARD_FILES = ("leaderboard.csv", "leaderboard.json")

Emit = Callable[[dict], None]


class TrackingWarning(UserWarning):
    """The tracking store could not be used; the run trains untracked."""


def tracking_uri(config) -> str | None:
    """Where ``config``'s run is logged, or None when tracking is off."""
    track = getattr(config, "track", None)
    track = str(track).strip().lower() if track else None
    env = os.environ.get("MLFLOW_TRACKING_URI") or None
    if track == "off":
        return None
    if track is None:
        return env
    if track == "mlflow":
        return env or default_uri()
    raise ValueError(f"Setting 'track' is {track!r}, which is not one of: {', '.join(TRACKERS)}")


def tracked_by_default() -> bool:
    """Whether a run with ``track`` left empty is logged (``MLFLOW_TRACKING_URI`` is set)."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def track_setting(on: bool) -> str | None:
    """The ``RunConfig.track`` value for a yes/no choice (the Strategy page's toggle): "mlflow" when on; when
    off, "off" if the environment would track anyway, else None (the default)."""
    if on:
        return "mlflow"
    return "off" if tracked_by_default() else None


def where_logged() -> str:
    """Where a tracked run goes, for people (no password): ``MLFLOW_TRACKING_URI`` or the local sqlite store."""
    return shown_uri(os.environ.get("MLFLOW_TRACKING_URI") or default_uri())


def default_uri() -> str:
    """The local store used by ``--track mlflow`` without ``MLFLOW_TRACKING_URI``."""
    from textclf_core.store.runs import default_root

    return f"sqlite:///{(default_root().parent / 'mlflow.db').resolve()}"


def shown_uri(uri: str) -> str:
    """``uri`` without a password, for files and messages."""
    parts = urlsplit(uri)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def with_tracking(config, run, emit: Emit | None) -> Emit | None:
    """``emit`` plus the MLflow listener when tracking is on for ``config`` (the runner's one hook).
    Never raises: a problem with the store is a warning and the run goes on untracked."""
    try:
        uri = tracking_uri(config)
    except ValueError as exc:
        _warn(run, None, f"{exc}; the run is not tracked")
        return emit
    if uri is None:
        return emit
    tracker = MlflowTracker.start(config, run, uri)
    if tracker is None:
        return emit

    def both(event: dict) -> None:
        tracker(event)
        if emit is not None:
            emit(event)

    return both


def _warn(run, uri: str | None, message: str) -> None:
    text = f"MLflow tracking is off for this run: {message}"
    warnings.warn(text, TrackingWarning, stacklevel=3)
    log.warning(text)
    try:
        run.write_json(
            "tracking.json",
            {
                "backend": "mlflow",
                "tracking_uri": shown_uri(uri) if uri else None,
                "state": "unavailable",
                "warning": text,
            },
        )
    except Exception:  # noqa: BLE001 - the warning above is what matters
        log.exception("textclf: could not write tracking.json")


def _probe(uri: str) -> str | None:
    """Why an HTTP tracking server cannot be reached (None: it answers). Quick, no retries: MLflow's own
    client would retry for minutes before giving up."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return None
    import socket

    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=PROBE_SECONDS):
            return None
    except OSError as exc:
        return f"{shown_uri(uri)} cannot be reached ({exc.strerror or exc})"


def _flat_params(config: dict) -> dict[str, str]:
    out = {}
    for key, value in config.items():
        if key == "extra" and isinstance(value, dict):
            for k, v in value.items():
                out[f"extra.{k}"] = v
        else:
            out[key] = value
    return {k: (v if isinstance(v, str) else json.dumps(v, default=str))[:MAX_PARAM_CHARS] for k, v in out.items()}


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


class MlflowTracker:
    """Turns one run's events into MLflow calls; after the first failure it warns once and stops."""

    def __init__(self, client, run, uri: str, experiment_id: str, mlflow_run_id: str):
        self.client, self.run, self.uri = client, run, uri
        self.experiment_id, self.mlflow_run_id = experiment_id, mlflow_run_id
        self.broken = False
        self._last_step_log = 0.0

    @classmethod
    def start(cls, config, run, uri: str) -> "MlflowTracker | None":
        why = _probe(uri)
        if why:
            _warn(run, uri, why)
            return None
        try:
            from mlflow import MlflowClient
        except ImportError:
            _warn(run, uri, "MLflow is not installed (pip install mlflow-skinny)")
            return None
        try:
            client = MlflowClient(tracking_uri=uri)
            name = os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                location = None
                if uri.startswith("sqlite:///"):  # artifacts beside the database, not in the current folder
                    location = (Path(uri[len("sqlite:///") :]).parent / "mlflow-artifacts").resolve().as_uri()
                experiment_id = client.create_experiment(name, artifact_location=location)
            else:
                experiment_id = experiment.experiment_id
            created = client.create_run(
                experiment_id,
                run_name=run.id,
                tags={
                    "textclf.run_id": run.id,
                    "textclf.run_path": str(run.path),
                    "textclf.strategy": str(config.strategy),
                },
            )
        except Exception as exc:  # noqa: BLE001 - any store problem: warn and train untracked
            _warn(run, uri, f"{shown_uri(uri)} could not be used ({_short(exc)})")
            return None
        tracker = cls(client, run, uri, experiment_id, created.info.run_id)
        tracker._record("running")
        return tracker

    # --- the listener -----------------------------------------------------------------------
    def __call__(self, event: dict) -> None:
        if self.broken:
            return
        kind = event.get("type")
        handler = {
            "started": self._started,
            "step": self._step,
            "evaluation": self._evaluation,
            "finished": self._finished,
            "failed": self._ended,
            "cancelled": self._ended,
        }.get(kind)
        if handler is None:
            return
        try:
            handler(event)
        except Exception as exc:  # noqa: BLE001 - tracking never stops training
            self.broken = True
            text = f"MLflow tracking stopped for this run: {shown_uri(self.uri)} failed ({_short(exc)})"
            warnings.warn(text, TrackingWarning, stacklevel=2)
            log.warning(text)
            self._record("broken", warning=text)

    def _started(self, event: dict) -> None:
        from mlflow.entities import Param, RunTag

        params = _flat_params(event.get("config") or {})
        for key in ("n_train", "n_val", "n_test", "n_unlabelled", "n_augmented"):
            if event.get(key) is not None:
                params[key] = str(event[key])
        params["classes"] = json.dumps(event.get("classes") or [])[:MAX_PARAM_CHARS]
        items = [Param(k, v) for k, v in params.items()]
        tags = [RunTag("textclf.multi_label", str(bool(event.get("multi_label"))))]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(
                self.mlflow_run_id, params=items[start : start + 100], tags=tags if start == 0 else []
            )

    def _metrics(self, values: dict, step: int | None, at: float | None = None) -> None:
        from mlflow.entities import Metric

        stamp = int((at or time.time()) * 1000)
        metrics = [
            Metric(k, v, stamp, int(step or 0))
            for k, v in ((k, _number(v)) for k, v in values.items())
            if v is not None
        ]
        if metrics:
            self.client.log_batch(self.mlflow_run_id, metrics=metrics)

    def _step(self, event: dict) -> None:
        now = time.monotonic()
        last = event.get("total_steps") is not None and event.get("step") == event.get("total_steps")
        if not last and now - self._last_step_log < STEP_EVERY_S:
            return
        self._last_step_log = now
        self._metrics({"train_loss": event.get("loss"), "lr": event.get("lr")}, event.get("step"), event.get("time"))

    def _evaluation(self, event: dict) -> None:
        self._metrics(
            {
                "val_accuracy": event.get("accuracy"),
                "val_macro_f1": event.get("macro_f1"),
                "val_loss": event.get("val_loss"),
                "epoch": event.get("epoch"),
            },
            event.get("step"),
            event.get("time"),
        )

    def _finished(self, event: dict) -> None:
        run = self.run
        evaluation = run.read_json("eval.json", default={}) or {}
        split = evaluation.get("split") or "test"
        scores = {
            f"{split}_{k}": v for k, v in evaluation.items() if _number(v) is not None and k not in ("n_augmented",)
        }
        self._metrics(scores, None, event.get("time"))
        if evaluation:
            self.client.log_dict(self.mlflow_run_id, evaluation, "eval.json")
        if evaluation.get("confusion_matrix") is not None:
            self.client.log_dict(
                self.mlflow_run_id,
                {
                    "classes": evaluation.get("classes"),
                    "split": split,
                    "rows_true_columns_predicted": evaluation["confusion_matrix"],
                },
                "confusion_matrix.json",
            )
        for name in LEADERBOARD_FILES:
            if (run.path / name).is_file():
                self.client.log_artifact(self.mlflow_run_id, str(run.path / name))
        if run.has_model:
            self.client.log_artifacts(self.mlflow_run_id, str(run.model_dir), "model")
        self.client.set_terminated(self.mlflow_run_id, "FINISHED")
        self._record("finished")

    def _ended(self, event: dict) -> None:
        self.client.set_tag(self.mlflow_run_id, "textclf.message", str(event.get("message") or "")[:5000])
        self.client.set_terminated(self.mlflow_run_id, "FAILED" if event.get("type") == "failed" else "KILLED")
        self._record(event.get("type"))

    def _record(self, state: str, **extra) -> None:
        """The cross-link in the run folder: ``tracking.json``."""
        info = {
            "backend": "mlflow",
            "tracking_uri": shown_uri(self.uri),
            "experiment_id": self.experiment_id,
            "mlflow_run_id": self.mlflow_run_id,
            "state": state,
            **extra,
        }
        if urlsplit(self.uri).scheme in ("http", "https"):
            info["url"] = (
                f"{shown_uri(self.uri).rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.mlflow_run_id}"
            )
        try:
            self.run.write_json("tracking.json", info)
        except Exception:  # noqa: BLE001
            log.exception("textclf: could not write tracking.json")


def _short(exc: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(exc) or type(exc).__name__).strip()
    return text[:200]
