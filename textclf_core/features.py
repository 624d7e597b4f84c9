"""Sentence embeddings from a frozen encoder, cached on disk per text.

Used by the feature-extraction strategy (a head trained on these vectors) and by
label review. Texts are tokenized once, sorted by length and run in batches padded
only to the longest text of the batch under ``torch.inference_mode()``, with bf16
autocast where the processor does bf16 natively.

The cache lives in ``$TEXTCLF_HOME/cache/embeddings`` (``./.textclf_cache/embeddings``
without TEXTCLF_HOME). One folder per (model weights, max length, pooling, precision);
inside, shards of ``(text hash, vector)`` pairs, so a text set that only partly
overlaps an earlier one (after a few label edits, a new file with some of the same
rows) computes only the new texts. Shards are written to a temporary file and renamed,
so concurrent processes never read half a file; duplicates are harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import events
from .errors import CancelledError, TextclfError

CACHE_VERSION = 1
_MAX_SHARDS = 8  # merge shards beyond this so lookups stay one or two file reads


# --- cache ------------------------------------------------------------------------
def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    home = os.environ.get("TEXTCLF_HOME")
    if home:
        return Path(home) / "cache" / "embeddings"
    return Path(".textclf_cache") / "embeddings"


def text_hash(text: str) -> bytes:
    """32 hex characters identifying a text exactly (blake2b-128)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest().encode("ascii")


