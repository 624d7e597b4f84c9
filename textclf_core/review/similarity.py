"""Cosine similarities between rows, one block at a time: pairs above a threshold, k-NN distances."""

from __future__ import annotations

import numpy as np

from .vectors import normalize_rows

# Similarities held at once: rows per block = BLOCK_CELLS // N, so a block is 64 MB of float32 whatever N
# (1,024 rows x 100k columns was 400 MB dense, plus the sparse product and np.partition's copy of it).
BLOCK_CELLS = 1 << 24


def block_rows(n: int, chunk_size: int = 1024) -> int:
    """Rows per similarity block for ``n`` rows: at most ``chunk_size``, fewer when ``n`` is large."""
    return int(max(16, min(chunk_size, BLOCK_CELLS // max(1, n))))


def _prepared(features):
    """(normalised rows, their transpose in the layout the products want)."""
    import scipy.sparse as sp

    if sp.issparse(features):
        from sklearn.preprocessing import normalize

        x = normalize(features.tocsr().astype(np.float32))
        # CSR of the transpose, built once: scipy converts a CSC right operand to CSR on every product
        # (9.6 s of 485 s on 100k TF-IDF rows).
        return x, x.T.tocsr()
    x = normalize_rows(features)
    return x, x.T


def _block(x, xt, start: int, rows: int) -> np.ndarray:
    import scipy.sparse as sp

    block = x[start : start + rows] @ xt
    return block.toarray() if sp.issparse(block) else np.asarray(block)


def similarity_blocks(features, chunk_size: int = 1024):
    """Yield ``(start, dense cosine similarities of rows start.. to all rows)``, one block at a time
    (of :func:`block_rows` rows)."""
    x, xt = _prepared(features)
    rows = block_rows(x.shape[0], chunk_size)
    for start in range(0, x.shape[0], rows):
        yield start, _block(x, xt, start, rows)


def similarity_threads() -> int:
    """Blocks computed at once. scipy's sparse product (single-threaded, most of the time on TF-IDF rows: 324 s
    of 485 s on 100k rows) releases the GIL, so threads can use every core; on the loaded 2-core box of issue 19
    two threads measured the same as one (20k rows: 18.6 vs 16.5 s, 61% of a core each), no worse."""
    from textclf_core.hardware import cpu_cores

    return max(1, min(4, cpu_cores()))


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


def neighbours(features, threshold: float = 0.95, k: int = 10, *, chunk_size: int = 1024, threads: int | None = None):
    """One blockwise pass for both :func:`similar_pairs` and :func:`knn_distance`.

    Returns ``((i, j, similarity), mean distance to the k nearest)``; the similarity
    matrix is the costliest part of a review of 10k+ rows, so it is computed once,
    ``threads`` blocks at a time (default :func:`similarity_threads`), each of
    :func:`block_rows` rows, so memory is ``threads`` x 64 MB whatever the size.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .common import one_blas_thread

    n = features.shape[0]
    kk = max(1, min(k, n - 1))
    x, xt = _prepared(features)
    rows = block_rows(n, chunk_size)
    distance = np.zeros(n, dtype=np.float64)

    def one(start: int):
        block = _block(x, xt, start, rows)
        ii, jj = np.nonzero(block >= threshold - 1e-6)
        keep = jj > ii + start
        found = (ii[keep] + start, jj[keep], np.clip(block[ii[keep], jj[keep]], -1, 1))
        if n > 1:
            block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = -np.inf  # not itself
            nearest = np.partition(block, block.shape[1] - kk, axis=1)[:, -kk:]
            distance[start : start + block.shape[0]] = 1.0 - nearest.mean(axis=1)
        return found

    threads = similarity_threads() if threads is None else max(1, int(threads))
    starts = range(0, n, rows)
    if threads == 1 or len(starts) == 1:
        found = [one(start) for start in starts]
    else:
        with one_blas_thread(), ThreadPoolExecutor(threads) as pool:  # threads, not BLAS threads per product
            found = list(pool.map(one, starts))  # each block's result is a few pairs; the block itself is freed
    if not found:
        pairs = (np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.float32))
    else:
        pairs = tuple(np.concatenate([f[c] for f in found]) for c in range(3))
    return pairs, distance


def knn_distance(features, k: int = 10, *, chunk_size: int = 1024) -> np.ndarray:
    """Mean cosine distance of each row to its ``k`` nearest other rows (blockwise, like :func:`similar_pairs`)."""
    n = features.shape[0]
    k = max(1, min(k, n - 1))
    out = np.zeros(n, dtype=np.float64)
    for start, block in similarity_blocks(features, chunk_size):
        block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = -np.inf  # not itself
        nearest = np.partition(block, block.shape[1] - k, axis=1)[:, -k:]
        out[start : start + block.shape[0]] = 1.0 - nearest.mean(axis=1)
    return out
