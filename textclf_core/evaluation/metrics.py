"""Scores of a classifier on held-out rows, as plain JSON-ready data.

All numbers come from scikit-learn. Single-label predictions are the most
probable class; multi-label predictions are every class whose probability
reaches its threshold (tuned per class on the validation split by
:func:`tune_thresholds`, 0.5 otherwise).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from textclf_core.errors import TextclfError
from textclf_core.labels import clean_label, split_multi
from textclf_core.store.model_folder import decide, threshold_vector

MAX_CURVE_POINTS = 201


def _float(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _as_ids(y_true, classes: Sequence[str]) -> np.ndarray:
    """Class ids from ids or names; -1 for missing or unknown."""
    arr = np.asarray(y_true, dtype=object) if not isinstance(y_true, np.ndarray) else y_true
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for value in arr:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            out.append(int(value))
        else:
            out.append(index.get(clean_label(value), -1))
    return np.asarray(out, dtype=np.int64)


def _as_matrix(y_true, classes: Sequence[str], separator: str = ";") -> np.ndarray:
    """0/1 matrix from a matrix or from 'a;b' cells."""
    arr = np.asarray(y_true, dtype=object)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(arr), len(classes)), dtype=np.float32)
    for row, cell in enumerate(arr):
        parts = cell if isinstance(cell, (list, tuple)) else split_multi(cell, separator)
        for part in parts:
            if part in index:
                out[row, index[part]] = 1.0
    return out


def _curve(x: np.ndarray, y: np.ndarray) -> dict:
    """Down-sample a curve for plotting (keeps ends)."""
    if len(x) > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(x) - 1, MAX_CURVE_POINTS).round().astype(int))
        x, y = x[keep], y[keep]
    return {"x": [float(v) for v in x], "y": [float(v) for v in y]}


def space_metrics(y_true, proba, label_space, thresholds=None) -> dict:
    """:func:`compute_metrics` in ``label_space``'s terms (its classes, multi-label or not, its separator): what a
    run, auto's members and the learning curve score their predictions with."""
    return compute_metrics(
        y_true,
        proba,
        label_space.classes,
        multi_label=label_space.multi_label,
        thresholds=thresholds,
        separator=label_space.separator or ";",
    )


