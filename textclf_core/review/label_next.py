"""What to label next: the unlabelled rows a model trained on the labelled ones is least sure about."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .common import one_blas_thread
from .oof import encode_labels, fit_predict
from .vectors import feature_dict, main_features


def what_to_label_next(
    labelled_features,
    labels: Sequence,
    unlabelled_features,
    *,
    texts: Sequence[str] | None = None,
    rows: Sequence[int] | None = None,
    multi_label: bool | None = None,
    classes: Sequence[str] | None = None,
    top: int | None = None,
    c: float | None = None,
) -> pd.DataFrame:
    """Unlabelled rows ranked by how unsure a model trained on all labelled rows is.

    Labelling the rows the model finds hardest teaches it most (uncertainty sampling).
    Features are a dense array (embeddings), a sparse matrix (TF-IDF) or a dict of both
    (``{"embeddings": ..., "tfidf": ...}``: the models' probabilities are averaged).

    Returns
    -------
    pd.DataFrame
      ``row``, ``text``, ``suggested_label`` (the model's guess), ``confidence``,
      ``margin`` (top probability minus the runner-up; multi-label: the smallest
      distance of any class to 0.5, doubled), ``entropy`` and ``score`` = 1 − margin;
      most uncertain first.
    """
    columns = ["row", "text", "suggested_label", "confidence", "margin", "entropy", "score"]
    m = main_features(feature_dict(unlabelled_features)).shape[0]
    if m == 0:
        return pd.DataFrame(columns=columns)
    space, y = encode_labels(labels, multi_label, classes)
    with one_blas_thread():
        proba = fit_predict(
            feature_dict(labelled_features),
            y,
            feature_dict(unlabelled_features),
            space.num_classes,
            space.multi_label,
            c,
        )
    eps = 1e-12
    if space.multi_label:
        margin = (np.abs(proba - 0.5) * 2).min(axis=1)
        entropy = -(proba * np.log(proba + eps) + (1 - proba) * np.log(1 - proba + eps)).sum(axis=1)
        suggested = space.decode((proba > 0.5).astype(np.float32))
        confidence = np.where(proba > 0.5, proba, 1 - proba).min(axis=1)
    else:
        top2 = np.sort(proba, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        entropy = -(proba * np.log(proba + eps)).sum(axis=1)
        suggested = [space.classes[j] for j in proba.argmax(axis=1)]
        confidence = proba.max(axis=1)
    rows = list(range(m)) if rows is None else list(rows)
    frame = pd.DataFrame(
        {
            "row": rows,
            "text": [str(t) for t in texts] if texts is not None else [""] * m,
            "suggested_label": suggested,
            "confidence": np.round(confidence, 4),
            "margin": np.round(margin, 4),
            "entropy": np.round(entropy, 4),
            "score": np.round(1 - margin, 4),
        },
        columns=columns,
    )
    frame = frame.sort_values(["margin", "entropy"], ascending=[True, False], kind="stable").reset_index(drop=True)
    return frame if top is None else frame.head(top)
