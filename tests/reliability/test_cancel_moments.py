"""Cancel at many moments of a real fine-tuning run: the run stops within a step, is marked
cancelled, keeps the best checkpoint so far when one was evaluated, and the next job still runs."""

from __future__ import annotations

import random

import numpy as np
import pytest
from helpers.reliability import MomentRunner, reviews, tiny_config

from textclf_core.errors import ModelLoadError
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline.jobs import JobManager
from textclf_core.store.runs import RunStore

N_MOMENTS = 6


def _staging_leftovers(run) -> list[str]:
    return [p.name for p in run.path.iterdir() if p.name.startswith((".model-staging-", ".model-old-"))]


def test_cancel_at_random_moments_then_the_next_job_finishes(tiny_bert, tmp_path):
    store = RunStore(tmp_path / "runs")
    frame = reviews(4)
    # 1. A full run counts how often the loop asks whether to stop: the range of cancel moments.
    runner = MomentRunner()
    manager = JobManager(store, runner=runner)
    try:
        first = manager.submit(tiny_config(tiny_bert, name="reference"), frame)
        ref = manager.wait(first, timeout=300)
        assert ref.state == "finished", ref.message
        total_calls = runner.calls["reference"]
        assert total_calls > 5

        # 2. Queue one job per seeded moment, then an uncancelled job behind them.
        moments = sorted(random.Random(2024).sample(range(1, total_calls + 1), N_MOMENTS))
        runner.moments.update({f"cancel-at-{k}": k for k in moments})
        jobs = {k: manager.submit(tiny_config(tiny_bert, name=f"cancel-at-{k}"), frame) for k in moments}
        last = manager.submit(tiny_config(tiny_bert, name="after-the-cancels"), frame)
        done = manager.wait(last, timeout=600)
        assert done.state == "finished", done.message
        assert load_predictor(store.get(done.run_id)).predict(["loved it"]).shape[0] == 1

        for k, job_id in jobs.items():
            name = f"cancel-at-{k}"
            snap = manager.snapshot(job_id)
            assert snap.state == "cancelled", (k, snap.state, snap.message)
            run = store.get(snap.run_id)
            assert run.status()["state"] == "cancelled", k
            events = run.events()
            stop_at = runner.events_at_stop[name]
            assert stop_at is not None, f"moment {k}: the run never asked to stop"
            # Within a step: at most one training step is reported after the stop was signalled.
            after = [e for e in events[stop_at:] if e.get("type") == "step"]
            assert len(after) <= 1, (k, after)
            assert events[-1]["type"] == "cancelled"
            assert not _staging_leftovers(run), k
            evaluated = any(e.get("type") == "evaluation" for e in events[:stop_at])
            if evaluated:
                # The best checkpoint so far is kept and loads like any finished model.
                predictor = load_predictor(run)
                proba = predictor.predict_proba(["great fun story", "awful boring plot"])
                assert proba.shape == (2, 2)
                np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
                assert "kept" in snap.message or "best" in snap.message
            else:
                assert not run.has_model
                with pytest.raises(ModelLoadError, match="no saved model"):
                    load_predictor(run)
        # Both kinds of moment were exercised: before the first evaluation and after it.
        kinds = {
            any(e.get("type") == "evaluation" for e in store.get(manager.snapshot(j).run_id).events())
            for j in jobs.values()
        }
        assert kinds == {True, False}, "the seeded moments should cover both cases"
    finally:
        manager.close()


def test_cancel_from_another_thread_after_the_first_evaluation(tiny_bert, tmp_path):
    """The way a person cancels: a click from a browser session while the worker trains."""
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    try:
        job = manager.submit(tiny_config(tiny_bert, epochs=40, name="long"), reviews())
        queued = manager.submit(tiny_config(tiny_bert, epochs=1, name="next"), reviews())
        assert manager.snapshot(queued).state == "queued"
        import time

        deadline = time.monotonic() + 300
        while manager.snapshot(job).last_evaluation is None and manager.snapshot(job).active:
            assert time.monotonic() < deadline, "no evaluation was reported"
            time.sleep(0.05)
        assert manager.cancel(job)
        snap = manager.wait(job, timeout=120)
        assert snap.state == "cancelled"
        assert snap.progress < 1.0  # it did not simply run to the end
        run = store.get(snap.run_id)
        assert run.status()["state"] == "cancelled"
        assert load_predictor(run).predict(["fun story"]).shape[0] == 1
        nxt = manager.wait(queued, timeout=300)
        assert nxt.state == "finished", nxt.message
    finally:
        manager.close()
