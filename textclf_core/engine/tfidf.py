"""TF-IDF text features: the vectoriser settings of each feature set (words for scripts with spaces, segmented
words + characters for scripts without), the segmented-word analyzer and the fast hashed counts of the
large-data path. The baseline trains on them; explanations read them back to find which words a feature
belongs to, so they live below both."""

from __future__ import annotations

from array import array
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from textclf_core.errors import TextclfError

# Vectoriser settings shared by training and loading (the loader rebuilds from the saved copy).
WORD_PARAMS = {
    "analyzer": "word",
    "ngram_range": [1, 2],
    "lowercase": True,
    "strip_accents": "unicode",
    "token_pattern": r"(?u)\b\w+\b",
    "min_df": 2,
    "max_df": 0.9,
    "max_features": 200_000,
}
CHAR_PARAMS = {
    "analyzer": "char_wb",
    "ngram_range": [2, 5],
    "lowercase": True,
    "strip_accents": "unicode",
    "min_df": 2,
    "max_df": 0.9,
    "max_features": 300_000,
}
TFIDF_PARAMS = {"sublinear_tf": True, "norm": "l2", "smooth_idf": True}

# Scripts without spaces (Chinese, Japanese, Thai): ``\b\w+\b`` makes a whole clause one "word" and char_wb
# n-grams stop at those clause edges, so the word block reads the words of data.language's segmenter (1-2 grams)
# and the character block plain character 1-3 grams. On a 6,000-row Chinese review set (MEASUREMENTS.md) today's
# analyzers reached 0.815 test accuracy, char 1-3 0.832, segmented 1-2 + char 1-3 0.830; bench/languages.py
# measures it on the Chinese sample. Texts with spaces keep WORD_PARAMS + CHAR_PARAMS, unchanged.
SEGMENTED = "segmented_words"  # the analyzer's name in saved params (a callable cannot be saved as JSON)
SEGMENTED_WORD_PARAMS = {
    "analyzer": SEGMENTED,
    "ngram_range": [1, 2],
    "min_df": 2,
    "max_df": 0.9,
    "max_features": 200_000,
}
SHORT_CHAR_PARAMS = {
    "analyzer": "char",
    "ngram_range": [1, 3],
    "lowercase": True,
    "strip_accents": "unicode",
    "min_df": 2,
    "max_df": 0.9,
    "max_features": 300_000,
}
# feature set name -> the two blocks' params; the name is chosen from the data's language profile and saved with
# the model (textclf.json "features"; the blocks' params in features.json), so prediction reads texts the same way.
FEATURE_SETS = {"words": (WORD_PARAMS, CHAR_PARAMS), "segmented": (SEGMENTED_WORD_PARAMS, SHORT_CHAR_PARAMS)}


class SegmentedNgrams:
    """Analyzer of the segmented word block: data.language's words of the lower-cased text, as n-grams.

    A class, not a closure, so hashers holding one can be pickled into worker processes.
    """

    def __init__(self, ngram_range=(1, 2)):
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))

    def __call__(self, text: str) -> list[str]:
        from textclf_core.data.language import word_analyzer

        words = word_analyzer(text)
        low, high = self.ngram_range
        grams = list(words) if low == 1 else []
        for n in range(max(low, 2), high + 1):
            grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        return grams

    def __eq__(self, other) -> bool:
        return isinstance(other, SegmentedNgrams) and other.ngram_range == self.ngram_range

    def __hash__(self) -> int:
        return hash(("SegmentedNgrams", self.ngram_range))


def vectorizer_kwargs(params: dict, *, limits: bool = True) -> dict:
    """scikit-learn vectorizer arguments from a block's saved params (``limits``: keep min_df/max_df/max_features;
    a fixed vocabulary or a hasher has none). The segmented analyzer becomes its callable, which does its own
    n-grams and lower-casing."""
    kwargs = dict(params, ngram_range=tuple(params["ngram_range"]))
    if not limits:
        for key in ("min_df", "max_df", "max_features"):
            kwargs.pop(key, None)
    if kwargs.get("analyzer") == SEGMENTED:
        kwargs["analyzer"] = SegmentedNgrams(kwargs.pop("ngram_range"))
        for key in ("lowercase", "strip_accents", "token_pattern"):
            kwargs.pop(key, None)
    return kwargs


