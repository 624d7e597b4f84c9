"""The TF-IDF baseline's two paths on the same split: accuracy, macro-F1, wall time and peak memory.

    python bench/baseline_scale.py --data /tmp/scale/short_200k.csv --path in-memory
    python bench/baseline_scale.py --data /tmp/scale/short_200k.csv --path large
    python bench/baseline_scale.py --data /tmp/scale/short_1m.csv --path large

One path per process, so each peak is its own. The split is the runner's (``training_setup.prepare_training``,
seed 42, 10% validation, 10% test); training is ``baseline.train_baseline``; the test rows are scored with the
trained model (chunked). Peak memory: the main process (``ru_maxrss``) and the largest hashing worker
(``RUSAGE_CHILDREN``); main + 2 x worker bounds the total. CPU seconds (all processes) are reported beside the
wall time, with the load average: wall times on a shared machine are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--path", choices=("in-memory", "large"), required=True)
    parser.add_argument("--model", default="logreg")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()

    import pandas as pd

    from textclf_core.config import RunConfig
    from textclf_core.evaluation.metrics import compute_metrics
    from textclf_core.pipeline.setup import prepare_training
    from textclf_core.strategies.baseline import train_baseline

    t0 = time.time()
    frame = pd.read_csv(args.data)
    extra = {"baseline_path": args.path}
    if args.epochs:
        extra["baseline_epochs"] = args.epochs
    config = RunConfig(strategy="baseline", baseline_model=args.model, text_col="text", label_col="label", extra=extra)
    setup = prepare_training(config, frame)
    t1 = time.time()
    events = []
    model = train_baseline(setup.config, setup.train, setup.validation, setup.label_space, events.append)
    t2 = time.time()
    proba = model.predict_proba(setup.test["text"].tolist())
    t3 = time.time()
    m = compute_metrics(setup.test["label"].tolist(), proba, setup.label_space.classes)
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime  # all processes, whole script
    main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "data": args.data,
                "path": args.path,
                "model": args.model,
                "rows": len(frame),
                "n_train": len(setup.train),
                "n_test": len(setup.test),
                "accuracy": round(m["accuracy"], 4),
                "macro_f1": round(m["macro_f1"], 4),
                "read_split_s": round(t1 - t0, 1),
                "train_s": round(t2 - t1, 1),
                "predict_test_s": round(t3 - t2, 1),
                "cpu_s_all": round(cpu_s, 1),
                "load_avg_1m": round(os.getloadavg()[0], 1),
                "peak_main_mb": round(main_mb),
                "peak_worker_mb": round(child_mb),
                "chosen": model.info.get("C"),
                "steps": sum(e["type"] == "step" for e in events),
            }
        )
    )


if __name__ == "__main__":
    main()
