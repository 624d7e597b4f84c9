"""Row features the review models and the similarity searches read (embeddings, TF-IDF)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from textclf_core.errors import DataError, TextclfError

from .common import METHODS, Emit, ShouldStop

if TYPE_CHECKING:  # annotations only
    import scipy.sparse as sp


def as_features(
    texts: Sequence[str],
    method: str,
    model: str,
    *,
    max_length: int = 128,
    embeddings: np.ndarray | None = None,
    emit: Emit | None = None,
    should_stop: ShouldStop | None = None,
) -> dict:
    """Row features the review models need: ``{"embeddings": dense unit rows, "tfidf": sparse rows}``.

    Only the kinds ``method`` uses are computed (the other is None).
    """
    if method not in METHODS:
        raise TextclfError(f"Review method {method!r} is not one of: {', '.join(METHODS)}")
    out: dict = {"embeddings": None, "tfidf": None}
    texts = [str(t) for t in texts]
    if method in ("tfidf", "combined", "thorough"):
        try:
            out["tfidf"] = tfidf_rows(texts)
        except ValueError:  # empty vocabulary
            if method == "tfidf":
                raise DataError(
                    "The texts contain no words to review", hint="Check that the right text column is chosen"
                ) from None
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


def readable_method(
    texts: Sequence[str], method: str, model: str, *, embeddings: np.ndarray | None = None
) -> tuple[str, str]:
    """The method a review can trust on these texts, and why it changed (else "").

    A method that embeds the texts (``combined``, ``embeddings``, ``thorough``) needs an encoder that reads
    their language: data.language.readability measures the share of unknown tokens (or byte pieces) of a
    sample through the model's own tokenizer. When the encoder cannot read them (MiniLM on Chinese: 64%
    [UNK], unrelated reviews embedded alike), the review falls back to TF-IDF that reads the language
    (:func:`tfidf_rows`). Given ``embeddings`` are trusted as they are.
    """
    if method == "tfidf" or embeddings is not None:
        return method, ""
    from textclf_core.data.language import readability
    from textclf_core.store.catalog import load_tokenizer

    verdict = readability(load_tokenizer(model), list(texts), model=_model_name(model))
    if verdict.reads:
        return method, ""
    return "tfidf", (f"{verdict.sentence} Label review used TF-IDF on the words and characters of the texts instead.")


def _model_name(model: str) -> str:
    from textclf_core.config import DEFAULT_MODEL

    return "The bundled MiniLM" if model == DEFAULT_MODEL else str(model)


def tfidf_rows(texts: Sequence[str]) -> "sp.csr_matrix":
    """TF-IDF rows (float32, unit length) that read the texts' language.

    Texts with spaces: word 1-2 grams, as always. Scripts without spaces (data.language's profile says
    they need a segmenter): the baseline's segmented word 1-2 grams + character 1-3 grams (``\\w+`` would
    make each clause one "word", and two reviews would share nothing but their punctuation).
    Fitting the vocabulary on all rows uses no labels, so it leaks nothing into the folds.
    """
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    from textclf_core.data.language import detect

    texts = [str(t) for t in texts]
    if detect(texts).needs_segmentation:
        from textclf_core.strategies.baseline import fit_features

        _, x = fit_features(texts, feature_set="segmented")
        if x.shape[1] == 0:
            raise ValueError("empty vocabulary")
        return sp.csr_matrix(normalize(x).astype(np.float32))
    vectorizer = TfidfVectorizer(
        sublinear_tf=True,
        ngram_range=(1, 2),
        min_df=2 if len(texts) >= 1000 else 1,
        max_features=200_000,
        strip_accents="unicode",
    )
    return vectorizer.fit_transform(texts).astype(np.float32)


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
