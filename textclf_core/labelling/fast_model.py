"""The fast model of a labelling session: logistic regression on features of every text, refitted as labels arrive.

- features: :func:`build_features` (the baseline's TF-IDF fitted on every text, or cached frozen
  embeddings from :func:`textclf_core.engine.encoders.embed`) as a :class:`FeatureMatrix`;
  :func:`cached_features` keeps the last two tables in memory (a page reload stays warm);
- the model: :func:`fit_fast_model` gives a :class:`FastModel` (probabilities for every row, the rows it
  learnt from, the labelled rows it disputes out-of-fold); :func:`trainable` says when labels of two classes
  exist; :func:`fast_model_fields` / :func:`fast_model_from_fields` turn it into plain fields and back (what
  :mod:`textclf_core.labelling.model_store` keeps with the labels);
- how good it is: :func:`cross_validated` gives an :class:`Estimate` (accuracy with a 95% Wilson interval,
  :func:`wilson_interval`, and macro-F1); :func:`progress_sentence` says what the last labels added;
- multi-label cells: :func:`split_cell` and :func:`join_cell` (``'a;b'``, :data:`MULTI_SEPARATOR`).

Every fit is deterministic for a given seed. Nothing here imports streamlit.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import TextclfError
from textclf_core.labels import clean_label

from .label_log import data_fingerprint

MULTI_SEPARATOR = ";"  # LabelSpace's default separator for multi-label cells
C = 10.0  # the baseline's larger regularisation candidate; more labels rarely pick the smaller one here


# =============================================================================== features
class FeatureMatrix:
    """Features of every text of the session: ``X`` (rows = texts) and ``transform`` for new texts."""

    def __init__(self, X, transform: Callable[[Sequence[str]], object], source: str):
        self.X = X
        self.transform = transform
        self.source = source

    def __len__(self) -> int:
        return self.X.shape[0]


def build_features(
    texts: Sequence[str], source: str = "tfidf", *, model: str | None = None, cache_dir=None
) -> FeatureMatrix:
    """TF-IDF from the baseline's vectorisers (fitted on every text), or frozen embeddings.

    ``source="embeddings"`` calls :func:`textclf_core.engine.encoders.embed` with its disk cache
    (cheap only when the texts were embedded before, e.g. by label review).
    """
    texts = ["" if t is None else str(t) for t in texts]
    if source == "tfidf":
        from textclf_core.strategies.baseline import fit_features

        features, X = fit_features(texts)
        return FeatureMatrix(X, features.transform, "tfidf")
    if source == "embeddings":
        from sklearn.preprocessing import normalize

        from textclf_core.engine.encoders import embed

        if not model:
            raise TextclfError("Embedding features need a model", hint="Pass the encoder's name or folder")

        def transform(more):
            return normalize(embed(list(more), model, cache_dir=cache_dir))

        return FeatureMatrix(transform(texts), transform, "embeddings")
    raise TextclfError(f"Unknown feature source {source!r}", hint="Use 'tfidf' or 'embeddings'")


_FEATURE_CACHE: dict = {}
_FEATURE_LOCK = threading.Lock()


def cached_features(
    texts: Sequence[str], source: str = "tfidf", *, model: str | None = None, build: bool = True
) -> FeatureMatrix | None:
    """:func:`build_features`, kept in memory for the last two tables (a page reload stays warm).
    ``build=False``: only what is in memory already (None otherwise)."""
    key = (data_fingerprint(texts), source, model)
    with _FEATURE_LOCK:
        hit = _FEATURE_CACHE.get(key)
    if hit is not None or not build:
        return hit
    built = build_features(texts, source, model=model)
    with _FEATURE_LOCK:
        _FEATURE_CACHE[key] = built
        while len(_FEATURE_CACHE) > 2:
            _FEATURE_CACHE.pop(next(iter(_FEATURE_CACHE)))
    return built


# =============================================================================== the fast model
@dataclass
class Estimate:
    """Cross-validated accuracy of the fast model on the labels made, with a 95% Wilson interval."""

    n_labels: int
    accuracy: float
    low: float
    high: float
    macro_f1: float | None = None
    folds: int = 0

    def to_dict(self) -> dict:
        return dict(vars(self))


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class FastModel:
    """One fitted fast model: probabilities for every row of the session, the estimate, disputed rows."""

    classes: list[str]
    multi_label: bool
    proba: np.ndarray  # (n_rows, k)
    n_labels: int
    version: int = 0
    seconds: float = 0.0
    trained_at: float = field(default_factory=time.time)
    estimate: Estimate | None = None
    disputed: pd.DataFrame | None = None  # row, given, suggested, confidence (out-of-fold)
    estimators: list = field(default_factory=list, repr=False)
    labelled_rows: frozenset = frozenset()
    # Out-of-fold probabilities of the labelled rows (sorted), from the cross-validation: what the
    # cold start weighs the zero-shot against (labelling.coldstart.blend). None without cross-validation.
    oof: np.ndarray | None = field(default=None, repr=False)

    def suggestion(self, row: int) -> tuple[object, float]:
        """(class, confidence) for single-label; (list of classes ≥ 0.5, mean confidence) for multi-label."""
        p = self.proba[int(row)]
        if self.multi_label:
            chosen = [c for c, v in zip(self.classes, p) if v >= 0.5]
            conf = float(np.mean([max(v, 1 - v) for v in p])) if len(p) else 0.0
            return chosen, conf
        j = int(np.argmax(p))
        return self.classes[j], float(p[j])

    def predict_proba_features(self, X) -> np.ndarray:
        return _predict(self.estimators, X, len(self.classes), self.multi_label)

    def renamed(self, old: str, new: str) -> "FastModel":
        classes = [new if c == old else c for c in self.classes]
        return _replace(self, classes=classes)

    def merged(self, sources: Sequence[str], into: str) -> "FastModel":
        """Columns of ``sources`` folded into ``into`` (summed; the largest for multi-label)."""
        keep = [c for c in self.classes if c not in sources and c != into]
        parts = [self.proba[:, [self.classes.index(c) for c in keep]]] if keep else []
        idx = [self.classes.index(c) for c in list(sources) + [into] if c in self.classes]
        merged = self.proba[:, idx].max(axis=1) if self.multi_label else self.proba[:, idx].sum(axis=1)
        proba = np.column_stack(parts + [merged]) if parts else merged[:, None]
        return _replace(self, classes=keep + [into], proba=proba, estimators=[], oof=None)


def _replace(model: FastModel, **changes) -> FastModel:
    data = dict(vars(model))
    data.update(changes)
    return FastModel(**data)


def fast_model_fields(model: FastModel, fingerprint: str) -> dict:
    """The fast model as JSON-able fields (its probabilities are saved beside them, see labelling.model_store)."""
    disputed = None if model.disputed is None else model.disputed.to_dict(orient="records")
    return {
        "fingerprint": fingerprint,
        "classes": list(model.classes),
        "multi_label": model.multi_label,
        "n_labels": model.n_labels,
        "version": model.version,
        "seconds": model.seconds,
        "trained_at": model.trained_at,
        "estimate": None if model.estimate is None else model.estimate.to_dict(),
        "disputed": disputed,
        "labelled_rows": sorted(int(r) for r in model.labelled_rows),
    }


def fast_model_from_fields(fields: dict, proba: np.ndarray) -> FastModel:
    """A saved fast model back (without estimators: the next retrain fits new ones)."""
    disputed = fields.get("disputed")
    return FastModel(
        classes=list(fields["classes"]),
        multi_label=bool(fields.get("multi_label")),
        proba=proba,
        n_labels=int(fields.get("n_labels") or 0),
        version=int(fields.get("version") or 0),
        seconds=float(fields.get("seconds") or 0.0),
        trained_at=float(fields.get("trained_at") or 0.0),
        estimate=Estimate(**fields["estimate"]) if fields.get("estimate") else None,
        disputed=None
        if disputed is None
        else pd.DataFrame(disputed, columns=["row", "given", "suggested", "confidence"]),
        labelled_rows=frozenset(int(r) for r in fields.get("labelled_rows") or []),
    )


def _estimator(seed: int, binary: bool):
    from sklearn.linear_model import LogisticRegression

    # Balanced weights: the first labels are rarely balanced, and a skewed start would skew the queue.
    # liblinear (one-vs-rest for several classes): lbfgs took 9 s a fit on 180k BBC features, this < 1 s.
    # dual=True: far fewer labelled rows than features, so the dual problem is the small one.
    return LogisticRegression(
        C=C, max_iter=1000, class_weight="balanced", random_state=seed, solver="liblinear", dual=True
    )


def _fit(X, y, k: int, multi_label: bool, seed: int) -> list:
    """Single-label: [(estimator, class ids it knows)]; multi-label: one entry per class (or its constant)."""
    if multi_label:
        out = []
        for j in range(k):
            col = y[:, j]
            if 0 < col.sum() < len(col):
                out.append(("model", _estimator(seed, True).fit(X, col)))
            else:
                out.append(("constant", float(col.mean()) if len(col) else 0.0))
        return out
    present = np.unique(y)
    est = _estimator(seed, True)
    if len(present) > 2:
        from sklearn.multiclass import OneVsRestClassifier

        est = OneVsRestClassifier(est)
    est.fit(X, y)
    return [("model", est)]


def _predict(estimators: list, X, k: int, multi_label: bool) -> np.ndarray:
    n = X.shape[0]
    if multi_label:
        out = np.zeros((n, k))
        for j, (kind, est) in enumerate(estimators):
            out[:, j] = est.predict_proba(X)[:, 1] if kind == "model" else est
        return out
    est = estimators[0][1]
    out = np.zeros((n, k))
    out[:, est.classes_.astype(int)] = est.predict_proba(X)
    return out


def _encode(labels: Sequence[str], classes: list[str], multi_label: bool) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    if multi_label:
        y = np.zeros((len(labels), len(classes)), dtype=int)
        for i, cell in enumerate(labels):
            for part in split_cell(cell):
                y[i, index[part]] = 1
        return y
    return np.array([index[c] for c in labels], dtype=int)


def split_cell(cell) -> list[str]:
    """The classes of a multi-label cell ('a;b' → ['a', 'b'])."""
    from textclf_core.labels import split_cell as split

    return split(clean_label(cell), MULTI_SEPARATOR)


def join_cell(classes: Iterable[str]) -> str | None:
    names = [str(c) for c in classes]
    return MULTI_SEPARATOR.join(names) if names else None


def trainable(labels: dict[int, str], multi_label: bool) -> bool:
    """True once the labels hold at least two classes (the least any classifier needs)."""
    if multi_label:
        return len({p for v in labels.values() for p in split_cell(v)}) >= 1 and len(labels) >= 2
    return len(set(labels.values())) >= 2


def fit_fast_model(
    features: FeatureMatrix,
    labels: dict[int, str],
    classes: Sequence[str],
    *,
    multi_label: bool = False,
    seed: int = 0,
    cross_validate: bool = True,
    version: int = 0,
) -> FastModel:
    """Fit the fast model on the labelled rows; probabilities for every row; a CV estimate.

    ``labels`` maps row → label (``'a;b'`` for multi-label). Classes named in ``labels`` but
    not in ``classes`` are added at the end.
    """
    start = time.perf_counter()
    classes = list(classes)
    for value in labels.values():
        for name in split_cell(value) if multi_label else [value]:
            if name not in classes:
                classes.append(name)
    if not trainable(labels, multi_label):
        raise TextclfError("The model needs labels of at least two classes", hint="Label a few texts of another class")
    rows = np.array(sorted(labels), dtype=np.int64)
    y = _encode([labels[r] for r in rows], classes, multi_label)
    X = features.X
    estimators = _fit(X[rows], y, len(classes), multi_label, seed)
    proba = _predict(estimators, X, len(classes), multi_label)
    estimate, disputed, oof = (
        cross_validated(X[rows], y, rows, classes, multi_label, seed, with_oof=True)
        if cross_validate
        else (None, None, None)
    )
    return FastModel(
        classes=classes,
        multi_label=multi_label,
        proba=proba,
        n_labels=len(rows),
        version=version,
        seconds=time.perf_counter() - start,
        estimate=estimate,
        disputed=disputed,
        estimators=estimators,
        labelled_rows=frozenset(int(r) for r in rows),
        oof=oof,
    )


def cross_validated(X, y, rows, classes, multi_label: bool, seed: int, folds: int = 5, with_oof: bool = False):
    """(Estimate, disputed rows) from out-of-fold predictions; (None, None) when there are too few labels.
    ``with_oof``: the out-of-fold probabilities (rows in the order of ``rows``) come third (None when too few)."""
    result = _cross_validated(X, y, rows, classes, multi_label, seed, folds)
    return result if with_oof else result[:2]


def _cross_validated(X, y, rows, classes, multi_label: bool, seed: int, folds: int):
    from sklearn.metrics import f1_score
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(rows)
    if multi_label:
        n_splits = min(folds, n)
        if n_splits < 2:
            return None, None, None
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        smallest = int(np.bincount(y).astype(float)[np.unique(y)].min())
        n_splits = min(folds, smallest)
        if n_splits < 2:
            return None, None, None
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    oof = np.zeros((n, len(classes)))
    for train, test in splitter.split(np.zeros(n), y if not multi_label else None):
        if not multi_label and len(np.unique(y[train])) < 2:
            return None, None, None
        oof[test] = _predict(
            _fit(X[train], y[train], len(classes), multi_label, seed), X[test], len(classes), multi_label
        )
    if multi_label:
        pred = (oof >= 0.5).astype(int)
        hits = int((pred == y).all(axis=1).sum())
        f1 = float(f1_score(y, pred, average="macro", zero_division=0))
        disputed = pd.DataFrame(columns=["row", "given", "suggested", "confidence"])
    else:
        pred = oof.argmax(axis=1)
        hits = int((pred == y).sum())
        f1 = float(f1_score(y, pred, average="macro", labels=np.unique(y), zero_division=0))
        wrong = np.flatnonzero(pred != y)
        disputed = pd.DataFrame(
            {
                "row": rows[wrong].astype(int),
                "given": [classes[i] for i in y[wrong]],
                "suggested": [classes[i] for i in pred[wrong]],
                "confidence": oof[wrong, pred[wrong]],
            }
        )
        disputed = disputed.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)
    low, high = wilson_interval(hits, n)
    return Estimate(n_labels=n, accuracy=hits / n, low=low, high=high, macro_f1=f1, folds=n_splits), disputed, oof


def progress_sentence(curve: Sequence[Estimate], window: int = 50) -> str:
    """'The last 50 labels added 0.4 points' from the learning curve (accuracy points)."""
    if not curve:
        return "No estimate yet: it appears after the first retrain."
    last = curve[-1]
    earlier = [e for e in curve if e.n_labels <= last.n_labels - window]
    if not earlier:
        return f"Estimated accuracy {last.accuracy:.1%} on {last.n_labels} labels; label more to see a trend."
    ref = earlier[-1]
    span = last.n_labels - ref.n_labels
    delta = (last.accuracy - ref.accuracy) * 100
    verb = "added" if delta >= 0 else "cost"
    return f"The last {span} labels {verb} {abs(delta):.1f} points of estimated accuracy."
