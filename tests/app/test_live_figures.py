"""Live training figures: every polling session sees the job's newest curve and confusion matrix,
while the figures are built once per new data and shared (training runs in the same process)."""

from __future__ import annotations

import threading

from textclf_core import figures
from textclf_core.config import RunConfig
from textclf_core.pipeline.jobs import JobManager


class FakeStore:
    def create(self, config, *, data_fingerprint=None):
        return type("Run", (), {"id": "run-1", "status": lambda self: {}, "set_status": lambda *a, **k: None})()


class SteppedRunner:
    """Emits the events the test hands it; no timing."""

    def __init__(self):
        self.todo: list[dict] = []
        self.ready = threading.Event()
        self.done = threading.Event()
        self.finish = threading.Event()

    def __call__(self, config, frame, *, store, run, emit, should_stop):
        while not self.finish.is_set():
            if self.ready.wait(0.05):
                self.ready.clear()
                for event in self.todo:
                    emit(event)
                self.done.set()

    def send(self, *events):
        self.todo = list(events)
        self.done.clear()
        self.ready.set()
        assert self.done.wait(10)


def _evaluation(step, matrix):
    return {
        "type": "evaluation",
        "step": step,
        "accuracy": 0.5,
        "macro_f1": 0.5,
        "val_loss": 0.7,
        "confusion_matrix": matrix,
        "classes": ["neg", "pos"],
    }


def test_live_figures_follow_new_data_and_are_shared():
    runner = SteppedRunner()
    manager = JobManager(FakeStore(), runner=runner)
    try:
        job = manager.submit(RunConfig(strategy="baseline", name="live"))
        runner.send({"type": "step", "step": 1, "total_steps": 4, "loss": 0.9})
        first = manager.snapshot(job)
        curves, matrix = figures.live_training_figures(first)
        assert matrix is None  # no evaluation yet
        assert list(curves.data[0].y) == [0.9]

        # another session polling with no new data gets the same figure and the same event tuples
        again = manager.snapshot(job)
        assert again.steps is first.steps
        assert figures.live_training_figures(again)[0] is curves

        runner.send({"type": "step", "step": 2, "total_steps": 4, "loss": 0.5}, _evaluation(2, [[3, 1], [0, 4]]))
        later = manager.snapshot(job)
        assert later.version > first.version
        curves2, matrix2 = figures.live_training_figures(later, min_interval=0)
        assert list(curves2.data[0].y) == [0.9, 0.5]
        assert matrix2 is not None and "step 2" in matrix2.layout.title.text
        # the matrix is reused until the next evaluation, even when new steps arrive
        runner.send({"type": "step", "step": 3, "total_steps": 4, "loss": 0.4})
        assert figures.live_training_figures(manager.snapshot(job), min_interval=0)[1] is matrix2
    finally:
        runner.finish.set()
        manager.close()


def test_stages_before_training_steps_say_what_is_happening():
    runner = SteppedRunner()
    manager = JobManager(FakeStore(), runner=runner)
    try:
        job = manager.submit(RunConfig(strategy="baseline", name="stages"))
        runner.send({"type": "progress", "stage": "embedding", "done": 0, "total": 2000})
        assert manager.snapshot(job).message == "Embedding the texts (2,000 texts)…"
        runner.send({"type": "progress", "stage": "embedding", "done": 500, "total": 2000, "eta_s": 30})
        snap = manager.snapshot(job)
        assert snap.message == "Embedding the texts: 500 of 2,000 · about 30 s left"
        assert snap.progress == 0.25  # a job without steps moves its bar with the stage
    finally:
        runner.finish.set()
        manager.close()
