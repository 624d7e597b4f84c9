"""Does EDA-style augmentation (random word deletion + one neighbour swap) help feature extraction?

    .venv/bin/python bench/augment.py [--seeds 5] [--k 64] [--test 300] [--threads 1]

Movie reviews: a fixed stratified test sample (300 rows, random_state 123, as bench/fewshot.py), then
for each seed k texts per class drawn from the other rows; frozen bundled MiniLM mean embeddings
(max length 64, cached) + logistic regression, trained on the k texts alone and on the k texts + 2
augmented variants each (what ``RunConfig(augment="eda")`` adds to scarce classes).
Prints mean ± standard deviation over the seeds and writes bench/results/augment.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dataset", default="movie_reviews")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "augment.json"))
    args = parser.parse_args()
    os.environ.setdefault("TEXTCLF_HOME", tempfile.mkdtemp(prefix="textclf-augment-"))

    import pandas as pd
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    torch.set_num_threads(args.threads)
    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.engine.encoders import embed
    from textclf_core.strategies.fewshot import augment

    frame = pd.read_csv(ROOT / "sample_data" / f"{args.dataset}.csv").dropna()
    test = frame.groupby("label", group_keys=False).sample(frac=args.test / len(frame), random_state=123)
    pool = frame.drop(test.index)
    y_test = test["label"].astype(str).tolist()
    test_x = embed(test["text"].astype(str).tolist(), DEFAULT_MODEL, max_length=64)

    def score(texts, labels):
        x = embed(texts, DEFAULT_MODEL, max_length=64)
        pred = LogisticRegression(C=1.0, max_iter=2000).fit(x, labels).predict(test_x)
        return {
            "accuracy": round(float(accuracy_score(y_test, pred)), 4),
            "macro_f1": round(float(f1_score(y_test, pred, average="macro")), 4),
        }

    records = []
    started = time.time()
    for seed in range(args.seeds):
        draw = pool.groupby("label", group_keys=False).sample(n=args.k, random_state=seed)
        texts, labels = draw["text"].astype(str).tolist(), draw["label"].astype(str).tolist()
        plain = score(texts, labels)
        aug_texts, aug_labels = augment(texts, labels, copies=args.copies, seed=seed)
        augmented = score(aug_texts, aug_labels)
        record = {
            "dataset": args.dataset,
            "k": args.k,
            "seed": seed,
            "n_test": len(test),
            "copies": args.copies,
            "plain": plain,
            "eda": augmented,
            "difference_points": round(100 * (augmented["accuracy"] - plain["accuracy"]), 2),
        }
        records.append(record)
        print(record, flush=True)
    diffs = [r["difference_points"] for r in records]
    summary = {}
    for method in ("plain", "eda"):
        accs = [r[method]["accuracy"] for r in records]
        summary[method] = {
            "mean": round(statistics.mean(accs), 4),
            "std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
        }
    summary["difference_points"] = {
        "mean": round(statistics.mean(diffs), 2),
        "std": round(statistics.stdev(diffs), 2) if len(diffs) > 1 else 0.0,
        "better_in": sum(d > 0 for d in diffs),
        "of": len(diffs),
    }
    summary["seconds"] = round(time.time() - started, 1)
    summary["load_average"] = os.getloadavg()[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "records": records}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