class Hasher:
    """Hashed term counts equal to scikit-learn's ``HashingVectorizer(**params, n_features=n,
    alternate_sign=False, norm=None)`` (a test asserts it), only faster on long files: the n-gram
    columns of each distinct word (char_wb) are computed once and reused. On 20k
    short reviews sklearn's char_wb 2-5 analyzer took 3.4 of its 4.5 s, which made 1M rows cost
    ~225 s of one core before any training; words repeat, so a cache removes most of that.

    Picklable (the cache is rebuilt in each process), so chunks can be hashed in worker processes.
    """

    CACHE_LIMIT = 300_000  # distinct words kept per block (~100 MB at most); cleared when full

    def __init__(self, params: dict, n_features: int):
        self.params = dict(params)
        self.n_features = int(n_features)
        self._setup()

    def __getstate__(self):
        return {"params": self.params, "n_features": self.n_features}

    def __setstate__(self, state):
        self.params, self.n_features = state["params"], state["n_features"]
        self._setup()

    def _setup(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        params = vectorizer_kwargs(self.params, limits=False)
        vec = HashingVectorizer(n_features=self.n_features, alternate_sign=False, norm=None, dtype=np.float32, **params)
        self._preprocess = vec.build_preprocessor()
        self._analyzer = params.get("analyzer", "word")
        self._vec = vec
        self._range = tuple(self.params["ngram_range"])
        self._cache: dict = {}

    def column(self, term: str) -> int:
        """The hashed column of one n-gram (as the transform puts it; explanations map columns back to terms)."""
        return self._index(term)

    def analyzer(self) -> Callable[[str], list[str]]:
        """The n-grams of a text, as hashed (explanations)."""
        return self._vec.build_analyzer()

    def _index(self, term: str) -> int:
        from sklearn.utils import murmurhash3_32

        h = murmurhash3_32(term, seed=0)
        # as sklearn's _hashing_fast: abs(-2**31) is defined as (2**31 - 1 - (n - 1)) % n there
        return (2147483647 - (self.n_features - 1)) % self.n_features if h == -2147483648 else abs(h) % self.n_features

    def _char_word(self, w: str) -> tuple:
        min_n, max_n = self._range
        w = " " + w + " "
        w_len = len(w)
        grams = []
        for n in range(min_n, max_n + 1):
            offset = 0
            grams.append(w[offset : offset + n])
            while offset + n < w_len:
                offset += 1
                grams.append(w[offset : offset + n])
            if offset == 0:
                break
        return tuple(self._index(g) for g in grams)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        cache = self._cache
        if len(cache) > self.CACHE_LIMIT:
            cache.clear()
        indices = array("i")  # 4 bytes a column, not a Python int object each
        extend = indices.extend
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        pre = self._preprocess
        if self._analyzer == "char_wb":
            char_word = self._char_word
            for i, text in enumerate(texts):
                for w in pre(text).split():
                    cols = cache.get(w)
                    if cols is None:
                        cols = cache[w] = char_word(w)
                    extend(cols)
                indptr[i + 1] = len(indices)
        elif self._analyzer == "word" or self._analyzer == "char" or isinstance(self._analyzer, SegmentedNgrams):
            # sklearn's own word path is as fast as a cache here (0.23 vs 0.28 s, 10k); plain char n-grams and the
            # segmented words have no word boundaries to cache on
            X = self._vec.transform(texts)
            return X.astype(np.float32) if X.dtype != np.float32 else X
        else:
            raise TextclfError(f"The baseline cannot hash analyzer '{self._analyzer}'")
        cols = np.frombuffer(indices, dtype=np.int32) if len(indices) else np.zeros(0, dtype=np.int32)
        X = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr), shape=(len(texts), self.n_features))
        X.sum_duplicates()
        return X
