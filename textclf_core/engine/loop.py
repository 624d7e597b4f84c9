"""The pieces every training loop shares, written once.

``training._fit_transformer`` (fine-tuning), ``training.torch_head`` (a head on embeddings) and
``fewshot.train_fewshot`` (contrastive tuning) all take their optimiser, warmup schedule, autocast,
early stopping, batching, evaluation event and model-folder writing from here, so a fix to one is
a fix to all. torch is imported inside the functions that need it: importing this module is light.

Public names review.py and others may use: :func:`length_grouped_batches`, :class:`PrefixCache`,
:func:`seed_everything`, :func:`targets`, :func:`make_optimizer`, :func:`make_scheduler`,
:func:`autocast`, :class:`EarlyStopping`, :func:`sklearn_linear_head`.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from textclf_core import events
from textclf_core.errors import CancelledError
from textclf_core.labels import LabelSpace


@dataclass
class FitResult:
    """What every strategy's fit function returns (see :mod:`textclf_core.strategy_registry`)."""

    predictor: Any  # a Predictor of the saved (best) model; None on the other processes of a launched run
    best_metric: float | None
    best_epoch: float | None
    history: list[dict] = field(default_factory=list)  # evaluation events
    train_seconds: float | None = 0.0  # the engine's own clock (None: none)
    model_dir: Path | None = None
    thresholds: list[float] | None = None
    params: tuple[int, int] | None = None  # (total, trainable)
    # Probabilities of every validation row from the evaluation that chose the saved model, in
    # val_df's order (None when some rows were skipped): the runner reports them instead of
    # predicting the validation rows a second time.
    val_proba: np.ndarray | None = None


# --- data to targets and batches ---------------------------------------------------------------
def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def targets(df, label_space: LabelSpace) -> tuple[np.ndarray, np.ndarray]:
    """``(y, keep)``: encoded labels of ``df["label"]`` (ids, or a 0/1 matrix for multi-label) and which
    rows have a label the space knows (every row for multi-label)."""
    y = label_space.encode(list(df["label"]))
    keep = np.ones(len(y), dtype=bool) if label_space.multi_label else y >= 0
    return y, keep


def length_grouped_batches(lengths, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, sort within chunks of 50 batches by length, then shuffle the batch order:
    little padding, still random."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    lengths = np.asarray(lengths)
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


# --- optimiser, schedule, autocast ----------------------------------------------------------------
def make_optimizer(params, name: str = "adamw", lr: float = 5e-5, weight_decay: float = 0.0):
    """AdamW / Adam (no weight decay) / SGD with momentum 0.9 over ``params`` (tensors or param groups,
    whose own ``lr`` and ``weight_decay`` win). Fused kernels where torch has them: one op per step
    instead of one per parameter (CPU and CUDA in torch >= 2.4)."""
    import torch

    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    if name == "adam":
        weight_decay = 0.0
        for group in params:
            if isinstance(group, dict):
                group["weight_decay"] = 0.0
    try:
        return cls(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, lr=lr, weight_decay=weight_decay)


SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


def make_scheduler(optimizer, kind: str, total_steps: int, warmup_ratio: float = 0.1):
    """Linear warmup over ``warmup_ratio`` of ``total_steps``, then ``kind`` ("linear" decay to 0,
    "cosine", "constant"): transformers' schedules, the one warmup every loop uses."""
    from transformers import get_scheduler

    total_steps = max(1, int(total_steps))
    return get_scheduler(
        SCHEDULES[kind], optimizer, num_warmup_steps=int(warmup_ratio * total_steps), num_training_steps=total_steps
    )


def autocast(device_type: str, amp):
    """``torch.autocast`` for ``amp`` (a dtype from ``hardware.autocast_dtype``; None: plain fp32).
    MPS autocasts through the CPU path."""
    import torch

    device_type = getattr(device_type, "type", device_type)
    return torch.autocast(
        device_type if device_type != "mps" else "cpu", dtype=amp or torch.float32, enabled=amp is not None
    )


# --- choosing the checkpoint ----------------------------------------------------------------------
class EarlyStopping:
    """Tracks the best value of ``metric`` ("val_loss" is lower-is-better, others higher) and counts
    evaluations without improvement; ``update(value)`` says whether this one is the new best,
    ``stop`` turns True after ``patience`` (None: never) evaluations without one."""

    def __init__(self, metric: str = "macro_f1", patience: int | None = None, min_delta: float = 1e-12):
        self.metric, self.patience, self.min_delta = metric, patience, min_delta
        self.best: float | None = None
        self.bad = 0

    def improves(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.metric == "val_loss":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float) -> bool:
        if self.improves(value):
            self.best, self.bad = value, 0
            return True
        self.bad += 1
        return False

    @property
    def stop(self) -> bool:
        return bool(self.patience) and self.bad >= self.patience


# --- scoring validation rows -----------------------------------------------------------------------
def metric_values(y_true, proba, multi_label: bool, num_classes: int) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    if multi_label:
        pred = (proba >= 0.5).astype(int)
        y = np.asarray(y_true).astype(int)
        return {
            "accuracy": float(accuracy_score(y, pred)),
            "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
            "confusion_matrix": None,
        }
    pred = proba.argmax(1)
    return {
        "accuracy": float(accuracy_score(y_true, pred)),
        "macro_f1": float(f1_score(y_true, pred, average="macro", labels=list(range(num_classes)), zero_division=0)),
        "confusion_matrix": confusion_matrix(y_true, pred, labels=list(range(num_classes))).tolist(),
    }


def val_loss(proba, y_true, multi_label: bool) -> float:
    eps = 1e-7
    p = np.clip(proba, eps, 1 - eps)
    if multi_label:
        y = np.asarray(y_true, dtype=np.float64)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(y_true)), y_true]).mean())


