"""Memory of one server process over many consecutive runs (not part of `make test`).

    .venv/bin/python tests/reliability/measure_memory.py [--runs 50] [--kind tiny|baseline]

``tiny`` fine-tunes a tiny random BERT (built locally), ``baseline`` trains TF-IDF models; both go
through the JobManager like the app. Prints RSS after a warm-up and after every 10 runs.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]

import psutil  # noqa: E402
from helpers.reliability import baseline_config, reviews, tiny_config  # noqa: E402
from helpers.small_data import small_frame  # noqa: E402

from textclf_core.models.predict import load_predictor  # noqa: E402
from textclf_core.pipeline.jobs import JobManager  # noqa: E402
from textclf_core.store.runs import RunStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--kind", choices=("tiny", "baseline"), default="tiny")
    args = parser.parse_args()
    proc = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        if args.kind == "tiny":
            from tiny_models import make_tiny_bert

            model = make_tiny_bert(Path(tmp) / "tiny")
            make = lambda i: (tiny_config(model, seed=i, strategy=("full", "lora", "partial")[i % 3]), reviews(3))  # noqa: E731
        else:
            make = lambda i: (baseline_config(seed=i), small_frame(20))  # noqa: E731
        store = RunStore(Path(tmp) / "runs")
        manager = JobManager(store)

        def run(i):
            config, frame = make(i)
            snap = manager.wait(manager.submit(config, frame))
            assert snap.state == "finished", snap.message
            load_predictor(store.get(snap.run_id)).predict(["great fun"])

        for i in range(5):
            run(i)
        gc.collect()
        start = proc.memory_info().rss
        print(f"after warm-up: {start / 1024**2:.0f} MB", flush=True)
        for i in range(args.runs):
            run(100 + i)
            if (i + 1) % 10 == 0:
                gc.collect()
                rss = proc.memory_info().rss
                print(f"after {i + 1} runs: {rss / 1024**2:.0f} MB ({(rss - start) / 1024**2:+.1f} MB)", flush=True)
        manager.close()


if __name__ == "__main__":
    main()
