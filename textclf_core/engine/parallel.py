"""Rank, gather and sharded embedding for a run under ``accelerate launch`` (PyTorch DDP).

A leaf of the pipeline: it knows which process this is and how to share work between processes,
and imports nothing of the pipeline (no runner, no training), so the training engine and feature
extraction can use it without an import cycle. Starting processes and the per-process setup are in
:mod:`textclf_core.pipeline.launch` (the launcher).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from textclf_core.errors import TextclfError


# --- where am I -------------------------------------------------------------------------
def env_int(*names: str, default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError:
                continue
    return default


def world_size() -> int:
    """Number of processes taking part (1 when not launched)."""
    return max(1, env_int("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", default=1))


def rank() -> int:
    """This process's global rank (0 when not launched)."""
    return env_int("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", default=0)


def launched() -> bool:
    """True inside a multi-process ``accelerate launch`` / torchrun."""
    return world_size() > 1


def is_main_process() -> bool:
    return rank() == 0


def embed(texts: Sequence[str], model: str, **kwargs) -> np.ndarray:
    """:func:`features.embed`, split across processes when launched: process r embeds texts r, r+world, …,
    all processes gather every vector, and the main process adds the others' vectors to its cache
    (so the next run, launched or not, starts from the cache). Same result as ``features.embed``."""
    from . import encoders as features

    if not distributed_ready():
        return features.embed(texts, model, **kwargs)
    from accelerate.utils import gather_object

    texts = ["" if t is None else str(t) for t in texts]
    world, me = world_size(), rank()
    mine = features.embed(texts[me::world], model, **kwargs)  # caches its own share
    parts = gather_object([mine])
    dim = max((p.shape[1] for p in parts if p.ndim == 2 and len(p)), default=0)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for r, part in enumerate(parts):
        if len(part):
            out[r::world] = part
    if me == 0 and kwargs.get("use_cache", True) and dim:
        _cache_others(texts, out, model, world, kwargs)
    return out


def distributed_ready() -> bool:
    if not launched():
        return False
    try:
        import torch.distributed as dist

        return dist.is_available() and dist.is_initialized()
    except ImportError:
        return False


def _cache_others(texts, vectors, model, world, kwargs) -> None:
    """Add the vectors other processes computed to this machine's cache (skipping those already there),
    under the key :func:`features.embed` reads: the same backend (fp32, bf16, onnx or int8) and windows."""
    from . import encoders as features
    from . import static as static_embeddings

    if static_embeddings.is_static(model):
        return  # static tables are not cached
    try:
        backend = features.resolve_backend(
            model,
            max_length=int(kwargs.get("max_length", 128)),
            pooling=kwargs.get("pooling", "mean"),
            precision=kwargs.get("precision", "auto"),
            device=kwargs.get("device", "auto"),
            backend=kwargs.get("backend", "auto"),
            calibrate=False,  # the processes' own embed calls already measured (or read) this machine's choice
        )
        cache = features.embedding_cache(
            model,
            max_length=int(kwargs.get("max_length", 128)),
            pooling=kwargs.get("pooling", "mean"),
            backend=backend,
            windows=int(kwargs.get("windows", 1) or 1),
            cache_dir=kwargs.get("cache_dir"),
        )
        rows = [i for i in range(len(texts)) if i % world != 0]
        hashes = [features.text_hash(texts[i]) for i in rows]
        _, found = cache.lookup(hashes)
        keep = [j for j, f in enumerate(found) if not f]
        if keep:
            cache.add([hashes[j] for j in keep], vectors[[rows[j] for j in keep]])
    except (OSError, TextclfError):
        pass  # the cache only saves time


def gather_rows(accelerator, values: np.ndarray, batches: Sequence[np.ndarray]) -> np.ndarray:
    """Rows scored in shares (process r scored ``batches[r::world]`` into ``values``) → every row, on
    every process. Each row is counted once: shares are padded to one length for the collective and
    the padding is dropped again, so an uneven last share is never double counted."""
    import torch

    world, me = accelerator.num_processes, accelerator.process_index
    shares = [
        np.concatenate([np.asarray(b, dtype=np.int64) for b in batches[r::world]])
        if len(batches[r::world])
        else np.zeros(0, dtype=np.int64)
        for r in range(world)
    ]
    longest = max(len(s) for s in shares)
    mine = np.zeros((longest,) + values.shape[1:], dtype=values.dtype)
    mine[: len(shares[me])] = values[shares[me]]
    gathered = accelerator.gather(torch.from_numpy(mine).to(accelerator.device)).cpu().numpy()
    out = np.array(values, copy=True)
    for r, share in enumerate(shares):
        out[share] = gathered[r * longest : r * longest + len(share)]
    return out
