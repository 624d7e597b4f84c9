"""Several browser sessions sharing one server's JobManager, and many runs in one server process."""

from __future__ import annotations

import gc
import threading
import time

import psutil
from helpers.reliability import baseline_config, reviews, tiny_config
from helpers.small_data import small_frame

from textclf_core.models.predict import load_predictor
from textclf_core.pipeline.jobs import JobManager
from textclf_core.store.runs import RunStore


def test_three_sessions_two_training_jobs_queue_and_both_finish(tiny_bert, tmp_path):
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    start = threading.Barrier(3)
    submitted: dict[str, tuple[str, float]] = {}
    seen: dict[str, list[str]] = {"a": [], "b": [], "watcher": []}
    overlap: list[int] = []
    errors: list[BaseException] = []
    stop_watching = threading.Event()

    def trainer(session: str, config) -> None:
        try:
            start.wait(timeout=30)
            job = manager.submit(config, reviews(3))
            submitted[session] = (job, time.monotonic())
            while True:
                snap = manager.snapshot(job)
                if not seen[session] or seen[session][-1] != snap.state:
                    seen[session].append(snap.state)
                if snap.done:
                    return
                time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def watcher() -> None:
        """A third session that only looks at the Training page's job list."""
        try:
            start.wait(timeout=30)
            while not stop_watching.is_set():
                snaps = manager.list()
                overlap.append(sum(s.state == "running" for s in snaps))
                for s in snaps:
                    assert s.state in ("queued", "running", "finished", "failed", "cancelled")
                    assert (s.queue_position == 0) == (s.state == "running")
                time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=trainer, args=("a", tiny_config(tiny_bert, name="session a"))),
        threading.Thread(target=trainer, args=("b", tiny_config(tiny_bert, strategy="lora", name="session b"))),
        threading.Thread(target=watcher),
    ]
    try:
        for t in threads:
            t.start()
        for t in threads[:2]:
            t.join(timeout=600)
        stop_watching.set()
        threads[2].join(timeout=30)
        assert not errors, errors
        assert max(overlap) == 1  # one job at a time on the device, the other waited
        first, second = sorted(submitted, key=lambda s: submitted[s][1])
        assert seen[first][-1] == "finished" and seen[second][-1] == "finished", seen
        assert seen[second][0] == "queued" and "running" in seen[second], seen  # it waited, then ran
        snaps = {s: manager.snapshot(submitted[s][0]) for s in submitted}
        assert snaps[first].finished_at <= snaps[second].started_at  # in submission order
        for snap in snaps.values():
            run = store.get(snap.run_id)
            assert run.status()["state"] == "finished"
            assert load_predictor(run).predict(["fun story"]).shape[0] == 1
        assert snaps["a"].run_id != snaps["b"].run_id
    finally:
        stop_watching.set()
        manager.close()


def test_fifty_runs_in_one_process_do_not_keep_growing_memory(tmp_path):
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    frame = small_frame(20)
    proc = psutil.Process()

    def one_run(i: int) -> None:
        snap = manager.wait(manager.submit(baseline_config(seed=i), frame), timeout=120)
        assert snap.state == "finished", snap.message
        load_predictor(store.get(snap.run_id)).predict(["great fun", "dull mess"])

    try:
        for i in range(5):  # warm-up: imports, caches
            one_run(i)
        gc.collect()
        before = proc.memory_info().rss
        for i in range(50):
            one_run(100 + i)
        gc.collect()
        growth_mb = (proc.memory_info().rss - before) / 1024**2
        print(f"\nRSS growth over 50 baseline runs: {growth_mb:.1f} MB")
        assert growth_mb < 200
        assert len(store.list()) == 55
    finally:
        manager.close()
