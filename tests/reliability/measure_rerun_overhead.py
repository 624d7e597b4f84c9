"""Measure how much Training-page reruns slow a training run (not part of `make test`).

While a job trains in the server's JobManager, N simulated browser sessions each do what the
Training page's polling fragment and the sidebar's progress fragment do every 2 seconds (app_pages/
training.py POLL_SECONDS): take snapshots, get the shared live figures
(figures.live_training_figures), serialise them as st.plotly_chart does (to_dict, to_json, hash),
and build the event-log and queue tables. Runs with and without polling alternate; the script prints the
median training seconds of each, their ratio, and the process CPU seconds per run.

    .venv/bin/python tests/reliability/measure_rerun_overhead.py [--rounds 3] [--sessions 3] [--rate 0.5]

``--rate`` is reruns per second per session; ``--rate 2 --legacy`` repeats the first measurement
(figures rebuilt on every rerun, metrics.jsonl re-read) for comparison.
"""

from __future__ import annotations

import argparse
import hashlib
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
import plotly.io  # noqa: E402

from textclf_core import figures  # noqa: E402
from textclf_core.config import RunConfig  # noqa: E402
from textclf_core.pipeline.jobs import JobManager  # noqa: E402
from textclf_core.store.runs import RunStore  # noqa: E402


def _send(fig) -> None:
    """What st.plotly_chart does with a figure: a dict copy, JSON, and a hash of it for the element id."""
    spec = plotly.io.to_json(fig.to_dict(), validate=False)
    hashlib.md5(spec.encode()).hexdigest()


def page_rerun(manager: JobManager, store: RunStore, job_id: str, legacy: bool = False) -> None:
    manager.active()  # the sidebar's progress fragment
    snap = manager.snapshot(job_id)
    if legacy:  # the first version of the page: re-read the log, rebuild both figures every rerun
        if snap.run_id:
            store.get(snap.run_id).events()
        last = snap.last_evaluation or {}
        curves = figures.training_curves(snap.steps, snap.evaluations, uirevision=snap.job_id)
        matrix = (
            figures.confusion_matrix(last["confusion_matrix"], last.get("classes") or [])
            if last.get("confusion_matrix")
            else None
        )
    else:
        curves, matrix = figures.live_training_figures(snap)
    _send(curves)
    if matrix is not None:
        _send(matrix)
    pd.DataFrame(
        [{"event": e.get("type"), "details": ", ".join(f"{k}={v}" for k, v in e.items())} for e in snap.events[-20:]]
    ).to_dict()
    pd.DataFrame(
        [{"run": s.name, "state": s.state, "progress": s.progress, "message": s.message} for s in manager.list()]
    ).to_dict()  # the queue table


def one_run(
    manager, store, config, frame, sessions: int, rate: float, legacy: bool = False
) -> tuple[float, int, float]:
    cpu0 = time.process_time()
    job = manager.submit(config, frame)
    stop = threading.Event()
    reruns, rerun_cpu = [0], []

    def session():
        start = time.thread_time()
        while not stop.is_set():
            page_rerun(manager, store, job, legacy)
            reruns[0] += 1
            stop.wait(1.0 / rate)
        rerun_cpu.append(time.thread_time() - start)

    threads = [threading.Thread(target=session, daemon=True) for _ in range(sessions)]
    for t in threads:
        t.start()
    snap = manager.wait(job)
    stop.set()
    for t in threads:
        t.join()
    if snap.state != "finished":
        raise SystemExit(f"run {snap.state}: {snap.message}")
    cpu = time.process_time() - cpu0
    seconds = store.get(snap.run_id).read_json("eval.json")["train_seconds"]
    if reruns[0]:
        print(
            f"  the page reruns themselves used {sum(rerun_cpu):.2f} s cpu "
            f"({1000 * sum(rerun_cpu) / reruns[0]:.0f} ms each)",
            flush=True,
        )
    return float(seconds), reruns[0], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.5, help="reruns per second per session")
    parser.add_argument("--legacy", action="store_true", help="rebuild figures and re-read the log every rerun")
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--strategy", default="full")
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args()

    data = ROOT / "sample_data" / "movie_reviews.csv"
    frame = pd.read_csv(data).sample(args.rows, random_state=0) if data.exists() else None
    config = RunConfig(
        strategy=args.strategy,
        model="all-MiniLM-L6-v2",
        epochs=1,
        batch_size=16,
        max_length=args.max_length,
        evals_per_epoch=4,
        val_size=0.2,
        test_size=0.1,
        early_stopping_patience=None,
        seed=0,
        text_col="text",
        label_col="label",
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs")
        manager = JobManager(store)
        one_run(manager, store, config, frame, 0, args.rate)  # warm-up: imports, model files in the page cache
        quiet, polled, total_reruns, cpu_q, cpu_p = [], [], 0, [], []
        for i in range(args.rounds):
            for with_polling in (False, True) if i % 2 == 0 else (True, False):
                seconds, reruns, cpu = one_run(
                    manager, store, config, frame, args.sessions if with_polling else 0, args.rate, args.legacy
                )
                (polled if with_polling else quiet).append(seconds)
                (cpu_p if with_polling else cpu_q).append(cpu)
                total_reruns += reruns
                print(
                    f"round {i + 1} {'polled' if with_polling else 'quiet '}: {seconds:.2f} s, "
                    f"process cpu {cpu:.1f} s" + (f" ({reruns} page reruns)" if with_polling else ""),
                    flush=True,
                )
        manager.close()
    q, p = statistics.median(quiet), statistics.median(polled)
    print(
        f"median training seconds: quiet {q:.2f}, with {args.sessions} sessions x {args.rate:g} reruns/s "
        f"{p:.2f}; slowdown {100 * (p / q - 1):+.1f}% (cpu cores {os.cpu_count()})"
    )
    cq, cp = statistics.median(cpu_q), statistics.median(cpu_p)
    print(
        f"median process cpu seconds per run: quiet {cq:.1f}, polled {cp:.1f} ({100 * (cp / cq - 1):+.1f}%)"
        f"{' [legacy page]' if args.legacy else ''}"
    )


if __name__ == "__main__":
    main()
