"""Label review: find the rows whose label the data itself disputes.

Before training, a person wants to see the few rows most likely to be wrong, with a
suggested fix. Everything here is plain functions over arrays and DataFrames:

- :func:`out_of_sample_proba` — class probabilities for every labelled row from a
  model that never saw that row (k-fold logistic regression on frozen embeddings of
  the chosen encoder, or on TF-IDF as a fallback; ``method="thorough"`` also
  fine-tunes the encoder on each fold, see :func:`finetuned_oof_proba`).
- :func:`find_label_errors` — confident learning (``cleanlab``) over those
  probabilities: likely mislabels ranked, with the given and the suggested label.
- :func:`find_near_duplicates`, :func:`find_conflicts` — groups of (near-)identical
  texts, and those of them whose labels disagree.
- :func:`find_outliers` — texts unlike the rest of the data.
- :func:`what_to_label_next` — unlabelled rows the model is least sure about.
- :func:`review` — all of the above for a prepared frame (``row``, ``text``,
  ``label``), cached per data version, bundled in a :class:`ReviewResult`.
- :class:`ChangeLog` — the edits a person makes while reviewing (accept the
  suggestion, relabel, drop, keep), undoable, applied to the original rows and
  exported beside the cleaned CSV.

Row ids (``row``) always refer to the rows of the user's original table, so a finding
can be traced back to the file it came from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import unicodedata
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .config import DEFAULT_MODEL
from .errors import CancelledError, DataError, TextclfError
from .labels import LabelSpace, clean_label

METHODS = ("combined", "embeddings", "tfidf", "thorough")

# Finding types, in the order a reviewer should look at them.
MISLABEL = "likely mislabel"
CONFLICT = "conflicting duplicate"
DUPLICATE = "near duplicate"
OUTLIER = "outlier"
LABEL_NEXT = "label next"
FINDING_TYPES = (MISLABEL, CONFLICT, DUPLICATE, OUTLIER, LABEL_NEXT)

FINDING_COLUMNS = ["row", "text", "given_label", "suggested_label", "score", "finding", "group", "detail"]

ACTIONS = ("accept", "relabel", "drop", "keep")

_CACHE_VERSION = 3  # 2: the thorough method; its settings are part of the key. 3: repeated cross-validation
_MEMORY_CACHE: "OrderedDict[str, ReviewResult]" = OrderedDict()
_MEMORY_CACHE_SIZE = 4

Emit = Callable[[dict], None]
ShouldStop = Callable[[], bool]


def check_stop(should_stop: ShouldStop | None) -> None:
    """Raise :class:`CancelledError` when the person pressed Cancel (checked between review stages)."""
    if should_stop is not None and should_stop():
        raise CancelledError("The label review was cancelled")


# --------------------------------------------------------------------------- features


def _as_features(texts: Sequence[str], method: str, model: str, *, max_length: int = 128,
                 embeddings: np.ndarray | None = None, emit: Emit | None = None,
                 should_stop: ShouldStop | None = None) -> dict:
    """Row features the review models need: ``{"embeddings": dense unit rows, "tfidf": sparse rows}``.

    Only the kinds ``method`` uses are computed (the other is None).
    """
    if method not in METHODS:
        raise TextclfError(f"Review method {method!r} is not one of: {', '.join(METHODS)}")
    out: dict = {"embeddings": None, "tfidf": None}
    texts = [str(t) for t in texts]
    if method in ("tfidf", "combined", "thorough"):
        from sklearn.feature_extraction.text import TfidfVectorizer

        # Fitting the vocabulary on all rows uses no labels, so it leaks nothing into the folds.
        vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2 if len(texts) >= 1000 else 1,
                                     max_features=200_000, strip_accents="unicode")
        try:
            out["tfidf"] = vectorizer.fit_transform(texts).astype(np.float32)
        except ValueError:  # empty vocabulary
            if method == "tfidf":
                raise DataError("The texts contain no words to review",
                                hint="Check that the right text column is chosen") from None
            # combined: the embeddings alone still judge the labels
    if method in ("embeddings", "combined", "thorough"):
        if embeddings is None:
            from . import features  # heavy (torch); only needed for the embedding methods

            embeddings = features.embed(texts, model, max_length=max_length, emit=emit, should_stop=should_stop)
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.shape[0] != len(texts):
            raise TextclfError(f"Got {embeddings.shape[0]} embeddings for {len(texts)} texts")
        out["embeddings"] = normalize_rows(embeddings)
    return out


def _main_features(feats: dict):
    """The features for similarity (duplicates, outliers): embeddings when there are any."""
    return feats["embeddings"] if feats.get("embeddings") is not None else feats["tfidf"]


def _feature_dict(x) -> dict:
    """A dict of feature kinds from a dict, a dense array (embeddings) or a sparse matrix (TF-IDF)."""
    if isinstance(x, dict):
        return x
    import scipy.sparse as sp

    return {"embeddings": None, "tfidf": x} if sp.issparse(x) else {"embeddings": normalize_rows(x), "tfidf": None}


def _take(feats: dict, index) -> dict:
    return {k: (None if v is None else v[index]) for k, v in feats.items()}


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so a dot product is the cosine similarity."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


# --------------------------------------------------------------------------- probabilities


def _encode(labels: Sequence, multi_label: bool | None, classes: Sequence[str] | None):
    if classes is not None:
        space = LabelSpace(list(classes), multi_label=bool(multi_label),
                           separator=(";" if multi_label else None))
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


def _fit_predict(train: dict, y_train, test: dict, n_classes: int, multi_label: bool, c: float | None = None) -> np.ndarray:
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


def out_of_sample_proba(texts: Sequence[str], labels: Sequence, *, method: str = "combined",
                        model: str = DEFAULT_MODEL, folds: int = 5, repeats: int = 3, seed: int = 0,
                        embeddings: np.ndarray | None = None, multi_label: bool | None = None,
                        classes: Sequence[str] | None = None, c: float | None = None,
                        max_length: int = 128, emit: Emit | None = None,
                        features: dict | None = None, thorough: dict | None = None,
                        should_stop: ShouldStop | None = None) -> tuple[np.ndarray, list[str]]:
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
      :func:`textclf_core.features.embed`). ``"tfidf"``: naive Bayes on word and
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
    space, y = _encode(labels, multi_label, classes)
    if not space.multi_label and (y < 0).any():
        raise DataError(f"{int((y < 0).sum())} rows have no label or an unknown one",
                        hint="Leave unlabelled rows out of the cross-validation (review() does this for you)")
    n, k = len(texts), space.num_classes
    if n < 4:
        raise DataError(f"Label review needs at least 4 labelled rows, found {n}")
    x = features if features is not None else _as_features(texts, method, model, max_length=max_length,
                                                           embeddings=embeddings, emit=emit, should_stop=should_stop)
    from sklearn.model_selection import KFold, StratifiedKFold

    def split(n_folds: int, random_state: int) -> list:
        if space.multi_label:
            return list(KFold(n_splits=max(2, min(n_folds, n)), shuffle=True,
                              random_state=random_state).split(np.zeros(n)))
        with warnings.catch_warnings():  # classes smaller than the fold count are fine here
            warnings.simplefilter("ignore")
            return list(StratifiedKFold(n_splits=max(2, min(n_folds, n, max(smallest, 2))), shuffle=True,
                                        random_state=random_state).split(np.zeros(n), y))

    smallest = 0 if space.multi_label else int(np.bincount(y, minlength=k).min())
    repeats = max(1, int(repeats))
    # Each repeat cuts the folds differently; averaging them steadies the probabilities of rows whose
    # verdict hinged on which rows happened to share their fold (movie reviews: 0.425 -> 0.436 precision@k).
    rounds = [split(int(folds), seed + r) for r in range(repeats)]
    splitter = rounds[0]
    n_splits = len(splitter)
    proba = np.zeros((n, k), dtype=np.float64)
    with _one_blas_thread():
        for r, splits in enumerate(rounds):
            for i, (train, test) in enumerate(splits):
                check_stop(should_stop)
                proba[test] += _fit_predict(_take(x, train), y[train], _take(x, test), k, space.multi_label, c) / repeats
                if emit:
                    emit({"type": "review_fold", "fold": r * n_splits + i + 1, "folds": n_splits * repeats})
    if method == "thorough":
        settings = {**THOROUGH_SETTINGS, **(thorough or {})}
        weight = settings.pop("weight")
        tuned_folds = int(settings.pop("folds"))
        tuned_splits = splitter if tuned_folds == n_splits else split(tuned_folds, seed)
        # Fewer folds than the fast models: each fold fine-tunes on 2/3 of the rows, half the cost of 5 folds.
        tuned = finetuned_oof_proba(texts, y, k, tuned_splits, multi_label=space.multi_label, model=model,
                                    max_length=max_length, seed=seed, emit=emit, should_stop=should_stop,
                                    **settings)
        if weight == "auto":
            weight = blend_weight(tuned, proba, y, multi_label=space.multi_label)
        proba = float(weight) * tuned + (1 - float(weight)) * proba
    return proba, list(space.classes)


def blend_weight(tuned: np.ndarray, fast: np.ndarray, y: np.ndarray, *, multi_label: bool = False,
                 grid: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> float:
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


# --------------------------------------------------------------------------- thorough: fine-tuned folds

# Settings of the "thorough" method (docs/label_review.md). layers 6: all of MiniLM's (only its top layer
# made a model weaker than the frozen one); bigger encoders train their top 6, which bounds the cost.
# 3 folds: each fold trains on 2/3 of the rows, half the cost of 5. weight "auto": see blend_weight().
THOROUGH_SETTINGS = {"layers": 6, "epochs": 1, "lr": 1e-4, "batch_size": 32, "folds": 3, "weight": "auto"}


def finetuned_oof_proba(texts: Sequence[str], y: np.ndarray, n_classes: int, splits, *, multi_label: bool = False,
                        model: str = DEFAULT_MODEL, layers: int = 2, epochs: int = 1, lr: float = 1e-4,
                        batch_size: int = 32, max_length: int = 128, seed: int = 0,
                        emit: Emit | None = None, should_stop: ShouldStop | None = None) -> np.ndarray:
    """Out-of-fold probabilities from the encoder's top ``layers`` fine-tuned on the other folds.

    A fine-tuned encoder judges labels better than a frozen one on subtle texts. When
    fewer layers are trained than the encoder has, the frozen bottom layers run once over
    all texts (the frozen-layer cache of :mod:`textclf_core.training`), shared by every
    fold; the token embeddings always stay frozen.

    ``y``: class ids, or a 0/1 matrix when ``multi_label``; ``splits``: ``(train, test)``
    index pairs. ``emit`` receives ``{"type": "review_stage", "stage", "progress"}``;
    ``should_stop()`` is checked before every training step (raises :class:`CancelledError`).
    """
    import math

    import torch

    from . import hardware, models, strategies, train_attention
    from .config import RunConfig
    from .features import pad_batch, sorted_batches, tokenize
    from .losses import probabilities
    from .training import _length_grouped_batches, _PrefixCache, seed_everything

    splits = [(np.asarray(a), np.asarray(b)) for a, b in splits]
    hw = hardware.detect()
    device, amp = hw.device, hardware.autocast_dtype(hw.device, "auto")
    dev_type = device if device != "mps" else "cpu"
    tokenizer = models.load_tokenizer(model)
    ids = tokenize(tokenizer, [str(t) for t in texts], max_length)
    lengths = np.array([len(s) for s in ids])
    pad_id = tokenizer.pad_token_id
    left = getattr(tokenizer, "padding_side", "right") == "left"
    space = LabelSpace([f"c{i}" for i in range(n_classes)], multi_label=multi_label,
                       separator=";" if multi_label else None)
    config = RunConfig(strategy="partial", layers=int(layers), model=model, max_length=int(max_length))
    targets = torch.as_tensor(np.asarray(y, dtype=np.float32 if multi_label else np.int64))
    total_steps = sum(math.ceil(len(tr) / batch_size) for tr, _ in splits) * int(epochs)
    done = {"steps": 0, "sent": 0.0}
    store: dict | None = None  # frozen-layer outputs of every text, shared by all folds
    proba = np.zeros((len(ids), n_classes), dtype=np.float64)

    def report(stage: str, share: float, force: bool = False) -> None:
        now = time.perf_counter()
        if emit and (force or now - done["sent"] >= 1.0 or share >= 1.0):
            done["sent"] = now
            emit({"type": "review_stage", "stage": stage, "progress": share})

    def autocast():
        return torch.autocast(dev_type, dtype=amp or torch.float32, enabled=amp is not None)

    stop = should_stop or (lambda: False)
    for fold, (train, test) in enumerate(splits):
        check_stop(should_stop)
        seed_everything(seed + fold)
        net = strategies.apply_strategy(
            models.load_for_classification(model, space, tokenizer=tokenizer), config)
        if device == "cpu":
            train_attention.install(net)
            train_attention.install_fast_dropout(net)  # torch's CPU dropout masks cost ~17% of a step
        frozen = int(getattr(net, "textclf_frozen_layers", 0) or 0)
        prefix = None
        if frozen > 0 and strategies.family(net) in strategies.PREFIX_CACHE_FAMILIES:
            prefix = _PrefixCache(net, frozen, amp)
            if store is None:
                read = {"n": 0}

                def on_batch(count: int) -> None:
                    read["n"] += count
                    report(f"fine-tuning: reading the texts ({read['n']:,} of {len(ids):,})", 0.5)

                prefix.fill(list(range(len(ids))), ids, pad_id, device, amp, batch_size * 2, stop,
                            on_batch=on_batch)
                store = prefix.store
            prefix.store = store
        net.to(device)
        params = [p for p in net.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        steps = math.ceil(len(train) / batch_size) * int(epochs)
        warmup = max(1, int(0.1 * steps))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
        rng = np.random.default_rng(seed + fold)

        def inputs_for(rows):
            batch = pad_batch([ids[i] for i in rows], pad_id, left)
            if prefix is not None:
                prefix.set_batch([int(i) for i in rows], batch["input_ids"].shape[1], device)
            return {k: v.to(device) for k, v in batch.items()}

        ctx = prefix.active() if prefix is not None else contextlib.nullcontext()
        with ctx:
            strategies.set_train_mode(net)
            report(f"fine-tuning fold {fold + 1} of {len(splits)}", 0.5 + 0.2 * done["steps"] / total_steps,
                   force=True)  # every fold is announced, however fast it goes
            for _ in range(int(epochs)):
                for b in _length_grouped_batches(lengths[train], batch_size, rng):
                    check_stop(should_stop)
                    rows = train[b]
                    with autocast():
                        logits = net(**inputs_for(rows)).logits.float()
                    target = targets[rows].to(device)
                    loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, target) if multi_label
                            else torch.nn.functional.cross_entropy(logits, target))
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    done["steps"] += 1
                    report(f"fine-tuning fold {fold + 1} of {len(splits)}", 0.5 + 0.2 * done["steps"] / total_steps)
            net.eval()
            with torch.inference_mode():
                for b in sorted_batches(lengths[test], max(batch_size, 64)):
                    rows = test[b]
                    with autocast():
                        logits = net(**inputs_for(rows)).logits
                    proba[rows] = probabilities(logits, multi_label)
        del net, optimizer
    return proba


def _one_blas_thread():
    """Small linear models run fastest on one BLAS thread.

    With a thread per core, OpenBLAS spins on cores that the encoder, the app or other
    jobs also use, and a one-second fit takes ten (measured on a loaded 2-core box).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# --------------------------------------------------------------------------- label errors


