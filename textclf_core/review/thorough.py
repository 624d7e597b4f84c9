"""The "thorough" method: out-of-fold probabilities from the encoder fine-tuned on each fold."""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np

from textclf_core.config import DEFAULT_MODEL
from textclf_core.labels import LabelSpace

from .common import Emit, ShouldStop, check_stop

# Settings of the "thorough" method (docs/label_review.md). layers 6: all of MiniLM's (only its top layer
# made a model weaker than the frozen one); bigger encoders train their top 6, which bounds the cost.
# 3 folds: each fold trains on 2/3 of the rows, half the cost of 5. weight "auto": see oof.blend_weight().
THOROUGH_SETTINGS = {"layers": 6, "epochs": 1, "lr": 1e-4, "batch_size": 32, "folds": 3, "weight": "auto"}


def _inputs(ids, pad_id: int, left: bool, prefix, device, rows) -> dict:
    """The padded batch of ``rows`` (token ids) on ``device``; tells the frozen-layer cache, if any, which rows
    the batch holds."""
    from textclf_core.engine.encoders import pad_batch

    batch = pad_batch([ids[i] for i in rows], pad_id, left)
    if prefix is not None:
        prefix.set_batch([int(i) for i in rows], batch["input_ids"].shape[1], device)
    return {k: v.to(device) for k, v in batch.items()}


def _shared_prefix(net, frozen: int, amp, store, ids, pad_id: int, device, batch_size: int, stop, report):
    """The frozen-layer cache of ``net`` (None when nothing is frozen or its family has no cache), filled over
    all texts on the first fold and shared by the later ones; returns ``(prefix, store)``, the store to share."""
    from textclf_core.engine import loop as engine
    from textclf_core.strategies import advice as strategies

    if not (frozen > 0 and strategies.family(net) in strategies.PREFIX_CACHE_FAMILIES):
        return None, store
    prefix = engine.PrefixCache(net, frozen, amp)
    if store is None:
        read = {"n": 0}

        def on_batch(count: int) -> None:
            read["n"] += count
            report(f"fine-tuning: reading the texts ({read['n']:,} of {len(ids):,})", 0.5)

        prefix.fill(list(range(len(ids))), ids, pad_id, device, amp, batch_size, stop, on_batch=on_batch)
        store = prefix.store
    prefix.store = store
    return prefix, store


def _fold_model(model: str, space: LabelSpace, tokenizer, config, device):
    """A fresh classifier of ``model`` with the partial strategy of ``config`` applied (fast attention and
    dropout on a CPU); returns the network, not yet moved to ``device``."""
    from textclf_core.engine import attention as train_attention
    from textclf_core.store import catalog as models
    from textclf_core.strategies import advice as strategies

    net = strategies.apply_strategy(models.load_for_classification(model, space, tokenizer=tokenizer), config)
    if device == "cpu":
        train_attention.install(net)
        train_attention.install_fast_dropout(net)  # torch's CPU dropout masks cost ~17% of a step
    return net


def _train_fold(net, train, lengths, targets, inputs_for, autocast, settings: dict, seed: int, should_stop, on_step):
    """Train ``net`` on one fold's ``train`` rows (AdamW with the linear warmup every loop uses, length-grouped
    batches, clipped gradients; ``settings``: lr, batch_size, epochs, multi_label, device), calling ``on_step()``
    after every step; returns nothing (the net is trained in place)."""
    import math

    import torch

    from textclf_core.engine import loop as engine

    batch_size, epochs, multi_label, device = (settings[k] for k in ("batch_size", "epochs", "multi_label", "device"))
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = engine.make_optimizer(params, "adamw", settings["lr"], 0.01)
    steps = math.ceil(len(train) / batch_size) * epochs
    scheduler = engine.make_scheduler(optimizer, "linear", steps, 0.1)  # the one warmup every loop uses
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for b in engine.length_grouped_batches(lengths[train], batch_size, rng):
            check_stop(should_stop)
            rows = train[b]
            with autocast():
                logits = net(**inputs_for(rows)).logits.float()
            target = targets[rows].to(device)
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
                if multi_label
                else torch.nn.functional.cross_entropy(logits, target)
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            on_step()


def _predict_fold(net, test, lengths, inputs_for, autocast, proba: np.ndarray, batch_size: int, multi_label: bool):
    """Score one fold's ``test`` rows with the trained ``net``, written into ``proba`` in place; returns nothing."""
    import torch

    from textclf_core.engine.encoders import sorted_batches
    from textclf_core.engine.losses import probabilities

    net.eval()
    with torch.inference_mode():
        for b in sorted_batches(lengths[test], max(batch_size, 64)):
            rows = test[b]
            with autocast():
                logits = net(**inputs_for(rows)).logits
            proba[rows] = probabilities(logits, multi_label)


