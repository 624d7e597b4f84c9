"""The quick first model: TF-IDF word and character n-grams with a linear classifier.

Features: word 1-2 grams and character 2-5 grams inside word boundaries
(``char_wb``), both sublinear TF-IDF, side by side. Classifiers: logistic
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
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax

from .config import RunConfig
from .errors import CancelledError, ModelLoadError, TextclfError
from .labels import LabelSpace
from .model_folder import PredictorBase, read_info, write_info

FORMAT_VERSION = 1
KIND = "baseline"

# Vectoriser settings shared by training and loading (the loader rebuilds from the saved copy).
WORD_PARAMS = {"analyzer": "word", "ngram_range": [1, 2], "lowercase": True, "strip_accents": "unicode",
               "token_pattern": r"(?u)\b\w+\b", "min_df": 2, "max_df": 0.9, "max_features": 200_000}
CHAR_PARAMS = {"analyzer": "char_wb", "ngram_range": [2, 5], "lowercase": True, "strip_accents": "unicode",
               "min_df": 2, "max_df": 0.9, "max_features": 300_000}
TFIDF_PARAMS = {"sublinear_tf": True, "norm": "l2", "smooth_idf": True}

# Regularisation grid per classifier; the best on validation is kept.
C_GRID = {"logreg": [3.0, 10.0], "svm": [0.1, 0.3, 1.0], "nb": [0.03, 0.1, 0.3]}

Emit = Callable[[dict], None]


def _noop(event: dict) -> None:
    return None


def _texts(texts) -> list[str]:
    return ["" if t is None or (isinstance(t, float) and t != t) else str(t) for t in texts]


class _Features:
    """Two TF-IDF blocks (word + char_wb) built from saved vocabularies and idf weights."""

    def __init__(self, blocks: list[dict]):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

        self.blocks = blocks
        self._parts = []
        for block in blocks:
            params = dict(block["params"])
            params["ngram_range"] = tuple(params["ngram_range"])
            for key in ("min_df", "max_df", "max_features"):
                params.pop(key, None)  # a fixed vocabulary replaces them
            counter = CountVectorizer(vocabulary=block["vocabulary"], dtype=np.float64, **params)
            tfidf = TfidfTransformer(**block["tfidf"])
            tfidf.idf_ = np.asarray(block["idf"], dtype=np.float64)
            tfidf.n_features_in_ = len(block["vocabulary"])
            self._parts.append((counter, tfidf))

    @property
    def n_features(self) -> int:
        return sum(len(b["vocabulary"]) for b in self.blocks)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        texts = _texts(texts)
        mats = [tfidf.transform(counter.transform(texts)) for counter, tfidf in self._parts]
        return sp.hstack(mats, format="csr")


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


def _fit_features(texts: list[str]) -> tuple[_Features, sp.csr_matrix]:
    if _SHARED is not None:
        key = _texts_key("fit", texts)
        if key not in _SHARED:
            _SHARED[key] = _fit_features_now(texts)
        return _SHARED[key]
    return _fit_features_now(texts)


def _fit_features_now(texts: list[str]) -> tuple[_Features, sp.csr_matrix]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    blocks, mats = [], []
    for params in (WORD_PARAMS, CHAR_PARAMS):
        kwargs = dict(params, ngram_range=tuple(params["ngram_range"]), **TFIDF_PARAMS)
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
        blocks.append({"params": {k: v for k, v in params.items()}, "tfidf": dict(TFIDF_PARAMS),
                       "vocabulary": terms, "idf": vec.idf_})
    features = _Features(blocks)
    return features, sp.hstack(mats, format="csr")


def fit_features(texts: Sequence[str]) -> tuple[_Features, sp.csr_matrix]:
    """The baseline's word + character TF-IDF fitted on ``texts``: (features, matrix of ``texts``).

    Public for callers that fit their own classifier on the same features (active learning).
    """
    return _fit_features(_texts(texts))


class BaselineModel(PredictorBase):
    """TF-IDF features → linear scores → probabilities. All state is arrays and JSON."""

    kind = KIND

    def __init__(self, features: _Features, coef: np.ndarray, intercept: np.ndarray, link: str,
                 label_space: LabelSpace, *, scale: np.ndarray | None = None, shift: np.ndarray | None = None,
                 info: dict | None = None):
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

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        X = self.features.transform(texts)
        return np.asarray(X @ self.coef.T) + self.intercept

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
        blocks = [{"params": b["params"], "tfidf": b["tfidf"], "vocabulary": b["vocabulary"]}
                  for b in self.features.blocks]
        (directory / "features.json").write_text(json.dumps({"blocks": blocks}, ensure_ascii=False),
                                                 encoding="utf-8")
        arrays = {"coef": self.coef, "intercept": self.intercept, "scale": self.scale, "shift": self.shift}
        for i, block in enumerate(self.features.blocks):
            arrays[f"idf_{i}"] = np.asarray(block["idf"], dtype=np.float64)
        np.savez_compressed(directory / "arrays.npz", **arrays)
        meta = {"kind": KIND, "format_version": FORMAT_VERSION, "link": self.link,
                "label_space": self.label_space.to_dict(), "max_length": None,
                "n_features": self.features.n_features, **self.info}
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
        raise ModelLoadError(f"The baseline model in {directory} cannot be read ({exc})",
                             hint="Train the run again") from None
    if meta.kind != KIND:
        raise ModelLoadError(f"{directory} holds a '{meta.kind}' model, not a baseline")
    if meta.get("link") not in ("softmax", "sigmoid", "sigmoid_each"):
        raise ModelLoadError(f"The baseline model in {directory} names no known link function",
                             hint="Train the run again")
    for i, block in enumerate(blocks):
        block["idf"] = arrays[f"idf_{i}"]
    info = {k: v for k, v in meta.to_dict().items() if k in ("classifier", "C", "config", "thresholds", "trained_at")}
    return BaselineModel(_Features(blocks), arrays["coef"], arrays["intercept"], meta.get("link"),
                         meta.label_space, scale=arrays["scale"], shift=arrays["shift"],
                         info=info)


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
        est = LogisticRegression(C=C, max_iter=1000, class_weight=class_weight, random_state=seed,
                                 solver="liblinear" if (k == 2 or multi_label) else "lbfgs")
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


def train_baseline(config: RunConfig, train_df, val_df, label_space: LabelSpace, emit: Emit | None = None,
                   should_stop: Callable[[], bool] | None = None) -> BaselineModel:
    """Fit TF-IDF + the chosen linear classifier; pick regularisation on ``val_df``.

    ``train_df``/``val_df`` have columns ``text`` and ``label``. Emits ``step``
    events (vectorising, each candidate) and an ``evaluation`` event per candidate.
    """
    from .evaluation import compute_metrics

    emit = emit or _noop
    should_stop = should_stop or (lambda: False)
    name = config.baseline_model
    multi = label_space.multi_label
    k = label_space.num_classes
    start = time.time()
    texts = _texts(train_df["text"])
    if label_space.multi_label:
        y = label_space.encode(list(train_df["label"])).astype(int)
        if (y.sum(axis=0) == 0).any():
            missing = [c for c, n in zip(label_space.classes, y.sum(axis=0)) if n == 0]
            raise TextclfError(f"No training example has the label(s) {', '.join(missing[:5])}",
                               hint="Add examples or remove those labels")
    else:
        y = label_space.encode(list(train_df["label"]))
        if len(set(y.tolist()) - {-1}) < 2:
            raise TextclfError("The training split contains only one class",
                               hint="Add examples of other classes or lower the validation/test shares")
    has_val = val_df is not None and len(val_df) > 0
    y_val = None
    if has_val:
        y_val = label_space.encode(list(val_df["label"]))
        y_val = y_val.astype(int) if multi else y_val
    grid = C_GRID[name] if has_val else [C_GRID[name][1]]
    if "baseline_c" in config.extra:  # a fixed value skips the search
        grid = [float(config.extra["baseline_c"])]
    total = 1 + len(grid)

    def step(i: int, loss=None, message: str = "") -> None:
        elapsed = time.time() - start
        emit({"type": "step", "step": i, "total_steps": total, "epoch": 1, "loss": loss, "lr": None,
              "examples_per_s": len(texts) * max(i, 1) / elapsed if elapsed > 0 else None,
              "elapsed_s": elapsed, "eta_s": elapsed / max(i, 1) * (total - i), "message": message})

    step(0, message="Building word and character features")
    features, X = _fit_features(texts)
    X_val = _shared_transform(features, val_df["text"]) if has_val else None
    step(1, message=f"Built {features.n_features:,} word and character features")
    class_weight = "balanced" if config.class_weights else None

    best = None
    for i, C in enumerate(grid, start=2):
        if should_stop():
            raise CancelledError()
        est = _make_estimator(name, C, class_weight, multi, k, config.seed)
        est.fit(X, y)
        coef, intercept, link = _linear_from_estimator(est, name, multi, k)
        model = BaselineModel(features, coef, intercept, link, label_space,
                              info={"classifier": name, "C": C})
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
            emit({"type": "evaluation", "step": i, "epoch": 1, "val_loss": m.get("loss"),
                  "accuracy": m.get("accuracy"), "macro_f1": m.get("macro_f1"),
                  "confusion_matrix": m.get("confusion_matrix"), "classes": label_space.classes,
                  "candidate": {"C" if name != "nb" else "alpha": C}})
        if best is None or (score is not None and score > best[0]):
            best = (score, model)
        step(i, loss=train_loss, message=f"Fitted {name} with {'alpha' if name == 'nb' else 'C'}={C:g}")
    model = best[1]
    model.info["config"] = config.to_dict()
    model.info["train_seconds"] = round(time.time() - start, 3)
    return model
