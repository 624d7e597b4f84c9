"""Out-of-sample class probabilities: every labelled row judged by models that never saw it."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from textclf_core.config import DEFAULT_MODEL
from textclf_core.errors import DataError, TextclfError
from textclf_core.labels import LabelSpace

from .common import Emit, ShouldStop, check_stop, one_blas_thread
from .thorough import THOROUGH_SETTINGS, finetuned_oof_proba
from .vectors import as_features, take_rows


def encode_labels(labels: Sequence, multi_label: bool | None, classes: Sequence[str] | None):
    if classes is not None:
        space = LabelSpace(list(classes), multi_label=bool(multi_label), separator=(";" if multi_label else None))
        if multi_label:
            space.separator = LabelSpace.from_labels(labels, multi_label=True).separator
    else:
        space = LabelSpace.from_labels(list(labels), multi_label=multi_label)
    return space, space.encode(list(labels))


def _classifier(kind: str, multi_label: bool, c: float | None):
    """Logistic regression on embeddings; multinomial naive Bayes on TF-IDF.

    Naive Bayes on TF-IDF beat logistic regression at finding flipped labels on both
    sample sets (movie reviews 0.39 vs 0.38, BBC 0.94 vs 0.93 precision@k) and fits in
    a fraction of a second instead of tens of seconds on 2 cores.
    """
    if kind == "embeddings":
        from sklearn.linear_model import LogisticRegression

        # Few dense dimensions: weak regularisation fits best (chosen on the sample data).
        clf = LogisticRegression(C=4.0 if c is None else c, max_iter=300)
    else:
        from sklearn.naive_bayes import MultinomialNB

        clf = MultinomialNB(alpha=0.1)
    if multi_label:
        from sklearn.multiclass import OneVsRestClassifier

        return OneVsRestClassifier(clf)
    return clf


def fit_predict(
    train: dict, y_train, test: dict, n_classes: int, multi_label: bool, c: float | None = None
) -> np.ndarray:
    """Probabilities over all ``n_classes`` columns, averaged over the feature kinds given.

    Works even when a training fold lacks some class (its column stays 0, or the base
    rate for multi-label).
    """
    kinds = [k for k in ("embeddings", "tfidf") if train.get(k) is not None]
    n_test = test[kinds[0]].shape[0]
    out = np.zeros((n_test, n_classes), dtype=np.float64)
    if multi_label:
        present = [j for j in range(n_classes) if 0 < y_train[:, j].sum() < len(y_train)]
        for j in range(n_classes):
            if j not in present:  # a class always on or always off in this fold: predict its base rate
                out[:, j] = y_train[:, j].mean()
        for kind in kinds if present else []:
            clf = _classifier(kind, True, c).fit(train[kind], y_train[:, present])
            out[:, present] += clf.predict_proba(test[kind]) / len(kinds)
        return out
    seen = np.unique(y_train)
    if len(seen) == 1:
        out[:, seen[0]] = 1.0
        return out
    for kind in kinds:
        clf = _classifier(kind, False, c).fit(train[kind], y_train)
        out[:, clf.classes_] += clf.predict_proba(test[kind]) / len(kinds)
    return out


def _encoded_labels(labels, multi_label, classes):
    """The label space and the encoded labels (``encode_labels``); a DataError when a single-label row has no
    label or an unknown one."""
    space, y = encode_labels(labels, multi_label, classes)
    if not space.multi_label and (y < 0).any():
        raise DataError(
            f"{int((y < 0).sum())} rows have no label or an unknown one",
            hint="Leave unlabelled rows out of the cross-validation (review() does this for you)",
        )
    return space, y


def _fold_splits(n_folds: int, random_state: int, y: np.ndarray, k: int, multi_label: bool) -> list:
    """One round of cross-validation: ``[(train rows, test rows), ...]``, stratified by class for single-label
    data (fewer folds when the smallest class is smaller than ``n_folds``, at least 2)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(y)
    if multi_label:
        return list(KFold(n_splits=max(2, min(n_folds, n)), shuffle=True, random_state=random_state).split(np.zeros(n)))
    smallest = int(np.bincount(y, minlength=k).min())
    with warnings.catch_warnings():  # classes smaller than the fold count are fine here
        warnings.simplefilter("ignore")
        return list(
            StratifiedKFold(
                n_splits=max(2, min(n_folds, n, max(smallest, 2))), shuffle=True, random_state=random_state
            ).split(np.zeros(n), y)
        )