def finetuned_oof_proba(
    texts: Sequence[str],
    y: np.ndarray,
    n_classes: int,
    splits,
    *,
    multi_label: bool = False,
    model: str = DEFAULT_MODEL,
    layers: int = 2,
    epochs: int = 1,
    lr: float = 1e-4,
    batch_size: int = 32,
    max_length: int = 128,
    seed: int = 0,
    emit: Emit | None = None,
    should_stop: ShouldStop | None = None,
) -> np.ndarray:
    """Out-of-fold probabilities from the encoder's top ``layers`` fine-tuned on the other folds.

    A fine-tuned encoder judges labels better than a frozen one on subtle texts. When
    fewer layers are trained than the encoder has, the frozen bottom layers run once over
    all texts (the frozen-layer cache of :mod:`textclf_core.strategies.transformer`), shared by every
    fold; the token embeddings always stay frozen.

    ``y``: class ids, or a 0/1 matrix when ``multi_label``; ``splits``: ``(train, test)``
    index pairs. ``emit`` receives ``{"type": "review_stage", "stage", "progress"}``;
    ``should_stop()`` is checked before every training step (raises :class:`CancelledError`).
    """
    import math

    import torch

    from textclf_core import events, hardware
    from textclf_core.config import RunConfig
    from textclf_core.engine import loop as engine
    from textclf_core.engine.encoders import tokenize
    from textclf_core.store import catalog as models
    from textclf_core.strategies import advice as strategies

    splits = [(np.asarray(a), np.asarray(b)) for a, b in splits]
    hw = hardware.detect()
    device, amp = hw.device, hardware.autocast_dtype(hw.device, "auto")
    dev_type = device if device != "mps" else "cpu"
    tokenizer = models.load_tokenizer(model)
    ids = tokenize(tokenizer, [str(t) for t in texts], max_length)
    lengths = np.array([len(s) for s in ids])
    pad_id = tokenizer.pad_token_id
    left = getattr(tokenizer, "padding_side", "right") == "left"
    space = LabelSpace(
        [f"c{i}" for i in range(n_classes)], multi_label=multi_label, separator=";" if multi_label else None
    )
    config = RunConfig(strategy="partial", layers=int(layers), model=model, max_length=int(max_length))
    targets = torch.as_tensor(np.asarray(y, dtype=np.float32 if multi_label else np.int64))
    total_steps = sum(math.ceil(len(tr) / batch_size) for tr, _ in splits) * int(epochs)
    done = {"steps": 0}
    reporter = events.Reporter(emit)
    store: dict | None = None  # frozen-layer outputs of every text, shared by all folds
    proba = np.zeros((len(ids), n_classes), dtype=np.float64)

    def report(stage: str, share: float, force: bool = False) -> None:
        reporter.throttled(
            "review", lambda: events.review_stage(stage=stage, progress=share), force=force or share >= 1.0
        )

    def autocast():
        return engine.autocast(dev_type, amp)

    settings = {"lr": lr, "batch_size": batch_size, "epochs": int(epochs), "multi_label": multi_label, "device": device}

    stop = should_stop or (lambda: False)
    for fold, (train, test) in enumerate(splits):
        check_stop(should_stop)
        engine.seed_everything(seed + fold)
        net = _fold_model(model, space, tokenizer, config, device)
        frozen = int(getattr(net, "textclf_frozen_layers", 0) or 0)
        prefix, store = _shared_prefix(net, frozen, amp, store, ids, pad_id, device, batch_size * 2, stop, report)
        net.to(device)

        def inputs_for(rows):
            return _inputs(ids, pad_id, left, prefix, device, rows)

        def stepped() -> None:
            done["steps"] += 1
            report(f"fine-tuning fold {fold + 1} of {len(splits)}", 0.5 + 0.2 * done["steps"] / total_steps)

        ctx = prefix.active() if prefix is not None else contextlib.nullcontext()
        with ctx:
            strategies.set_train_mode(net)
            report(
                f"fine-tuning fold {fold + 1} of {len(splits)}", 0.5 + 0.2 * done["steps"] / total_steps, force=True
            )  # every fold is announced, however fast it goes
            _train_fold(net, train, lengths, targets, inputs_for, autocast, settings, seed + fold, should_stop, stepped)
            _predict_fold(net, test, lengths, inputs_for, autocast, proba, batch_size, multi_label)
        del net
    return proba
