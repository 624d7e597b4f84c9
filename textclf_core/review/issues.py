"""Likely mislabels: confident learning (cleanlab) over out-of-sample probabilities."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import DataError
from textclf_core.labels import LabelSpace

from .common import MISLABEL


def _multilabel_lists(y: np.ndarray) -> list[list[int]]:
    return [list(np.flatnonzero(row > 0.5)) for row in y]


def label_quality(
    labels: Sequence, proba: np.ndarray, classes: Sequence[str], *, multi_label: bool = False, separator: str = ";"
) -> pd.DataFrame:
    """Per-row label quality from out-of-sample probabilities (cleanlab), one row per input.

    Returns a DataFrame with ``given_label``, ``suggested_label`` (the model's choice),
    ``confidence`` (probability of the suggested label), ``quality`` (cleanlab's label
    quality score in [0, 1]; low means the label is likely wrong) and ``is_issue``
    (flagged by confident learning). Rows keep the input order.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    # n_jobs=1 everywhere: cleanlab otherwise forks a multiprocessing.Pool per call (per class for
    # multi-label). Inside the app's server the forked workers inherit Streamlit's SIGTERM handler,
    # which does not exit, so Pool.terminate() cannot end them and the review waited on them for
    # ever (seen at ~70% with the children at 0% CPU; the server's own stop then also waited on it).
    # One process is also faster: 12.7k rows x 5 classes, multi-label 0.09-0.16 s vs 0.45-0.64 s with the
    # pools, single-label 0.02-0.03 s vs 0.15-0.22 s (2 shared cores, alternating runs; forking costs more).

    classes = list(classes)
    proba = np.asarray(proba, dtype=np.float64)
    space = LabelSpace(classes, multi_label=multi_label, separator=separator if multi_label else None)
    y = space.encode(list(labels))
    if multi_label:
        from cleanlab.multilabel_classification.filter import find_label_issues as ml_find
        from cleanlab.multilabel_classification.rank import get_label_quality_scores as ml_scores

        lists = _multilabel_lists(y)
        quality = ml_scores(lists, proba)
        try:
            issues = ml_find(lists, proba, n_jobs=1)
        except (ValueError, IndexError):  # too few rows per class for confident learning
            issues = quality < 0.5
        predicted = proba > 0.5
        suggested = space.decode(predicted.astype(np.float32))
        with np.errstate(invalid="ignore"):
            confidence = np.where(predicted, proba, 1 - proba).min(axis=1)
        given = space.decode(y)
    else:
        if (y < 0).any():
            raise DataError("Some rows have no label or one outside the known classes")
        quality = get_label_quality_scores(y, proba, method="self_confidence")
        present = np.bincount(y, minlength=len(classes)) > 0
        if present.sum() >= 2 and len(y) >= 2 * len(classes):
            issues = find_label_issues(y, proba, filter_by="prune_by_noise_rate", min_examples_per_class=0, n_jobs=1)
        else:
            issues = proba.argmax(axis=1) != y
        best = proba.argmax(axis=1)
        suggested = [classes[j] for j in best]
        confidence = proba[np.arange(len(y)), best]
        given = [classes[j] for j in y]
    return pd.DataFrame(
        {
            "given_label": given,
            "suggested_label": suggested,
            "confidence": np.round(confidence, 4),
            "quality": np.round(quality, 4),
            "is_issue": np.asarray(issues, dtype=bool),
        }
    )


def find_label_errors(
    labels: Sequence,
    proba: np.ndarray,
    classes: Sequence[str],
    *,
    texts: Sequence[str] | None = None,
    rows: Sequence[int] | None = None,
    multi_label: bool = False,
    separator: str = ";",
) -> pd.DataFrame:
    """Likely mislabelled rows, most likely first (confident learning with ``cleanlab``).

    Parameters
    ----------
    labels : sequence
      Given label of each row (class names; ``"a;b"`` cells when ``multi_label``).
    proba : np.ndarray
      Out-of-sample probabilities, shape ``(N, K)`` (see :func:`out_of_sample_proba`).
    classes : sequence of str
      Class name of each column of ``proba``.
    texts, rows : optional
      Shown in the result; ``rows`` default to ``0..N-1``.

    Returns
    -------
    pd.DataFrame
      Columns ``row``, ``text``, ``given_label``, ``suggested_label``, ``confidence``
      (model probability of the suggestion), ``score`` (1 − label quality: higher
      means more likely wrong), ``finding`` (``"likely mislabel"``) — only rows that
      ``cleanlab.filter.find_label_issues`` flags, ranked by ``score``.
    """
    quality = label_quality(labels, proba, classes, multi_label=multi_label, separator=separator)
    n = len(quality)
    quality.insert(0, "row", np.arange(n) if rows is None else np.asarray(rows))
    quality.insert(1, "text", [""] * n if texts is None else [str(t) for t in texts])
    quality["score"] = np.round(1 - quality["quality"], 4)
    quality["finding"] = MISLABEL
    flagged = quality[quality["is_issue"] & (quality["given_label"] != quality["suggested_label"])]
    flagged = flagged.sort_values("score", ascending=False, kind="stable")
    return flagged[["row", "text", "given_label", "suggested_label", "confidence", "score", "finding"]].reset_index(
        drop=True
    )
