"""Background jobs: one worker thread per device, a FIFO queue, thread-safe snapshots.

A job is a training run (:meth:`JobManager.submit`), a label review
(:meth:`JobManager.submit_review`) or a run's learning curve (:meth:`JobManager.submit_curve`);
all share the device's queue and the snapshot shape (state, progress, message, cancel). Reviews
and curves are "task" jobs: one function call keyed by what it computes (the data version, the
run), deduplicated while active, with its result kept in memory for a few jobs and on disk by
the function itself (review cache, the run's ``curve.json``). The web app holds one :class:`JobManager` per server
process. A browser session keeps only job ids and polls :meth:`JobManager.snapshot`; the
job's thread never touches Streamlit. Events from the runner (plain dicts, see ARCHITECTURE.md) are kept here in
bounded memory for live curves and also written by the runner to ``metrics.jsonl``, so a
reload or a restart loses nothing that matters.

Nothing that happens inside a job can kill its worker thread: a :class:`TextclfError`
becomes a ``failed`` job with its one-line message, anything else a generic message
(the traceback goes to the server log).
"""

from __future__ import annotations

import collections
import gc
import itertools
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from textclf_core.config import RunConfig
from textclf_core.errors import CancelledError, TextclfError, is_out_of_memory, out_of_memory_error
from textclf_core.events import cancel_requested as cancel_requested_event
from textclf_core.units import format_duration  # noqa: F401 - the pages still import it from here

log = logging.getLogger(__name__)

STATES = ("queued", "running", "finished", "failed", "cancelled")
KINDS = ("training", "review", "curve")
ACTIVE_STATES = ("queued", "running")
MAX_EVENTS = 200  # recent events kept per job for the event log
MAX_CURVE_POINTS = 4000  # step losses kept per job; older points are thinned, not dropped wholesale
MAX_FINISHED_JOBS = 100  # finished jobs remembered per server (their runs stay on disk)
MAX_TASK_RESULTS = 4  # results held in memory per task kind (all stay on disk: review cache, curve.json)
MAX_REVIEW_RESULTS = MAX_TASK_RESULTS

GENERIC_FAILURE = "Training stopped because of an unexpected error; the details are in the server log"
REVIEW_FAILURE = "The label review stopped because of an unexpected error; the details are in the server log"
CURVE_FAILURE = "The learning curve stopped because of an unexpected error; the details are in the server log"

Runner = Callable[..., Any]
Reviewer = Callable[..., Any]
Curver = Callable[..., Any]


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent, read-only copy of one job's state at one moment."""

    job_id: str
    state: str  # queued | running | finished | failed | cancelled
    name: str  # what the person sees, e.g. "all-MiniLM-L6-v2 · lora"
    device: str  # worker queue the job runs on
    progress: float  # 0..1
    message: str | None
    run_id: str | None
    queue_position: int | None  # 1 = next to start; 0 = running; None = done
    examples_per_s: float | None
    eta_s: float | None
    elapsed_s: float | None
    epoch: float | None
    step: int | None
    total_steps: int | None
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    cancel_requested: bool
    events: tuple[dict, ...]  # the last MAX_EVENTS events
    steps: tuple[dict, ...]  # {"step", "loss", "epoch"} per training step (thinned when long)
    evaluations: tuple[dict, ...]  # evaluation events without their confusion matrices
    last_evaluation: dict | None  # the latest evaluation event, confusion matrix included
    config: dict = field(default_factory=dict)  # training: the RunConfig; review: review()'s settings
    version: int = 0  # events received so far: (job_id, version) names what the curves show
    kind: str = "training"  # training | review | curve
    result_key: str | None = (
        None  # review: the ReviewResult's fingerprint (cache key of its data version); curve: run id
    )
    started_by: str | None = None  # who submitted it (signed-in user or browser identity)
    cancelled_by: str | None = None  # who pressed Cancel
    project: str | None = None  # the project the run belongs to (from run_meta)

    # The event dicts are shared between snapshots and never changed after they arrive: treat
    # them as read-only. Polling pages take a snapshot every few seconds while a run trains in
    # the same process, so copying every event each time would slow the training down.

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def done(self) -> bool:
        return not self.active