class EmbeddingCache:
    """Per-text vectors for one (model, max_length, pooling, precision) key."""

    def __init__(self, folder: Path, meta: dict | None = None):
        self.folder = Path(folder)
        self.meta = meta or {}

    @classmethod
    def for_key(cls, root: Path, **key) -> "EmbeddingCache":
        key = {"version": CACHE_VERSION, **key}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        return cls(Path(root) / digest, key)

    def _shards(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("shard-*.npz"))

    def _read_all(self) -> tuple[np.ndarray, np.ndarray]:
        hashes, vectors = [], []
        for shard in self._shards():
            try:
                with np.load(shard, allow_pickle=False) as data:
                    hashes.append(data["hashes"])
                    vectors.append(data["vectors"])
            except (FileNotFoundError, OSError, ValueError, KeyError):
                continue  # merged away by another process meanwhile, or unreadable: recompute
        if not hashes:
            return np.empty(0, dtype="S32"), np.empty((0, 0), dtype=np.float32)
        return np.concatenate(hashes), np.concatenate(vectors)

    def lookup(self, hashes: Sequence[bytes]) -> tuple[np.ndarray | None, np.ndarray]:
        """(vectors with rows for found hashes, found mask). Vectors is None when nothing matched."""
        stored_h, stored_v = self._read_all()
        found = np.zeros(len(hashes), dtype=bool)
        if len(stored_h) == 0:
            return None, found
        index = {h: i for i, h in enumerate(stored_h.tolist())}
        rows = np.array([index.get(h, -1) for h in hashes], dtype=np.int64)
        found = rows >= 0
        out = np.zeros((len(hashes), stored_v.shape[1]), dtype=np.float32)
        out[found] = stored_v[rows[found]]
        return out, found

    def add(self, hashes: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store vectors for hashes (atomically, as a new shard)."""
        if len(hashes) == 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path = self.folder / "meta.json"
        if not meta_path.exists():
            _atomic_write_bytes(meta_path, json.dumps(self.meta, indent=2, sort_keys=True).encode())
        self._write_shard(np.asarray(hashes, dtype="S32"), np.asarray(vectors, dtype=np.float32))
        shards = self._shards()
        if len(shards) > _MAX_SHARDS:
            self._merge(shards)

    def _write_shard(self, hashes: np.ndarray, vectors: np.ndarray) -> Path:
        final = self.folder / f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
        tmp = self.folder / f".tmp-{uuid.uuid4().hex}.npz"
        with open(tmp, "wb") as handle:
            np.savez(handle, hashes=hashes, vectors=vectors)
        os.replace(tmp, final)
        return final

    def _merge(self, shards: list[Path]) -> None:
        hashes, vectors = [], []
        for shard in shards:
            try:
                with np.load(shard, allow_pickle=False) as data:
                    hashes.append(data["hashes"])
                    vectors.append(data["vectors"])
            except (FileNotFoundError, OSError, ValueError, KeyError):
                continue
        if not hashes:
            return
        h = np.concatenate(hashes)
        v = np.concatenate(vectors)
        _, first = np.unique(h, return_index=True)
        self._write_shard(h[first], v[first])  # written before the old ones go: readers always see every vector
        for shard in shards:
            try:
                shard.unlink()
            except FileNotFoundError:
                pass

    def clear(self) -> None:
        for shard in self._shards():
            shard.unlink(missing_ok=True)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --- batching helpers (shared with training and inference) -------------------------
def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to ``max_length``, not padded."""
    texts = ["" if t is None else str(t) for t in texts]
    if not texts:
        return []
    return tokenizer(texts, truncation=True, max_length=max_length, padding=False,
                     return_attention_mask=False, return_token_type_ids=False)["input_ids"]


# Long texts: overlapping windows. A quarter of each window overlaps the one before, so a sentence cut by
# one window border is whole in the next; at most ``windows`` per text, spread evenly from the first to
# the last (the end of a text is read, not only its start).
WINDOW_OVERLAP = 0.25


def tokenize_windows(tokenizer, texts: Sequence[str], max_length: int, windows: int = 1
                     ) -> tuple[list[list[int]], np.ndarray]:
    """Token ids of every window and the index of the text each window belongs to.

    ``windows`` <= 1: one window per text (the first ``max_length`` tokens, as :func:`tokenize`).
    Otherwise the tokenizer's own overflow (``return_overflowing_tokens`` with a stride, special
    tokens in every window) cuts each text into overlapping windows, keeping at most ``windows``."""
    windows = int(windows or 1)
    if windows <= 1:
        ids = tokenize(tokenizer, texts, max_length)
        return ids, np.arange(len(ids))
    texts = ["" if t is None else str(t) for t in texts]
    if not texts:
        return [], np.zeros(0, dtype=np.int64)
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    stride = max(0, int((max_length - specials) * WINDOW_OVERLAP))
    enc = tokenizer(texts, truncation=True, max_length=max_length, stride=stride, padding=False,
                    return_overflowing_tokens=True, return_attention_mask=False, return_token_type_ids=False)
    ids, owner = enc["input_ids"], np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64)
    keep: list[int] = []
    for text_index in range(len(texts)):
        rows = np.flatnonzero(owner == text_index)
        if len(rows) > windows:
            rows = rows[np.unique(np.linspace(0, len(rows) - 1, windows).round().astype(int))]
        keep.extend(rows.tolist())
    return [ids[i] for i in keep], owner[keep]


