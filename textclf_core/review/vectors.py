"""Row features the review models and the similarity searches read (embeddings, TF-IDF)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from textclf_core.errors import DataError, TextclfError
from .common import METHODS, Emit, ShouldStop

def as_features(texts: Sequence[str], method: str, model: str, *, max_length: int = 128,
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
            from textclf_core.engine import encoders as features  # heavy (torch); only needed for the embedding methods

            embeddings = features.embed(texts, model, max_length=max_length, emit=emit, should_stop=should_stop)
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.shape[0] != len(texts):
            raise TextclfError(f"Got {embeddings.shape[0]} embeddings for {len(texts)} texts")
        out["embeddings"] = normalize_rows(embeddings)
    return out


def main_features(feats: dict):
    """The features for similarity (duplicates, outliers): embeddings when there are any."""
    return feats["embeddings"] if feats.get("embeddings") is not None else feats["tfidf"]


def feature_dict(x) -> dict:
    """A dict of feature kinds from a dict, a dense array (embeddings) or a sparse matrix (TF-IDF)."""
    if isinstance(x, dict):
        return x
    import scipy.sparse as sp

    return {"embeddings": None, "tfidf": x} if sp.issparse(x) else {"embeddings": normalize_rows(x), "tfidf": None}


def take_rows(feats: dict, index) -> dict:
    return {k: (None if v is None else v[index]) for k, v in feats.items()}


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so a dot product is the cosine similarity."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)