def _multilabel_lists(y: np.ndarray) -> list[list[int]]:
    return [list(np.flatnonzero(row > 0.5)) for row in y]


def label_quality(labels: Sequence, proba: np.ndarray, classes: Sequence[str], *,
                  multi_label: bool = False, separator: str = ";") -> pd.DataFrame:
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
    # The per-class pruning is O(rows): one process reviews 12.7k rows in well under a second.

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
            issues = find_label_issues(y, proba, filter_by="prune_by_noise_rate", min_examples_per_class=0,
                                       n_jobs=1)
        else:
            issues = proba.argmax(axis=1) != y
        best = proba.argmax(axis=1)
        suggested = [classes[j] for j in best]
        confidence = proba[np.arange(len(y)), best]
        given = [classes[j] for j in y]
    return pd.DataFrame({
        "given_label": given,
        "suggested_label": suggested,
        "confidence": np.round(confidence, 4),
        "quality": np.round(quality, 4),
        "is_issue": np.asarray(issues, dtype=bool),
    })


def find_label_errors(labels: Sequence, proba: np.ndarray, classes: Sequence[str], *,
                      texts: Sequence[str] | None = None, rows: Sequence[int] | None = None,
                      multi_label: bool = False, separator: str = ";") -> pd.DataFrame:
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
    return flagged[["row", "text", "given_label", "suggested_label", "confidence", "score", "finding"]].reset_index(drop=True)


# --------------------------------------------------------------------------- duplicates and conflicts


def normalize_text(text) -> str:
    """Text as compared for exact duplicates: case, accents, punctuation and spacing ignored."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


class _UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression keeps later finds short
            parent[i], i = root, parent[i]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        roots: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            roots.setdefault(self.find(i), []).append(i)
        return [members for members in roots.values() if len(members) > 1]


def _similarity_blocks(features, chunk_size: int = 1024):
    """Yield ``(start, dense cosine similarities of rows start.. to all rows)``, one block at a time."""
    import scipy.sparse as sp

    if sp.issparse(features):
        from sklearn.preprocessing import normalize

        x = normalize(features.tocsr().astype(np.float32))
        xt = x.T.tocsc()
    else:
        x = normalize_rows(features)
        xt = x.T
    for start in range(0, x.shape[0], chunk_size):
        block = x[start:start + chunk_size] @ xt
        yield start, (block.toarray() if sp.issparse(block) else np.asarray(block))


def similar_pairs(features, threshold: float = 0.95, *, chunk_size: int = 1024):
    """All pairs ``(i, j, similarity)`` with i < j and cosine similarity ≥ ``threshold``.

    ``features`` are rows (dense array or scipy sparse matrix); they are L2-normalised
    here. The similarity matrix is computed one block of rows at a time, so memory
    stays at ``chunk_size × N`` numbers whatever the data size.
    """
    out_i, out_j, out_s = [], [], []
    for start, block in _similarity_blocks(features, chunk_size):
        ii, jj = np.nonzero(block >= threshold - 1e-6)
        ii = ii + start
        keep = jj > ii
        out_i.append(ii[keep])
        out_j.append(jj[keep])
        out_s.append(np.clip(block[ii[keep] - start, jj[keep]], -1, 1))
    if not out_i:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.float32)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def _group_frame(groups: list[list[int]], best_sim: dict[int, float], texts, labels, rows) -> pd.DataFrame:
    records = []
    # Largest groups first; inside a group, original row order.
    for g, members in enumerate(sorted(groups, key=lambda m: (-len(m), min(m))), start=1):
        for i in sorted(members):
            records.append({"group": g, "row": rows[i], "text": str(texts[i]),
                            "given_label": labels[i] if labels is not None else None,
                            "similarity": round(float(best_sim.get(i, 1.0)), 4), "group_size": len(members)})
    return pd.DataFrame(records, columns=["group", "row", "text", "given_label", "similarity", "group_size"])


def find_near_duplicates(features, threshold: float = 0.95, *, texts: Sequence[str] | None = None,
                         labels: Sequence | None = None, rows: Sequence[int] | None = None,
                         chunk_size: int = 1024, pairs=None) -> pd.DataFrame:
    """Groups of texts that say (nearly) the same thing.

    Two rows are linked when their cosine similarity is at least ``threshold`` or their
    normalised texts are identical (see :func:`normalize_text`); groups are the
    connected components of those links (union-find), so A~B and B~C put A, B, C in
    one group.

    Parameters
    ----------
    features : np.ndarray or sparse matrix
      One row per text: embeddings or TF-IDF vectors.
    threshold : float
      Cosine similarity from which two texts count as near-duplicates (0.95: reworded
      or re-punctuated copies; lower finds paraphrases too).
    texts, labels, rows : optional
      Shown in the result; ``rows`` default to ``0..N-1``.

    Returns
    -------
    pd.DataFrame
      Columns ``group`` (1 = largest group), ``row``, ``text``, ``given_label``,
      ``similarity`` (to its closest group member), ``group_size``; one line per
      member, members of a group together.
    """
    n = features.shape[0]
    rows = list(range(n)) if rows is None else list(rows)
    texts = [""] * n if texts is None else list(texts)
    uf = _UnionFind(n)
    best: dict[int, float] = {}
    ii, jj, ss = pairs if pairs is not None else similar_pairs(features, threshold, chunk_size=chunk_size)
    for i, j, s in zip(ii.tolist(), jj.tolist(), ss.tolist()):
        uf.union(i, j)
        best[i] = max(best.get(i, -1.0), s)
        best[j] = max(best.get(j, -1.0), s)
    if texts is not None:
        seen: dict[str, int] = {}
        for i, t in enumerate(texts):
            key = normalize_text(t)
            if not key:
                continue
            if key in seen:
                uf.union(seen[key], i)
                best[i] = best[seen[key]] = 1.0
            else:
                seen[key] = i
    return _group_frame(uf.groups(), best, texts, labels, rows)


def find_conflicts(duplicates: pd.DataFrame) -> pd.DataFrame:
    """The duplicate groups whose members carry different labels.

    Takes the result of :func:`find_near_duplicates` (with labels) and keeps the groups
    with more than one distinct given label among labelled members. Adds
    ``suggested_label`` (the group's most common label; ties: the first seen) and
    ``labels_in_group`` (e.g. ``"fresh ×2, rotten ×1"``).
    """
    columns = list(duplicates.columns) + ["suggested_label", "labels_in_group"]
    if duplicates.empty or "given_label" not in duplicates:
        return pd.DataFrame(columns=columns)
    parts = []
    for _, members in duplicates.groupby("group", sort=True):
        given = [g for g in members["given_label"] if clean_label(g) is not None]
        if len(set(given)) < 2:
            continue
        counts = pd.Series(given).value_counts(sort=True)
        members = members.copy()
        members["suggested_label"] = counts.index[0] if counts.iloc[0] > counts.iloc[1:].max() else None
        members["labels_in_group"] = ", ".join(f"{name} ×{count}" for name, count in counts.items())
        parts.append(members)
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    # Renumber so conflict groups read 1, 2, 3…
    out["group"] = pd.factorize(out["group"])[0] + 1
    return out[columns]


# --------------------------------------------------------------------------- outliers and what to label next


def neighbours(features, threshold: float = 0.95, k: int = 10, *, chunk_size: int = 1024):
    """One blockwise pass for both :func:`similar_pairs` and :func:`knn_distance`.

    Returns ``((i, j, similarity), mean distance to the k nearest)``; the similarity
    matrix is the costliest part of a review of 10k+ rows, so it is computed once.
    """
    n = features.shape[0]
    kk = max(1, min(k, n - 1))
    out_i, out_j, out_s = [], [], []
    distance = np.zeros(n, dtype=np.float64)
    for start, block in _similarity_blocks(features, chunk_size):
        ii, jj = np.nonzero(block >= threshold - 1e-6)
        keep = jj > ii + start
        out_i.append(ii[keep] + start)
        out_j.append(jj[keep])
        out_s.append(np.clip(block[ii[keep], jj[keep]], -1, 1))
        if n > 1:
            block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = -np.inf  # not itself
            nearest = np.partition(block, block.shape[1] - kk, axis=1)[:, -kk:]
            distance[start:start + block.shape[0]] = 1.0 - nearest.mean(axis=1)
    if not out_i:
        pairs = (np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.float32))
    else:
        pairs = (np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s))
    return pairs, distance


def knn_distance(features, k: int = 10, *, chunk_size: int = 1024) -> np.ndarray:
    """Mean cosine distance of each row to its ``k`` nearest other rows (blockwise, like :func:`similar_pairs`)."""
    n = features.shape[0]
    k = max(1, min(k, n - 1))
    out = np.zeros(n, dtype=np.float64)
    for start, block in _similarity_blocks(features, chunk_size):
        block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = -np.inf  # not itself
        nearest = np.partition(block, block.shape[1] - k, axis=1)[:, -k:]
        out[start:start + block.shape[0]] = 1.0 - nearest.mean(axis=1)
    return out


def find_outliers(features, *, texts: Sequence[str] | None = None, labels: Sequence | None = None,
                  rows: Sequence[int] | None = None, share: float = 0.01, max_rows: int = 200,
                  k: int = 10, distance: np.ndarray | None = None) -> pd.DataFrame:
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
    return pd.DataFrame({
        "row": [rows[i] for i in order],
        "text": [str(texts[i]) if texts is not None else "" for i in order],
        "given_label": [labels[i] if labels is not None else None for i in order],
        "score": np.round(np.clip(distance[order], 0, 1), 4),
    }, columns=columns)


def what_to_label_next(labelled_features, labels: Sequence, unlabelled_features, *,
                       texts: Sequence[str] | None = None, rows: Sequence[int] | None = None,
                       multi_label: bool | None = None, classes: Sequence[str] | None = None,
                       top: int | None = None, c: float | None = None) -> pd.DataFrame:
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
    m = _main_features(_feature_dict(unlabelled_features)).shape[0]
    if m == 0:
        return pd.DataFrame(columns=columns)
    space, y = _encode(labels, multi_label, classes)
    with _one_blas_thread():
        proba = _fit_predict(_feature_dict(labelled_features), y, _feature_dict(unlabelled_features),
                             space.num_classes, space.multi_label, c)
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
    frame = pd.DataFrame({
        "row": rows, "text": [str(t) for t in texts] if texts is not None else [""] * m,
        "suggested_label": suggested, "confidence": np.round(confidence, 4),
        "margin": np.round(margin, 4), "entropy": np.round(entropy, 4), "score": np.round(1 - margin, 4),
    }, columns=columns)
    frame = frame.sort_values(["margin", "entropy"], ascending=[True, False], kind="stable").reset_index(drop=True)
    return frame if top is None else frame.head(top)


# --------------------------------------------------------------------------- the whole review


@dataclass
class ReviewResult:
    """Everything one review found, as DataFrames a person can read.

    ``findings`` is the combined ranked list (columns :data:`FINDING_COLUMNS`); the
    other frames hold each kind of finding with its own details. ``quality`` has one
    line per labelled row (label quality, suggestion, ``is_issue``), for custom
    rankings and benchmarks.
    """

    findings: pd.DataFrame
    label_errors: pd.DataFrame
    near_duplicates: pd.DataFrame
    conflicts: pd.DataFrame
    outliers: pd.DataFrame
    label_next: pd.DataFrame
    quality: pd.DataFrame
    summary: dict
    proba: np.ndarray
    classes: list[str]
    fingerprint: str
    from_cache: bool = False

    _FRAMES = ("findings", "label_errors", "near_duplicates", "conflicts", "outliers", "label_next", "quality")

    def __post_init__(self) -> None:
        for name in self._FRAMES:  # one convention for missing labels: None
            setattr(self, name, _none_for_missing_text(getattr(self, name).reset_index(drop=True)))

    def summary_lines(self) -> list[str]:
        """Plain-language lines for the CLI and the page."""
        s = self.summary
        took = "reused from the cache" if self.from_cache else f"{s['seconds']:.1f} s"
        lines = [f"Reviewed {s['labelled_rows']:,} labelled rows ({s['method']}, {s['folds']}-fold cross-validation, "
                 f"{took})."]
        lines.append(f"Likely mislabels: {s['likely_mislabels']} (about {s['estimated_noise_share']:.1%} of labels).")
        lines.append(f"Conflicting duplicates: {_n(s['conflict_groups'], 'group')} ({_n(s['conflict_rows'], 'row')}); "
                     f"other near duplicates: {_n(s['duplicate_groups'], 'group')} ({_n(s['duplicate_rows'], 'row')}).")
        lines.append(f"Outliers shown: {s['outliers']}.")
        if s["unlabelled_rows"]:
            lines.append(f"Unlabelled rows ranked for labelling next: {s['unlabelled_rows']}.")
        return lines

    # --- disk cache -----------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder = Path(folder)
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in self._FRAMES:
            getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
        np.save(tmp / "proba.npy", self.proba)
        meta = {"version": _CACHE_VERSION, "summary": self.summary, "classes": self.classes,
                "fingerprint": self.fingerprint}
        (tmp / "meta.json").write_text(json.dumps(meta, default=_json_default), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)  # readers never see half a cache entry

    @classmethod
    def load(cls, folder: Path) -> "ReviewResult":
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("version") != _CACHE_VERSION:
            raise ValueError("old cache version")
        frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in cls._FRAMES}
        return cls(**frames, summary=meta["summary"], proba=np.load(folder / "proba.npy"),
                   classes=list(meta["classes"]), fingerprint=meta["fingerprint"], from_cache=True)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _none_for_missing_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns back as Python objects with None for missing, as they were before saving."""
    for col in frame.columns:
        if not (pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col])):
            values = frame[col].astype(object)
            frame[col] = values.where(values.notna(), None)
    return frame


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)


def cache_root() -> Path:
    """``$TEXTCLF_HOME/cache/review`` (``./.textclf_cache/review`` when TEXTCLF_HOME is unset)."""
    home = os.environ.get("TEXTCLF_HOME")
    return (Path(home) / "cache" if home else Path(".textclf_cache")) / "review"


def review_fingerprint(texts: Iterable, labels: Iterable, rows: Iterable, settings: dict) -> str:
    """Version of the data + settings: any change of a text, a label, a row or a setting changes it."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for t, lab, r in zip(texts, labels, rows):
        h.update(b"\x1e" + str(r).encode() + b"\x1f" + str(t).encode("utf-8", "replace") + b"\x1f"
                 + str(lab if lab is not None else "\x00").encode("utf-8", "replace"))
    return h.hexdigest()[:32]


def _coerce_frame(frame: pd.DataFrame, text_col: str, label_col: str, row_col: str | None) -> pd.DataFrame:
    for col in (text_col, label_col):
        if col not in frame.columns:
            raise DataError(f"Column {col!r} is not in the data", hint=f"Columns are: {', '.join(map(str, frame.columns))}")
    rows = frame[row_col].tolist() if row_col and row_col in frame.columns else list(range(len(frame)))
    texts = frame[text_col].map(lambda t: "" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t))
    return pd.DataFrame({"row": rows, "text": texts.tolist(), "label": [clean_label(v) for v in frame[label_col]]})


def review(frame: pd.DataFrame, *, model: str = DEFAULT_MODEL, method: str = "combined", folds: int = 5,
           repeats: int = 3, seed: int = 0, text_col: str = "text", label_col: str = "label", row_col: str | None = "row",
           multi_label: bool | None = None, duplicate_threshold: float = 0.95, outlier_share: float = 0.01,
           label_next_top: int = 200, max_length: int = 128, cache: bool = True,
           embeddings: np.ndarray | None = None, emit: Emit | None = None,
           thorough: dict | None = None, should_stop: ShouldStop | None = None) -> ReviewResult:
    """Review the labels of a table: likely mislabels, duplicates, conflicts, outliers, what to label next.

    Parameters
    ----------
    frame : pd.DataFrame
      Usually ``data.prepare(...)``'s result (``row``, ``text``, ``label``; unlabelled
      rows have ``label`` None). Other column names through ``text_col`` /
      ``label_col`` / ``row_col``; without a row column, row ids are positions.
    model, method, folds, repeats, seed
      See :func:`out_of_sample_proba`.
    duplicate_threshold : float
      Cosine similarity from which two texts are near-duplicates.
    cache : bool
      Reuse an earlier review of exactly the same data and settings (memory, then
      ``$TEXTCLF_HOME/cache/review``) and store this one.
    embeddings : np.ndarray, optional
      Precomputed embeddings of all rows of ``frame`` (skips the encoder).
    emit : callable, optional
      Receives progress events (``{"type": "review_stage", "stage": ..., "progress": 0..1}``).
    thorough : dict, optional
      Overrides of :data:`THOROUGH_SETTINGS` for ``method="thorough"``.
    should_stop : callable, optional
      Checked at every stage, fold and fine-tuning step; when it returns True the review
      raises :class:`~textclf_core.errors.CancelledError` (nothing is cached).

    Returns
    -------
    ReviewResult
    """
    started = time.perf_counter()
    data = _coerce_frame(frame, text_col, label_col, row_col)
    if data.empty:
        raise DataError("The table has no rows to review")
    settings = {"model": model if method != "tfidf" else None, "method": method, "folds": int(folds),
                "repeats": max(1, int(repeats)),
                "seed": int(seed), "multi_label": multi_label, "duplicate_threshold": float(duplicate_threshold),
                "outlier_share": float(outlier_share), "label_next_top": int(label_next_top),
                "max_length": int(max_length), "v": _CACHE_VERSION}
    if method == "thorough":  # its fine-tuning settings change the result: part of the data version
        settings["thorough"] = {**THOROUGH_SETTINGS, **(thorough or {})}
    if embeddings is not None:  # given vectors replace the model: they are part of the data version
        settings["embeddings"] = hashlib.sha256(np.ascontiguousarray(embeddings, dtype=np.float32).tobytes()).hexdigest()
    fp = review_fingerprint(data["text"], data["label"], data["row"], settings)

    def progress(stage: str, value: float) -> None:
        if stage != "done":  # a finished review is kept, even when Cancel came in its last moment
            check_stop(should_stop)
        if emit:
            emit({"type": "review_stage", "stage": stage, "progress": value})

    if cache:
        hit = _cache_get(fp)
        if hit is not None:
            progress("done", 1.0)
            return hit

    labelled = data["label"].notna().to_numpy()
    n_labelled = int(labelled.sum())
    if n_labelled < 4:
        raise DataError(f"Label review needs at least 4 labelled rows, found {n_labelled}",
                        hint="Choose the column that holds the labels")
    space = LabelSpace.from_labels(data.loc[labelled, "label"].tolist(), multi_label=multi_label)

    progress("features", 0.0)
    texts = data["text"].tolist()
    x = _as_features(texts, method, model, max_length=max_length, embeddings=embeddings,
                     emit=(lambda e: emit(dict(e, stage="features")) if emit else None), should_stop=should_stop)
    progress("cross-validation", 0.5)
    lab_idx = np.flatnonzero(labelled)
    lab = data.iloc[lab_idx]
    x_lab = _take(x, lab_idx)
    proba, classes = out_of_sample_proba(lab["text"].tolist(), lab["label"].tolist(), method=method, folds=folds,
                                         repeats=repeats, seed=seed, multi_label=space.multi_label, classes=space.classes,
                                         features=x_lab, model=model, max_length=max_length,
                                         thorough=settings.get("thorough"), should_stop=should_stop,
                                         emit=(lambda e: emit(e) if emit and e.get("type") == "review_stage" else None))
    progress("label errors", 0.7)
    quality = label_quality(lab["label"].tolist(), proba, classes, multi_label=space.multi_label,
                            separator=space.separator or ";")
    quality.insert(0, "row", lab["row"].tolist())
    quality.insert(1, "text", lab["text"].tolist())
    errors = quality[quality["is_issue"] & (quality["given_label"] != quality["suggested_label"])].copy()
    errors["score"] = np.round(1 - errors["quality"], 4)
    errors["finding"] = MISLABEL
    errors = errors.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    errors = errors[["row", "text", "given_label", "suggested_label", "confidence", "score", "finding"]]

    progress("duplicates", 0.8)
    similar = _main_features(x)
    pairs, distance = neighbours(similar, duplicate_threshold)
    dups = find_near_duplicates(similar, duplicate_threshold, texts=texts, labels=data["label"].tolist(),
                                rows=data["row"].tolist(), pairs=pairs)
    conflicts = find_conflicts(dups)
    progress("outliers", 0.9)
    outliers = find_outliers(similar, texts=texts, labels=data["label"].tolist(), rows=data["row"].tolist(),
                             share=outlier_share, distance=distance)
    unl_idx = np.flatnonzero(~labelled)
    label_next = what_to_label_next(x_lab, lab["label"].tolist(), _take(x, unl_idx), texts=data["text"].iloc[unl_idx].tolist(),
                                    rows=data["row"].iloc[unl_idx].tolist(), multi_label=space.multi_label,
                                    classes=space.classes, top=label_next_top)

    findings = combine_findings(errors, conflicts, dups, outliers, label_next)
    summary = {
        "rows": len(data), "labelled_rows": n_labelled, "unlabelled_rows": int(len(unl_idx)),
        "classes": list(classes), "multi_label": space.multi_label, "method": method,
        "model": settings["model"], "folds": int(folds), "repeats": settings["repeats"],
        "likely_mislabels": int(len(errors)),
        "estimated_noise_share": float(len(errors) / max(n_labelled, 1)),
        "conflict_groups": int(conflicts["group"].nunique()) if len(conflicts) else 0,
        "conflict_rows": int(len(conflicts)),
        # Duplicates without a label conflict (conflicts are counted above).
        "duplicate_groups": int(findings.loc[findings["finding"] == DUPLICATE, "group"].nunique()),
        "duplicate_rows": int((findings["finding"] == DUPLICATE).sum()),
        "outliers": int(len(outliers)),
        "label_next": int(len(label_next)),
        "seconds": round(time.perf_counter() - started, 2),
        "fingerprint": fp,
    }
    result = ReviewResult(findings=findings, label_errors=errors, near_duplicates=dups, conflicts=conflicts,
                          outliers=outliers, label_next=label_next, quality=quality, summary=summary,
                          proba=proba, classes=list(classes), fingerprint=fp)
    if cache:
        _cache_put(fp, result)
    progress("done", 1.0)
    return result


def combine_findings(errors: pd.DataFrame, conflicts: pd.DataFrame, duplicates: pd.DataFrame,
                     outliers: pd.DataFrame, label_next: pd.DataFrame) -> pd.DataFrame:
    """One ranked list of all findings (columns :data:`FINDING_COLUMNS`).

    Ordered by finding type (mislabels, conflicts, duplicates, outliers, label next),
    then by ``score`` (higher = look at it first). A row in a conflicting group is
    listed as a conflict, not again as a plain duplicate.
    """
    parts = []
    if len(errors):
        e = errors.copy()
        e["group"] = None
        e["detail"] = [f"model says '{s}' with {c:.0%} confidence" for s, c in zip(e["suggested_label"], e["confidence"])]
        parts.append(e)
    if len(conflicts):
        c = conflicts.copy()
        c["score"] = c["similarity"]
        c["finding"] = CONFLICT
        c["detail"] = [f"group {g} of {n} similar texts: {labels}"
                       for g, n, labels in zip(c["group"], c["group_size"], c["labels_in_group"])]
        c["group"] = ["conflict " + str(g) for g in c["group"]]
        parts.append(c)
    if len(duplicates):
        in_conflict = set(conflicts["row"]) if len(conflicts) else set()
        d = duplicates[~duplicates["row"].isin(in_conflict)].copy()
        if len(d):
            d["group"] = pd.factorize(d["group"])[0] + 1
            d["suggested_label"] = None
            d["score"] = d["similarity"]
            d["finding"] = DUPLICATE
            d["detail"] = [f"group {g} of {n} similar texts with the same label" for g, n in zip(d["group"], d["group_size"])]
            d["group"] = ["duplicate " + str(g) for g in d["group"]]
            parts.append(d)
    if len(outliers):
        o = outliers.copy()
        o["suggested_label"] = None
        o["finding"] = OUTLIER
        o["group"] = None
        o["detail"] = "unlike the other texts"
        parts.append(o)
    if len(label_next):
        ln = label_next.copy()
        ln["given_label"] = None
        ln["finding"] = LABEL_NEXT
        ln["group"] = None
        ln["detail"] = [f"model unsure: best guess '{s}' at {c:.0%}" for s, c in zip(ln["suggested_label"], ln["confidence"])]
        parts.append(ln)
    if not parts:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    out = pd.concat([p[FINDING_COLUMNS].astype(object) for p in parts], ignore_index=True)
    out["score"] = pd.to_numeric(out["score"]).astype(float)
    order = {name: i for i, name in enumerate(FINDING_TYPES)}
    out["_type"] = out["finding"].map(order)
    # Groups stay together: sort groups by their best score, then members by score.
    out["_group_score"] = out.groupby(out["group"].fillna(out.index.to_series().astype(str)))["score"].transform("max")
    out = out.sort_values(["_type", "_group_score", "group", "score"], ascending=[True, False, True, False],
                          kind="stable", na_position="last")
    return out.drop(columns=["_type", "_group_score"]).reset_index(drop=True)


def _cache_get(fp: str) -> ReviewResult | None:
    if fp in _MEMORY_CACHE:
        _MEMORY_CACHE.move_to_end(fp)
        hit = _MEMORY_CACHE[fp]
        hit.from_cache = True
        return hit
    folder = cache_root() / fp
    if (folder / "meta.json").is_file():
        try:
            hit = ReviewResult.load(folder)
        except Exception:  # a damaged or outdated cache entry is recomputed, never fatal
            return None
        _remember(fp, hit)
        return hit
    return None


def _cache_put(fp: str, result: ReviewResult) -> None:
    _remember(fp, result)
    try:
        result.save(cache_root() / fp)
    except OSError:  # a read-only or full disk only costs the warm start
        pass


def _remember(fp: str, result: ReviewResult) -> None:
    _MEMORY_CACHE[fp] = result
    _MEMORY_CACHE.move_to_end(fp)
    while len(_MEMORY_CACHE) > _MEMORY_CACHE_SIZE:
        _MEMORY_CACHE.popitem(last=False)


def clear_memory_cache() -> None:
    """Forget reviews kept in memory (the disk cache stays)."""
    _MEMORY_CACHE.clear()


# --------------------------------------------------------------------------- change log


@dataclass
class Change:
    """One edit of one original row."""

    row: int
    action: str  # accept | relabel | drop | keep
    old_label: str | None = None
    new_label: str | None = None
    finding: str | None = None
    note: str | None = None
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


class ChangeLog:
    """The edits made while reviewing labels, in order, over the original rows.

    - ``accept``: take the suggested label (``new_label``);
    - ``relabel``: set a label the person typed or picked;
    - ``drop``: leave the row out of the cleaned data;
    - ``keep``: the row was checked and stays as it is (undoes an earlier drop/relabel).

    The latest edit of a row wins. :meth:`apply` gives the cleaned table;
    :meth:`export` writes it and the change log (``<name>.changes.csv``) side by side.
    """

    COLUMNS = ["row", "action", "old_label", "new_label", "finding", "note", "time"]

    def __init__(self, changes: Iterable[Change] | None = None):
        self._changes: list[Change] = list(changes or [])

    # --- recording --------------------------------------------------------------
    def record(self, row, action: str, *, old_label=None, new_label=None, finding=None, note=None) -> Change:
        if action not in ACTIONS:
            raise TextclfError(f"Unknown review action {action!r}; use one of: {', '.join(ACTIONS)}")
        if action in ("accept", "relabel") and clean_label(new_label) is None:
            raise TextclfError(f"Row {row}: '{action}' needs a new label",
                               hint="Pick a label, or use 'drop' to leave the row out")
        change = Change(row=_as_row(row), action=action, old_label=clean_label(old_label),
                        new_label=clean_label(new_label) if action in ("accept", "relabel") else None,
                        finding=finding, note=note)
        self._changes.append(change)
        return change

    def accept(self, row, suggested_label, *, old_label=None, finding=None) -> Change:
        return self.record(row, "accept", old_label=old_label, new_label=suggested_label, finding=finding)

    def relabel(self, row, new_label, *, old_label=None, finding=None) -> Change:
        return self.record(row, "relabel", old_label=old_label, new_label=new_label, finding=finding)

    def drop(self, row, *, old_label=None, finding=None) -> Change:
        return self.record(row, "drop", old_label=old_label, finding=finding)

    def keep(self, row, *, old_label=None, finding=None) -> Change:
        return self.record(row, "keep", old_label=old_label, finding=finding)

    def record_many(self, findings: pd.DataFrame, action: str) -> int:
        """Apply one action to every row of a findings table (bulk accept / keep / drop).

        ``accept`` skips rows without a suggestion. Returns the number recorded.
        """
        count = 0
        for rec in findings.to_dict("records"):
            suggestion = rec.get("suggested_label")
            if action == "accept" and clean_label(suggestion) is None:
                continue
            if action == "accept" and clean_label(suggestion) == clean_label(rec.get("given_label")):
                action_here = "keep"  # e.g. the majority member of a conflict group: nothing to change
            else:
                action_here = action
            self.record(rec["row"], action_here, old_label=rec.get("given_label"),
                        new_label=suggestion if action_here == "accept" else None, finding=rec.get("finding"))
            count += 1
        return count

    # --- undo -------------------------------------------------------------------
    def undo(self) -> Change | None:
        """Take back the last edit; returns it (None when there was nothing to undo)."""
        return self._changes.pop() if self._changes else None

    def undo_all(self) -> int:
        count = len(self._changes)
        self._changes.clear()
        return count

    # --- reading ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._changes)

    def __iter__(self):
        return iter(list(self._changes))

    @property
    def changes(self) -> list[Change]:
        return list(self._changes)

    def current(self) -> dict[int, Change]:
        """The edit in force for each row (the latest one)."""
        latest: dict[int, Change] = {}
        for change in self._changes:
            latest[change.row] = change
        return latest

    def counts(self) -> dict[str, int]:
        """How many rows are, in the end, relabelled, dropped or kept (``accept`` counts as relabelled)."""
        out = {"relabelled": 0, "dropped": 0, "kept": 0}
        for change in self.current().values():
            if change.action in ("accept", "relabel"):
                if change.new_label != change.old_label:
                    out["relabelled"] += 1
                else:
                    out["kept"] += 1
            elif change.action == "drop":
                out["dropped"] += 1
            else:
                out["kept"] += 1
        return out

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([vars(c) for c in self._changes], columns=self.COLUMNS)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "ChangeLog":
        log = cls()
        for rec in frame.to_dict("records"):
            rec = {k: (None if _missing(v) else v) for k, v in rec.items()}
            change = log.record(rec["row"], rec["action"], old_label=rec.get("old_label"),
                                new_label=rec.get("new_label"), finding=rec.get("finding"), note=rec.get("note"))
            if rec.get("time"):
                change.time = str(rec["time"])
        return log

    # --- applying ---------------------------------------------------------------
    def apply(self, frame: pd.DataFrame, *, label_col: str = "label", row_col: str | None = None) -> pd.DataFrame:
        """The cleaned table: labels changed, dropped rows removed, every other cell as it was.

        Rows are matched by ``row_col`` when given (e.g. ``"row"`` in a prepared frame),
        else by position in ``frame`` (the original file's row order).
        """
        if label_col not in frame.columns:
            raise DataError(f"Column {label_col!r} is not in the data")
        if row_col is not None and row_col not in frame.columns:
            raise DataError(f"Column {row_col!r} is not in the data")
        ids = frame[row_col].tolist() if row_col is not None else list(range(len(frame)))
        position = {_as_row(r): i for i, r in enumerate(ids)}
        out = frame.copy()
        drop = []
        label_values = out[label_col].astype(object).tolist()
        for row, change in self.current().items():
            if row not in position:
                raise DataError(f"The change log refers to row {row}, which is not in the data",
                                hint="Apply the change log to the table it was made on")
            i = position[row]
            if change.action in ("accept", "relabel"):
                label_values[i] = change.new_label
            elif change.action == "drop":
                drop.append(i)
        out[label_col] = label_values
        if drop:
            out = out.drop(index=out.index[sorted(drop)])
        return out

    def export(self, frame: pd.DataFrame, path: str | Path, *, label_col: str = "label",
               row_col: str | None = None) -> tuple[Path, Path]:
        """Write the cleaned table to ``path`` (CSV) and the change log beside it.

        Returns ``(cleaned_csv, changes_csv)``; the change log is ``<stem>.changes.csv``.
        """
        from .data import write_csv  # formulas neutralised: the cleaned table is opened in spreadsheets

        path = Path(path)
        cleaned = self.apply(frame, label_col=label_col, row_col=row_col)
        changes = path.with_name(path.stem + ".changes.csv")
        write_csv(cleaned, path, neutralize=True)
        write_csv(self.to_frame(), changes, neutralize=True)
        return path, changes

    def to_csv_bytes(self) -> bytes:
        """The change log as CSV bytes (for a download button)."""
        from .data import neutralize_formulas

        return neutralize_formulas(self.to_frame()).to_csv(index=False).encode("utf-8")


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _as_row(row) -> int:
    try:
        return int(row)
    except (TypeError, ValueError):
        raise TextclfError(f"Row id {row!r} is not a whole number") from None


# --------------------------------------------------------------------------- benchmarks


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