def pool_windows(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Mean of the rows of ``values`` per text (``owner`` from :func:`tokenize_windows`), shape (n, d)."""
    values = np.asarray(values, dtype=np.float32)
    if len(owner) == n and np.array_equal(owner, np.arange(n)):
        return values
    out = np.zeros((n, values.shape[1]), dtype=np.float32)
    np.add.at(out, owner, values)
    counts = np.bincount(owner, minlength=n).astype(np.float32)
    return out / np.maximum(counts, 1.0)[:, None]


def count_windows(n_tokens: Sequence[int], max_length: int, windows: int, specials: int = 2) -> np.ndarray:
    """Windows per text for texts of ``n_tokens`` tokens (no tokenizer needed: for plans and estimates)."""
    n_tokens = np.asarray(n_tokens, dtype=float)
    if windows <= 1:
        return np.ones(len(n_tokens))
    body = max(1, max_length - specials)
    step = max(1, body - int(body * WINDOW_OVERLAP))
    need = 1 + np.ceil(np.maximum(0.0, n_tokens - body) / step)
    return np.minimum(need, windows)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int, left: bool = False):
    """``input_ids`` and ``attention_mask`` tensors padded to the longest sequence (left for XLNet)."""
    import torch

    width = max(1, max(len(s) for s in sequences))
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, seq in enumerate(sequences):
        n = len(seq)
        if n == 0:
            continue
        if left:
            ids[row, width - n:] = seq
            mask[row, width - n:] = 1
        else:
            ids[row, :n] = seq
            mask[row, :n] = 1
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}


def sorted_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[np.ndarray]:
    """Index batches of similar length, longest first (an out-of-memory error shows at once).

    ``max_tokens``: batches of short texts grow past ``batch_size`` (up to 4x) while rows x longest
    text stays within it, so short texts are read in fewer, fuller batches.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    if not max_tokens:
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    sizes = np.asarray(lengths)[order]
    batches, i = [], 0
    while i < len(order):
        rows = max(batch_size, min(4 * batch_size, max_tokens // max(1, int(sizes[i]))))
        batches.append(order[i:i + rows])
        i += rows
    return batches


def pool(hidden, attention_mask, pooling: str):
    """Mean over real tokens, or the first token ("cls"), as float32."""
    hidden = hidden.float()
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


# --- embedding ---------------------------------------------------------------------
_ENCODERS: dict[str, tuple] = {}  # fingerprint -> (encoder, tokenizer, device); one kept, for repeated calls


def _get_encoder(model: str, fingerprint: str, device: str):
    from . import models

    cached = _ENCODERS.get(fingerprint)
    if cached is not None and cached[2] == device:
        return cached[0], cached[1]
    _ENCODERS.clear()  # hold at most one encoder in memory
    tokenizer = models.load_tokenizer(model)
    encoder = models.load_encoder(model).to(device)
    _ENCODERS[fingerprint] = (encoder, tokenizer, device)
    return encoder, tokenizer


def release_encoders() -> None:
    """Drop the kept encoder (frees memory after a job)."""
    _ENCODERS.clear()


def embed(texts: Sequence[str], model: str, *, max_length: int = 128, pooling: str = "mean",
          batch_size: int = 64, cache_dir: str | os.PathLike | None = None,
          emit: Callable[[dict], None] | None = None, should_stop: Callable[[], bool] | None = None,
          precision: str = "auto", device: str = "auto", use_cache: bool = True, windows: int = 1) -> np.ndarray:
    """Pooled embeddings of ``texts`` from the frozen encoder ``model``, shape (n, hidden), float32.

    ``windows`` > 1: a text longer than ``max_length`` tokens is read as up to that many overlapping
    windows (:func:`tokenize_windows`) and its vector is the mean of the windows' vectors.

    Vectors already in the cache are read, only the others are computed (and added).
    ``emit`` receives ``{"type": "progress", "stage": "embedding", "done", "total", ...}``;
    ``should_stop()`` is checked between batches (raises :class:`CancelledError`; the
    vectors computed so far stay cached).
    """
    import torch

    from . import hardware, models

    if pooling not in ("mean", "cls"):
        raise TextclfError(f"Pooling '{pooling}' is not one of mean, cls")
    texts = ["" if t is None else str(t) for t in texts]
    hw = hardware.detect(device)
    amp = hardware.autocast_dtype(hw.device, precision)
    fingerprint = models.model_fingerprint(model)
    key = dict(model=fingerprint, max_length=int(max_length), pooling=pooling,
               dtype=str(amp).replace("torch.", "") if amp else "float32")
    windows = max(1, int(windows or 1))
    if windows > 1:  # one window keeps the old key, so caches filled before windows existed stay valid
        key["windows"] = windows
    cache = EmbeddingCache.for_key(cache_root(cache_dir), **key)
    hashes = [text_hash(t) for t in texts]
    result, found = (cache.lookup(hashes) if use_cache else (None, np.zeros(len(texts), dtype=bool)))
    missing = np.flatnonzero(~found)
    if len(missing) == 0:
        if emit:
            emit(events.progress(stage="embedding", done=len(texts), total=len(texts), cached=len(texts),
                                 elapsed_s=0.0, eta_s=0.0))
        return result if result is not None else np.zeros((0, 0), dtype=np.float32)

    # Compute each distinct missing text once.
    unique_pos: dict[bytes, int] = {}
    todo: list[int] = []
    for i in missing:
        if hashes[i] not in unique_pos:
            unique_pos[hashes[i]] = len(todo)
            todo.append(int(i))
    encoder, tokenizer = _get_encoder(model, fingerprint, hw.device)
    ids, owner = tokenize_windows(tokenizer, [texts[i] for i in todo], max_length, windows)
    left = getattr(tokenizer, "padding_side", "right") == "left"
    hidden_size = None
    window_vectors: np.ndarray | None = None  # one row per window (= per text without windows)
    window_done = np.zeros(len(ids), dtype=bool)
    done_count = 0
    start = time.perf_counter()
    last_emit = 0.0
    try:
        for batch in sorted_batches([len(s) for s in ids], batch_size):
            if should_stop is not None and should_stop():
                raise CancelledError("embedding cancelled")
            inputs = {k: v.to(hw.device) for k, v in pad_batch([ids[j] for j in batch], tokenizer.pad_token_id,
                                                               left).items()}
            with torch.inference_mode(), torch.autocast(hw.device if hw.device != "mps" else "cpu",
                                                        dtype=amp or torch.float32, enabled=amp is not None):
                out = encoder(**inputs)
                hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
                vectors = pool(hidden, inputs["attention_mask"], pooling).cpu().numpy().astype(np.float32)
            if window_vectors is None:
                hidden_size = vectors.shape[1]
                window_vectors = np.zeros((len(ids), hidden_size), dtype=np.float32)
            window_vectors[batch] = vectors
            window_done[batch] = True
            done_count += len(batch)
            now = time.perf_counter()
            if emit and (now - last_emit > 1.0 or done_count == len(ids)):
                last_emit = now
                elapsed = now - start
                rate = done_count / max(elapsed, 1e-9)
                done_texts = int(found.sum()) + round(done_count * len(todo) / max(1, len(ids)))
                emit(events.progress(stage="embedding", done=done_texts, total=len(texts), cached=int(found.sum()),
                                     examples_per_s=rate, elapsed_s=elapsed, windows=len(ids),
                                     eta_s=(len(ids) - done_count) / max(rate, 1e-9)))
    finally:
        computed = None
        if window_vectors is not None:
            computed = pool_windows(window_vectors, owner, len(todo))
            # A text counts as done once every one of its windows is (cancelled mid-way: the rest is recomputed).
            missing_windows = np.bincount(owner[~window_done], minlength=len(todo))
            rows = np.flatnonzero(missing_windows == 0)
            if use_cache and len(rows):
                try:
                    cache.add([hashes[todo[j]] for j in rows], computed[rows])
                except OSError:
                    pass  # a full or read-only disk only costs speed next time
    if result is None:
        result = np.zeros((len(texts), hidden_size), dtype=np.float32)
    for i in missing:
        result[i] = computed[unique_pos[hashes[i]]]
    return result


def cached_mask(texts: Sequence[str], model: str, *, max_length: int = 128, pooling: str = "mean",
                precision: str = "auto", device: str = "auto", cache_dir: str | os.PathLike | None = None
                ) -> np.ndarray:
    """Which ``texts`` already have a vector in :func:`embed`'s cache (bool (N,)); loads no model.

    Lets quick analyses (the learning curve) use frozen embeddings only when they cost nothing."""
    from . import hardware, models

    hw = hardware.detect(device)
    amp = hardware.autocast_dtype(hw.device, precision)
    cache = EmbeddingCache.for_key(cache_root(cache_dir), model=models.model_fingerprint(model),
                                   max_length=int(max_length), pooling=pooling,
                                   dtype=str(amp).replace("torch.", "") if amp else "float32")
    return cache.lookup([text_hash("" if t is None else str(t)) for t in texts])[1]