class _Job:
    """Mutable job state; only touched while holding the manager's lock."""

    def __init__(
        self,
        job_id: str,
        config: RunConfig | None,
        frame,
        device: str,
        *,
        kind: str = "training",
        name: str | None = None,
        settings: dict | None = None,
        result_key: str | None = None,
    ):
        self.job_id = job_id
        self.kind = kind
        self.name = name
        self.settings = dict(settings or {})
        self.result_key = result_key
        self.result: Any = None  # review: the ReviewResult (also in the review cache); curve: the LearningCurve
        self.target: Any = None  # curve: the Run whose curve is computed
        self.config = config
        self.frame = frame
        self.device = device
        self.state = "queued"
        self.message: str | None = None
        self.run_id: str | None = None
        self.progress = 0.0
        self.examples_per_s: float | None = None
        self.eta_s: float | None = None
        self.elapsed_s: float | None = None
        self.epoch: float | None = None
        self.step: int | None = None
        self.total_steps: int | None = None
        self.submitted_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.cancel_event = threading.Event()
        self.events: collections.deque[dict] = collections.deque(maxlen=MAX_EVENTS)
        self.steps: list[dict] = []
        self.evaluations: list[dict] = []
        self.last_evaluation: dict | None = None
        self.terminal_event: dict | None = None
        self.version = 0  # bumped with every event; snapshots reuse their tuples until it changes
        self.shared: tuple | None = None  # (version, events, steps, evaluations) as tuples
        self.config_dict: dict | None = None
        self.started_by: str | None = None
        self.cancelled_by: str | None = None
        self.run_meta: dict = {}