def evaluation_event(proba, y_true, label_space: LabelSpace, *, step, epoch, thresholds=None) -> dict:
    """The ``evaluation`` event of validation probabilities ``proba`` (N, K) against encoded ``y_true``."""
    values = metric_values(y_true, proba, label_space.multi_label, label_space.num_classes)
    return events.evaluation(
        step=step,
        epoch=epoch,
        val_loss=val_loss(proba, y_true, label_space.multi_label),
        classes=label_space.classes,
        **values,
    )


# --- heads from scikit-learn ------------------------------------------------------------------------
MISSING_CLASS_BIAS = -1e4  # a class the estimator never saw: softmax gives it exactly 0 in float32


def sklearn_linear_head(
    estimator, num_classes: int, class_ids: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(weight (K, D), bias (K,))`` whose softmax logits ``x @ weight.T + bias`` reproduce a fitted
    single-label scikit-learn linear classifier's ``predict_proba`` over ``num_classes`` classes.

    ``class_ids``: the class index (0..K-1) of each entry of ``estimator.classes_`` (default: the
    entries themselves, as integers). Binary estimators have one row of coefficients with
    p(second) = sigmoid(z); logits (0, z) have exactly that softmax. Classes the estimator never
    saw get a zero weight and :data:`MISSING_CLASS_BIAS`, so they are never predicted.
    """
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
    ids = [int(c) for c in (estimator.classes_ if class_ids is None else class_ids)]
    if coef.shape[0] == 1 and len(ids) == 2:
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    weight = np.zeros((num_classes, coef.shape[1]))
    bias = np.full(num_classes, MISSING_CLASS_BIAS)
    weight[ids], bias[ids] = coef, intercept
    return weight, bias


# --- the model folder a strategy writes ------------------------------------------------------------
@contextlib.contextmanager
def output_folder(run):
    """run.stage_model() when there is a run, else a temporary folder that is kept."""
    if run is not None:
        with run.stage_model() as folder:
            yield Path(folder)
    else:
        yield Path(tempfile.mkdtemp(prefix="textclf-model-"))


def model_dir(run, staged: Path) -> Path:
    """Where the model is once :func:`output_folder` has closed."""
    return Path(run.model_dir) if run is not None else Path(staged)


# --- frozen-prefix cache (partial fine-tuning, thorough review) ------------------------------------
class PrefixCache:
    """Outputs of the frozen embeddings + bottom layers, per example, computed once.

    While :meth:`active`, the model's embeddings module returns the cached states of the
    current batch and its layer stack holds only the trainable top layers, so the model's
    own forward (attention masks, pooler, head) runs unchanged on top of the cache.
    """

    def __init__(self, model, frozen_layers: int, amp):
        import torch

        from .layers import base_model, find_layer_stack

        self.base = base_model(model)
        self.parent, self.attr, self.stack = find_layer_stack(model)
        self.k = frozen_layers
        self.store: dict[Any, Any] = {}
        self.dtype = torch.bfloat16 if amp == torch.bfloat16 else torch.float32
        self.current = None
        self.embeddings = self.base.embeddings
        self.is_active = False

    def fill(self, keys, ids_list, pad_id, device, amp, batch_size, should_stop, on_batch=None) -> None:
        """Compute the frozen outputs of ``keys`` not cached yet; ``on_batch(n)`` after each batch of n."""
        import torch
        from torch import nn

        from .encoders import pad_batch, sorted_batches

        todo = [i for i, key in enumerate(keys) if key not in self.store]
        if not todo:
            return
        setattr(self.parent, self.attr, nn.ModuleList(list(self.stack)[: self.k]))
        try:
            for batch in sorted_batches([len(ids_list[i]) for i in todo], batch_size * 2):
                if should_stop():
                    raise CancelledError("cancelled")
                rows = [todo[j] for j in batch]
                inputs = {n: v.to(device) for n, v in pad_batch([ids_list[i] for i in rows], pad_id).items()}
                with torch.inference_mode(), autocast(getattr(device, "type", str(device)), amp):
                    hidden = self.base(**inputs).last_hidden_state
                hidden = hidden.to(self.dtype).cpu()
                for r, i in enumerate(rows):
                    self.store[keys[i]] = hidden[r, : len(ids_list[i])].clone()
                if on_batch is not None:
                    on_batch(len(rows))
        finally:
            setattr(self.parent, self.attr, self.stack)

    def set_batch(self, keys, width, device) -> None:
        import torch

        first = self.store[keys[0]]
        out = torch.zeros((len(keys), width, first.shape[-1]), dtype=torch.float32)
        for r, key in enumerate(keys):
            t = self.store[key]
            out[r, : t.shape[0]] = t.float()
        self.current = out.to(device)

    @contextlib.contextmanager
    def active(self):
        from torch import nn

        if self.is_active:  # nested use (evaluation inside the training loop)
            yield self
            return
        cache = self

        class _Cached(nn.Module):
            def forward(self, *args, **kwargs):
                return cache.current

        self.base.embeddings = _Cached()
        setattr(self.parent, self.attr, nn.ModuleList(list(self.stack)[self.k :]))
        self.is_active = True
        try:
            yield self
        finally:
            self.is_active = False
            self.base.embeddings = self.embeddings
            setattr(self.parent, self.attr, self.stack)
            self.current = None