def _cross_validated(x, y, rounds: list, k: int, multi_label: bool, c, emit, should_stop) -> np.ndarray:
    """The fast model's out-of-fold probabilities, shape ``(N, K)``, averaged over the rounds of folds
    (``rounds``: one list of splits per repeat); emits a ``review_fold`` event per fold."""
    n_splits, repeats = len(rounds[0]), len(rounds)
    proba = np.zeros((len(y), k), dtype=np.float64)
    with one_blas_thread():
        for r, splits in enumerate(rounds):
            for i, (train, test) in enumerate(splits):
                check_stop(should_stop)
                proba[test] += (
                    fit_predict(take_rows(x, train), y[train], take_rows(x, test), k, multi_label, c) / repeats
                )
                if emit:
                    emit({"type": "review_fold", "fold": r * n_splits + i + 1, "folds": n_splits * repeats})
    return proba


def _blend_thorough(
    proba, texts, y, k, splitter, multi_label, model, max_length, seed, thorough, emit, should_stop
) -> np.ndarray:
    """``proba`` blended with the out-of-fold probabilities of the encoder fine-tuned per fold
    (:func:`finetuned_oof_proba`, :data:`THOROUGH_SETTINGS` with the ``thorough`` overrides); returns the blend."""
    settings = {**THOROUGH_SETTINGS, **(thorough or {})}
    weight = settings.pop("weight")
    tuned_folds = int(settings.pop("folds"))
    tuned_splits = splitter if tuned_folds == len(splitter) else _fold_splits(tuned_folds, seed, y, k, multi_label)
    # Fewer folds than the fast models: each fold fine-tunes on 2/3 of the rows, half the cost of 5 folds.
    tuned = finetuned_oof_proba(
        texts,
        y,
        k,
        tuned_splits,
        multi_label=multi_label,
        model=model,
        max_length=max_length,
        seed=seed,
        emit=emit,
        should_stop=should_stop,
        **settings,
    )
    if weight == "auto":
        weight = blend_weight(tuned, proba, y, multi_label=multi_label)
    return float(weight) * tuned + (1 - float(weight)) * proba