class JobManager:
    """Runs jobs in background threads, one at a time per device, in submission order.

    ``store`` is the :class:`~textclf_core.store.runs.RunStore` runs are created in (default:
    ``RunStore()`` created on first use). ``runner`` is called as
    ``runner(config, frame, store=, run=, emit=, should_stop=)`` and defaults to
    :func:`textclf_core.pipeline.runner.execute`; ``reviewer`` is called as
    ``reviewer(frame, emit=, should_stop=, **settings)`` and defaults to
    :func:`textclf_core.review.review`; ``curver`` is called as
    ``curver(run, data=, emit=, should_stop=, **settings)`` and defaults to
    :func:`textclf_core.pipeline.curve.run_curve` with ``recompute=True``. Tests inject fakes.
    """

    def __init__(
        self,
        store=None,
        *,
        runner: Runner | None = None,
        reviewer: Reviewer | None = None,
        curver: Curver | None = None,
    ):
        self._store = store
        self._runner = runner
        self._reviewer = reviewer
        self._curver = curver
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._queues: dict[str, collections.deque[str]] = {}
        self._running: dict[str, str | None] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._closed = False
        self._counter = itertools.count(1)

    # --- public API -------------------------------------------------------
    @property
    def store(self):
        if self._store is None:
            from textclf_core.store.runs import RunStore

            self._store = RunStore()
        return self._store

    def submit(
        self, config: RunConfig, frame=None, *, started_by: str | None = None, run_meta: dict | None = None
    ) -> str:
        """Queue a run; returns the job id at once. Starts the device's worker if needed.

        ``started_by`` and ``run_meta`` (project, dataset: see ``RunStore.create``) are written to the run.
        """
        if not isinstance(config, RunConfig):
            raise TextclfError("A job needs run settings (RunConfig)")
        job = _Job(self._new_id(), config, frame, _device_key(config))
        job.started_by, job.run_meta = started_by, dict(run_meta or {})
        return self._enqueue(job)

    def submit_review(
        self, frame, *, key: str | None = None, device: str | None = None, name: str | None = None, **settings
    ) -> str:
        """Queue a label review of ``frame`` (:func:`textclf_core.review.review`'s frame and keyword
        settings, e.g. ``method=``, ``folds=``); returns the job id at once.

        The result is cached per data version (``key``, default
        :func:`textclf_core.review.review_key` of the frame and settings): while a review of
        the same key is queued or running, its job id is returned instead of a second job.
        Reviews share the device's queue with training (``device`` default: the CPU for
        ``method="tfidf"``, else the device the encoder runs on).
        """
        for banned in ("emit", "should_stop"):
            if banned in settings:
                raise TextclfError(f"A review job sets '{banned}' itself")
        if key is None:
            from textclf_core.review import review_key

            key = review_key(frame, **settings)
        method = str(settings.get("method", "combined"))
        return self._submit_task(
            "review",
            key,
            lambda: _Job(
                self._new_id(),
                None,
                frame,
                device or _review_device(method),
                kind="review",
                name=name or f"Label review · {method}",
                settings=settings,
                result_key=key,
            ),
        )

    def submit_curve(
        self,
        run,
        frame=None,
        *,
        device: str = "cpu",
        name: str | None = None,
        started_by: str | None = None,
        **settings,
    ) -> str:
        """Queue the learning curve of ``run`` (a Run or a run id; :func:`textclf_core.pipeline.curve.run_curve`);
        returns the job id at once. ``frame``: the table the run was trained on, when its file is not
        readable (runs trained from the app). ``settings`` go to the curve (e.g. ``fractions=``).

        One curve per run at a time: while one is queued or running, its job id is returned. The
        result is written to the run's ``curve.json`` (a reload shows it) and kept by the job
        (:meth:`result`). Curves fit TF-IDF models and logistic heads on cached embeddings: CPU work,
        so they queue on the CPU (behind CPU training) by default.
        """
        for banned in ("emit", "should_stop", "data"):
            if banned in settings:
                raise TextclfError(f"A curve job sets '{banned}' itself")
        if isinstance(run, str):
            run = self.store.get(run)
        run_id = getattr(run, "id", None)
        if run_id is None:
            raise TextclfError("A curve job needs a run", hint="Pick a finished run")

        def make() -> _Job:
            job = _Job(
                self._new_id(),
                None,
                frame,
                device,
                kind="curve",
                settings=settings,
                result_key=run_id,
                name=name or f"Learning curve · {run_id}",
            )
            job.target, job.run_id, job.started_by = run, run_id, started_by
            return job

        return self._submit_task("curve", run_id, make)

    def find(self, kind: str, key: str) -> JobSnapshot | None:
        """The newest ``kind`` job (review, curve) of ``key`` (the data version, the run id), active ones first;
        None when there is none."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.kind == kind and j.result_key == key]
            if not jobs:
                return None
            active = [j for j in jobs if j.state in ACTIVE_STATES]
            return self._snapshot((active or jobs)[-1])

    def find_review(self, key: str) -> JobSnapshot | None:
        """The newest review job of this data version (``key``), active ones first; None when there is none."""
        return self.find("review", key)

    def find_curve(self, run_id: str) -> JobSnapshot | None:
        """The newest learning-curve job of this run, active ones first; None when there is none."""
        return self.find("curve", run_id)

    def _submit_task(self, kind: str, key: str, make: Callable[[], _Job]) -> str:
        """The active ``kind`` job of ``key`` when there is one (checked and queued under one lock, so two
        presses make one job), else ``make()`` queued."""
        with self._lock:
            for job in self._jobs.values():
                if job.kind == kind and job.result_key == key and job.state in ACTIVE_STATES:
                    return job.job_id
            return self._enqueue(make())

    def result(self, job_id: str) -> Any:
        """What a finished review or curve job produced (ReviewResult, LearningCurve); None for other jobs
        or before it finished."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job.result if job is not None and job.state == "finished" else None

    def _new_id(self) -> str:
        return f"job-{next(self._counter)}-{uuid.uuid4().hex[:6]}"

    def _enqueue(self, job: _Job) -> str:
        with self._lock:
            if self._closed:
                raise TextclfError("The job manager is shut down", hint="Restart the app")
            self._jobs[job.job_id] = job
            self._queues.setdefault(job.device, collections.deque()).append(job.job_id)
            self._ensure_worker(job.device)
            self._forget_old_jobs()
            self._wake.notify_all()
        return job.job_id

    def cancel(self, job_id: str, *, by: str | None = None) -> bool:
        """Cancel a job: a queued one is removed from the queue, a running one stops at its next step.

        ``by`` (who pressed Cancel) goes into the snapshot, an event and the run's meta.json.
        Returns False when the job is unknown or already done.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in ACTIVE_STATES:
                return False
            job.cancel_event.set()
            job.cancelled_by = by
            if by is not None:
                job.events.append(cancel_requested_event(by=by))
                job.version += 1
            if job.state == "queued":
                queue = self._queues.get(job.device)
                if queue and job_id in queue:
                    queue.remove(job_id)
                job.state = "cancelled"
                job.message = "Cancelled before it started"
                job.finished_at = time.time()
                job.frame = None
            else:
                job.message = CANCELLING.get(job.kind, CANCELLING["training"])
            run_id = job.run_id if job.kind == "training" else None  # a curve's run was not cancelled
        if by is not None and run_id is not None:
            _record_cancel(self.store, run_id, by)
        return True

    def snapshot(self, job_id: str) -> JobSnapshot:
        """A consistent copy of the job's state. Unknown ids raise :class:`TextclfError`."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise TextclfError(
                    f"Job '{job_id}' is not known to this server",
                    hint="It may have been started before the server restarted; see its run instead",
                )
            return self._snapshot(job)

    def get(self, job_id: str) -> JobSnapshot | None:
        """Like :meth:`snapshot` but None for an unknown id."""
        with self._lock:
            job = self._jobs.get(job_id)
            return self._snapshot(job) if job is not None else None

    def list(self, kind: str | None = "training") -> list[JobSnapshot]:
        """The jobs of ``kind`` (None: every kind) this server remembers, oldest first."""
        with self._lock:
            return [self._snapshot(job) for job in self._jobs.values() if kind is None or job.kind == kind]

    def active(self, kind: str | None = "training") -> list[JobSnapshot]:
        """Running jobs of ``kind`` (None: every kind) first, then queued ones in the order they will start."""
        with self._lock:
            snaps = [
                self._snapshot(job)
                for job in self._jobs.values()
                if job.state in ACTIVE_STATES and (kind is None or job.kind == kind)
            ]
        return sorted(snaps, key=lambda s: (s.queue_position if s.queue_position is not None else 0, s.submitted_at))

    def wait(self, job_id: str, timeout: float | None = None) -> JobSnapshot:
        """Block until the job is done (or ``timeout`` seconds passed); returns its snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                job = self._jobs.get(job_id)
                if job is None:
                    raise TextclfError(f"Job '{job_id}' is not known to this server")
                if job.state not in ACTIVE_STATES:
                    return self._snapshot(job)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return self._snapshot(job)
                self._wake.wait(timeout=0.5 if remaining is None else min(0.5, remaining))

    def close(self, timeout: float = 5.0) -> None:
        """Cancel everything and stop the workers (tests and clean shutdown)."""
        with self._lock:
            self._closed = True
            for job_id in list(self._jobs):
                self.cancel(job_id)
            self._wake.notify_all()
            workers = list(self._workers.values())
        for worker in workers:
            worker.join(timeout=timeout)

    # --- internals --------------------------------------------------------
    def _ensure_worker(self, device: str) -> None:
        worker = self._workers.get(device)
        if worker is not None and worker.is_alive():
            return
        worker = threading.Thread(target=self._work, args=(device,), name=f"textclf-worker-{device}", daemon=True)
        self._workers[device] = worker
        self._running.setdefault(device, None)
        worker.start()

    def _next_job(self, device: str) -> _Job | None:
        with self._lock:
            while True:
                if self._closed:
                    return None
                queue = self._queues.get(device)
                if queue:
                    job = self._jobs[queue.popleft()]
                    job.state = "running"
                    job.started_at = time.time()
                    job.message = "Starting…"
                    self._running[device] = job.job_id
                    self._wake.notify_all()
                    return job
                self._wake.wait(timeout=1.0)

    def _work(self, device: str) -> None:
        while True:
            job = self._next_job(device)
            if job is None:
                return
            try:
                self._run_job(job)
            except BaseException:  # noqa: BLE001 - the worker must outlive any job
                log.exception("textclf job %s: unexpected error outside the runner", job.job_id)
                self._finish(job, "failed", GENERIC_FAILURE)
            finally:
                with self._lock:
                    self._running[device] = None
                    job.frame = None  # the data is not needed any more; let it go
                    self._wake.notify_all()
                _release_memory()

    def _run_job(self, job: _Job) -> None:
        if job.kind == "review":
            self._run_review(job)
            return
        if job.kind == "curve":
            self._run_curve(job)
            return
        run = None
        try:
            meta = dict(job.run_meta, started_by=job.started_by)
            run = self.store.create(
                job.config,
                data_fingerprint=_fingerprint(job.frame),
                **({"meta": meta} if any(v is not None for v in meta.values()) else {}),
            )
            with self._lock:
                job.run_id = getattr(run, "id", None)
            runner = self._runner or _default_runner()
            result = runner(
                job.config,
                job.frame,
                store=self.store,
                run=run,
                emit=lambda event: self._on_event(job, event),
                should_stop=job.cancel_event.is_set,
            )
            if job.run_id is None:
                with self._lock:
                    job.run_id = getattr(result, "id", None)
        except CancelledError:
            self._finish(job, "cancelled", _cancel_message(job))
            _mark_run(
                run, "cancelled", f"Cancelled by {job.cancelled_by}" if job.cancelled_by else "Cancelled by the user"
            )
            return
        except TextclfError as exc:
            self._finish(job, "failed", str(exc))
            _mark_run(run, "failed", str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            message = _failure_message(job, exc, GENERIC_FAILURE)
            self._finish(job, "failed", message)
            _mark_run(run, "failed", message)
            return
        # The runner returned: trust its terminal event, then the cancel flag.
        terminal = job.terminal_event
        if terminal is not None:
            state = terminal["type"]
            message = terminal.get("message") or _default_message(state)
            if state == "cancelled" and job.cancelled_by:  # whose page it is, it says who stopped the run
                who = f"Cancelled by {job.cancelled_by}"
                message = who + message[len("Cancelled") :] if message.startswith("Cancelled") else f"{who}: {message}"
            self._finish(job, state, message)
        elif job.cancel_event.is_set():
            self._finish(job, "cancelled", _cancel_message(job))
        else:
            self._finish(job, "finished", "Finished")

    def _run_review(self, job: _Job) -> None:
        reviewer = self._reviewer or _default_reviewer()
        self._run_task(
            job,
            lambda emit, stop: reviewer(job.frame, emit=emit, should_stop=stop, **job.settings),
            working="Reviewing the labels…",
            cancelled="Cancelled; nothing was changed",
            failure=REVIEW_FAILURE,
            key_of=lambda result: getattr(result, "fingerprint", None),
        )

    def _run_curve(self, job: _Job) -> None:
        curver = self._curver or _default_curver()
        self._run_task(
            job,
            lambda emit, stop: curver(job.target, data=job.frame, emit=emit, should_stop=stop, **job.settings),
            working="Starting the learning curve…",
            cancelled="Cancelled; the curve computed earlier (if any) is kept",
            failure=CURVE_FAILURE,
        )

    def _run_task(
        self,
        job: _Job,
        call: Callable[[Callable, Callable], Any],
        *,
        working: str,
        cancelled: str,
        failure: str,
        key_of: Callable[[Any], str | None] | None = None,
    ) -> None:
        """Run one task job (review, curve): ``call(emit, should_stop)``; keep its result, map errors to states."""
        with self._lock:
            job.message = working
        try:
            result = call(lambda event: self._on_event(job, event), job.cancel_event.is_set)
        except CancelledError:
            self._finish(job, "cancelled", cancelled)
            return
        except TextclfError as exc:
            self._finish(job, "failed", str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            self._finish(job, "failed", _failure_message(job, exc, failure))
            return
        with self._lock:
            job.result = result
            if key_of is not None:
                job.result_key = key_of(result) or job.result_key
            # Older results stay reachable on disk; memory keeps only the newest few of each kind.
            held = [j for j in self._jobs.values() if j.kind == job.kind and j.result is not None]
            for old in held[: max(0, len(held) - MAX_TASK_RESULTS)]:
                old.result = None
        self._finish(job, "finished", "Finished")

    def _on_event(self, job: _Job, event: dict) -> None:
        if not isinstance(event, dict):
            return
        event = dict(event)
        event.setdefault("time", time.time())
        kind = event.get("type")
        with self._lock:
            job.events.append(event)
            if event.get("run_id") and job.run_id is None:
                job.run_id = str(event["run_id"])
            if kind == "started":
                job.message = "Training…"
                if event.get("total_steps"):
                    job.total_steps = int(event["total_steps"])
            elif kind == "step":
                step, total = event.get("step"), event.get("total_steps")
                if step is not None:
                    job.step = int(step)
                if total:
                    job.total_steps = int(total)
                if job.step is not None and job.total_steps:
                    job.progress = max(job.progress, min(1.0, job.step / job.total_steps))
                for name in ("examples_per_s", "eta_s", "elapsed_s", "epoch"):
                    if event.get(name) is not None:
                        setattr(job, name, float(event[name]))
                if event.get("loss") is not None:
                    job.steps.append({"step": job.step, "loss": float(event["loss"]), "epoch": event.get("epoch")})
                    if len(job.steps) > MAX_CURVE_POINTS:  # keep the whole curve, at half resolution
                        job.steps = job.steps[::2]
                job.message = _step_message(job, event.get("message"))
            elif kind == "evaluation":
                job.last_evaluation = event
                job.evaluations.append({k: v for k, v in event.items() if k != "confusion_matrix"})
                if event.get("epoch") is not None:
                    job.epoch = float(event["epoch"])
            elif kind == "progress":  # free-form progress from stages without steps (e.g. embedding)
                for name in ("examples_per_s", "eta_s"):  # speed and time left (auto: every member)
                    if event.get(name) is not None:
                        setattr(job, name, float(event[name]))
                if event.get("progress") is not None:
                    job.progress = max(job.progress, min(1.0, float(event["progress"])))
                elif event.get("total") and job.total_steps is None:  # the stage is the whole job's work
                    job.progress = max(job.progress, min(0.99, float(event.get("done") or 0) / float(event["total"])))
                if event.get("message"):
                    job.message = str(event["message"])
                elif event.get("total"):
                    job.message = _stage_message(event)
            elif kind == "review_stage":  # label review: {"stage", "progress" 0..1}
                if event.get("progress") is not None:
                    job.progress = max(job.progress, min(1.0, float(event["progress"])))
                if event.get("stage") and event["stage"] != "done":
                    stage = str(event["stage"])
                    job.message = f"Review: {stage[:1].upper() + stage[1:]}…"
            elif kind == "curve_point":  # learning curve: {"done", "total", "n_train", "macro_f1"}
                done, total = int(event.get("done") or 0), int(event.get("total") or 0)
                if total:
                    job.progress = max(job.progress, min(1.0, done / total))
                job.message = _curve_message(done, total, event)
            elif kind in ("finished", "cancelled", "failed") and job.kind == "training":
                job.terminal_event = event
            job.version += 1
            self._wake.notify_all()

    def _finish(self, job: _Job, state: str, message: str | None) -> None:
        with self._lock:
            if state not in STATES:
                state = "finished"
            job.state = state
            job.message = message
            job.finished_at = time.time()
            if state == "finished":
                job.progress = 1.0
                job.eta_s = 0.0
            self._wake.notify_all()

    def _snapshot(self, job: _Job) -> JobSnapshot:
        position = None
        if job.state == "running":
            position = 0
        elif job.state == "queued":
            queue = self._queues.get(job.device) or ()
            position = list(queue).index(job.job_id) + 1 if job.job_id in queue else None
        if job.shared is None or job.shared[0] != job.version:
            # Tuples of the same dicts: O(events) once per new event, O(1) for every other poll.
            job.shared = (job.version, tuple(job.events), tuple(job.steps), tuple(job.evaluations))
        if job.config_dict is None:
            job.config_dict = job.config.to_dict() if job.config is not None else dict(job.settings)
        _, events, steps, evaluations = job.shared
        return JobSnapshot(
            job_id=job.job_id,
            state=job.state,
            name=job.name or job.config.display_name(),
            device=job.device,
            progress=float(job.progress),
            message=job.message,
            run_id=job.run_id,
            queue_position=position,
            examples_per_s=job.examples_per_s,
            eta_s=job.eta_s,
            elapsed_s=job.elapsed_s,
            epoch=job.epoch,
            step=job.step,
            total_steps=job.total_steps,
            submitted_at=job.submitted_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            cancel_requested=job.cancel_event.is_set(),
            events=events,
            steps=steps,
            evaluations=evaluations,
            last_evaluation=job.last_evaluation,
            config=dict(job.config_dict),
            version=job.version,
            kind=job.kind,
            result_key=job.result_key,
            started_by=job.started_by,
            cancelled_by=job.cancelled_by,
            project=job.run_meta.get("project"),
        )

    def _forget_old_jobs(self) -> None:
        done = [j for j in self._jobs.values() if j.state not in ACTIVE_STATES]
        for job in done[: max(0, len(done) - MAX_FINISHED_JOBS)]:
            del self._jobs[job.job_id]


# --- helpers ------------------------------------------------------------------
def _device_key(config: RunConfig) -> str:
    """Jobs on the same device share one worker; 'auto' resolves to the device it will use."""
    if config.device != "auto":
        return config.device
    if config.strategy == "baseline":
        return "cpu"
    try:
        from textclf_core.hardware import detect

        return detect().device
    except Exception:  # noqa: BLE001 - an unknown device still gets one worker
        return "default"


def _review_device(method: str) -> str:
    """Word-count reviews need no accelerator; the others queue where the encoder runs."""
    if method == "tfidf":
        return "cpu"
    try:
        from textclf_core.hardware import detect

        return detect().device
    except Exception:  # noqa: BLE001
        return "default"


def _default_reviewer() -> Reviewer:
    from textclf_core.review import review

    return review


def _default_curver() -> Curver:
    from .curve import run_curve

    def curver(run, **kwargs):
        return run_curve(run, recompute=True, **kwargs)

    return curver


def _default_runner() -> Runner:
    from .runner import execute

    return execute


def _fingerprint(frame) -> str | None:
    if frame is None:
        return None
    try:
        from textclf_core.data import fingerprint

        return fingerprint(frame)
    except Exception:  # noqa: BLE001 - the fingerprint is informational
        return None


def _cancel_message(job: _Job) -> str:
    who = f" by {job.cancelled_by}" if job.cancelled_by else ""
    return f"Cancelled{who}; the best model so far is kept when there was one"


def _record_cancel(store, run_id: str, by: str) -> None:
    """Who cancelled, in the run's event log and meta.json (best effort: the job state is what pages show)."""
    try:
        run = store.get(run_id)
        run.append_event({"type": "cancel_requested", "by": by})
        run.update_meta(cancelled_by=by)
    except Exception:  # noqa: BLE001
        log.warning("Could not record who cancelled run %s", run_id)


