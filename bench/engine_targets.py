"""Acceptance timings of the fine-tuning engine on the movie reviews (issue 3), from Python.

Usage: .venv/bin/python bench/engine_targets.py fe|full|partial [rows]
Split: seeded 80/10/10 on all rows (or a sample of `rows`). Threads: RunConfig default (all cores but one).
"""

import sys
import time

import pandas as pd

from textclf_core.config import RunConfig
from textclf_core.labels import LabelSpace
from textclf_core.strategies import transformer as training

what = sys.argv[1]
df = pd.read_csv("sample_data/movie_reviews.csv")
if len(sys.argv) > 2:
    df = df.sample(int(sys.argv[2]), random_state=0)
df = df.sample(frac=1, random_state=42).reset_index(drop=True)
n = len(df)
train, val, test = df[: int(0.8 * n)], df[int(0.8 * n) : int(0.9 * n)], df[int(0.9 * n) :]
space = LabelSpace.from_labels(df["label"])
y_test = space.encode(list(test["label"]))
settings = {
    "fe": [
        dict(strategy="feature-extraction", head="logreg", head_c=1.0),
        dict(strategy="feature-extraction", head="logreg", head_c=0.1),
    ],
    "full": [dict(strategy="full", epochs=2, batch_size=32, lr=5e-5, max_length=64)],
    "partial": [dict(strategy="partial", layers=2, epochs=3, batch_size=32, lr=1e-4, max_length=64)],
}[what]
for extra in settings:
    config = RunConfig(**extra)
    t = time.perf_counter()
    result = training.fit(
        config,
        train,
        val,
        space,
        emit=lambda e: (
            e["type"] == "evaluation" and print("  eval", round(e["epoch"], 2), round(e["accuracy"], 4), flush=True)
        ),
    )
    fit_s = time.perf_counter() - t
    proba = result.predictor.predict_proba(list(test["text"]))
    total_s = time.perf_counter() - t
    acc = float((proba.argmax(1) == y_test).mean())
    print(
        f"{extra}: n_train={len(train)} test_acc={acc:.4f} fit_s={fit_s:.1f} total_with_test_s={total_s:.1f}",
        flush=True,
    )
