"""Training losses and multi-label decision thresholds.

- ``ce``: cross-entropy.
- ``weighted``: cross-entropy with class weights from the training counts, inverse
  frequency normalised so the weights average 1 over the training rows' classes
  (w_c = n / (k * n_c)), so the loss keeps its usual scale.
- ``focal``: focal loss, mean of -(1 - p_t)^gamma * log p_t (optionally weighted).
- ``bce``: binary cross-entropy with logits for multi-label data; a per-class
  decision threshold is tuned on validation afterwards (:func:`tune_thresholds`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def class_weights(counts, smoothing: float = 0.0) -> torch.Tensor:
    """Inverse-frequency weights n / (k * n_c); classes without rows get weight 0, never inf.

    ``counts``: rows per class (length k). For multi-label, the positives per class.
    """
    counts = np.asarray(counts, dtype=np.float64) + smoothing
    k = len(counts)
    total = counts.sum()
    weights = np.where(counts > 0, total / (k * np.maximum(counts, 1e-12)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017) for single-label classification."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None):
        super().__init__()
        self.gamma = float(gamma)
        self.register_buffer("weight", weight if weight is not None else None, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=-1)
        logp_t = logp.gather(1, target.unsqueeze(1)).squeeze(1)
        p_t = logp_t.exp()
        loss = -((1 - p_t) ** self.gamma) * logp_t
        if self.weight is not None:
            w = self.weight.to(loss.device)[target]
            return (loss * w).sum() / w.sum().clamp(min=1e-12)
        return loss.mean()


def make_loss(config, label_space, train_targets) -> nn.Module:
    """The loss module for ``config`` and the training targets (ids, or a 0/1 matrix for multi-label)."""
    multi = label_space.multi_label
    weights = None
    if config.class_weights or config.loss == "weighted":
        if multi:
            pos = np.asarray(train_targets).sum(0)
            neg = len(train_targets) - pos
            # BCE: weight positives by how rare they are (neg/pos), the usual multi-label balancing.
            return nn.BCEWithLogitsLoss(
                pos_weight=torch.tensor(np.where(pos > 0, neg / np.maximum(pos, 1), 1.0), dtype=torch.float32)
            )
        counts = np.bincount(np.asarray(train_targets), minlength=label_space.num_classes)
        weights = class_weights(counts)
    if multi or config.loss == "bce":
        return nn.BCEWithLogitsLoss()
    if config.loss == "focal":
        return FocalLoss(config.focal_gamma, weights)
    return nn.CrossEntropyLoss(weight=weights)


def compute_loss(loss_fn: nn.Module, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Loss in fp32 whatever the autocast dtype (small logit differences matter in the loss)."""
    if isinstance(loss_fn, nn.BCEWithLogitsLoss):
        if getattr(loss_fn, "pos_weight", None) is not None:
            loss_fn.pos_weight = loss_fn.pos_weight.to(logits.device)
        return loss_fn(logits.float(), targets.float())
    if isinstance(loss_fn, nn.CrossEntropyLoss) and loss_fn.weight is not None:
        loss_fn.weight = loss_fn.weight.to(logits.device)
    return loss_fn(logits.float(), targets)


def probabilities(logits: torch.Tensor | np.ndarray, multi_label: bool) -> np.ndarray:
    """Softmax (single-label) or sigmoid (multi-label) probabilities as float32 numpy."""
    t = torch.as_tensor(logits).float()
    p = torch.sigmoid(t) if multi_label else torch.softmax(t, dim=-1)
    return p.cpu().numpy().astype(np.float32)


def tune_thresholds(proba: np.ndarray, y_true: np.ndarray, grid=None) -> list[float]:
    """:func:`textclf_core.evaluation.metrics.tune_thresholds` (the one owner; note its (y_true, proba) order)."""
    from textclf_core.evaluation.metrics import tune_thresholds as tune

    return tune(y_true, proba, grid=grid)
