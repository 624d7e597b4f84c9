"""What to label next: the order of the unlabelled rows, from a strategy and the fast model.

The strategies (:data:`STRATEGIES`):

- ``entropy`` / ``margin``: the rows the model is least sure of (:func:`uncertainty`), mixed with
  diversity: the most uncertain candidates are clustered and taken one cluster at a time
  (:func:`diverse_order`), so the queue is not a run of near-copies;
- ``random``: a seeded shuffle (what every strategy uses before the first model);
- ``suspicious``: labelled rows the model disputes (out-of-fold), then the default queue (the session
  puts the disputed rows first; :func:`queue_order` orders the unlabelled rest by ``DEFAULT_UNCERTAINTY``).

:func:`queue_order` is the whole order. Every ordering is deterministic for a given seed. Nothing here
imports streamlit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from textclf_core.errors import TextclfError

from .fast_model import FastModel

STRATEGIES = {
    "entropy": "Least sure first (entropy), spread over clusters so near-copies don't queue together",
    "margin": "Closest call between the top two classes first (margin), spread over clusters",
    "random": "Random order (a fair sample of the data)",
    "suspicious": "Labelled rows the model disputes first, then the least sure",
}
# Chosen by bench/active.py (see README "Label"): the strategy with the best macro-F1 at 100 labels.
DEFAULT_STRATEGY = "margin"
# Label Sleuth's step: a session retrains after this many new labels, so the queue's batch is this long.
DEFAULT_RETRAIN_EVERY = 20
# The uncertainty that 'suspicious' uses for its unlabelled part.
DEFAULT_UNCERTAINTY = DEFAULT_STRATEGY if DEFAULT_STRATEGY in ("entropy", "margin") else "margin"
POOL_FACTOR = 10  # uncertainty candidates per queue slot that diversity chooses among
MAX_DIVERSITY_SLOTS = 50  # clusters at most (k-means on 50 x 10 candidates stays well under a second)


def uncertainty(proba: np.ndarray, kind: str = "entropy", multi_label: bool = False) -> np.ndarray:
    """Higher = less sure. ``entropy`` of the distribution, or ``margin`` (1 - gap between the top two)."""
    p = np.clip(np.asarray(proba, dtype=float), 1e-12, 1.0)
    if multi_label:
        if kind == "margin":
            return 1.0 - 2.0 * np.abs(p - 0.5).min(axis=1)
        q = np.clip(1 - p, 1e-12, 1.0)
        return -(p * np.log(p) + q * np.log(q)).sum(axis=1)
    if kind == "margin":
        top = np.sort(p, axis=1)[:, -2:]
        return 1.0 - (top[:, 1] - top[:, 0]) if p.shape[1] > 1 else np.zeros(len(p))
    return -(p * np.log(p)).sum(axis=1)


def diverse_order(candidates: np.ndarray, scores: np.ndarray, X, *, slots: int, seed: int = 0) -> np.ndarray:
    """``candidates`` (best score first) reordered so consecutive picks come from different clusters.

    The candidates are clustered into ``slots`` groups (k-means on their features); the order takes
    the best remaining member of each cluster in turn, clusters by their best member's score.
    """
    from sklearn.cluster import KMeans

    n_clusters = min(int(slots), MAX_DIVERSITY_SLOTS, len(candidates))
    if n_clusters < 2:
        return candidates
    km = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed)
    groups = km.fit_predict(X[candidates])
    members: dict[int, list[int]] = {}
    for pos, g in enumerate(groups):  # candidates arrive best first, so members stay best first
        members.setdefault(int(g), []).append(pos)
    ordered_groups = sorted(members, key=lambda g: -scores[members[g][0]])
    out = []
    depth = 0
    while len(out) < len(candidates):
        for g in ordered_groups:
            if depth < len(members[g]):
                out.append(members[g][depth])
        depth += 1
    return candidates[np.asarray(out, dtype=np.int64)]


def queue_order(
    rows: Sequence[int],
    strategy: str,
    *,
    model: FastModel | None = None,
    X=None,
    seed: int = 0,
    batch: int = DEFAULT_RETRAIN_EVERY,
    diversity: bool = True,
) -> np.ndarray:
    """The unlabelled ``rows`` in the order to label them.

    Before a model exists (or for ``random``) the order is a shuffle seeded by ``seed``. For
    ``entropy``/``margin`` (and ``suspicious``'s unlabelled part), the ``batch × POOL_FACTOR``
    least sure rows are spread over ``batch`` clusters (``diversity``), the rest follow by score.
    """
    if strategy not in STRATEGIES:
        raise TextclfError(f"Unknown queue strategy {strategy!r}", hint=f"Use one of: {', '.join(STRATEGIES)}")
    rows = np.asarray(sorted(int(r) for r in rows), dtype=np.int64)
    if strategy == "random" or model is None or len(rows) == 0:
        return np.random.default_rng(seed).permutation(rows)
    kind = "entropy" if strategy == "entropy" else "margin" if strategy == "margin" else DEFAULT_UNCERTAINTY
    scores = uncertainty(model.proba[rows], kind, model.multi_label)
    order = np.argsort(-scores, kind="stable")
    rows, scores = rows[order], scores[order]
    if not diversity or X is None:
        return rows
    head = min(len(rows), max(1, int(batch)) * POOL_FACTOR)
    picked = diverse_order(rows[:head], scores[:head], X, slots=batch, seed=seed)
    return np.concatenate([picked, rows[head:]])
