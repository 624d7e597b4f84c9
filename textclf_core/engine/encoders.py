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
so concurrent processes never read half a file; duplicates are harmless. A large input is
embedded in chunks of :data:`CHUNK_TEXTS` texts, each written as a shard when it is done, so a
cancelled or killed job resumes where it stopped; shards are merged size-tiered (:meth:`EmbeddingCache.compact`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from textclf_core import events
from textclf_core.errors import CancelledError, TextclfError

CACHE_VERSION = 1
CHUNK_TEXTS = 16384  # texts embedded between two cache writes: a killed job repeats at most this many
# Shards are merged size-tiered (like an LSM tree): MERGE_FANIN shards of about the same row count become one,
# never past SHARD_MAX_ROWS rows. A cache of N vectors is then O(log N + N / SHARD_MAX_ROWS) files, each row is
# rewritten O(log) times (merging everything on every add rewrote the whole cache per chunk: O(N²/chunk)),
# and a lookup holds one shard's vectors at a time (65,536 x 384 float32 = 100 MB) plus its output.
MERGE_FANIN = 4
SHARD_MAX_ROWS = 65536
_SHARD_ROWS = re.compile(r"-n(\d+)\.npz$")


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


def _load_shard(shard: Path, *names: str):
    """The named arrays of one shard, or None when it was merged away meanwhile or is unreadable."""
    try:
        with np.load(shard, allow_pickle=False) as data:
            return tuple(data[name] for name in names)
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return None


class EmbeddingCache:
    """Per-text vectors for one (model, max_length, pooling, precision) key.

    Shards are ``shard-<time>-<id>-n<rows>.npz`` (older ones lack ``-n<rows>``) holding ``hashes`` (S32)
    and ``vectors`` (float32); each is written to a temporary name and renamed, so a reader never sees
    half a shard and a killed writer loses only the shard it was writing."""

    def __init__(self, folder: Path, meta: dict | None = None):
        self.folder = Path(folder)
        self.meta = meta or {}

    @classmethod
    def for_key(cls, root: Path, **key) -> "EmbeddingCache":
        key = {"version": CACHE_VERSION, **key}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        return cls(Path(root) / digest, key)

    def shards(self) -> list[Path]:
        """The shard files, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("shard-*.npz"))

    @staticmethod
    def shard_rows(shard: Path) -> int:
        """Rows in a shard: from its name, or (older shards) from its hashes; 0 when unreadable."""
        match = _SHARD_ROWS.search(shard.name)
        if match:
            return int(match.group(1))
        loaded = _load_shard(shard, "hashes")
        return 0 if loaded is None else len(loaded[0])

    def __len__(self) -> int:
        return sum(self.shard_rows(s) for s in self.shards())

    def lookup(self, hashes: Sequence[bytes]) -> tuple[np.ndarray | None, np.ndarray]:
        """(vectors with rows for found hashes, found mask). Vectors is None when nothing matched.

        Reads every shard's hashes but only the vectors of shards that hold a wanted one, one shard at a
        time: memory is the output plus the largest shard, whatever the size of the cache."""
        n = len(hashes)
        found = np.zeros(n, dtype=bool)
        shards = self.shards()
        if n == 0 or not shards:
            return None, found
        wanted, inverse = np.unique(np.asarray(hashes, dtype="S32"), return_inverse=True)
        source = np.full(len(wanted), -1, dtype=np.int64)  # shard index per wanted hash
        source_row = np.zeros(len(wanted), dtype=np.int64)
        for s, shard in enumerate(shards):
            loaded = _load_shard(shard, "hashes")
            if loaded is None or len(loaded[0]) == 0:
                continue
            stored = loaded[0].astype("S32", copy=False)
            pos = np.minimum(np.searchsorted(wanted, stored), len(wanted) - 1)
            hit = (wanted[pos] == stored) & (source[pos] < 0)
            source[pos[hit]] = s
            source_row[pos[hit]] = np.flatnonzero(hit)
        per_text = source[inverse]
        out = None
        for s in np.unique(per_text[per_text >= 0]):
            loaded = _load_shard(shards[s], "vectors")
            if loaded is None:  # merged away between the two passes: those texts are recomputed
                continue
            vectors = loaded[0]
            if out is None:
                out = np.zeros((n, vectors.shape[1]), dtype=np.float32)
            rows = np.flatnonzero(per_text == s)
            out[rows] = vectors[source_row[inverse[rows]]]
            found[rows] = True
        return out, found

    def add(self, hashes: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store vectors for hashes (atomically, as a new shard), then merge shards of about the same size."""
        if len(hashes) == 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path = self.folder / "meta.json"
        if not meta_path.exists():
            _atomic_write_bytes(meta_path, json.dumps(self.meta, indent=2, sort_keys=True).encode())
        self._write_shard(np.asarray(hashes, dtype="S32"), np.asarray(vectors, dtype=np.float32))
        self.compact()

    def _write_shard(self, hashes: np.ndarray, vectors: np.ndarray) -> Path:
        final = self.folder / f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}-n{len(hashes)}.npz"
        tmp = self.folder / f".tmp-{uuid.uuid4().hex}.npz"
        with open(tmp, "wb") as handle:
            np.savez(handle, hashes=hashes, vectors=vectors)
        os.replace(tmp, final)
        return final

    def compact(self) -> None:
        """Merge groups of ``MERGE_FANIN`` shards of the same size tier (rows within a factor of 4)."""
        while True:
            tiers: dict[int, list[tuple[Path, int]]] = {}
            for shard in self.shards():
                rows = self.shard_rows(shard)
                if 0 < rows < SHARD_MAX_ROWS:
                    tiers.setdefault(int(np.log2(rows)) // 2, []).append((shard, rows))
            group = None
            for tier in sorted(tiers):
                members = tiers[tier]
                if len(members) < MERGE_FANIN:
                    continue
                chosen, total = [], 0
                for shard, rows in sorted(members, key=lambda m: m[1]):
                    if total + rows > SHARD_MAX_ROWS:
                        break
                    chosen.append(shard)
                    total += rows
                if len(chosen) >= 2:
                    group = chosen
                    break
            if group is None:
                return
            self._merge(group)

    def _merge(self, shards: list[Path]) -> None:
        hashes, vectors = [], []
        for shard in shards:
            loaded = _load_shard(shard, "hashes", "vectors")
            if loaded is not None:
                hashes.append(loaded[0])
                vectors.append(loaded[1])
        if hashes:
            h = np.concatenate(hashes)
            v = np.concatenate(vectors)
            _, first = np.unique(h, return_index=True)
            self._write_shard(h[first], v[first])  # written before the old ones go: readers always see every vector
        for shard in shards:
            shard.unlink(missing_ok=True)

    def clear(self) -> None:
        for shard in self.shards():
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
    from textclf_core.store import catalog as models

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
          precision: str = "auto", device: str = "auto", use_cache: bool = True, windows: int = 1,
          chunk_size: int = CHUNK_TEXTS) -> np.ndarray:
    """Pooled embeddings of ``texts`` from the frozen encoder ``model``, shape (n, hidden), float32.

    ``windows`` > 1: a text longer than ``max_length`` tokens is read as up to that many overlapping
    windows (:func:`tokenize_windows`) and its vector is the mean of the windows' vectors.

    Vectors already in the cache are read, only the others are computed, ``chunk_size`` distinct texts
    at a time: each chunk is tokenized, embedded and written to the cache as one shard before the next
    starts, so a cancelled or killed job resumes where it stopped (at most one chunk is computed again)
    and tokens and window vectors are held for one chunk only; the (n, hidden) result is the only array
    that grows with ``n`` (1M x 384 float32 = 1.5 GB).
    ``emit`` receives ``{"type": "progress", "stage": "embedding", "done", "total", "eta_s", ...}`` about
    once a second; ``should_stop()`` is checked between batches (raises :class:`CancelledError`; the
    texts finished so far stay cached, also those of the unfinished chunk).
    """
    import torch

    from textclf_core import hardware
    from textclf_core.store import catalog as models

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
    n_cached = int(found.sum())
    if len(missing) == 0:
        if emit:
            emit(events.progress(stage="embedding", done=len(texts), total=len(texts), cached=len(texts),
                                 elapsed_s=0.0, eta_s=0.0, progress=1.0))
        return result if result is not None else np.zeros((0, 0), dtype=np.float32)

    # Compute each distinct missing text once; ``slot[k]`` is the distinct text of missing row k.
    unique_pos: dict[bytes, int] = {}
    todo: list[int] = []
    slot = np.empty(len(missing), dtype=np.int64)
    for k, i in enumerate(missing):
        pos = unique_pos.setdefault(hashes[i], len(todo))
        if pos == len(todo):
            todo.append(int(i))
        slot[k] = pos
    del unique_pos
    encoder, tokenizer = _get_encoder(model, fingerprint, hw.device)
    left = getattr(tokenizer, "padding_side", "right") == "left"
    chunk_size = max(1, int(chunk_size or CHUNK_TEXTS))
    start = time.perf_counter()
    last_emit = 0.0
    texts_done = windows_done = 0
    for c0 in range(0, len(todo), chunk_size):
        chunk = todo[c0:c0 + chunk_size]
        ids, owner = tokenize_windows(tokenizer, [texts[i] for i in chunk], max_length, windows)
        window_vectors: np.ndarray | None = None  # one row per window (= per text without windows)
        window_done = np.zeros(len(ids), dtype=bool)
        finished = False
        try:
            for batch in sorted_batches([len(s) for s in ids], batch_size):
                if should_stop is not None and should_stop():
                    raise CancelledError("embedding cancelled")
                inputs = {k: v.to(hw.device) for k, v in pad_batch([ids[j] for j in batch],
                                                                   tokenizer.pad_token_id, left).items()}
                with torch.inference_mode(), torch.autocast(hw.device if hw.device != "mps" else "cpu",
                                                            dtype=amp or torch.float32, enabled=amp is not None):
                    out = encoder(**inputs)
                    hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
                    vectors = pool(hidden, inputs["attention_mask"], pooling).cpu().numpy().astype(np.float32)
                if window_vectors is None:
                    window_vectors = np.zeros((len(ids), vectors.shape[1]), dtype=np.float32)
                window_vectors[batch] = vectors
                window_done[batch] = True
                windows_done += len(batch)
                now = time.perf_counter()
                if emit and now - last_emit > 1.0:
                    last_emit = now
                    # Texts finished = whole chunks before this one + this chunk's share of its windows.
                    partial = texts_done + len(chunk) * float(window_done.mean())
                    _emit_progress(emit, n_cached + partial, len(texts), n_cached, len(todo), partial,
                                   now - start, windows_done)
            finished = True
        finally:
            # Cancelled mid-chunk: the texts whose every window is done are kept too.
            computed = None
            if window_vectors is not None:
                computed = pool_windows(window_vectors, owner, len(chunk))
                rows = (np.arange(len(chunk)) if finished else
                        np.flatnonzero(np.bincount(owner[~window_done], minlength=len(chunk)) == 0))
                if use_cache and len(rows):
                    try:
                        cache.add([hashes[chunk[j]] for j in rows], computed[rows])
                    except OSError:
                        pass  # a full or read-only disk only costs speed next time
        if result is None:
            result = np.zeros((len(texts), computed.shape[1]), dtype=np.float32)
        in_chunk = (slot >= c0) & (slot < c0 + len(chunk))
        result[missing[in_chunk]] = computed[slot[in_chunk] - c0]
        texts_done += len(chunk)
        if emit:
            last_emit = time.perf_counter()
            _emit_progress(emit, n_cached + texts_done, len(texts), n_cached, len(todo), texts_done,
                           last_emit - start, windows_done)
    return result


