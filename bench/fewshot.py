"""Few-shot mode (SetFit-style) vs feature extraction, and augmentation, with k labelled texts per class.

    .venv/bin/python bench/fewshot.py [--seeds 3] [--k 8 64] [--test 300] [--max-pairs 1000] [--out …]

For each dataset (movie reviews, BBC news), k and seed: draw k texts per class (seeded) from
the rows outside a fixed test sample, then score on that test sample:
- feature extraction: frozen bundled MiniLM mean-pooled embeddings + logistic regression;
- few-shot: contrastive tuning of the same encoder on bounded pairs + logistic regression;
- augmentation (movie reviews, k=64): feature extraction trained on the k texts + 2 variants each
  (random deletion 10%, one neighbour swap).
Results are appended to the JSON file after every measurement.
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
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--k", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-pairs", type=int, default=1000, help="contrastive pairs per few-shot training")
    parser.add_argument("--datasets", nargs="+", default=["movie_reviews", "bbc_news"])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fewshot.json"))
    args = parser.parse_args()
    os.environ.setdefault("TEXTCLF_HOME", tempfile.mkdtemp(prefix="textclf-fewshot-"))

    import numpy as np
    import pandas as pd
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    torch.set_num_threads(args.threads)
    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.features import embed
    from textclf_core.fewshot import augment, train_fewshot

    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    records = json.loads(out_path.read_text()) if out_path.exists() else []

    def save(record):
        records.append(record)
        out_path.write_text(json.dumps(records, indent=1))
        print(record, flush=True)

    def scores(y, pred):
        return {"accuracy": round(float(accuracy_score(y, pred)), 4),
                "macro_f1": round(float(f1_score(y, pred, average="macro")), 4)}

    def feature_head(train_texts, train_labels, test_x):
        x = embed(train_texts, DEFAULT_MODEL, max_length=64)
        return LogisticRegression(C=1.0, max_iter=2000).fit(x, train_labels).predict(test_x)

    for name in args.datasets:
        frame = pd.read_csv(ROOT / "sample_data" / f"{name}.csv").dropna()
        test = frame.groupby("label", group_keys=False).sample(frac=args.test / len(frame), random_state=123)
        pool = frame.drop(test.index)
        test_texts, y_test = test["text"].astype(str).tolist(), test["label"].astype(str).tolist()
        test_x = embed(test_texts, DEFAULT_MODEL, max_length=64)
        for k in args.k:
            for seed in range(args.seeds):
                draw = pool.groupby("label", group_keys=False).sample(n=k, random_state=seed)
                texts, labels = draw["text"].astype(str).tolist(), draw["label"].astype(str).tolist()
                base = {"dataset": name, "k": k, "seed": seed, "n_test": len(test), "max_pairs": args.max_pairs}
                t = time.time()
                save({**base, "method": "feature-extraction", **scores(y_test, feature_head(texts, labels, test_x)),
                      "seconds": round(time.time() - t, 1)})
                if name == "movie_reviews" and k == 64:
                    t = time.time()
                    aug_texts, aug_labels = augment(texts, labels, copies=2, seed=seed)
                    save({**base, "method": "feature-extraction + augmentation",
                          **scores(y_test, feature_head(aug_texts, aug_labels, test_x)),
                          "seconds": round(time.time() - t, 1)})
                t = time.time()
                model = train_fewshot(texts, labels, pairs_per_example=20, max_pairs=args.max_pairs, seed=seed)
                save({**base, "method": "few-shot (SetFit-style)", **scores(y_test, model.predict(test_texts)),
                      "seconds": round(time.time() - t, 1)})
    summary = {}
    for r in records:
        summary.setdefault((r["dataset"], r["k"], r["method"]), []).append(r["accuracy"])
    for (d, k, m), accs in sorted(summary.items()):
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{d:14s} k={k:<3d} {m:36s} accuracy {statistics.mean(accs):.3f} ± {spread:.3f} (n={len(accs)})")


if __name__ == "__main__":
    main()
