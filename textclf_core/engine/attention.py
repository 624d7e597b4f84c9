"""Training-mode attention and dropout without their CPU overheads.

Attention:

With attention dropout on, torch's SDPA cannot use its fused CPU kernel and falls back to
its "math" path, which adds a safe-softmax (a fully-masked-row check: isneginf, all, where)
per layer. For a small model on short texts that is ~9% of a CPU training step (measured:
683 → 615 ms of CPU time per step, MiniLM, batch 32, bf16 autocast, 1 thread, A/B
alternating). Padded query rows always see real keys here, so a plain softmax is exact.

:func:`install` routes a model's attention through :func:`attention` (the same computation as
transformers' eager BERT attention, same dropout), which hands evaluation and dropout-free calls
to SDPA's fused kernel; :func:`uninstall` restores "sdpa" before the model is saved.

Dropout: torch draws a CPU dropout mask with ``bernoulli_`` from its Mersenne-Twister generator,
about 3 ms for one 32x27x384 activation on 2 cores: 20 draws per MiniLM training step, ~17% of
the step (torch profiler, bf16 autocast). :func:`install_fast_dropout` makes the model's dropout
layers (and the attention-probability dropout above) draw 16 random bits per element from numpy's
SFC64 generator instead (``random_raw``: ~0.2 ms for the same activation) and keep an element when
its bits are at or above ``round(p * 65536)``: the drop rate is p to within 1/65536 (0.1 → 0.100006)
and kept values are scaled by the exact inverse keep rate, so the expectation is unchanged. The
generator is seeded from torch's, so a seeded run repeats itself. CPU only: CUDA draws its masks
on the device.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

NAME = "textclf_train"
_registered = False
_BITS = 65536  # 16 random bits per element


def keep_mask(bitgen: np.random.BitGenerator, shape, p: float, dtype) -> torch.Tensor:
    """Dropout multipliers of ``shape``: 0 where dropped, ``1 / keep rate`` where kept (see module doc)."""
    n = int(np.prod(shape))
    threshold = round(p * _BITS)
    scale = _BITS / (_BITS - threshold)
    keep = bitgen.random_raw((n + 3) // 4).view(np.uint16)[:n] >= threshold
    # Multipliers built in numpy, in the tensor's own bits (3x faster than bool -> dtype in torch).
    if dtype == torch.bfloat16:
        bits = keep.view(np.uint8).astype(np.uint16)
        bits *= np.uint16(_bf16_bits(scale))
        return torch.from_numpy(bits).view(torch.bfloat16).view(shape)
    if dtype == torch.float32:
        values = keep.astype(np.float32)
        values *= np.float32(scale)
        return torch.from_numpy(values).view(shape)
    return torch.from_numpy(keep).view(shape).to(dtype).mul_(scale)


@functools.lru_cache(maxsize=16)
def _bf16_bits(value: float) -> int:
    """The 16 bits of ``value`` rounded to bfloat16 (as torch rounds it)."""
    return int(torch.tensor(value, dtype=torch.bfloat16).view(torch.int16).item()) & 0xFFFF


def fast_dropout(x: torch.Tensor, p: float, bitgen: np.random.BitGenerator | None) -> torch.Tensor:
    """Training-mode dropout of ``x`` with the fast mask when ``bitgen`` is given (CPU tensors only)."""
    if p <= 0.0:
        return x
    if bitgen is None or x.device.type != "cpu" or p >= 1.0:
        return nn.functional.dropout(x, p=p, training=True)
    return x * keep_mask(bitgen, x.shape, p, x.dtype)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with :func:`keep_mask`; same ``p``, same eval behaviour."""

    bitgen: np.random.BitGenerator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return fast_dropout(x, self.p, self.bitgen)


def install_fast_dropout(model: nn.Module) -> int:
    """Switch every plain ``nn.Dropout`` in ``model`` to :class:`FastDropout`.

    :func:`attention` uses the attention module's own dropout layer's generator, so attention
    probabilities get the fast mask too. Returns how many layers were switched. The generator is
    seeded from torch's default one.
    """
    bitgen = np.random.SFC64(int(torch.randint(0, 2**62, (1,)).item()))
    count = 0
    for module in model.modules():
        if type(module) is nn.Dropout and not module.inplace:
            module.__class__ = FastDropout
            module.bitgen = bitgen
            count += 1
    return count


def uninstall_fast_dropout(model: nn.Module) -> None:
    for module in model.modules():
        if type(module) is FastDropout:
            module.__class__ = nn.Dropout
            del module.bitgen


def attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not module.training or dropout <= 0.0 or kwargs.get("output_attentions"):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # SDPA-style mask: True = attend
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    bitgen = getattr(getattr(module, "dropout", None), "bitgen", None)  # set by install_fast_dropout
    probs = fast_dropout(nn.functional.softmax(scores, dim=-1), dropout, bitgen)
    out = torch.matmul(probs.to(value.dtype), value)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(NAME, attention)
        AttentionMaskInterface.register(NAME, sdpa_mask)
        _registered = True


def install(model: nn.Module) -> bool:
    """Use :func:`attention` in ``model`` when it runs SDPA through transformers' attention interface."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(inner, "config", None)
    if (
        config is None
        or getattr(config, "_attn_implementation", None) != "sdpa"
        or not hasattr(inner, "set_attn_implementation")
    ):
        return False
    try:
        _register()
        inner.set_attn_implementation(NAME)
    except Exception:  # noqa: BLE001 - a model that refuses a custom attention keeps SDPA
        return False
    return inner.config._attn_implementation == NAME


def uninstall(model: nn.Module) -> None:
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(inner, "config", None)
    if config is not None and getattr(config, "_attn_implementation", None) == NAME:
        try:
            inner.set_attn_implementation("sdpa")
        except Exception:  # noqa: BLE001
            config._attn_implementation = "sdpa"