def _mark_run(run, state: str, message: str) -> None:
    """Make sure the run folder agrees with the job when the runner could not say so itself."""
    if run is None:
        return
    try:
        current = run.status() or {}
        if current.get("state") in (None, "running"):
            run.set_status(state, message=message)
    except Exception:  # noqa: BLE001 - best effort; the job state is what the app shows
        log.warning("Could not record state %s for run %s", state, getattr(run, "id", "?"))


def _failure_message(job: _Job, exc: BaseException, generic: str) -> str:
    """What the page shows for an unexpected error: advice for out-of-memory, else ``generic`` (traceback logged)."""
    if is_out_of_memory(exc):
        return str(out_of_memory_error())
    log.exception("textclf %s job %s failed", job.kind, job.job_id, exc_info=exc)
    return generic


def _default_message(state: str) -> str:
    return {"finished": "Finished", "cancelled": "Cancelled", "failed": GENERIC_FAILURE}.get(state, state)


def _step_message(job: _Job, note: str | None = None) -> str:
    parts = [str(note)] if note else []
    if job.step is not None and job.total_steps:
        parts.append(f"step {job.step}/{job.total_steps}")
    if job.epoch is not None:
        parts.append(f"epoch {job.epoch:.2f}")
    if job.examples_per_s:
        parts.append(f"{job.examples_per_s:.0f} examples/s")
    if job.eta_s is not None:
        parts.append(f"about {format_duration(job.eta_s)} left")
    return " · ".join(parts) or "Training…"


