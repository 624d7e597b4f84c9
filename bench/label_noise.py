"""Benchmark helpers for label review: flip a share of labels, score how many flips a ranking finds.

Used by bench/review_quality.py and by the tests that check the review finds flipped labels.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd


def flip_labels(labels: Sequence[str], share: float = 0.05, *, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """A copy of ``labels`` with ``share`` of them changed to another class at random (for benchmarks).

    Returns ``(noisy_labels, flipped_positions)``.
    """
    labels = [str(v) for v in labels]
    classes = sorted(set(labels))
    rng = np.random.default_rng(seed)
    n_flip = int(round(share * len(labels)))
    flipped = np.sort(rng.choice(len(labels), size=n_flip, replace=False))
    noisy = list(labels)
    for i in flipped:
        others = [c for c in classes if c != labels[i]]
        noisy[i] = others[rng.integers(len(others))]
    return noisy, flipped


def precision_at_k(quality: pd.DataFrame, flipped_rows: Iterable[int], k: int | None = None) -> float:
    """Share of the ``k`` lowest-quality rows that are truly flipped (``k`` default: number flipped)."""
    flipped_rows = set(int(r) for r in flipped_rows)
    k = len(flipped_rows) if k is None else k
    if k == 0:
        return 1.0
    top = quality.sort_values("quality", kind="stable").head(k)["row"].astype(int)
    return float(np.mean([r in flipped_rows for r in top]))