def out_of_sample_proba(
    texts: Sequence[str],
    labels: Sequence,
    *,
    method: str = "combined",
    model: str = DEFAULT_MODEL,
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
    embeddings: np.ndarray | None = None,
    multi_label: bool | None = None,
    classes: Sequence[str] | None = None,
    c: float | None = None,
    max_length: int = 128,
    emit: Emit | None = None,
    features: dict | None = None,
    thorough: dict | None = None,
    should_stop: ShouldStop | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Out-of-sample class probabilities for every labelled text, by k-fold cross-validation.

    Each row's probabilities come from models trained on the other folds, so a wrong
    label cannot explain itself away. Cheap once the embeddings are cached: the encoder
    runs once, only the small models are refit per fold.

    Parameters
    ----------
    texts : sequence of str
      One text per row. Every row must be labelled.
    labels : sequence
      Given labels (class names). Multi-label cells join names with ``;`` or ``|``.
    method : {"combined", "embeddings", "tfidf"}
      ``"embeddings"``: logistic regression on the frozen mean-pooled embeddings of
      ``model`` (through the shared embedding cache of
      :func:`textclf_core.engine.encoders.embed`). ``"tfidf"``: naive Bayes on word and
      word-pair TF-IDF, no neural network at all. ``"combined"`` (default): the average
      of both, which finds more flipped labels than either alone (movie reviews 0.43
      vs 0.34 / 0.39 precision@k; BBC news 0.96 vs 0.91 / 0.94). ``"thorough"``:
      ``"combined"`` blended with the out-of-fold probabilities of the encoder's top
      layer(s) fine-tuned per fold (:func:`finetuned_oof_proba`,
      :data:`THOROUGH_SETTINGS`): minutes instead of seconds on a CPU, for texts
      where a frozen encoder is too weak to judge the labels.
    model : str
      Encoder used by the embedding methods (catalog key, hub id or folder).
    folds : int
      Number of cross-validation folds (lowered automatically for tiny classes).
    repeats : int
      Rounds of cross-validation, each with differently cut folds (seeds ``seed``,
      ``seed + 1``, ...); the fast models' probabilities are averaged over them.
      Default 3: they cost about a second each on 12.7k rows and find more flipped
      labels than one round (docs/label_review.md).
    embeddings : np.ndarray, optional
      Precomputed embeddings, shape ``(N, D)``, to skip the encoder.
    c : float, optional
      Inverse regularisation of the logistic regression on embeddings (default 4).
    thorough : dict, optional
      Overrides of :data:`THOROUGH_SETTINGS` (``"thorough"`` only).
    should_stop : callable, optional
      Checked before every fold and fine-tuning step; raises :class:`CancelledError`.
    multi_label : bool, optional
      None: detected from the label cells.
    classes : sequence of str, optional
      Column order of the result; default: the sorted class names found.

    Returns
    -------
    proba : np.ndarray
      Shape ``(N, K)``. Single-label rows sum to 1; multi-label columns are
      independent probabilities.
    classes : list of str
      Class name of each column.
    """
    texts = [str(t) for t in texts]
    if len(texts) != len(labels):
        raise TextclfError(f"Got {len(texts)} texts but {len(labels)} labels")
    space, y = _encoded_labels(labels, multi_label, classes)
    n, k = len(texts), space.num_classes
    if n < 4:
        raise DataError(f"Label review needs at least 4 labelled rows, found {n}")
    x = (
        features
        if features is not None
        else as_features(
            texts, method, model, max_length=max_length, embeddings=embeddings, emit=emit, should_stop=should_stop
        )
    )
    repeats = max(1, int(repeats))
    # Each repeat cuts the folds differently; averaging them steadies the probabilities of rows whose
    # verdict hinged on which rows happened to share their fold (movie reviews: 0.425 -> 0.436 precision@k).
    rounds = [_fold_splits(int(folds), seed + r, y, k, space.multi_label) for r in range(repeats)]
    splitter = rounds[0]
    proba = _cross_validated(x, y, rounds, k, space.multi_label, c, emit, should_stop)
    if method == "thorough":
        proba = _blend_thorough(
            proba, texts, y, k, splitter, space.multi_label, model, max_length, seed, thorough, emit, should_stop
        )
    return proba, list(space.classes)


def blend_weight(
    tuned: np.ndarray,
    fast: np.ndarray,
    y: np.ndarray,
    *,
    multi_label: bool = False,
    grid: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
) -> float:
    """Share of the fine-tuned probabilities in the blend: the one with the lowest out-of-fold log loss.

    Judged against the given labels, the only ones there are: most of them are right,
    so the blend that predicts them best out of sample is the better judge of the rest.
    """
    best, best_loss = float(grid[0]), np.inf
    for w in grid:
        p = np.clip(w * tuned + (1 - w) * fast, 1e-7, 1 - 1e-7)
        if multi_label:
            loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        else:
            loss = -np.mean(np.log(p[np.arange(len(y)), y]))
        if loss < best_loss - 1e-9:
            best, best_loss = float(w), loss
    return best