def _emit_progress(emit, done: float, total: int, cached: int, todo: int, computed: float, elapsed: float,
                   windows_done: int) -> None:
    rate = computed / max(elapsed, 1e-9)
    emit(events.progress(stage="embedding", done=int(done), total=total, cached=cached, examples_per_s=rate,
                         elapsed_s=elapsed, windows=windows_done, eta_s=(todo - computed) / max(rate, 1e-9),
                         progress=float(done) / max(1, total)))


def cached_mask(texts: Sequence[str], model: str, *, max_length: int = 128, pooling: str = "mean",
                precision: str = "auto", device: str = "auto", cache_dir: str | os.PathLike | None = None
                ) -> np.ndarray:
    """Which ``texts`` already have a vector in :func:`embed`'s cache (bool (N,)); loads no model.

    Lets quick analyses (the learning curve) use frozen embeddings only when they cost nothing."""
    from textclf_core import hardware
    from textclf_core.store import catalog as models

    hw = hardware.detect(device)
    amp = hardware.autocast_dtype(hw.device, precision)
    cache = EmbeddingCache.for_key(cache_root(cache_dir), model=models.model_fingerprint(model),
                                   max_length=int(max_length), pooling=pooling,
                                   dtype=str(amp).replace("torch.", "") if amp else "float32")
    return cache.lookup([text_hash("" if t is None else str(t)) for t in texts])[1]
