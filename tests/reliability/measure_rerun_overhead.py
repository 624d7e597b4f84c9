"""Measure how much Training-page reruns slow a training run (not part of `make test`).

While a job trains in the server's JobManager, N simulated browser sessions each rerun the
Training page R times a second: take a snapshot, read the run's metrics.jsonl, build the
training-curve and confusion-matrix figures and serialise them (what st.plotly_chart sends).
Runs with and without polling alternate; the script prints the median training seconds of each
and their ratio.

    .venv/bin/python tests/reliability/measure_rerun_overhead.py [--rounds 3] [--sessions 3] [--rate 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from textclf_core import figures  # noqa: E402
from textclf_core.config import RunConfig  # noqa: E402
from textclf_core.jobs import JobManager  # noqa: E402
from textclf_core.runs import RunStore  # noqa: E402


def page_rerun(manager: JobManager, store: RunStore, job_id: str) -> None:
    snap = manager.snapshot(job_id)
    if snap.run_id:
        store.get(snap.run_id).events()
    figures.training_curves(snap.steps, snap.evaluations, uirevision=snap.job_id).to_json()
    last = snap.last_evaluation or {}
    if last.get("confusion_matrix"):
        figures.confusion_matrix(last["confusion_matrix"], last.get("classes") or []).to_json()


def one_run(manager, store, config, frame, sessions: int, rate: float) -> tuple[float, int]:
    job = manager.submit(config, frame)
    stop = threading.Event()
    reruns = [0]

    def session():
        while not stop.is_set():
            page_rerun(manager, store, job)
            reruns[0] += 1
            stop.wait(1.0 / rate)

    threads = [threading.Thread(target=session, daemon=True) for _ in range(sessions)]
    for t in threads:
        t.start()
    snap = manager.wait(job)
    stop.set()
    for t in threads:
        t.join()
    if snap.state != "finished":
        raise SystemExit(f"run {snap.state}: {snap.message}")
    seconds = store.get(snap.run_id).read_json("eval.json")["train_seconds"]
    return float(seconds), reruns[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--rate", type=float, default=2.0, help="reruns per second per session")
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--strategy", default="full")
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args()

    data = ROOT / "sample_data" / "movie_reviews.csv"
    frame = pd.read_csv(data).sample(args.rows, random_state=0) if data.exists() else None
    config = RunConfig(strategy=args.strategy, model="all-MiniLM-L6-v2", epochs=1, batch_size=16,
                       max_length=args.max_length, evals_per_epoch=4, val_size=0.2, test_size=0.1,
                       early_stopping_patience=None, seed=0, text_col="text", label_col="label")
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs")
        manager = JobManager(store)
        one_run(manager, store, config, frame, 0, args.rate)  # warm-up: imports, model files in the page cache
        quiet, polled, total_reruns = [], [], 0
        for i in range(args.rounds):
            for with_polling in ((False, True) if i % 2 == 0 else (True, False)):
                seconds, reruns = one_run(manager, store, config, frame, args.sessions if with_polling else 0,
                                          args.rate)
                (polled if with_polling else quiet).append(seconds)
                total_reruns += reruns
                print(f"round {i + 1} {'polled' if with_polling else 'quiet '}: {seconds:.2f} s"
                      + (f" ({reruns} page reruns)" if with_polling else ""), flush=True)
        manager.close()
    q, p = statistics.median(quiet), statistics.median(polled)
    print(f"median training seconds: quiet {q:.2f}, with {args.sessions} sessions x {args.rate:g} reruns/s "
          f"{p:.2f}; slowdown {100 * (p / q - 1):+.1f}% (cpu cores {os.cpu_count()})")


if __name__ == "__main__":
    main()
