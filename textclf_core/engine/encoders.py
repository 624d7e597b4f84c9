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
    return tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]


# Long texts: overlapping windows. A quarter of each window overlaps the one before, so a sentence cut by
# one window border is whole in the next; at most ``windows`` per text, spread evenly from the first to
# the last (the end of a text is read, not only its start).
WINDOW_OVERLAP = 0.25


def tokenize_windows(
    tokenizer, texts: Sequence[str], max_length: int, windows: int = 1
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
    enc = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        stride=stride,
        padding=False,
        return_overflowing_tokens=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
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
            ids[row, width - n :] = seq
            mask[row, width - n :] = 1
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
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    sizes = np.asarray(lengths)[order]
    batches, i = [], 0
    while i < len(order):
        rows = max(batch_size, min(4 * batch_size, max_tokens // max(1, int(sizes[i]))))
        batches.append(order[i : i + rows])
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
_ENCODERS: dict[tuple, object] = {}  # (fingerprint, device, backend) -> encoder; one kept, for repeated calls


def _get_encoder(model: str, fingerprint: str, device: str, backend: str):
    key = (fingerprint, device, backend)
    cached = _ENCODERS.get(key)
    if cached is not None:
        return cached
    _ENCODERS.clear()  # hold at most one encoder in memory
    try:
        encoder = make_encoder(model, fingerprint, device, backend)
    except TextclfError:
        if backend not in ("onnx", "int8") or forced_backend():
            raise
        encoder = make_encoder(model, fingerprint, device, "fp32")  # the ONNX copy could not be made: fp32
    _ENCODERS[key] = encoder
    return encoder


def release_encoders() -> None:
    """Drop the kept encoder (frees memory after a job)."""
    _ENCODERS.clear()


_DTYPE_KEYS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "onnx": "onnx-float32", "int8": "onnx-int8"}


def embedding_cache(
    model: str,
    *,
    max_length: int = 128,
    pooling: str = "mean",
    backend: str = "fp32",
    windows: int = 1,
    cache_dir: str | os.PathLike | None = None,
    fingerprint: str | None = None,
) -> EmbeddingCache:
    """The disk cache :func:`embed` reads and fills for these settings (fp32 and bf16 keep their old keys)."""
    from textclf_core.store import catalog as models

    key = dict(
        model=fingerprint or models.model_fingerprint(model),
        max_length=int(max_length),
        pooling=pooling,
        dtype=_DTYPE_KEYS[backend],
    )
    if int(windows or 1) > 1:  # one window keeps the old key, so caches filled before windows existed stay valid
        key["windows"] = int(windows)
    return EmbeddingCache.for_key(cache_root(cache_dir), **key)


def embed(
    texts: Sequence[str],
    model: str,
    *,
    max_length: int = 128,
    pooling: str = "mean",
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    emit: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    precision: str = "auto",
    device: str = "auto",
    use_cache: bool = True,
    windows: int = 1,
    chunk_size: int = CHUNK_TEXTS,
    backend: str = "auto",
) -> np.ndarray:
    """Pooled embeddings of ``texts`` from the frozen encoder ``model``, shape (n, hidden), float32.

    ``backend``: fp32 | bf16 | onnx | int8 | auto (:func:`resolve_backend`: ``TEXTCLF_ENCODER_BACKEND``
    first; auto = this machine's measured choice, measured once when at least :data:`CALIBRATE_MIN_TEXTS`
    texts are embedded). A static model key (``minilm-static``, :mod:`static_embeddings`) is read by its own
    token table, without the disk cache.

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
    from textclf_core import hardware
    from textclf_core.store import catalog as models

    from . import static as static_embeddings

    if pooling not in ("mean", "cls"):
        raise TextclfError(f"Pooling '{pooling}' is not one of mean, cls")
    texts = ["" if t is None else str(t) for t in texts]
    if static_embeddings.is_static(model):
        return static_embeddings.embed(
            texts, model, max_length=max_length, windows=windows, emit=emit, should_stop=should_stop
        )
    hw = hardware.detect(device)
    fingerprint = models.model_fingerprint(model)
    windows = max(1, int(windows or 1))
    chosen = resolve_backend(
        model,
        max_length=max_length,
        pooling=pooling,
        precision=precision,
        device=hw.device,
        backend=backend,
        calibrate=len(texts) >= CALIBRATE_MIN_TEXTS,
        fingerprint=fingerprint,
    )
    cache = embedding_cache(
        model,
        max_length=max_length,
        pooling=pooling,
        backend=chosen,
        windows=windows,
        cache_dir=cache_dir,
        fingerprint=fingerprint,
    )
    hashes = [text_hash(t) for t in texts]
    result, found = cache.lookup(hashes) if use_cache else (None, np.zeros(len(texts), dtype=bool))
    missing = np.flatnonzero(~found)
    if len(missing) == 0:
        return _all_cached(len(texts), result, emit)
    encoder = _get_encoder(model, fingerprint, hw.device, chosen)
    hidden = int(getattr(getattr(getattr(encoder, "net", None), "config", None), "hidden_size", 0) or 768)
    batch_size = encoder_batch_size(hw, batch_size, max_length, hidden)
    return _embed_missing(
        texts,
        hashes,
        missing,
        result,
        encoder,
        cache if use_cache else None,
        max_length=max_length,
        pooling=pooling,
        batch_size=batch_size,
        windows=windows,
        chunk_size=chunk_size,
        emit=emit,
        should_stop=should_stop,
        n_cached=int(found.sum()),
    )


def _all_cached(n: int, result, emit) -> np.ndarray:
    """Every text's vector came from the cache: one progress event saying so, and the vectors."""
    if emit:
        emit(events.progress(stage="embedding", done=n, total=n, cached=n, elapsed_s=0.0, eta_s=0.0, progress=1.0))
    return result if result is not None else np.zeros((0, 0), dtype=np.float32)


def _embed_missing(
    texts,
    hashes,
    missing,
    result,
    encoder,
    cache,
    *,
    max_length,
    pooling,
    batch_size,
    windows,
    chunk_size,
    emit,
    should_stop,
    n_cached,
) -> np.ndarray:
    """Compute the ``missing`` rows (each distinct text once), chunk by chunk, each chunk cached when done."""
    unique_pos: dict[bytes, int] = {}  # ``slot[k]`` is the distinct text of missing row k
    todo: list[int] = []
    slot = np.empty(len(missing), dtype=np.int64)
    for k, i in enumerate(missing):
        pos = unique_pos.setdefault(hashes[i], len(todo))
        if pos == len(todo):
            todo.append(int(i))
        slot[k] = pos
    del unique_pos
    chunk_size = max(1, int(chunk_size or CHUNK_TEXTS))
    start = time.perf_counter()
    clock = {"last_emit": 0.0, "texts_done": 0, "windows_done": 0}
    for c0 in range(0, len(todo), chunk_size):
        chunk = todo[c0 : c0 + chunk_size]
        computed = _embed_chunk(
            [texts[i] for i in chunk],
            [hashes[i] for i in chunk],
            encoder,
            cache,
            max_length=max_length,
            pooling=pooling,
            batch_size=batch_size,
            windows=windows,
            emit=emit,
            should_stop=should_stop,
            clock=clock,
            start=start,
            n_cached=n_cached,
            total=len(texts),
            todo=len(todo),
        )
        if result is None:
            result = np.zeros((len(texts), computed.shape[1]), dtype=np.float32)
        in_chunk = (slot >= c0) & (slot < c0 + len(chunk))
        result[missing[in_chunk]] = computed[slot[in_chunk] - c0]
        clock["texts_done"] += len(chunk)
        if emit:
            clock["last_emit"] = time.perf_counter()
            _emit_progress(
                emit,
                n_cached + clock["texts_done"],
                len(texts),
                n_cached,
                len(todo),
                clock["texts_done"],
                clock["last_emit"] - start,
                clock["windows_done"],
            )
    return result


def _embed_chunk(
    chunk_texts,
    chunk_hashes,
    encoder,
    cache,
    *,
    max_length,
    pooling,
    batch_size,
    windows,
    emit,
    should_stop,
    clock,
    start,
    n_cached,
    total,
    todo,
) -> np.ndarray:
    """One chunk's vectors; whatever is finished is cached, also when cancelled mid-chunk."""
    ids, owner = tokenize_windows(encoder.tokenizer, chunk_texts, max_length, windows)
    window_done = np.zeros(len(ids), dtype=bool)
    holder: dict[str, np.ndarray] = {}

    def on_batch(batch, out):
        holder["vectors"] = out
        window_done[batch] = True
        clock["windows_done"] += len(batch)
        now = time.perf_counter()
        if emit and now - clock["last_emit"] > 1.0:
            clock["last_emit"] = now
            # Texts finished = whole chunks before this one + this chunk's share of its windows.
            partial = clock["texts_done"] + len(chunk_texts) * float(window_done.mean())
            _emit_progress(emit, n_cached + partial, total, n_cached, todo, partial, now - start, clock["windows_done"])

    finished = False
    try:
        encode_ids(encoder, ids, pooling, batch_size, should_stop=should_stop, on_batch=on_batch)
        finished = True
    finally:
        computed = None
        if "vectors" in holder:
            computed = pool_windows(holder["vectors"], owner, len(chunk_texts))
            # Cancelled mid-chunk: the texts whose every window is done are kept too.
            rows = (
                np.arange(len(chunk_texts))
                if finished
                else np.flatnonzero(np.bincount(owner[~window_done], minlength=len(chunk_texts)) == 0)
            )
            if cache is not None and len(rows):
                try:
                    cache.add([chunk_hashes[j] for j in rows], computed[rows])
                except OSError:
                    pass  # a full or read-only disk only costs speed next time
    return computed


def _emit_progress(
    emit, done: float, total: int, cached: int, todo: int, computed: float, elapsed: float, windows_done: int
) -> None:
    rate = computed / max(elapsed, 1e-9)
    emit(
        events.progress(
            stage="embedding",
            done=int(done),
            total=total,
            cached=cached,
            examples_per_s=rate,
            elapsed_s=elapsed,
            windows=windows_done,
            eta_s=(todo - computed) / max(rate, 1e-9),
            progress=float(done) / max(1, total),
        )
    )


def cached_mask(
    texts: Sequence[str],
    model: str,
    *,
    max_length: int = 128,
    pooling: str = "mean",
    precision: str = "auto",
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Which ``texts`` already have a vector in :func:`embed`'s cache (bool (N,)); loads no model and
    measures nothing (the backend is this machine's recorded choice, or the default).

    Lets quick analyses (the learning curve) use frozen embeddings only when they cost nothing."""
    from . import static as static_embeddings

    if static_embeddings.is_static(model):  # no cache: reading a static table costs next to nothing
        return np.ones(len(texts), dtype=bool)
    backend = resolve_backend(
        model, max_length=max_length, pooling=pooling, precision=precision, device=device, calibrate=False
    )
    cache = embedding_cache(model, max_length=max_length, pooling=pooling, backend=backend, cache_dir=cache_dir)
    return cache.lookup([text_hash("" if t is None else str(t)) for t in texts])[1]


# --- encoder backends: fp32 (reference), bf16, ONNX Runtime fp32 and int8, chosen per machine ---------------
# Measured on this project's 2-core Intel CPU (AMX, loaded), MiniLM-L6, 600 movie reviews at max length 128:
# ONNX Runtime int8 with per-tensor weight scales gave a mean cosine of 0.957 to fp32 (fails the 0.99 bar);
# per-channel scales 0.992 (1st percentile 0.986), so ``int8`` is per-channel. torch's own quantize_dynamic
# (per-tensor) gave a minimum cosine of 0.84 and is not a candidate. Which backend is fastest depends on the
# processor and on how busy it is, so each machine measures it once (:func:`calibrate_backend`).
BACKENDS = ("fp32", "bf16", "onnx", "int8")
BACKEND_ENV = "TEXTCLF_ENCODER_BACKEND"  # developer switch: fp32 | bf16 | onnx | int8 | auto
CALIBRATE_MIN_TEXTS = 256  # embedding fewer new texts than this never pays for the one-off measurement
AGREEMENT_MIN = 0.99  # a faster backend must keep >= 99% of a logistic-regression head's labels of fp32
COSINE_MIN = 0.99  # and a mean cosine >= 0.99 to the fp32 vectors
CHOICE_VERSION = 1


def forced_backend() -> str | None:
    """The backend ``TEXTCLF_ENCODER_BACKEND`` forces (None: unset or ``auto``)."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in BACKENDS:
        raise TextclfError(
            f"{BACKEND_ENV}={value} is not one of {', '.join(BACKENDS)}, auto",
            hint=f"Unset {BACKEND_ENV} or set it to one of those",
        )
    return value


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def backend_candidates(hw) -> list[str]:
    """Backends worth measuring on this hardware, fp32 (the reference) first."""
    if hw.device != "cpu":
        return ["fp32"]
    out = ["fp32"] + (["bf16"] if hw.bf16 else [])
    return out + (["onnx", "int8"] if onnx_available() else [])


def machine_key(hw) -> dict:
    """What a speed measurement depends on besides the model: processor, cores, threads, library versions."""
    import torch

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "device": hw.device,
        "name": hw.name,
        "cores": hw.cpu_cores,
        "bf16": bool(hw.bf16),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "onnxruntime": ort_version,
    }


def choice_path(fingerprint: str, hw, max_length: int, pooling: str) -> Path:
    """Where the measured choice for (model, machine, max length, pooling) is kept, under the model cache."""
    from textclf_core.store import catalog as models

    key = {
        "version": CHOICE_VERSION,
        "model": fingerprint,
        "machine": machine_key(hw),
        "max_length": int(max_length),
        "pooling": pooling,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return models.model_cache_root() / "encoder-backends" / f"{digest}.json"


def read_choice(path: Path) -> dict | None:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("choice") in BACKENDS else None


def resolve_backend(
    model: str,
    *,
    max_length: int = 128,
    pooling: str = "mean",
    precision: str = "auto",
    device: str = "auto",
    backend: str = "auto",
    calibrate: bool = True,
    fingerprint: str | None = None,
) -> str:
    """The backend :func:`embed` uses: ``TEXTCLF_ENCODER_BACKEND``, else ``backend``, else an explicit
    ``precision`` (fp32/bf16/fp16), else this machine's measured choice (measured now when ``calibrate``),
    else bf16 where native and fp32 elsewhere. On a GPU: the autocast precision (bf16 or fp16)."""
    from textclf_core import hardware
    from textclf_core.store import catalog as models

    hw = hardware.detect(device)
    forced = forced_backend() or (None if backend in (None, "auto") else str(backend).lower())
    if forced is not None and forced not in BACKENDS:
        raise TextclfError(f"Encoder backend '{forced}' is not one of {', '.join(BACKENDS)}, auto")
    if hw.device != "cpu":
        import torch

        amp = hardware.autocast_dtype(hw.device, "fp32" if forced == "fp32" else precision)
        return "fp32" if amp is None else ("bf16" if amp == torch.bfloat16 else "fp16")
    if (precision or "auto").lower() == "fp16":
        hardware.autocast_dtype("cpu", "fp16")  # refused on a CPU, with the one-line advice
    if forced is not None:
        if forced in ("onnx", "int8") and not onnx_available():
            raise TextclfError(
                f"Encoder backend '{forced}' needs ONNX Runtime, which is not installed",
                hint="pip install onnxruntime, or choose fp32/bf16",
            )
        return forced
    if (precision or "auto").lower() in ("fp32", "bf16"):
        return precision.lower()
    default = "bf16" if hw.bf16 else "fp32"
    fingerprint = fingerprint or models.model_fingerprint(model)
    path = choice_path(fingerprint, hw, max_length, pooling)
    record = read_choice(path)
    if record is None and calibrate and len(backend_candidates(hw)) > 1:
        record = calibrate_backend(
            model, max_length=max_length, pooling=pooling, device=hw.device, fingerprint=fingerprint
        )
    return record["choice"] if record else default


def backend_choice(
    model: str, *, max_length: int = 128, pooling: str = "mean", device: str = "auto", calibrate: bool = True
) -> dict | None:
    """This machine's measured record for ``model`` (choice, texts/s, cosine and agreement per backend),
    measured now if missing and ``calibrate``; None when nothing was measured (GPU, or one candidate)."""
    from textclf_core import hardware
    from textclf_core.store import catalog as models

    hw = hardware.detect(device)
    fingerprint = models.model_fingerprint(model)
    record = read_choice(choice_path(fingerprint, hw, max_length, pooling))
    if record is None and calibrate and len(backend_candidates(hw)) > 1:
        record = calibrate_backend(
            model, max_length=max_length, pooling=pooling, device=hw.device, fingerprint=fingerprint
        )
    return record


# --- the encoders themselves -----------------------------------------------------------------------------
class TorchEncoder:
    """A transformers encoder run by PyTorch: fp32, bf16 weights on a CPU with native bf16 (no per-batch
    casts; measured faster than autocast), or autocast on a GPU, where batches go through pinned memory."""

    def __init__(self, model: str, device: str, backend: str):
        import torch

        from textclf_core.store import catalog as models

        self.tokenizer = models.load_tokenizer(model)
        self.device = device
        self.backend = backend
        net = models.load_encoder(model)
        self.amp = None
        if device == "cpu" and backend == "bf16":
            net = net.to(torch.bfloat16)
        elif device != "cpu" and backend in ("bf16", "fp16"):
            self.amp = torch.bfloat16 if backend == "bf16" else torch.float16
        self.net = net.to(device).eval()
        self.pin = device == "cuda"

    def __call__(self, inputs: dict, pooling: str) -> np.ndarray:
        import torch

        inputs = to_device(inputs, self.device)
        autocast_device = self.device if self.device != "mps" else "cpu"
        with (
            torch.inference_mode(),
            torch.autocast(autocast_device, dtype=self.amp or torch.float32, enabled=self.amp is not None),
        ):
            out = self.net(**inputs)
            hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
            return pool(hidden, inputs["attention_mask"], pooling).cpu().numpy().astype(np.float32)


class OnnxEncoder:
    """The same encoder exported to ONNX (hidden states out) and run by ONNX Runtime, fp32 or int8."""

    def __init__(self, model: str, fingerprint: str, backend: str):
        import onnxruntime as ort
        import torch

        from textclf_core.store import catalog as models

        self.tokenizer = models.load_tokenizer(model)
        self.backend = backend
        path = onnx_encoder_file(model, fingerprint, quantized=backend == "int8")
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the same threads as torch (configure_threads)
        options.inter_op_num_threads = 1
        # No busy-waiting between runs: ONNX Runtime's threads otherwise spin on the cores after each batch and
        # slow whatever torch runs next in the same process (training, or another backend being measured).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def __call__(self, inputs: dict, pooling: str) -> np.ndarray:
        feed = {k: v.numpy() for k, v in inputs.items() if k in self.inputs}
        hidden = self.session.run(None, feed)[0]
        if pooling == "cls":
            return hidden[:, 0].astype(np.float32)
        mask = feed["attention_mask"][..., None].astype(np.float32)
        return ((hidden * mask).sum(1) / np.maximum(mask.sum(1), 1.0)).astype(np.float32)


def to_device(inputs: dict, device: str) -> dict:
    """Batch tensors on ``device``; to a CUDA GPU through pinned host memory with a non-blocking copy, so the
    copy overlaps the work still queued on the GPU (the CPU side only pads the next batch meanwhile)."""
    if device == "cpu":
        return inputs
    if device == "cuda":
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in inputs.items()}
    return {k: v.to(device) for k, v in inputs.items()}


def onnx_encoder_file(model: str, fingerprint: str, *, quantized: bool) -> Path:
    """``encoder.onnx`` (or its per-channel dynamic int8 copy ``encoder-int8.onnx``) for ``model``, exported
    once into the model cache (``models.model_cache_root()/onnx-encoders/<fingerprint hash>``) and reused.
    Written under a temporary name and renamed, so a half-written file is never loaded."""
    from textclf_core.store import catalog as models

    folder = models.model_cache_root() / "onnx-encoders" / models.short_hash(fingerprint, 24)
    plain, int8 = folder / "encoder.onnx", folder / "encoder-int8.onnx"
    target = int8 if quantized else plain
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    if not plain.is_file():
        _export_encoder(model, plain)
    if quantized:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = folder / f".tmp-{uuid.uuid4().hex}.onnx"
        try:
            quantize_dynamic(
                str(plain),
                str(tmp),
                weight_type=QuantType.QInt8,
                per_channel=True,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            os.replace(tmp, int8)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def _export_encoder(model: str, out: Path) -> None:
    import logging
    import warnings

    import torch

    from textclf_core.store import catalog as models

    net = models.load_encoder(model).float().eval()

    class _Hidden(torch.nn.Module):  # a plain (ids, mask) -> hidden states signature for the exporter
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    example = (torch.ones((2, 8), dtype=torch.long), torch.ones((2, 8), dtype=torch.long))
    tmp = out.with_name(f".tmp-{uuid.uuid4().hex}.onnx")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("torch.onnx").setLevel(logging.ERROR)
            torch.onnx.export(
                _Hidden(net),
                example,
                str(tmp),
                input_names=["input_ids", "attention_mask"],
                output_names=["hidden"],
                opset_version=17,
                dynamo=False,
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "hidden": {0: "batch", 1: "sequence"},
                },
            )
        os.replace(tmp, out)
    except Exception as exc:  # noqa: BLE001 - some architectures do not export: the caller falls back
        raise TextclfError(
            f"The encoder could not be exported to ONNX ({str(exc).splitlines()[0][:200]})",
            hint=f"Set {BACKEND_ENV}=fp32 to skip ONNX",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def make_encoder(model: str, fingerprint: str, device: str, backend: str):
    """An encoder object ``(inputs, pooling) -> (batch, hidden) float32`` with a ``.tokenizer``."""
    if backend in ("onnx", "int8"):
        return OnnxEncoder(model, fingerprint, backend)
    return TorchEncoder(model, device, backend)


def encoder_batch_size(hw, batch_size: int, max_length: int, hidden: int = 768) -> int:
    """Texts per batch: ``batch_size`` on a CPU or MPS; on a CUDA GPU, as many as about a quarter of its
    memory holds for activations (rows x tokens x hidden x ~30 bytes for the layer in flight and attention),
    between ``batch_size`` and 1024, so a large GPU reads in few, full batches."""
    if hw.device != "cuda" or not hw.gpu_memory_gb:
        return int(batch_size)
    per_row = max(1, int(max_length)) * max(1, int(hidden)) * 30
    fits = int(hw.gpu_memory_gb * 1024**3 * 0.25 // per_row)
    return int(max(batch_size, min(1024, fits)))


# --- the one-off measurement ------------------------------------------------------------------------------
def probe_set(max_length: int, n: int) -> tuple[list[str], np.ndarray] | None:
    """A fixed labelled sample for the measurement: the bundled movie reviews (max length <= 128) or BBC news
    articles (longer), ``n`` rows spread over the file; None when the sample data is not exported."""
    import pandas as pd

    from textclf_core.data.samples import SAMPLES

    sample = SAMPLES["movie_reviews" if max_length <= 128 else "bbc_news"]
    try:
        frame = pd.read_csv(sample["path"])
    except (OSError, ValueError):
        return None
    frame = frame.dropna(subset=[sample["text_col"], sample["label_col"]])
    if len(frame) < 20:
        return None
    rows = np.unique(np.linspace(0, len(frame) - 1, min(n, len(frame))).round().astype(int))
    picked = frame.iloc[rows]
    return picked[sample["text_col"]].astype(str).tolist(), picked[sample["label_col"]].astype(str).to_numpy()


def encode_ids(
    encoder,
    ids: Sequence[Sequence[int]],
    pooling: str,
    batch_size: int = 64,
    should_stop: Callable[[], bool] | None = None,
    on_batch=None,
) -> np.ndarray:
    """Pooled vectors of token id lists, read in length-sorted batches padded to each batch's longest."""
    tokenizer = encoder.tokenizer
    left = getattr(tokenizer, "padding_side", "right") == "left"
    out: np.ndarray | None = None
    for batch in sorted_batches([len(s) for s in ids], batch_size):
        if should_stop is not None and should_stop():
            raise CancelledError("embedding cancelled")
        vectors = encoder(pad_batch([ids[j] for j in batch], tokenizer.pad_token_id, left), pooling)
        if out is None:
            out = np.zeros((len(ids), vectors.shape[1]), dtype=np.float32)
        out[batch] = vectors
        if on_batch is not None:
            on_batch(batch, out)
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float((a * b).sum(1).mean())


def label_agreement(reference: np.ndarray, other: np.ndarray, labels: np.ndarray | None) -> float | None:
    """Share of texts a logistic-regression head gives the same label from ``other`` as from ``reference``
    (two folds: the head is fitted on the reference vectors of one half, both read the other half)."""
    from sklearn.linear_model import LogisticRegression

    if labels is None or len(set(labels)) < 2 or len(labels) < 20:
        return None
    halves = np.arange(len(labels)) % 2
    same = 0
    for fold in (0, 1):
        fit, held = halves != fold, halves == fold
        if len(set(labels[fit])) < 2:
            return None
        mean, scale = reference[fit].mean(0), reference[fit].std(0) + 1e-6
        head = LogisticRegression(C=1.0, max_iter=2000).fit((reference[fit] - mean) / scale, labels[fit])
        same += int(
            (head.predict((reference[held] - mean) / scale) == head.predict((other[held] - mean) / scale)).sum()
        )
    return same / len(labels)


def probe_size(max_length: int, hidden: int) -> int:
    """Texts per measured pass: 256 short texts for a MiniLM-sized encoder, fewer for longer or wider ones
    (the whole measurement stays around half a minute on a busy 2-core CPU)."""
    return int(max(48, 256 * min(1.0, 128 / max(1, max_length)) * min(1.0, 384 / max(1, hidden))))


def calibrate_backend(
    model: str,
    *,
    max_length: int = 128,
    pooling: str = "mean",
    device: str = "auto",
    fingerprint: str | None = None,
    texts: Sequence[str] | None = None,
    repeats: int = 2,
) -> dict:
    """Measure every candidate backend on a fixed sample, fp32 the reference, keep the fastest that stays
    within :data:`COSINE_MIN` and :data:`AGREEMENT_MIN` of fp32, and write the record to :func:`choice_path`.

    Passes alternate between backends (``repeats`` rounds, the order reversed every round) and the median
    speed counts, so a neighbour's burst of work does not decide. ``texts`` stand in when the sample data is
    not exported (then only the cosine is checked)."""
    import torch

    from textclf_core import hardware
    from textclf_core.store import catalog as models

    hw = hardware.detect(device)
    fingerprint = fingerprint or models.model_fingerprint(model)
    candidates = backend_candidates(hw)
    encoders, measured = {}, {}
    for name in candidates:
        try:
            encoders[name] = make_encoder(model, fingerprint, hw.device, name)
        except Exception as exc:  # noqa: BLE001 - a backend that cannot load is simply not chosen
            measured[name] = {"error": str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}
    hidden = int(getattr(getattr(encoders["fp32"].net, "config", None), "hidden_size", 384) or 384)
    probe = probe_set(max_length, probe_size(max_length, hidden))
    probe_texts, labels = probe if probe else ([str(t) for t in (texts or [])][: probe_size(max_length, hidden)], None)
    if not probe_texts:
        probe_texts = ["a short text to measure the encoder"] * 32
    ids = tokenize(encoders["fp32"].tokenizer, probe_texts, max_length)
    speeds: dict[str, list[float]] = {name: [] for name in encoders}
    vectors: dict[str, np.ndarray] = {}
    for name, encoder in encoders.items():  # warm-up: allocations and graph set-up are not the steady speed
        encode_ids(encoder, ids[:16], pooling)
    for rep in range(max(1, int(repeats))):
        for name in list(encoders) if rep % 2 == 0 else list(encoders)[::-1]:
            start = time.perf_counter()
            out = encode_ids(encoders[name], ids, pooling)
            speeds[name].append(len(ids) / max(time.perf_counter() - start, 1e-9))
            vectors.setdefault(name, out)
    reference = vectors["fp32"]
    for name in encoders:
        cosine = 1.0 if name == "fp32" else mean_cosine(reference, vectors[name])
        agreement = 1.0 if name == "fp32" else label_agreement(reference, vectors[name], labels)
        ok = name == "fp32" or (cosine >= COSINE_MIN and (agreement is None or agreement >= AGREEMENT_MIN))
        measured[name] = {
            "texts_per_s": round(float(np.median(speeds[name])), 1),
            "cosine": round(cosine, 5),
            "agreement": None if agreement is None else round(agreement, 4),
            "eligible": ok,
        }
    eligible = [n for n in encoders if measured[n]["eligible"]]
    choice = max(eligible, key=lambda n: measured[n]["texts_per_s"])
    record = {
        "version": CHOICE_VERSION,
        "choice": choice,
        "model": fingerprint,
        "machine": machine_key(hw),
        "max_length": int(max_length),
        "pooling": pooling,
        "texts": len(ids),
        "repeats": int(repeats),
        "labels_checked": labels is not None,
        "measured": measured,
        "threads": torch.get_num_threads(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = choice_path(fingerprint, hw, max_length, pooling)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(path, json.dumps(record, indent=2, sort_keys=True).encode())
    except OSError:
        pass  # a read-only cache only means measuring again next time
    _ENCODERS.clear()
    return record