CANCELLING = {
    "training": "Cancelling… the run stops after the current step",
    "review": "Cancelling… the review stops after the current step",
    "curve": "Cancelling… the learning curve stops after the current fit",
}


def _curve_message(done: int, total: int, event: dict) -> str:
    """'Training on 840 labelled rows (size 1 of 4)…', then 'Scored 2 of 4 sizes (last: 2,100 rows, macro-F1 0.81)'."""
    n = int(event.get("n_train") or 0)
    if done == 0:
        return f"Learning curve: training on {n:,} labelled rows (size 1 of {total})…"
    text = f"Learning curve: scored {done} of {total} sizes (last: {n:,} rows"
    if event.get("macro_f1") is not None:
        text += f", macro-F1 {float(event['macro_f1']):.2f}"
    return text + ")" + ("…" if done < total else "")


STAGE_NAMES = {"embedding": "Embedding the texts", "frozen layers": "Running the frozen layers once"}


def _stage_message(event: dict) -> str:
    """'Embedding the texts: 3,000 of 11,477 · about 1 min 10 s left' — stages before or instead of steps."""
    stage = str(event.get("stage") or "Preparing")
    label = STAGE_NAMES.get(stage, stage[:1].upper() + stage[1:])
    done, total = int(event.get("done") or 0), int(event["total"])
    if not done:
        return f"{label} ({total:,} texts)…"
    text = f"{label}: {done:,} of {total:,}"
    if event.get("eta_s") is not None and done < total:
        text += f" · about {format_duration(float(event['eta_s']))} left"
    return text


def _release_memory() -> None:
    """Drop what the finished job held; return cached GPU memory to the device."""
    gc.collect()
    torch = sys.modules.get("torch")  # never import torch just to clean up
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass
