"""The quick first model: TF-IDF word and character n-grams with a linear classifier.

Features: word 1-2 grams and character 2-5 grams inside word boundaries
(``char_wb``), both sublinear TF-IDF, side by side; for texts in a script without
spaces (Chinese, Japanese, Thai: data.language's profile) segmented word 1-2 grams
and character 1-3 grams instead (FEATURE_SETS), saved with the model. Classifiers: logistic
regression (default), complement/multinomial Naive Bayes, or a linear SVM whose
margins are turned into probabilities by a temperature (Platt) fitted on the
validation split. Multi-label tasks train one-vs-rest.

Every classifier here is linear, so the model is saved as plain data — the
vocabularies and idf weights (JSON + .npz) and one weight matrix, bias vector
and link function — never as a pickle, and rebuilt with the same scikit-learn
transformers for prediction. The regularisation strength is picked on the
validation split from a short grid; each candidate shows up as an event.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax

from textclf_core.config import RunConfig
from textclf_core.engine.tfidf import (  # noqa: F401 - the baseline's public names
    CHAR_PARAMS,
    FEATURE_SETS,
    SEGMENTED,
    SEGMENTED_WORD_PARAMS,
    SHORT_CHAR_PARAMS,
    TFIDF_PARAMS,
    WORD_PARAMS,
    Hasher,
    SegmentedNgrams,
    vectorizer_kwargs,
)
from textclf_core.errors import CancelledError, ModelLoadError, TextclfError
from textclf_core.labels import LabelSpace
from textclf_core.store.model_folder import PredictorBase, read_info, write_info

from .sizing import uses_large_path

if TYPE_CHECKING:  # annotations only: the baseline imports no torch
    from textclf_core.engine.loop import FitResult

FORMAT_VERSION = 1
KIND = "baseline"
log = logging.getLogger(__name__)

# Regularisation grid per classifier; the best on validation is kept.
C_GRID = {"logreg": [3.0, 10.0], "svm": [0.1, 0.3, 1.0], "nb": [0.03, 0.1, 0.3]}

# --- the large-data path (bounded memory, both cores) ---------------------------------------------------
# Today's in-memory TF-IDF costs ~0.7 ms a row and its memory grows with the vocabulary: 200k short rows
# took 139 s and 3.5 GB, 1M took 748 s and 14.3 GB on one core (MEASUREMENTS.md). From these sizes on, the
# baseline hashes its n-grams in chunks instead (same word 1-2 + char_wb 2-5 n-grams, same sublinear TF-IDF),
# with IDF from document frequencies summed per chunk, and trains an out-of-core linear model
# (SGDClassifier / naive Bayes partial_fit) over a few shuffled passes. Below them the model is unchanged.
# Where the large path takes over (rows, characters) is sizing's: sizing.uses_large_path.
HASH_FEATURES = 2**20  # hashed columns per block (the in-memory path caps its vocabularies at 200k + 300k)
CHUNK_CHARS = 2_000_000  # characters of text per chunk (~17k short reviews): bounds each chunk's matrix
CHUNK_MAX_ROWS = 50_000
LARGE_EPOCHS = 5  # at most this many shuffled passes of the SGD models over the chunks (naive Bayes needs one)
# ... and at least 2, as many as it takes to see about this many rows: averaged SGD on 800k rows has converged
# in 2 passes, while 2,400 rows need 5. Each pass of the two candidates costs ~20 s of CPU on 1M short rows.
EPOCH_ROWS = 1_000_000
# The SGD models' alpha is 1 / (C x training rows), the same penalty as the in-memory path's C grid
# (liblinear/lbfgs minimise C x sum(loss) + |w|^2 / 2; SGD minimises mean(loss) + alpha |w|^2 / 2).
LARGE_WORKERS = 2  # processes hashing chunks; TEXTCLF_BASELINE_WORKERS overrides

Emit = Callable[[dict], None]


def _noop(event: dict) -> None:
    return None


def _texts(texts) -> list[str]:
    return ["" if t is None or (isinstance(t, float) and t != t) else str(t) for t in texts]


def feature_set_for(texts: Sequence[str], config: RunConfig | None = None) -> str:
    """``"segmented"`` when the texts' language needs a word segmenter (data.language's profile, from a seeded
    sample of rows), else ``"words"`` (today's analyzers). ``config.baseline_features``
    forces one (benches compare them)."""
    forced = config.baseline_features if config is not None and config.baseline_features != "auto" else None
    if forced is not None:
        if forced not in FEATURE_SETS:
            raise TextclfError(f"Unknown baseline features '{forced}'", hint=f"Use one of {', '.join(FEATURE_SETS)}")
        return forced
    from textclf_core.data.language import detect

    return "segmented" if detect(list(texts)).needs_segmentation else "words"


class _Features:
    """Two TF-IDF blocks (word + char_wb) built from saved vocabularies and idf weights."""

    def __init__(self, blocks: list[dict]):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

        self.blocks = blocks
        self._parts = []
        for block in blocks:
            if block.get("hashing"):  # the large-data path: no vocabulary, a fixed number of hashed columns
                tfidf = TfidfTransformer(**block["tfidf"])
                tfidf.idf_ = np.asarray(block["idf"], dtype=np.float64)
                tfidf.n_features_in_ = int(block["n_features"])
                self._parts.append((Hasher(block["params"], int(block["n_features"])), tfidf))
                continue
            params = vectorizer_kwargs(block["params"], limits=False)  # a fixed vocabulary replaces the limits
            counter = CountVectorizer(vocabulary=block["vocabulary"], dtype=np.float64, **params)
            tfidf = TfidfTransformer(**block["tfidf"])
            tfidf.idf_ = np.asarray(block["idf"], dtype=np.float64)
            tfidf.n_features_in_ = len(block["vocabulary"])
            self._parts.append((counter, tfidf))

    @property
    def n_features(self) -> int:
        return sum(int(b["n_features"]) if b.get("hashing") else len(b["vocabulary"]) for b in self.blocks)

    @property
    def hashed(self) -> bool:
        return any(b.get("hashing") for b in self.blocks)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        texts = _texts(texts)
        mats = [tfidf.transform(counter.transform(texts)) for counter, tfidf in self._parts]
        return sp.hstack(mats, format="csr")

    def counts(self, texts: Sequence[str]) -> list[sp.csr_matrix]:
        """Raw term counts per block (before TF-IDF), for accumulating document frequencies."""
        texts = _texts(texts)
        return [counter.transform(texts) for counter, _ in self._parts]

    def weigh(self, counts: list[sp.csr_matrix]) -> sp.csr_matrix:
        """TF-IDF of :meth:`counts`' output (float32 for the hashed path, whose matrices are large)."""
        mats = [tfidf.transform(c) for c, (_, tfidf) in zip(counts, self._parts)]
        out = sp.hstack(mats, format="csr")
        return out.astype(np.float32) if self.hashed else out


# Within `shared_features()`, features fitted on the same texts are built once and reused: auto trains several
# TF-IDF members (logistic regression, SVM, naive Bayes) on one split, and building the features was most of each
# member's time (BBC news, 1,780 articles: 16 s of features, then 9-24 s per logistic fit). Outside the context
# nothing is kept, so a long-lived app process holds no matrix after training.
_SHARED: dict | None = None


@contextlib.contextmanager
def shared_features():
    global _SHARED
    outer, _SHARED = _SHARED, ({} if _SHARED is None else _SHARED)
    try:
        yield
    finally:
        _SHARED = outer


def _texts_key(kind: str, texts: list[str], owner=None) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    for t in texts:
        digest.update(t.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return kind, id(owner), len(texts), digest.hexdigest()


def _shared_transform(features: "_Features", texts) -> sp.csr_matrix:
    texts = _texts(texts)
    if _SHARED is None:
        return features.transform(texts)
    key = _texts_key("transform", texts, features)
    if key not in _SHARED:
        _SHARED[key] = features.transform(texts)
    return _SHARED[key]


def _fit_features(
    texts: list[str], should_stop: Callable[[], bool] | None = None, feature_set: str = "words"
) -> tuple[_Features, sp.csr_matrix]:
    if _SHARED is not None:
        key = _texts_key(f"fit:{feature_set}", texts)
        if key not in _SHARED:
            _SHARED[key] = _fit_feature_set(texts, should_stop, feature_set)
        return _SHARED[key]
    return _fit_feature_set(texts, should_stop, feature_set)


def _fit_feature_set(texts: list[str], should_stop, feature_set: str) -> tuple[_Features, sp.csr_matrix]:
    if feature_set == "words":
        return _fit_features_now(texts, should_stop)
    return _fit_blocks(texts, should_stop, FEATURE_SETS[feature_set])


def _fit_features_now(
    texts: list[str], should_stop: Callable[[], bool] | None = None
) -> tuple[_Features, sp.csr_matrix]:
    """Today's analyzers (word 1-2 + char_wb 2-5), for texts with spaces."""
    return _fit_blocks(texts, should_stop, FEATURE_SETS["words"])


def _fit_blocks(
    texts: list[str], should_stop: Callable[[], bool] | None, param_sets
) -> tuple[_Features, sp.csr_matrix]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    blocks, mats = [], []
    for params in param_sets:
        # Cancel is honoured between the two blocks: on long texts each takes tens of seconds (BBC news: 16 s
        # together on a quiet machine, over a minute on a loaded one), which is how long Cancel used to wait.
        if should_stop is not None and should_stop():
            raise CancelledError()
        kwargs = dict(vectorizer_kwargs(params), **TFIDF_PARAMS)
        vec = TfidfVectorizer(dtype=np.float64, **kwargs)
        try:
            mats.append(vec.fit_transform(texts))
        except ValueError:
            # Too few texts for min_df=2 (tiny data): keep every term instead.
            vec = TfidfVectorizer(dtype=np.float64, **dict(kwargs, min_df=1, max_df=1.0))
            mats.append(vec.fit_transform(texts))
        vocab = vec.vocabulary_
        terms = [None] * len(vocab)
        for term, idx in vocab.items():
            terms[idx] = term
        blocks.append(
            {
                "params": {k: v for k, v in params.items()},
                "tfidf": dict(TFIDF_PARAMS),
                "vocabulary": terms,
                "idf": vec.idf_,
            }
        )
    features = _Features(blocks)
    return features, sp.hstack(mats, format="csr")


def fit_features(
    texts: Sequence[str], should_stop: Callable[[], bool] | None = None, *, feature_set: str | None = None
) -> tuple[_Features, sp.csr_matrix]:
    """The baseline's word + character TF-IDF fitted on ``texts``: (features, matrix of ``texts``).

    ``feature_set``: a name of FEATURE_SETS, or None to choose from the texts' language (feature_set_for).
    Public for callers that fit their own classifier on the same features (active learning, label review).
    """
    texts = _texts(texts)
    return _fit_features(texts, should_stop, feature_set or feature_set_for(texts))


class BaselineModel(PredictorBase):
    """TF-IDF features → linear scores → probabilities. All state is arrays and JSON."""

    kind = KIND

    def __init__(
        self,
        features: _Features,
        coef: np.ndarray,
        intercept: np.ndarray,
        link: str,
        label_space: LabelSpace,
        *,
        scale: np.ndarray | None = None,
        shift: np.ndarray | None = None,
        info: dict | None = None,
    ):
        self.features = features
        self.coef = np.asarray(coef, dtype=np.float64)  # (outputs, n_features)
        self.intercept = np.asarray(intercept, dtype=np.float64)  # (outputs,)
        self.link = link  # "softmax" (k outputs), "sigmoid" (1 output, binary), "sigmoid_each" (multi-label)
        outputs = self.coef.shape[0]
        self.scale = np.ones(outputs) if scale is None else np.asarray(scale, dtype=np.float64)
        self.shift = np.zeros(outputs) if shift is None else np.asarray(shift, dtype=np.float64)
        self.label_space = label_space
        self.info = dict(info or {})

    @property
    def thresholds(self) -> list[float] | None:
        """Multi-label cut-offs tuned on validation (the runner sets ``info["thresholds"]``)."""
        return self.info.get("thresholds")

    def decision_function(self, texts: Sequence[str], chunk_rows: int = 20_000) -> np.ndarray:
        """Scores of ``texts``, transformed ``chunk_rows`` at a time so memory is bounded by a chunk."""
        texts = list(texts)
        out = np.empty((len(texts), self.coef.shape[0]), dtype=np.float64)
        for lo in range(0, len(texts), chunk_rows):
            X = self.features.transform(texts[lo : lo + chunk_rows])
            out[lo : lo + chunk_rows] = np.asarray(X @ self.coef.T) + self.intercept
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, k) probabilities; rows sum to 1 unless multi-label."""
        scores = self.decision_function(texts) * self.scale + self.shift
        return self._link(scores)

    def _link(self, scores: np.ndarray) -> np.ndarray:
        if self.link == "softmax":
            return softmax(scores, axis=1)
        if self.link == "sigmoid":
            p = expit(scores[:, 0])
            return np.column_stack([1 - p, p])
        return expit(scores)

    # --- saving without pickle ------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write textclf.json, features.json, arrays.npz into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        blocks = [
            {"params": b["params"], "tfidf": b["tfidf"], "hashing": True, "n_features": int(b["n_features"])}
            if b.get("hashing")
            else {"params": b["params"], "tfidf": b["tfidf"], "vocabulary": b["vocabulary"]}
            for b in self.features.blocks
        ]
        (directory / "features.json").write_text(json.dumps({"blocks": blocks}, ensure_ascii=False), encoding="utf-8")
        arrays = {"coef": self.coef, "intercept": self.intercept, "scale": self.scale, "shift": self.shift}
        for i, block in enumerate(self.features.blocks):
            arrays[f"idf_{i}"] = np.asarray(block["idf"], dtype=np.float64)
        np.savez_compressed(directory / "arrays.npz", **arrays)
        # format 2 = hashed features (the large-data path); models of the in-memory path stay format 1
        meta = {
            "kind": KIND,
            "format_version": 2 if self.features.hashed else FORMAT_VERSION,
            "link": self.link,
            "label_space": self.label_space.to_dict(),
            "max_length": None,
            "n_features": self.features.n_features,
            **self.info,
        }
        write_info(directory, meta)  # last: its presence marks a complete model folder
        return directory


def load_baseline(directory: str | Path) -> BaselineModel:
    """Rebuild a saved baseline (no pickle involved)."""
    directory = Path(directory)
    meta = read_info(directory)
    try:
        blocks = json.loads((directory / "features.json").read_text(encoding="utf-8"))["blocks"]
        with np.load(directory / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"The baseline model in {directory} cannot be read ({exc})", hint="Train the run again"
        ) from None
    if meta.kind != KIND:
        raise ModelLoadError(f"{directory} holds a '{meta.kind}' model, not a baseline")
    if meta.get("link") not in ("softmax", "sigmoid", "sigmoid_each"):
        raise ModelLoadError(
            f"The baseline model in {directory} names no known link function", hint="Train the run again"
        )
    for i, block in enumerate(blocks):
        block["idf"] = arrays[f"idf_{i}"]
    info = {
        k: v
        for k, v in meta.to_dict().items()
        if k in ("classifier", "C", "config", "thresholds", "trained_at", "path", "alpha", "epochs", "features")
    }
    return BaselineModel(
        _Features(blocks),
        arrays["coef"],
        arrays["intercept"],
        meta.get("link"),
        meta.label_space,
        scale=arrays["scale"],
        shift=arrays["shift"],
        info=info,
    )


# --- training ------------------------------------------------------------------------


def _linear_from_estimator(est, name: str, multi_label: bool, k: int):
    """(coef, intercept, link) reproducing ``est.predict_proba`` / decision function."""
    if multi_label:  # OneVsRestClassifier: one binary estimator per class
        coefs, bias = [], []
        for sub in est.estimators_:
            c, b, _ = _linear_from_estimator(sub, name, False, 2)
            coefs.append(c[0])
            bias.append(b[0])
        return np.vstack(coefs), np.asarray(bias), "sigmoid_each"
    if name == "nb":
        # Naive Bayes predict_proba = softmax(X @ feature_log_prob.T + prior); ComplementNB adds no prior.
        flp = np.asarray(est.feature_log_prob_)
        prior = np.asarray(est.class_log_prior_) if type(est).__name__ == "MultinomialNB" else np.zeros(len(flp))
        if k == 2:
            return (flp[1] - flp[0])[None, :], np.asarray([prior[1] - prior[0]]), "sigmoid"
        return flp, prior, "softmax"
    coef, intercept = np.asarray(est.coef_), np.asarray(est.intercept_).ravel()
    if coef.shape[0] == 1:
        return coef, intercept, "sigmoid"
    return coef, intercept, "softmax"


def _make_estimator(name: str, C: float, class_weight, multi_label: bool, k: int, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.naive_bayes import ComplementNB, MultinomialNB
    from sklearn.svm import LinearSVC

    if name == "logreg":
        est = LogisticRegression(
            C=C,
            max_iter=1000,
            class_weight=class_weight,
            random_state=seed,
            solver="liblinear" if (k == 2 or multi_label) else "lbfgs",
        )
    elif name == "svm":
        est = LinearSVC(C=C, class_weight=class_weight, random_state=seed)
    else:
        # ComplementNB suits imbalanced text; one-vs-rest binary tasks use the plain multinomial model.
        est = MultinomialNB(alpha=C) if multi_label else ComplementNB(alpha=C)
    return OneVsRestClassifier(est) if multi_label else est


def _fit_temperature(scores: np.ndarray, y, link: str) -> tuple[np.ndarray, np.ndarray]:
    """Scale (and shift, binary) that turn SVM margins into calibrated probabilities on held-out rows."""
    from scipy.optimize import minimize_scalar
    from sklearn.linear_model import LogisticRegression

    outputs = scores.shape[1]
    if link == "softmax":

        def nll(log_t):
            p = softmax(scores * np.exp(log_t), axis=1)
            return -np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)))

        best = minimize_scalar(nll, bounds=(-3, 4), method="bounded")
        return np.full(outputs, float(np.exp(best.x))), np.zeros(outputs)
    ys = np.asarray(y).reshape(len(scores), -1)
    scale, shift = np.ones(outputs), np.zeros(outputs)
    for j in range(outputs):
        if 0 < ys[:, j].sum() < len(ys):
            platt = LogisticRegression(C=100.0).fit(scores[:, [j]], ys[:, j])
            scale[j], shift[j] = float(platt.coef_[0, 0]), float(platt.intercept_[0])
        else:
            scale[j] = 2.0
    return scale, shift


def _targets(train_df, val_df, label_space: LabelSpace) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """The encoded training labels, the encoded validation labels (None without validation rows) and whether
    there are validation rows; a TextclfError when training lacks a label (multi-label) or has only one class."""
    multi = label_space.multi_label
    if label_space.multi_label:
        y = label_space.encode(list(train_df["label"])).astype(int)
        if (y.sum(axis=0) == 0).any():
            missing = [c for c, n in zip(label_space.classes, y.sum(axis=0)) if n == 0]
            raise TextclfError(
                f"No training example has the label(s) {', '.join(missing[:5])}",
                hint="Add examples or remove those labels",
            )
    else:
        y = label_space.encode(list(train_df["label"]))
        if len(set(y.tolist()) - {-1}) < 2:
            raise TextclfError(
                "The training split contains only one class",
                hint="Add examples of other classes or lower the validation/test shares",
            )
    has_val = val_df is not None and len(val_df) > 0
    y_val = None
    if has_val:
        y_val = label_space.encode(list(val_df["label"]))
        y_val = y_val.astype(int) if multi else y_val
    return y, y_val, has_val


def _fit_candidate(i, C, X, y, X_val, y_val, features, feature_set, class_weight, label_space, config, emit):
    """Fit the classifier with one regularisation value ``C`` (SVM margins calibrated to probabilities) and
    score it on the validation rows (``X_val`` None: no score), emitting its evaluation event. Returns
    ``(score, model, train_loss)``; a higher score is better."""
    from textclf_core.evaluation.metrics import compute_metrics

    name = config.baseline_model
    multi = label_space.multi_label
    k = label_space.num_classes
    has_val = X_val is not None
    est = _make_estimator(name, C, class_weight, multi, k, config.seed)
    est.fit(X, y)
    coef, intercept, link = _linear_from_estimator(est, name, multi, k)
    model = BaselineModel(
        features, coef, intercept, link, label_space, info={"classifier": name, "C": C, "features": feature_set}
    )
    if name == "svm":  # margins → probabilities, fitted on held-out rows when there are any
        if has_val:
            scores_val = np.asarray(X_val @ coef.T) + intercept
            model.scale, model.shift = _fit_temperature(scores_val, y_val, link)
        else:
            model.scale = np.full(coef.shape[0], 2.0)
    train_proba = model._link((np.asarray(X @ coef.T) + intercept) * model.scale + model.shift)
    train_loss = compute_metrics(y, train_proba, label_space.classes, multi_label=multi).get("loss")
    score = None
    if has_val:
        val_proba = model._link((np.asarray(X_val @ coef.T) + intercept) * model.scale + model.shift)
        m = compute_metrics(y_val, val_proba, label_space.classes, multi_label=multi)
        key = config.metric_for_best
        score = -(m.get("loss") or 0) if key == "val_loss" else (m.get(key) or 0.0)
        emit(
            {
                "type": "evaluation",
                "step": i,
                "epoch": 1,
                "val_loss": m.get("loss"),
                "accuracy": m.get("accuracy"),
                "macro_f1": m.get("macro_f1"),
                "confusion_matrix": m.get("confusion_matrix"),
                "classes": label_space.classes,
                "candidate": {"C" if name != "nb" else "alpha": C},
            }
        )
    return score, model, train_loss


def train_baseline(
    config: RunConfig,
    train_df,
    val_df,
    label_space: LabelSpace,
    emit: Emit | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BaselineModel:
    """Fit TF-IDF + the chosen linear classifier; pick regularisation on ``val_df``.

    ``train_df``/``val_df`` have columns ``text`` and ``label``. Emits ``step``
    events (vectorising, each candidate) and an ``evaluation`` event per candidate.
    """
    emit = emit or _noop
    should_stop = should_stop or (lambda: False)
    name = config.baseline_model
    start = time.time()
    texts = _texts(train_df["text"])
    y, y_val, has_val = _targets(train_df, val_df, label_space)
    feature_set = feature_set_for(texts, config)
    if uses_large_path(len(texts), sum(len(t) for t in texts), config):
        model = train_large(
            config,
            texts,
            y,
            _texts(val_df["text"]) if has_val else None,
            y_val,
            label_space,
            emit,
            should_stop,
            feature_set=feature_set,
        )
        model.info["config"] = config.to_dict()
        model.info["train_seconds"] = round(time.time() - start, 3)
        return model
    grid = C_GRID[name] if has_val else [C_GRID[name][1]]
    if config.baseline_c is not None:  # a fixed value skips the search
        grid = [float(config.baseline_c)]
    total = 1 + len(grid)

    def step(i: int, loss=None, message: str = "") -> None:
        elapsed = time.time() - start
        emit(
            {
                "type": "step",
                "step": i,
                "total_steps": total,
                "epoch": 1,
                "loss": loss,
                "lr": None,
                "examples_per_s": len(texts) * max(i, 1) / elapsed if elapsed > 0 else None,
                "elapsed_s": elapsed,
                "eta_s": elapsed / max(i, 1) * (total - i),
                "message": message,
            }
        )

    step(0, message="Building word and character features")
    features, X = _fit_features(texts, should_stop, feature_set)
    if should_stop():
        raise CancelledError()
    X_val = _shared_transform(features, val_df["text"]) if has_val else None
    step(1, message=f"Built {features.n_features:,} word and character features")
    class_weight = "balanced" if config.class_weights else None

    best = None
    for i, C in enumerate(grid, start=2):
        if should_stop():
            raise CancelledError()
        score, model, train_loss = _fit_candidate(
            i, C, X, y, X_val, y_val, features, feature_set, class_weight, label_space, config, emit
        )
        if best is None or (score is not None and score > best[0]):
            best = (score, model)
        step(i, loss=train_loss, message=f"Fitted {name} with {'alpha' if name == 'nb' else 'C'}={C:g}")
    model = best[1]
    model.info["config"] = config.to_dict()
    model.info["train_seconds"] = round(time.time() - start, 3)
    return model


# --- the large-data path -------------------------------------------------------------------------------


def _workers() -> int:
    try:
        wanted = int(os.environ.get("TEXTCLF_BASELINE_WORKERS", LARGE_WORKERS))
    except ValueError:
        wanted = LARGE_WORKERS
    return max(1, min(wanted, os.cpu_count() or 1))


def chunk_bounds(
    texts: Sequence[str],
    order: np.ndarray | None = None,
    *,
    chunk_chars: int = CHUNK_CHARS,
    max_rows: int = CHUNK_MAX_ROWS,
) -> list[np.ndarray]:
    """Row positions of each chunk (in ``order``): about ``chunk_chars`` characters each, at most ``max_rows``."""
    order = np.arange(len(texts)) if order is None else order
    lengths = np.fromiter((len(texts[i]) + 1 for i in order), dtype=np.int64, count=len(order))
    chunks, lo, total = [], 0, 0
    for i, n in enumerate(lengths):
        total += n
        if total >= chunk_chars or i + 1 - lo >= max_rows:
            chunks.append(order[lo : i + 1])
            lo, total = i + 1, 0
    if lo < len(order):
        chunks.append(order[lo:])
    return chunks


_WORKER_HASHERS: dict = {}  # per process: the hashers (and their word caches) live across chunks


def _save_csr(path: Path, X: sp.csr_matrix) -> None:
    np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.asarray(X.shape))


def _load_csr(path: Path) -> sp.csr_matrix:
    with np.load(path, allow_pickle=False) as z:
        return sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))


def hash_chunk(specs: list[tuple[str, int]], texts: list[str], path: str) -> list[np.ndarray]:
    """Hash ``texts`` with each block (``(params as JSON, n_features)``), save the counts under ``path``
    (``<path>.<block>.npz``) and return each block's document frequencies. Runs in a worker process."""
    dfs = []
    for b, (params, n_features) in enumerate(specs):
        key = (params, n_features)
        hasher = _WORKER_HASHERS.get(key)
        if hasher is None:
            hasher = _WORKER_HASHERS[key] = Hasher(json.loads(params), n_features)
        X = hasher.transform(texts)
        _save_csr(Path(f"{path}.{b}.npz"), X)
        dfs.append(np.bincount(X.indices, minlength=n_features).astype(np.int64))
    return dfs


class _Candidate:
    """One regularisation value of the out-of-core model: one estimator (single-label) or one binary
    estimator per class (multi-label), trained with ``partial_fit`` chunk by chunk."""

    def __init__(
        self, name: str, value: float, class_weight, label_space: LabelSpace, seed: int, C: float | None = None
    ):
        from sklearn.linear_model import SGDClassifier
        from sklearn.naive_bayes import ComplementNB, MultinomialNB

        self.name, self.value, self.multi = name, value, label_space.multi_label
        self.C = C
        k = label_space.num_classes
        outputs = k if self.multi else 1
        self.estimators = []
        for j in range(outputs):
            cw = class_weight[j] if self.multi and class_weight else (class_weight if not self.multi else None)
            if name == "nb":
                est = MultinomialNB(alpha=value) if self.multi else ComplementNB(alpha=value)
            else:
                # averaged SGD: the mean of the iterates is much less noisy than the last one
                est = SGDClassifier(
                    loss="log_loss" if name == "logreg" else "hinge",
                    alpha=value,
                    average=True,
                    class_weight=cw,
                    random_state=seed + j,
                    tol=None,
                )
            self.estimators.append(est)
        self.classes = np.arange(2) if self.multi else np.arange(k)

    def partial_fit(self, X, y) -> None:
        if self.multi:
            for j, est in enumerate(self.estimators):
                est.partial_fit(X, y[:, j], classes=self.classes)
        else:
            self.estimators[0].partial_fit(X, y, classes=self.classes)

    def linear(self) -> tuple[np.ndarray, np.ndarray, str]:
        if self.multi:
            parts = [_linear_from_estimator(est, self.name, False, 2) for est in self.estimators]
            return np.vstack([c[0] for c, _, _ in parts]), np.asarray([b[0] for _, b, _ in parts]), "sigmoid_each"
        return _linear_from_estimator(self.estimators[0], self.name, False, len(self.classes))


def _balanced(y: np.ndarray, label_space: LabelSpace):
    """scikit-learn's 'balanced' weights from all training labels (partial_fit cannot compute them per chunk)."""
    if label_space.multi_label:
        n = len(y)
        out = []
        for j in range(y.shape[1]):
            pos = int(y[:, j].sum())
            out.append({0: n / (2 * max(1, n - pos)), 1: n / (2 * max(1, pos))})
        return out
    counts = np.bincount(y[y >= 0], minlength=label_space.num_classes)
    return {c: len(y) / (label_space.num_classes * max(1, n)) for c, n in enumerate(counts)}


class _LargeRun:
    """State shared by the steps of one large-path training: settings, progress events, the chunk folder."""

    def __init__(
        self,
        config: RunConfig,
        texts: list[str],
        val_texts: list[str] | None,
        label_space: LabelSpace,
        emit: Emit,
        should_stop: Callable[[], bool],
        workers: int,
        epochs: int | None,
        feature_set: str,
    ):
        import tempfile

        self.start = time.time()
        self.config, self.label_space, self.emit, self.should_stop = config, label_space, emit, should_stop
        self.name, self.multi, self.seed = config.baseline_model, label_space.multi_label, config.seed
        self.workers, self.feature_set = workers, feature_set
        if epochs is None:
            epochs = min(LARGE_EPOCHS, max(2, -(-EPOCH_ROWS // max(1, len(texts)))))
        self.epochs = 1 if self.name == "nb" else int(config.baseline_epochs or epochs)
        self.has_val = bool(val_texts)
        grid = C_GRID[self.name] if self.has_val else [C_GRID[self.name][1]]
        self.grid = [float(config.baseline_c)] if config.baseline_c is not None else grid
        self.bases = FEATURE_SETS[feature_set]
        self.specs = [(json.dumps(p, sort_keys=True), HASH_FEATURES) for p in self.bases]
        self.rng = np.random.default_rng(self.seed)
        self.train_chunks = chunk_bounds(texts, self.rng.permutation(len(texts)))  # shuffled: files are often sorted
        self.val_chunks = chunk_bounds(val_texts) if self.has_val else []
        n_train, n_val = len(self.train_chunks), len(self.val_chunks)
        self.total = n_train + n_val + self.epochs * n_train + n_val * len(self.grid) + 1
        self.done = 0
        self.folder = Path(tempfile.mkdtemp(prefix="textclf-baseline-"))
        self.features: _Features | None = None

    def step(self, message: str, loss=None, advance: int = 1) -> None:
        self.done += advance
        elapsed = time.time() - self.start
        self.emit(
            {
                "type": "step",
                "step": self.done,
                "total_steps": self.total,
                "epoch": 1,
                "loss": loss,
                "lr": None,
                "examples_per_s": None,
                "elapsed_s": elapsed,
                "eta_s": elapsed / max(self.done, 1) * (self.total - self.done),
                "message": message,
            }
        )

    def stop(self) -> None:
        if self.should_stop():
            raise CancelledError()

    def tfidf_chunk(self, kind: str, i: int) -> sp.csr_matrix:
        """TF-IDF of one hashed chunk, weighed once and kept in the folder."""
        cached = self.folder / f"{kind}{i}.tfidf.npz"
        if cached.exists():
            return _load_csr(cached)
        parts = [self.folder / f"{kind}{i}.{b}.npz" for b in range(len(self.specs))]
        X = self.features.weigh([_load_csr(p) for p in parts])
        _save_csr(cached, X)
        for p in parts:
            p.unlink()
        return X


def _hash_all(run: _LargeRun, texts: list[str], val_texts: list[str] | None) -> _Features:
    """Step 1: hash every chunk once (in worker processes), summing the training chunks' document frequencies;
    the IDF is TfidfTransformer's smooth idf from those sums."""
    import threading
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_all_start_methods, get_context

    df = [np.zeros(n, dtype=np.int64) for _, n in run.specs]
    jobs = [("train", i, [texts[j] for j in rows]) for i, rows in enumerate(run.train_chunks)]
    jobs += [("val", i, [val_texts[j] for j in rows]) for i, rows in enumerate(run.val_chunks)]
    run.emit(
        {
            "type": "step",
            "step": 0,
            "total_steps": run.total,
            "epoch": 1,
            "loss": None,
            "lr": None,
            "examples_per_s": None,
            "elapsed_s": 0.0,
            "eta_s": None,
            "message": f"Hashing word and character n-grams of {len(texts):,} rows in {len(run.train_chunks)} chunks",
        }
    )

    def collect(kind, result):
        if kind == "train":
            for b, counts in enumerate(result):
                df[b] += counts
        run.step(f"Hashed chunk {run.done + 1} of {len(jobs)}")

    finished = 0
    if run.workers > 1 and len(jobs) > 1:
        # fork from a single-threaded process (the CLI: no start-up cost); spawn from a threaded one (the
        # app trains in a job thread, and forking a threaded process can deadlock)
        method = "fork" if threading.active_count() == 1 and "fork" in get_all_start_methods() else "spawn"
        try:
            with ProcessPoolExecutor(max_workers=run.workers, mp_context=get_context(method)) as pool:
                pending = [
                    (kind, pool.submit(hash_chunk, run.specs, chunk, str(run.folder / f"{kind}{i}")))
                    for kind, i, chunk in jobs
                ]
                try:
                    for kind, future in pending:
                        collect(kind, future.result())
                        finished += 1
                        run.stop()
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        except BrokenProcessPool:  # e.g. spawn from a script without a main guard: one process does it all
            log.warning("textclf: the hashing workers could not start; hashing in this process")
    for kind, i, chunk in jobs[finished:]:
        collect(kind, hash_chunk(run.specs, chunk, str(run.folder / f"{kind}{i}")))
        run.stop()
    n = len(texts)
    blocks = []
    for (params, n_features), counts, base in zip(run.specs, df, run.bases):
        idf = np.log((1 + n) / (1 + counts)) + 1.0  # TfidfTransformer's smooth idf, from summed counts
        blocks.append(
            {"params": dict(base), "tfidf": dict(TFIDF_PARAMS), "hashing": True, "n_features": n_features, "idf": idf}
        )
    return _Features(blocks)


def _learn_chunks(run: _LargeRun, y: np.ndarray, n_texts: int) -> tuple[list[_Candidate], tuple]:
    """Step 2: every candidate learns from the same chunk, over shuffled passes; SGD releases the GIL, so
    threads use both cores. Returns the candidates and the last chunk (for a training loss)."""
    from concurrent.futures import ThreadPoolExecutor

    name = run.name
    class_weight = _balanced(y, run.label_space) if run.config.class_weights else None
    candidates = [
        _Candidate(name, c if name == "nb" else 1.0 / (c * n_texts), class_weight, run.label_space, run.seed, C=c)
        for c in run.grid
    ]
    with ThreadPoolExecutor(max_workers=max(1, min(run.workers, len(candidates)))) as threads:
        for epoch in range(run.epochs):
            for c in run.rng.permutation(len(run.train_chunks)):
                X = run.tfidf_chunk("train", int(c))
                yc = y[run.train_chunks[c]]
                list(threads.map(lambda cand: cand.partial_fit(X, yc), candidates))
                run.stop()
                run.step(f"Pass {epoch + 1} of {run.epochs}: learned from chunk {run.done}")
    return candidates, (X, yc)


def _choose_candidate(run: _LargeRun, candidates: list[_Candidate], last: tuple, y_val) -> BaselineModel:
    """Step 3: pick the regularisation on the validation rows, scored chunk by chunk."""
    from textclf_core.evaluation.metrics import compute_metrics

    name, label_space, multi = run.name, run.label_space, run.multi
    best = None
    for cand in candidates:
        coef, intercept, link = cand.linear()
        model = BaselineModel(
            run.features,
            coef,
            intercept,
            link,
            label_space,
            info={
                "classifier": name,
                "C": cand.C,
                "alpha": cand.value,
                "path": "large",
                "epochs": run.epochs,
                "features": run.feature_set,
            },
        )
        scores_val = None
        if run.has_val:
            scores_val = np.vstack(
                [np.asarray(run.tfidf_chunk("val", v) @ coef.T) + intercept for v in range(len(run.val_chunks))]
            )
            run.step(
                f"Scored the validation rows ({'alpha' if name == 'nb' else 'C'}={cand.C:g})",
                advance=len(run.val_chunks),
            )
        if name != "nb":  # SGD margins → probabilities, fitted on held-out rows when there are any
            if run.has_val:
                model.scale, model.shift = _fit_temperature(scores_val, y_val, link)
            else:
                model.scale = np.full(coef.shape[0], 2.0)
        Xl, yl = last
        train_loss = compute_metrics(
            yl,
            model._link((np.asarray(Xl @ coef.T) + intercept) * model.scale + model.shift),
            label_space.classes,
            multi_label=multi,
        ).get("loss")
        score = None
        if run.has_val:
            m = compute_metrics(
                y_val, model._link(scores_val * model.scale + model.shift), label_space.classes, multi_label=multi
            )
            key = run.config.metric_for_best
            score = -(m.get("loss") or 0) if key == "val_loss" else (m.get(key) or 0.0)
            run.emit(
                {
                    "type": "evaluation",
                    "step": run.done,
                    "epoch": 1,
                    "val_loss": m.get("loss"),
                    "accuracy": m.get("accuracy"),
                    "macro_f1": m.get("macro_f1"),
                    "confusion_matrix": m.get("confusion_matrix"),
                    "classes": label_space.classes,
                    "candidate": {"C" if name != "nb" else "alpha": cand.C},
                }
            )
        if best is None or (score is not None and score > best[0]):
            best = (score, model, train_loss)
    run.step(f"Chose {'alpha' if name == 'nb' else 'C'}={best[1].info['C']:g}", loss=best[2])
    return best[1]


def train_large(
    config: RunConfig,
    texts: list[str],
    y: np.ndarray,
    val_texts: list[str] | None,
    y_val,
    label_space: LabelSpace,
    emit: Emit,
    should_stop: Callable[[], bool],
    *,
    workers: int | None = None,
    epochs: int | None = None,
    feature_set: str = "words",
) -> BaselineModel:
    """The large-data baseline: hashed TF-IDF of the feature set's two blocks (word 1-2 + char_wb 2-5, or
    segmented words 1-2 + char 1-3), chunked, and an out-of-core linear model.

    Memory is bounded by a chunk (features are written to a temporary folder, never held whole); the
    chunks are hashed by ``workers`` processes (both cores by default). The regularisation value is picked on
    the validation rows as in the in-memory path; every candidate trains in the same pass over a chunk.
    """
    import shutil

    workers = _workers() if workers is None else max(1, int(workers))
    run = _LargeRun(config, texts, val_texts, label_space, emit, should_stop, workers, epochs, feature_set)
    try:
        run.features = _hash_all(run, texts, val_texts)
        candidates, last = _learn_chunks(run, y, len(texts))
        return _choose_candidate(run, candidates, last, y_val)
    finally:
        shutil.rmtree(run.folder, ignore_errors=True)


# --- the baseline as a fit function like the others -------------------------------------------------
def fit_baseline(
    config, train_df, val_df, label_space: LabelSpace, *, run=None, emit=None, should_stop=None
) -> FitResult:
    """The TF-IDF baseline (:func:`baseline.train_baseline`): multi-label thresholds tuned on the validation
    rows, saved through ``run.stage_model()``. No torch."""
    from textclf_core import events
    from textclf_core.engine.loop import FitResult, model_dir, output_folder
    from textclf_core.evaluation.metrics import tune_thresholds

    reporter = events.Reporter.of(emit, should_stop)
    predictor = train_baseline(config, train_df, val_df, label_space, reporter.emit, should_stop=reporter.should_stop)
    thresholds = None
    if label_space.multi_label:
        thresholds = [0.5] * label_space.num_classes
        if len(val_df):
            proba = predictor.predict_proba(val_df["text"].tolist())
            thresholds = tune_thresholds(
                val_df["label"].tolist(), proba, label_space.classes, separator=label_space.separator or ";"
            )
        predictor.info["thresholds"] = thresholds
    with output_folder(run) as folder:
        predictor.save(folder)
        staged = folder
    # No engine clock (train_seconds None): the runner's own clock is the baseline's time, and eval.json's
    # "best" stays empty as it always was for the baseline.
    return FitResult(predictor, None, None, train_seconds=None, model_dir=model_dir(run, staged), thresholds=thresholds)
