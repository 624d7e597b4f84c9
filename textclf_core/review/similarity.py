"""Cosine similarities between rows, one block at a time: pairs above a threshold, k-NN distances."""

from __future__ import annotations

import numpy as np

from .vectors import normalize_rows

def similarity_blocks(features, chunk_size: int = 1024):
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
    for start, block in similarity_blocks(features, chunk_size):
        ii, jj = np.nonzero(block >= threshold - 1e-6)
        ii = ii + start
        keep = jj > ii
        out_i.append(ii[keep])
        out_j.append(jj[keep])
        out_s.append(np.clip(block[ii[keep] - start, jj[keep]], -1, 1))
    if not out_i:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.float32)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def neighbours(features, threshold: float = 0.95, k: int = 10, *, chunk_size: int = 1024):
    """One blockwise pass for both :func:`similar_pairs` and :func:`knn_distance`.

    Returns ``((i, j, similarity), mean distance to the k nearest)``; the similarity
    matrix is the costliest part of a review of 10k+ rows, so it is computed once.
    """
    n = features.shape[0]
    kk = max(1, min(k, n - 1))
    out_i, out_j, out_s = [], [], []
    distance = np.zeros(n, dtype=np.float64)
    for start, block in similarity_blocks(features, chunk_size):
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
    for start, block in similarity_blocks(features, chunk_size):
        block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = -np.inf  # not itself
        nearest = np.partition(block, block.shape[1] - k, axis=1)[:, -k:]
        out[start:start + block.shape[0]] = 1.0 - nearest.mean(axis=1)
    return out