def compute_metrics(
    y_true, proba, classes: Sequence[str], multi_label: bool = False, thresholds=None, separator: str = ";"
) -> dict:
    """Scores as a JSON-ready dict.

    Single-label: ``y_true`` holds class ids or names (rows with -1/missing are
    skipped); ``proba`` is (n, k). Keys: n, accuracy, balanced_accuracy,
    macro/weighted precision, recall, f1, per_class (list of dicts),
    confusion_matrix (counts, rows = true class), confusion_matrix_normalized
    (each row sums to 1), loss (log loss), roc_auc / pr_auc and roc_curve /
    pr_curve for two classes (positive class = classes[1]).

    Multi-label: ``y_true`` is a 0/1 matrix (or 'a;b' cells); keys: n,
    subset_accuracy (also as accuracy), hamming_loss, micro/macro/weighted
    precision, recall, f1, per_class (with thresholds), per_class_confusion
    (2x2 per class), loss (binary cross-entropy), thresholds.
    """
    classes = [str(c) for c in classes]
    proba = np.asarray(proba, dtype=np.float64)
    k = len(classes)
    if proba.ndim != 2 or proba.shape[1] != k:
        raise ValueError(f"proba has shape {proba.shape}, expected (n, {k})")
    if multi_label:
        return _multi_label_metrics(_as_matrix(y_true, classes, separator), proba, classes, thresholds)

    ids = _as_ids(y_true, classes)
    keep = ids >= 0
    ids, proba = ids[keep], proba[keep]
    labels = list(range(k))
    out: dict = {"multi_label": False, "classes": classes, "n": int(len(ids))}
    if len(ids) == 0:
        return out | {
            "accuracy": None,
            "macro_f1": None,
            "weighted_f1": None,
            "per_class": [],
            "confusion_matrix": [[0] * k for _ in range(k)],
            "confusion_matrix_normalized": [[0.0] * k for _ in range(k)],
            "loss": None,
        }
    pred = proba.argmax(axis=1)
    # Everything below the curves comes from one confusion matrix (same definitions as scikit-learn's
    # precision_recall_fscore_support with zero_division=0; ~10x cheaper than one sklearn call per score).
    cm = np.bincount(ids * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    out["accuracy"] = float(tp.sum() / len(ids))
    present = sorted(set(ids.tolist()))
    out["balanced_accuracy"] = float(recall[present].mean())
    weights = support / support.sum()
    for avg, w in (("macro", np.full(k, 1.0 / k)), ("weighted", weights)):
        out[f"{avg}_precision"] = float(precision @ w)
        out[f"{avg}_recall"] = float(recall @ w)
        out[f"{avg}_f1"] = float(f1 @ w)
    out["per_class"] = [
        {
            "class": c,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, c in enumerate(classes)
    ]
    out["confusion_matrix"] = cm.astype(int).tolist()
    rows = cm.sum(axis=1, keepdims=True)
    out["confusion_matrix_normalized"] = (
        np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0).round(6).tolist()
    )
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    out["loss"] = _float(-np.log(clipped[np.arange(len(ids)), ids]).mean())
    out["roc_auc"] = out["pr_auc"] = None
    if k == 2 and len(present) == 2:
        score = proba[:, 1]
        positive = ids == 1
        fpr, tpr, _ = skm.roc_curve(positive, score)
        prec, rec, _ = skm.precision_recall_curve(positive, score)
        out["roc_auc"] = _float(skm.auc(fpr, tpr))  # = roc_auc_score
        out["pr_auc"] = _float(-np.sum(np.diff(rec) * prec[:-1]))  # = average_precision_score
        out["roc_curve"] = _curve(fpr, tpr) | {"x_label": "false positive rate", "y_label": "true positive rate"}
        out["pr_curve"] = _curve(rec[::-1], prec[::-1]) | {"x_label": "recall", "y_label": "precision"}
        out["positive_class"] = classes[1]
    elif k > 2 and len(present) == k:
        try:
            out["roc_auc"] = _float(
                skm.roc_auc_score(
                    ids, proba / proba.sum(axis=1, keepdims=True), multi_class="ovr", average="macro", labels=labels
                )
            )
        except ValueError:
            pass
    return out


def _multi_label_metrics(y: np.ndarray, proba: np.ndarray, classes: list[str], thresholds) -> dict:
    k = len(classes)
    t = threshold_vector(thresholds, k)
    pred = (proba >= t).astype(int)
    y = y.astype(int)
    out: dict = {"multi_label": True, "classes": classes, "n": int(len(y)), "thresholds": [float(v) for v in t]}
    if len(y) == 0:
        return out | {"accuracy": None, "subset_accuracy": None, "macro_f1": None, "per_class": []}
    out["subset_accuracy"] = float(skm.accuracy_score(y, pred))
    out["accuracy"] = out["subset_accuracy"]
    out["hamming_loss"] = float(skm.hamming_loss(y, pred))
    for avg in ("micro", "macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = float(p), float(r), float(f)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, average=None, zero_division=0)
    per_class = []
    for j, c in enumerate(classes):
        auc = None
        if 0 < y[:, j].sum() < len(y):
            auc = _float(skm.roc_auc_score(y[:, j], proba[:, j]))
        per_class.append(
            {
                "class": c,
                "precision": float(p[j]),
                "recall": float(r[j]),
                "f1": float(f[j]),
                "support": int(s[j]),
                "threshold": float(t[j]),
                "roc_auc": auc,
            }
        )
    out["per_class"] = per_class
    out["per_class_confusion"] = skm.multilabel_confusion_matrix(y, pred).astype(int).tolist()
    clipped = np.clip(proba, 1e-7, 1 - 1e-7)
    out["loss"] = _float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    return out


def tune_thresholds(
    y_true, proba, classes: Sequence[str] | None = None, separator: str = ";", grid: Sequence[float] | None = None
) -> list[float]:
    """Per-class probability thresholds that maximise each class's F1 (multi-label).

    Classes without positives keep 0.5. Use on the validation split, then pass
    the result to :func:`compute_metrics` and to the predictor.
    """
    proba = np.asarray(proba, dtype=float)
    k = proba.shape[1]
    y = _as_matrix(y_true, classes or [str(i) for i in range(k)], separator).astype(int)
    grid = np.asarray(grid if grid is not None else np.round(np.arange(0.05, 0.96, 0.05), 2))
    out = []
    for j in range(k):
        if y[:, j].sum() == 0 or len(y) == 0:
            out.append(0.5)
            continue
        scores = [skm.f1_score(y[:, j], proba[:, j] >= t, zero_division=0) for t in grid]
        best = int(np.argmax(scores))  # first best: ties go to the lower threshold
        out.append(float(grid[best]))
    return out


def predictions_frame(
    texts: Sequence[str],
    y_true,
    proba,
    classes: Sequence[str],
    *,
    multi_label: bool = False,
    thresholds=None,
    rows: Sequence[int] | None = None,
    separator: str = ";",
) -> pd.DataFrame:
    """One row per text: (row,) text, gold, predicted, confidence, prob_<class>…, correct.

    ``predicted`` and ``confidence`` follow :func:`textclf_core.store.model_folder.decide`: the most probable
    class and its probability; for multi-label the classes at or above their threshold, and the
    probability of the decision taken on the least certain class.
    ``gold`` is empty when the row has no label; ``correct`` is then missing.
    """
    classes = [str(c) for c in classes]
    proba = np.asarray(proba, dtype=float)
    n = len(texts)
    frame = pd.DataFrame()
    if rows is not None:
        frame["row"] = np.asarray(rows)
    frame["text"] = list(texts)
    if multi_label:
        y = _as_matrix(y_true, classes, separator) if y_true is not None else None
        pred, confidence = decide(proba.reshape(n, len(classes)), multi_label=True, thresholds=thresholds)
        frame["gold"] = (
            [separator.join(c for c, v in zip(classes, r) if v > 0.5) for r in y] if y is not None else [""] * n
        )
        frame["predicted"] = [separator.join(c for c, v in zip(classes, r) if v) for r in pred]
        frame["confidence"] = confidence
        correct = (pred == (y > 0.5)).all(axis=1) if y is not None else np.full(n, np.nan)
        frame["correct"] = correct
    else:
        ids = _as_ids(y_true, classes) if y_true is not None else np.full(n, -1)
        pred, confidence = decide(proba.reshape(n, len(classes)))
        frame["gold"] = [classes[i] if i >= 0 else "" for i in ids]
        frame["predicted"] = [classes[i] for i in pred]
        frame["confidence"] = confidence
        frame["correct"] = pd.array([bool(p == g) if g >= 0 else pd.NA for p, g in zip(pred, ids)], dtype="boolean")
    for j, c in enumerate(classes):
        frame[f"prob_{c}"] = proba[:, j] if n else []
    cols = [c for c in frame.columns if c != "correct"] + ["correct"]
    return frame[cols]


PREDICTIONS_FILE = "predictions.csv"


def read_predictions(run, *, missing_ok: bool = False) -> pd.DataFrame | None:
    """A run's ``predictions.csv`` (:func:`predictions_frame` on the test split) read back the same way
    everywhere: labels, texts and gold stay text ("NA", "None" and "" too), ``correct`` is a nullable
    boolean (missing where the row has no label), the rest numbers.

    A run without the file raises TextclfError, or gives None with ``missing_ok``.
    """
    path = Path(run.path) / PREDICTIONS_FILE
    if not path.is_file():
        if missing_ok:
            return None
        raise TextclfError(f"Run {run.id} has no test predictions", hint="Train the run again with a test split")
    frame = pd.read_csv(
        path, encoding="utf-8-sig", keep_default_na=False, dtype={"text": str, "gold": str, "predicted": str}
    )
    if "correct" in frame.columns:
        frame["correct"] = pd.array(
            [{"true": True, "false": False}.get(str(v).strip().lower(), pd.NA) for v in frame["correct"]],
            dtype="boolean",
        )
    return frame


def misclassified(pred_df: pd.DataFrame) -> pd.DataFrame:
    """Wrong predictions, most confident first (the most surprising mistakes on top)."""
    wrong = pred_df[pred_df["correct"].astype("boolean").eq(False).fillna(False)]
    return wrong.sort_values("confidence", ascending=False, kind="stable")


def metrics_by_group(pred_df: pd.DataFrame, groups: Sequence, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Accuracy and macro F1 of each group (e.g. a source or date column), largest groups first."""
    frame = pred_df.assign(_group=list(groups))
    frame = frame[frame["gold"].astype(str) != ""]
    rows = []
    for group, part in frame.groupby("_group", dropna=False, sort=False):
        gold, pred = part["gold"].astype(str), part["predicted"].astype(str)
        rows.append(
            {
                "group": group,
                "n": len(part),
                "accuracy": float((gold == pred).mean()),
                "macro_f1": float(skm.f1_score(gold, pred, average="macro", zero_division=0)),
            }
        )
    out = pd.DataFrame(rows, columns=["group", "n", "accuracy", "macro_f1"])
    return out.sort_values(["n", "group"], ascending=[False, True], kind="stable").reset_index(drop=True)


def label_matrix(y_true, classes: Sequence[str], separator: str = ";") -> np.ndarray:
    """0/1 matrix (N, K) of multi-label gold labels given as a matrix, lists or 'a;b' cells."""
    return _as_matrix(y_true, [str(c) for c in classes], separator)


# --- how sure is a score? ------------------------------------------------------------------------
SMALL_TEST = 100  # below this many texts a score moves by several points with a handful of texts
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (scipy); None when ``n`` is 0."""
    from scipy.stats import binomtest

    if n <= 0:
        return None
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _macro_f1_from_counts(tp: np.ndarray, predicted: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Macro F1 over the last axis, as compute_metrics defines it (every class counts, 0 when undefined)."""
    precision = np.divide(tp, predicted, out=np.zeros_like(tp, dtype=float), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp, dtype=float), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return f1.mean(axis=-1)


def bootstrap_macro_f1(
    gold,
    predicted,
    *,
    k: int | None = None,
    multi_label: bool = False,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of macro F1 (texts resampled with replacement, seeded).

    Single-label: ``gold``/``predicted`` are class ids (N,); the average runs over classes
    ``0..k-1`` (an id ``k`` stands for "no known class" and only counts as a mistake).
    Multi-label: 0/1 matrices (N, K). Resamples are scored in chunks by counting, with no Python
    loop per resample (2,000 resamples of 1,000 texts: well under a second).
    """
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    n = len(gold)
    if n == 0:
        return None
    width = np.asarray(gold).shape[1] if multi_label else 1
    per_chunk = max(1, 4_000_000 // (n * width))
    scores = []
    if multi_label:
        y, p = np.asarray(gold, dtype=np.float32), np.asarray(predicted, dtype=np.float32)
    else:
        g, p = np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
        k = int(k if k is not None else max(g.max(), p.max()) + 1)
        big = k + 1
    for start in range(0, resamples, per_chunk):
        r = min(per_chunk, resamples - start)
        idx = rng.integers(0, n, size=(r, n))
        if multi_label:
            ys, ps = y[idx], p[idx]
            scores.append(_macro_f1_from_counts((ys * ps).sum(axis=1), ps.sum(axis=1), ys.sum(axis=1)))
            continue
        gs, ps = g[idx], p[idx]
        offset = np.arange(r)[:, None] * big

        def count(values, mask=None):
            flat = (values + offset)[mask] if mask is not None else (values + offset).ravel()
            return np.bincount(flat, minlength=r * big).reshape(r, big)[:, :k].astype(float)

        scores.append(_macro_f1_from_counts(count(gs, gs == ps), count(ps), count(gs)))
    low, high = np.quantile(np.concatenate(scores), [alpha, 1 - alpha])
    return float(low), float(high)


def score_intervals(
    pred_df: pd.DataFrame,
    classes: Sequence[str],
    *,
    multi_label: bool = False,
    separator: str = ";",
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict:
    """95% intervals of the headline scores of a predictions frame (``gold``, ``predicted``).

    Returns ``{"n", "accuracy": {"value", "low", "high", "method": "Wilson"}, "macro_f1": {...,
    "method": "bootstrap"}, "caution": str | None}``; the caution is set below :data:`SMALL_TEST` texts.
    """
    classes = [str(c) for c in classes]
    frame = pred_df.assign(gold=pred_df["gold"].fillna(""), predicted=pred_df["predicted"].fillna(""))
    frame = frame[frame["gold"].astype(str) != ""]
    n = int(len(frame))
    gold, pred = frame["gold"].astype(str).tolist(), frame["predicted"].astype(str).tolist()
    if multi_label:
        y, p = _as_matrix(gold, classes, separator), _as_matrix(pred, classes, separator)
        right = int((y == p).all(axis=1).sum())
        f1 = float(_macro_f1_from_counts((y * p).sum(0), p.sum(0), y.sum(0))) if n else None
        f1_ci = bootstrap_macro_f1(y, p, multi_label=True, confidence=confidence, seed=seed)
    else:
        k = len(classes)
        g, p = _as_ids(gold, classes), _as_ids(pred, classes)
        g, p = np.where(g < 0, k, g), np.where(p < 0, k, p)  # a name outside the classes is a mistake
        right = int(((g == p) & (g < k)).sum())
        f1_ci = bootstrap_macro_f1(g, p, k=k, confidence=confidence, seed=seed)
        cm = np.bincount(g * (k + 1) + p, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
        f1 = (
            float(
                _macro_f1_from_counts(
                    np.diag(cm)[:k].astype(float), cm.sum(0)[:k].astype(float), cm.sum(1)[:k].astype(float)
                )
            )
            if n
            else None
        )
    acc_ci = wilson_interval(right, n, confidence)
    caution = None
    if 0 < n < SMALL_TEST:
        width = (acc_ci[1] - acc_ci[0]) * 100 if acc_ci else 0
        caution = (
            f"Only {n} test texts: each one moves accuracy by {100 / n:.1f} points, and the 95% interval is "
            f"{width:.0f} points wide. Treat small differences between runs as noise; a test split of "
            f"{SMALL_TEST}+ texts gives firmer numbers."
        )
    return {
        "n": n,
        "confidence": confidence,
        "caution": caution,
        "accuracy": {
            "value": right / n if n else None,
            "low": acc_ci[0] if acc_ci else None,
            "high": acc_ci[1] if acc_ci else None,
            "method": "Wilson",
        },
        "macro_f1": {
            "value": f1,
            "low": f1_ci[0] if f1_ci else None,
            "high": f1_ci[1] if f1_ci else None,
            "method": f"bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples)",
        },
    }
