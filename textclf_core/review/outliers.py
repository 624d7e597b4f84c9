"""Texts unlike the rest of the data."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .similarity import knn_distance


def find_outliers(
    features,
    *,
    texts: Sequence[str] | None = None,
    labels: Sequence | None = None,
    rows: Sequence[int] | None = None,
    share: float = 0.01,
    max_rows: int = 200,
    k: int = 10,
    distance: np.ndarray | None = None,
) -> pd.DataFrame:
    """Texts unlike the rest of the data: far from even their nearest neighbours.

    The score is cleanlab's out-of-distribution feature score
    (``cleanlab.outlier.OutOfDistribution``: mean distance to the ``k`` nearest
    neighbours), computed blockwise here so 10k+ rows stay fast and sparse TF-IDF rows
    need no dense copy. The most atypical ``share`` of rows (at most ``max_rows``) are
    returned, most atypical first; ``score`` is that mean cosine distance (0 = has
    exact copies, 1 = unrelated to everything).
    """
    n = features.shape[0]
    columns = ["row", "text", "given_label", "score"]
    if n < 3:
        return pd.DataFrame(columns=columns)
    if distance is None:  # review() passes the distances from its single pass (see neighbours())
        distance = knn_distance(features, k)
    take = max(1, min(max_rows, int(np.ceil(share * n))))
    order = np.argsort(-distance, kind="stable")[:take]
    rows = list(range(n)) if rows is None else list(rows)
    return pd.DataFrame(
        {
            "row": [rows[i] for i in order],
            "text": [str(texts[i]) if texts is not None else "" for i in order],
            "given_label": [labels[i] if labels is not None else None for i in order],
            "score": np.round(np.clip(distance[order], 0, 1), 4),
        },
        columns=columns,
    )
