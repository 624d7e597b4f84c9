"""The job manager: queued runs start in order, cancel works, snapshots stay consistent,
and a failing job never takes the worker down."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from textclf_core.config import RunConfig
from textclf_core.errors import CancelledError, TextclfError
from textclf_core.pipeline.jobs import JobManager
from textclf_core.units import format_duration


class FakeRun:
    def __init__(self, run_id):
        self.id = run_id
        self.states = []

    def status(self):
        return {"state": self.states[-1] if self.states else "running"}

    def set_status(self, state, message=None, **extra):
        self.states.append(state)


class FakeStore:
    def __init__(self):
        self.runs = []

    def create(self, config, *, data_fingerprint=None):
        run = FakeRun(f"run-{len(self.runs) + 1}")
        self.runs.append(run)
        return run


class GatedRunner:
    """A runner whose steps advance only when the test says so: no timing in the tests."""

    def __init__(self, steps=3):
        self.steps = steps
        self.started = []  # job order as seen by the runner
        self.gates: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def gate(self, name):
        with self.lock:
            return self.gates.setdefault(name, threading.Event())

    def entered_event(self, name):
        with self.lock:
            return self.entered.setdefault(name, threading.Event())

    def __call__(self, config, frame, *, store, run, emit, should_stop):
        name = config.name
        self.started.append(name)
        emit({"type": "started", "total_steps": self.steps, "run_id": run.id})
        self.entered_event(name).set()
        if config.extra.get("fail") == "textclf":
            raise TextclfError("The label column is empty", hint="Pick another column")
        if config.extra.get("fail") == "bug":
            raise ZeroDivisionError("boom")
        for step in range(1, self.steps + 1):
            assert self.gate(name).wait(10), "test never opened the gate"
            if should_stop():
                emit({"type": "cancelled", "message": "Cancelled at step %d" % step})
                raise CancelledError()
            emit(
                {
                    "type": "step",
                    "step": step,
                    "total_steps": self.steps,
                    "epoch": step / self.steps,
                    "loss": 1.0 / step,
                    "examples_per_s": 100.0,
                    "eta_s": float(self.steps - step),
                }
            )
        emit(
            {
                "type": "evaluation",
                "step": self.steps,
                "epoch": 1.0,
                "val_loss": 0.5,
                "accuracy": 0.8,
                "macro_f1": 0.75,
                "confusion_matrix": [[4, 1], [1, 4]],
                "classes": ["a", "b"],
            }
        )
        emit({"type": "finished", "message": "Done", "test": {"accuracy": 0.8, "macro_f1": 0.75}})
        return run


def _config(name, **extra):
    return RunConfig(strategy="baseline", name=name, extra=extra)


@pytest.fixture
def manager():
    runner = GatedRunner()
    mgr = JobManager(FakeStore(), runner=runner)
    yield mgr, runner
    for gate in list(runner.gates.values()):
        gate.set()
    mgr.close()


def test_two_jobs_run_one_after_another_in_order(manager):
    mgr, runner = manager
    first = mgr.submit(_config("first"))
    second = mgr.submit(_config("second"))
    assert runner.entered_event("first").wait(10)
    snap = mgr.snapshot(second)
    assert snap.state == "queued" and snap.queue_position == 1
    assert mgr.snapshot(first).state == "running"
    assert [s.job_id for s in mgr.active()] == [first, second]

    runner.gate("first").set()
    done = mgr.wait(first, timeout=10)
    assert done.state == "finished" and done.progress == 1.0
    assert done.run_id == "run-1"
    assert [s["loss"] for s in done.steps] == [1.0, 0.5, 1.0 / 3]
    assert done.evaluations[0]["macro_f1"] == 0.75
    assert "confusion_matrix" not in done.evaluations[0]
    assert done.last_evaluation["confusion_matrix"] == [[4, 1], [1, 4]]

    runner.gate("second").set()
    assert mgr.wait(second, timeout=10).state == "finished"
    assert runner.started == ["first", "second"]
    assert mgr.active() == []


def test_cancel_a_queued_and_a_running_job(manager):
    mgr, runner = manager
    running = mgr.submit(_config("running"))
    queued = mgr.submit(_config("queued"))
    after = mgr.submit(_config("after"))
    assert runner.entered_event("running").wait(10)

    assert mgr.cancel(queued)
    assert mgr.snapshot(queued).state == "cancelled"
    assert mgr.snapshot(after).queue_position == 1  # moved up

    assert mgr.cancel(running)
    assert mgr.snapshot(running).cancel_requested
    runner.gate("running").set()
    assert mgr.wait(running, timeout=10).state == "cancelled"
    assert mgr.store.runs[0].states[-1:] in ([], ["cancelled"])

    runner.gate("after").set()
    assert mgr.wait(after, timeout=10).state == "finished"
    assert "queued" not in runner.started  # a cancelled queued job never starts
    assert mgr.cancel(after) is False  # done jobs cannot be cancelled


def test_failed_jobs_keep_the_worker_alive(manager):
    mgr, runner = manager
    user_error = mgr.submit(_config("user", fail="textclf"))
    bug = mgr.submit(_config("bug", fail="bug"))
    fine = mgr.submit(_config("fine"))
    runner.gate("fine").set()

    snap = mgr.wait(user_error, timeout=10)
    assert snap.state == "failed"
    assert snap.message == "The label column is empty. Pick another column."
    snap = mgr.wait(bug, timeout=10)
    assert snap.state == "failed"
    assert "unexpected error" in snap.message and "boom" not in snap.message
    assert mgr.store.runs[1].states == ["failed"]  # the run folder agrees with the job
    assert mgr.wait(fine, timeout=10).state == "finished"


def test_snapshots_are_consistent_under_concurrent_reads(manager):
    mgr, runner = manager
    job = mgr.submit(_config("busy"))
    problems = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            snap = mgr.snapshot(job)
            if not 0.0 <= snap.progress <= 1.0:
                problems.append(f"progress {snap.progress}")
            if (
                snap.step is not None
                and snap.total_steps
                and snap.progress != pytest.approx(snap.step / snap.total_steps)
                and snap.state == "running"
            ):
                problems.append(f"step {snap.step} vs progress {snap.progress}")
            if len(snap.steps) != (snap.step or 0) and snap.state == "running":
                problems.append("curve and step counter disagree")

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for thread in readers:
        thread.start()
    runner.gate("busy").set()
    final = mgr.wait(job, timeout=10)
    stop.set()
    for thread in readers:
        thread.join()
    assert final.state == "finished"
    assert problems == []
    with pytest.raises(Exception):  # snapshots are frozen
        final.state = "running"


def test_unknown_job_is_a_clear_error():
    mgr = JobManager(FakeStore(), runner=GatedRunner())
    with pytest.raises(TextclfError, match="not known"):
        mgr.snapshot("job-999")
    assert mgr.get("job-999") is None
    mgr.close()


def test_format_duration_reads_well():
    assert format_duration(5) == "5 s"
    assert format_duration(200) == "3 min 20 s"
    assert format_duration(3900) == "1 h 05 min"
    assert format_duration(600) == "10 min" and format_duration(7200) == "2 h"  # budgets read as people say them
    assert format_duration(None) == "unknown" and format_duration(None, none="no limit") == "no limit"


# --- with the real runner and the TF-IDF baseline -----------------------------
def _tiny_frame():
    good = [
        "great film, loved it",
        "wonderful acting and story",
        "a joy to watch",
        "brilliant and moving",
        "superb cast",
        "fantastic fun",
        "truly excellent",
        "heartwarming and smart",
    ]
    bad = [
        "terrible plot, hated it",
        "boring and slow",
        "awful acting",
        "a waste of time",
        "dull and predictable",
        "poorly made",
        "truly dreadful",
        "messy and tedious",
    ]
    texts = good * 3 + bad * 3
    labels = ["pos"] * 24 + ["neg"] * 24
    return pd.DataFrame({"text": texts, "label": labels})


def test_baseline_jobs_run_through_the_real_runner(tmp_path):
    pytest.importorskip("textclf_core.pipeline.runner")
    runs = pytest.importorskip("textclf_core.store.runs")
    store = runs.RunStore(tmp_path / "runs")
    mgr = JobManager(store)
    config = RunConfig(strategy="baseline", text_col="text", label_col="label", val_size=0.25, test_size=0.25)
    first = mgr.submit(config, _tiny_frame())
    second = mgr.submit(config.replace(baseline_model="nb"), _tiny_frame())
    snaps = [mgr.wait(first, timeout=120), mgr.wait(second, timeout=120)]
    mgr.close()
    for snap in snaps:
        assert snap.state == "finished", snap.message
        assert snap.run_id and store.get(snap.run_id).status()["state"] == "finished"
    assert snaps[0].started_at <= snaps[1].started_at


# --- label review as a job -------------------------------------------------------------------
class GatedReviewer:
    """A review whose stages advance only when the test says so."""

    def __init__(self):
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = []

    def __call__(self, frame, *, emit, should_stop, **settings):
        self.calls.append(settings)
        emit({"type": "review_stage", "stage": "cross-validation", "progress": 0.5})
        self.entered.set()
        assert self.gate.wait(10), "test never opened the gate"
        if should_stop():
            raise CancelledError()
        emit({"type": "review_stage", "stage": "done", "progress": 1.0})
        return {"reviewed": len(frame), **settings}


def test_a_review_job_queues_behind_training_on_its_device_and_reports_progress(manager):
    mgr, runner = manager
    reviewer = GatedReviewer()
    mgr._reviewer = reviewer
    frame = pd.DataFrame({"row": range(4), "text": list("abcd"), "label": list("xyxy")})
    training = mgr.submit(_config("first"))  # the baseline queues on the CPU, like a word-count review
    review = mgr.submit_review(frame, key="data-v1", method="tfidf", folds=3)
    assert runner.entered_event("first").wait(10)
    snap = mgr.snapshot(review)
    assert (snap.kind, snap.state, snap.queue_position, snap.device) == ("review", "queued", 1, "cpu")
    assert snap.config == {"method": "tfidf", "folds": 3} and snap.result_key == "data-v1"
    assert mgr.submit_review(frame, key="data-v1", method="tfidf", folds=3) == review  # no second job
    assert [s.job_id for s in mgr.active()] == [training]  # the Training page lists training runs only
    assert [s.job_id for s in mgr.active(kind=None)] == [training, review]

    runner.gate("first").set()
    assert reviewer.entered.wait(10)
    running = mgr.snapshot(review)
    assert running.state == "running" and running.progress == 0.5
    assert running.message == "Review: Cross-validation…"
    assert mgr.result(review) is None  # nothing before it finished
    reviewer.gate.set()
    done = mgr.wait(review, timeout=10)
    assert done.state == "finished" and done.progress == 1.0
    assert mgr.result(review) == {"reviewed": 4, "method": "tfidf", "folds": 3}
    assert mgr.find_review("data-v1").job_id == review
    assert mgr.find_review("another version") is None


def test_cancel_a_running_review(manager):
    mgr, _ = manager
    reviewer = GatedReviewer()
    mgr._reviewer = reviewer
    job = mgr.submit_review(pd.DataFrame({"text": ["a"], "label": ["x"]}), key="k", method="tfidf")
    assert reviewer.entered.wait(10)
    assert mgr.cancel(job)
    assert "review stops" in mgr.snapshot(job).message
    reviewer.gate.set()
    done = mgr.wait(job, timeout=10)
    assert done.state == "cancelled" and mgr.result(job) is None


def test_a_real_review_job_finishes_and_its_result_is_found_in_the_cache():
    from helpers.small_data import multi_label_frame

    from textclf_core import review as R

    frame = multi_label_frame(60)
    mgr = JobManager(FakeStore())
    try:
        key = R.review_key(frame, method="tfidf", folds=3, row_col=None)
        assert R.cached_review(key) is None
        job = mgr.submit_review(frame, method="tfidf", folds=3, row_col=None)
        done = mgr.wait(job, timeout=120)
        assert done.state == "finished", done.message
        assert done.result_key == key
        R.clear_memory_cache()  # as after a restart: the disk cache still has it
        cached = R.cached_review(key)
        assert cached is not None and cached.from_cache and cached.summary["multi_label"]
        bad = mgr.submit_review(frame, method="no such method")
        failed = mgr.wait(bad, timeout=60)
        assert failed.state == "failed" and "no such method" in failed.message  # one line, no traceback
    finally:
        mgr.close()


# --- the learning curve as a job ---------------------------------------------------------------
class GatedCurver:
    """A learning curve that reports its first size and waits for the test."""

    def __init__(self):
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, run, *, data, emit, should_stop, **settings):
        emit({"type": "curve_point", "done": 1, "total": 4, "n_train": 10, "member": "TF-IDF", "macro_f1": 0.5})
        self.entered.set()
        assert self.gate.wait(10), "test never opened the gate"
        if should_stop():
            raise CancelledError()
        return {"run": run.id, "rows": len(data), **settings}


def test_a_second_curve_of_the_same_run_returns_the_running_job(manager):
    mgr, _ = manager
    curver = GatedCurver()
    mgr._curver = curver
    run, frame = FakeRun("run-7"), pd.DataFrame({"text": list("ab"), "label": list("xy")})
    job = mgr.submit_curve(run, frame)
    assert curver.entered.wait(10)
    assert mgr.submit_curve(run, frame) == job  # a second press (or another tab) joins the running curve
    snap = mgr.snapshot(job)
    assert (snap.kind, snap.state, snap.run_id, snap.progress) == ("curve", "running", "run-7", 0.25)
    assert "scored 1 of 4 sizes" in snap.message and "0.50" in snap.message
    assert mgr.find_curve("run-7").job_id == job and mgr.find_curve("run-8") is None
    assert mgr.active() == []  # the Training page lists training runs only
    curver.gate.set()
    assert mgr.wait(job, timeout=10).state == "finished"
    assert mgr.result(job) == {"run": "run-7", "rows": 2}
    again = mgr.submit_curve(run, frame)  # done: a new press computes it again
    assert again != job
    with pytest.raises(TextclfError, match="sets 'emit'"):
        mgr.submit_curve(run, emit=print)


def _app_run(tmp_path):
    from helpers.small_data import small_frame

    from textclf_core.pipeline.runner import execute
    from textclf_core.store.runs import RunStore

    store = RunStore(tmp_path / "runs")
    frame = small_frame(80, classes=("pos", "neg", "neutral"), seed=2)
    run = execute(RunConfig(strategy="baseline", text_col="review", label_col="sentiment"), frame, store=store)
    return store, run, frame


def test_a_real_curve_job_reports_each_size_and_keeps_the_curve_in_the_run(tmp_path):
    from textclf_core.pipeline import curve

    store, run, frame = _app_run(tmp_path)  # no data file, like the app's runs: the frame travels with the job
    mgr = JobManager(store)
    try:
        job = mgr.submit_curve(run.id, frame)
        done = mgr.wait(job, timeout=120)
        assert done.state == "finished", done.message
        points = [e for e in done.events if e["type"] == "curve_point"]
        assert [e["done"] for e in points] == [0, 1, 2, 3, 4] and points[-1]["total"] == 4
        assert [e["n_train"] for e in points[1:]] == sorted(e["n_train"] for e in points[1:])
        result = mgr.result(job)
        assert isinstance(result, curve.LearningCurve) and len(result.points) == 4
        saved = curve.saved_curve(store.get(run.id))  # what a reload shows
        assert saved is not None and saved.sentence == result.sentence
        missing = mgr.wait(mgr.submit_curve(run.id), timeout=60)  # without the table: a one-line reason
        assert missing.state == "failed" and "not at hand" in missing.message
    finally:
        mgr.close()


def test_cancel_stops_a_real_curve_between_sizes_and_keeps_no_half_curve(tmp_path):
    from textclf_core.pipeline import curve

    store, run, frame = _app_run(tmp_path)
    job_ids = []

    def cancel_after_first_size(run, *, emit, **kwargs):
        def listen(event):
            emit(event)
            if event["done"] == 1:
                assert mgr.cancel(job_ids[0], by="ana")

        return curve.run_curve(run, recompute=True, emit=listen, **kwargs)

    mgr = JobManager(store, curver=cancel_after_first_size)
    try:
        job_ids.append(mgr.submit_curve(run, frame))
        done = mgr.wait(job_ids[0], timeout=120)
        assert done.state == "cancelled" and done.cancelled_by == "ana"
        assert max(e["done"] for e in done.events if e["type"] == "curve_point") == 1
        assert curve.saved_curve(run) is None and mgr.result(job_ids[0]) is None
        assert store.get(run.id).meta().get("cancelled_by") is None  # the training run was not cancelled
    finally:
        mgr.close()
