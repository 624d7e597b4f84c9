"""Static embeddings: one vector per token of a sentence encoder's vocabulary, distilled once.

model2vec's recipe (Tulkens & van Dongen, "model2vec"), re-implemented here in a few lines of numpy and
torch because ``model2vec.distill`` 0.10.0 needs ``transformers<5.4`` and ``skeletoken`` (installing it would
downgrade this project's transformers): every token of the encoder's vocabulary is run through the encoder
alone (``[CLS] token [SEP]``) and mean-pooled; the table is reduced by PCA to :data:`PCA_DIMS` dimensions and
each row weighted by SIF (``1e-4 / (1e-4 + p)``, with ``p`` the token's Zipf probability by rank). A text's
vector is the mean of its tokens' rows (no special tokens, unknown tokens skipped), normalised to length 1.
Reading is a tokenizer pass and one sparse product: thousands of texts a second on one core.

The keys ``minilm-static`` and ``mpnet-static`` (catalog entries in :mod:`models`) name the tables distilled
from the bundled MiniLM and mpnet. Each is distilled on first use, offline, into
``models.model_cache_root()/static/<key>-<source hash>`` (staged and renamed, like mpnet's unpacking), so a
changed source encoder gives a new table and a half-written table is never read.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from textclf_core import events
from textclf_core.errors import CancelledError, ModelLoadError, TextclfError
from textclf_core.store import catalog as models

SOURCES = {"minilm-static": models.BUNDLED_KEY, "mpnet-static": models.MPNET_KEY}  # key -> encoder distilled
PCA_DIMS = 256
SIF_COEFFICIENT = 1e-4
MAX_TOKENS = 512  # tokens read per text (model2vec's default); a window count raises it for long texts
FORMAT_VERSION = 1
TABLE_FILE = "embeddings.npy"
INFO_FILE = "static.json"
DISTILL_BATCH = 512

_LOADED: dict[str, "StaticModel"] = {}
_LOCK = threading.Lock()


def is_static(model) -> bool:
    """True when ``model`` names a static table (``minilm-static``, ``mpnet-static``)."""
    return str(model or "").strip().lower() in SOURCES


def refuse_tuning(model, strategy: str) -> None:
    """A static table has no layers to train: say so (rather than "not downloaded") when a strategy that tunes
    the encoder is given one."""
    if is_static(model):
        raise TextclfError(
            f"'{model}' is a static word table: it has no layers for {strategy} to train",
            hint="Use it with feature extraction (or as an auto member), or pick a transformer such as all-MiniLM-L6-v2",
        )


def available_keys() -> list[str]:
    """The static keys this installation can build: MiniLM always, mpnet when its packages are installed."""
    return [key for key, source in SOURCES.items() if source != models.MPNET_KEY or models.mpnet_available()]


def source_of(key: str) -> str:
    return SOURCES[str(key).strip().lower()]


def static_dir(key: str) -> Path:
    """Where the table for ``key`` lives (keyed by the source encoder's fingerprint)."""
    source = source_of(key)
    digest = models.short_hash(models.model_fingerprint(source), 12)
    return models.model_cache_root() / "static" / f"{str(key).strip().lower()}-{digest}"


def static_path(key: str, emit: Callable[[dict], None] | None = None) -> Path:
    """The distilled table's folder for ``key``, distilled now if it is not there yet."""
    key = str(key).strip().lower()
    if key not in SOURCES:
        raise ModelLoadError(f"'{key}' is not a static embedding model", hint=f"Choose one of {', '.join(SOURCES)}")
    target = static_dir(key)
    if (target / INFO_FILE).is_file():
        return target
    staging = target.with_name(f".{target.name}-{uuid.uuid4().hex[:8]}")
    try:
        distill(source_of(key), staging, emit=emit)
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            if not (target / INFO_FILE).is_file():
                raise
    except OSError as exc:
        raise ModelLoadError(
            f"The static model {key} could not be written into {target.parent} ({exc})",
            hint="Check the free disk space and write permission of the model cache",
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def special_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a text (``[CLS]``/``[SEP]``, ``<s>``/``</s>``)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    framed = tokenizer("a")["input_ids"]
    for i in range(len(framed) - len(plain) + 1):
        if framed[i : i + len(plain)] == plain:
            return list(framed[:i]), list(framed[i + len(plain) :])
    return [], []


def _token_vectors(encoder, tokenizer, token_ids: np.ndarray, emit=None) -> np.ndarray:
    """Each token alone through the encoder (with the tokenizer's special tokens around it), mean-pooled."""
    import torch

    prefix, suffix = special_frame(tokenizer)
    rows = [prefix + [int(t)] + suffix for t in token_ids]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, 1
    out = None
    start = time.perf_counter()
    with torch.inference_mode():
        for b0 in range(0, len(rows), DISTILL_BATCH):
            m = torch.from_numpy(mask[b0 : b0 + DISTILL_BATCH])
            hidden = encoder(input_ids=torch.from_numpy(ids[b0 : b0 + DISTILL_BATCH]), attention_mask=m)[0].float()
            weights = m.unsqueeze(-1).float()
            pooled = ((hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)).numpy()
            if out is None:
                out = np.zeros((len(rows), pooled.shape[1]), dtype=np.float32)
            out[b0 : b0 + len(pooled)] = pooled
            if emit is not None:
                done = b0 + len(pooled)
                elapsed = time.perf_counter() - start
                emit(
                    events.progress(
                        stage="distilling",
                        done=done,
                        total=len(rows),
                        elapsed_s=elapsed,
                        eta_s=elapsed / done * (len(rows) - done),
                        progress=done / len(rows),
                    )
                )
    return np.nan_to_num(out)


def pca(table: np.ndarray, dims: int) -> np.ndarray:
    """Rows of ``table`` projected on their top ``dims`` principal components (all when dims >= width)."""
    centred = table - table.mean(0)
    dims = int(min(dims, table.shape[1], table.shape[0]))
    cov = centred.T @ centred / max(1, len(centred) - 1)
    values, vectors = np.linalg.eigh(cov.astype(np.float64))
    order = np.argsort(values)[::-1][:dims]
    return (centred @ vectors[:, order]).astype(np.float32)


def sif_weights(n: int, coefficient: float = SIF_COEFFICIENT) -> np.ndarray:
    """model2vec's weighting: Zipf probability by rank (token id order), weight = a / (a + p)."""
    inverse_rank = 1.0 / np.arange(2, n + 2)
    proba = inverse_rank / inverse_rank.sum()
    return (coefficient / (coefficient + proba)).astype(np.float32)


def distill(
    source: str,
    out,
    *,
    pca_dims: int = PCA_DIMS,
    sif: float = SIF_COEFFICIENT,
    emit: Callable[[dict], None] | None = None,
) -> Path:
    """Distil a static table from the sentence encoder ``source`` (catalog key, local folder) into ``out``:
    ``embeddings.npy`` (vocabulary x dims, float32), the tokenizer, and ``static.json``. Offline."""
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = models.load_tokenizer(source)
    from textclf_core import hardware

    encoder = models.load_encoder(source).float().eval()
    if hardware.detect("cpu").bf16:  # native bf16: the table's rows keep a cosine > 0.999 to fp32's, faster
        encoder = encoder.to(torch.bfloat16)
    threads = torch.get_num_threads()
    start = time.perf_counter()
    vocab = len(tokenizer)
    token_ids = np.arange(vocab)
    table = _token_vectors(encoder, tokenizer, token_ids, emit)
    table = pca(table, pca_dims) * sif_weights(vocab, sif)[:, None]
    special = [i for i in (tokenizer.all_special_ids or []) if 0 <= i < vocab]
    table[special] = 0.0  # never read: texts are tokenized without special tokens
    np.save(out / TABLE_FILE, table.astype(np.float32))
    tokenizer.save_pretrained(out)
    info = {
        "format": FORMAT_VERSION,
        "source": str(source),
        "source_fingerprint": models.model_fingerprint(source),
        "dims": int(table.shape[1]),
        "vocabulary": int(vocab),
        "pca_dims": int(pca_dims),
        "sif": sif,
        "recipe": "model2vec distill: token-alone mean pooling, PCA, SIF (Zipf) weights",
        "distill_seconds": round(time.perf_counter() - start, 1),
        "threads": threads,
    }
    (out / INFO_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return out


class StaticModel:
    """A distilled table and its tokenizer: ``encode(texts) -> (n, dims)`` unit vectors."""

    def __init__(self, folder):
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        try:
            self.info = json.loads((self.folder / INFO_FILE).read_text(encoding="utf-8"))
            self.table = np.load(self.folder / TABLE_FILE, allow_pickle=False)
            with models.quiet_transformers():
                self.tokenizer = AutoTokenizer.from_pretrained(self.folder, use_fast=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"The static model in {self.folder} could not be read ({exc})",
                hint=f"Delete {self.folder}; it is distilled again on next use",
            ) from None
        self.unknown = self.tokenizer.unk_token_id

    @property
    def dims(self) -> int:
        return int(self.table.shape[1])

    def encode(
        self,
        texts: Sequence[str],
        max_tokens: int = MAX_TOKENS,
        batch: int = 4096,
        should_stop: Callable[[], bool] | None = None,
        on_batch=None,
    ) -> np.ndarray:
        from scipy import sparse

        texts = ["" if t is None else str(t) for t in texts]
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for b0 in range(0, len(texts), batch):
            if should_stop is not None and should_stop():
                raise CancelledError("embedding cancelled")
            ids = self.tokenizer(
                texts[b0 : b0 + batch],
                add_special_tokens=False,
                truncation=True,
                max_length=int(max_tokens),
                return_attention_mask=False,
                return_token_type_ids=False,
            )["input_ids"]
            if self.unknown is not None:
                ids = [[t for t in row if t != self.unknown] for row in ids]
            lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
            cols = np.fromiter((t for r in ids for t in r), dtype=np.int64, count=int(lengths.sum()))
            rows = np.repeat(np.arange(len(ids)), lengths)
            counts = sparse.csr_matrix(
                (np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(ids), len(self.table))
            )
            vectors = np.asarray(counts @ self.table, dtype=np.float32) / np.maximum(lengths, 1)[:, None]
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[b0 : b0 + len(ids)] = vectors / np.maximum(norms, 1e-12)
            if on_batch is not None:
                on_batch(b0 + len(ids))
        return out


def load(key: str, emit: Callable[[dict], None] | None = None) -> StaticModel:
    """The static model for ``key`` (distilled on first use), kept in memory."""
    with _LOCK:
        folder = static_path(key, emit=emit)
        model = _LOADED.get(str(folder))
        if model is None:
            _LOADED.clear()
            model = _LOADED[str(folder)] = StaticModel(folder)
        return model


def embed(
    texts: Sequence[str],
    model: str,
    *,
    max_length: int = 128,
    windows: int = 1,
    emit: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Vectors of ``texts`` from the static table ``model`` (what :func:`features.embed` calls for a static key).

    Reads up to ``max(MAX_TOKENS, max_length x windows)`` tokens per text: a token table costs nothing per
    extra token, so long texts are read further than an encoder's window."""
    static = load(model, emit=emit)
    start = time.perf_counter()
    total = len(texts)

    def progress(done: int) -> None:
        if emit is not None:
            elapsed = time.perf_counter() - start
            rate = done / max(elapsed, 1e-9)
            emit(
                events.progress(
                    stage="embedding",
                    done=done,
                    total=total,
                    cached=0,
                    examples_per_s=rate,
                    elapsed_s=elapsed,
                    eta_s=(total - done) / max(rate, 1e-9),
                    progress=done / max(1, total),
                )
            )

    out = static.encode(
        texts,
        max_tokens=max(MAX_TOKENS, int(max_length) * max(1, int(windows or 1))),
        should_stop=should_stop,
        on_batch=progress,
    )
    if total == 0:
        progress(0)
    return out


def clear_loaded() -> None:
    """Forget the tables held in memory (tests, or after deleting the cache)."""
    with _LOCK:
        _LOADED.clear()


def delete(key: str) -> None:
    """Remove the distilled table for ``key`` (it is distilled again on next use)."""
    folder = static_dir(key)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    clear_loaded()
