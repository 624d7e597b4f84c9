"""The fine-tuning loop: one function, :func:`fit`, for every transformer strategy.

Speed on CPU comes from doing less work, not from tricks: texts are tokenized once;
batches are padded only to their longest text and grouped by length (groups shuffled)
for training, sorted for evaluation; bf16 autocast where the CPU/GPU does bf16 natively;
frozen layers never do backward work, and for partial fine-tuning their outputs are
computed once and reused every epoch (they are in eval mode, so they are deterministic).
Feature extraction trains a head on cached embeddings (seconds once cached).

``accelerate.Accelerator`` handles device placement and multi-process runs
(``accelerate launch``): training batches are sharded across processes, gradients
synchronised by DDP, and only the main process emits events and writes the model.
Autocast is applied here directly (same effect as Accelerator's mixed precision, and
it lets CPU bf16 be decided from the hardware).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import RunConfig
from .errors import CancelledError, TextclfError
from .labels import LabelSpace

PREFIX_CACHE_BUDGET_GB = 2.0  # frozen-layer outputs kept in memory up to this size


@dataclass
class FitResult:
    predictor: Any  # inference.TransformerPredictor or FeaturePredictor of the saved (best) model
    best_metric: float | None
    best_epoch: float | None
    history: list[dict] = field(default_factory=list)  # evaluation events
    train_seconds: float = 0.0
    model_dir: Path | None = None
    thresholds: list[float] | None = None
    params: tuple[int, int] | None = None  # (total, trainable)
    # Probabilities of every validation row from the evaluation that chose the saved model, in
    # val_df's order (None when some rows were skipped): the runner reports them instead of
    # predicting the validation rows a second time.
    val_proba: np.ndarray | None = None


# --- helpers -------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _targets(df, label_space: LabelSpace):
    y = label_space.encode(list(df["label"]))
    if label_space.multi_label:
        keep = np.ones(len(y), dtype=bool)
    else:
        keep = y >= 0
    return y, keep


def _length_grouped_batches(lengths, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, sort within chunks of 50 batches by length, then shuffle the batch order:
    little padding, still random."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    lengths = np.asarray(lengths)
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def _metric_values(y_true, proba, multi_label: bool, num_classes: int) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    if multi_label:
        pred = (proba >= 0.5).astype(int)
        y = np.asarray(y_true).astype(int)
        return {"accuracy": float(accuracy_score(y, pred)),
                "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
                "confusion_matrix": None}
    pred = proba.argmax(1)
    return {"accuracy": float(accuracy_score(y_true, pred)),
            "macro_f1": float(f1_score(y_true, pred, average="macro", labels=list(range(num_classes)),
                                       zero_division=0)),
            "confusion_matrix": confusion_matrix(y_true, pred, labels=list(range(num_classes))).tolist()}


def _val_loss(proba, y_true, multi_label: bool) -> float:
    eps = 1e-7
    p = np.clip(proba, eps, 1 - eps)
    if multi_label:
        y = np.asarray(y_true, dtype=np.float64)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(y_true)), y_true]).mean())


def _better(metric: str, new: float, best: float | None) -> bool:
    if best is None:
        return True
    return new < best - 1e-12 if metric == "val_loss" else new > best + 1e-12


def _release() -> None:
    """Give GPU memory back after a job. On CPU freed tensors go back at once (reference counting),
    so the full garbage collection (~1 s with transformers loaded) is skipped there."""
    try:
        import torch

        if torch.cuda.is_available():
            gc.collect()
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001
        pass


def _oom_error() -> TextclfError:
    return TextclfError("The GPU ran out of memory during training",
                        hint="Lower the batch size (e.g. halve it) or the maximum length, or use LoRA or partial "
                             "fine-tuning")


def _write_info(folder: Path, info: dict) -> None:
    (folder / "textclf.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n",
                                         encoding="utf-8")


@contextlib.contextmanager
def _output_folder(run):
    """run.stage_model() when there is a run, else a temporary folder that is kept."""
    if run is not None:
        with run.stage_model() as folder:
            yield Path(folder)
    else:
        yield Path(tempfile.mkdtemp(prefix="textclf-model-"))


def _model_dir(run, staged: Path) -> Path:
    return Path(run.model_dir) if run is not None else staged


# --- entry point ---------------------------------------------------------------------
def fit(config: RunConfig, train_df, val_df, label_space: LabelSpace, *, run=None,
        emit: Callable[[dict], None] | None = None, should_stop: Callable[[], bool] | None = None) -> FitResult:
    """Train ``config.strategy`` on ``train_df`` (columns text, label), select on ``val_df``,
    save the best model (through ``run.stage_model()``) and return a predictor for it.

    Raises :class:`CancelledError` when ``should_stop()`` turns true (after saving the best
    model so far if an evaluation happened) and :class:`TextclfError` for problems a person can fix.
    """
    from . import hardware

    emit = emit or (lambda event: None)
    should_stop = should_stop or (lambda: False)
    if config.strategy == "baseline":
        raise TextclfError("The baseline is trained by baseline.train_baseline, not the transformer engine")
    if val_df is None or len(val_df) == 0:
        raise TextclfError("Fine-tuning needs a validation split to pick the best checkpoint",
                           hint="Set a validation share above 0")
    hardware.configure_threads(config.num_threads)
    seed_everything(config.seed)
    try:
        if config.strategy == "feature-extraction":
            return _fit_features(config, train_df, val_df, label_space, run=run, emit=emit, should_stop=should_stop)
        return _fit_transformer(config, train_df, val_df, label_space, run=run, emit=emit, should_stop=should_stop)
    except TextclfError:
        raise
    except Exception as exc:  # noqa: BLE001
        import torch

        if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
            gc.collect()
            _release()
            raise _oom_error() from None
        raise
    finally:
        _release()


# --- feature extraction ----------------------------------------------------------------
def _fit_features(config, train_df, val_df, label_space, *, run, emit, should_stop) -> FitResult:
    from safetensors.numpy import save_file

    from . import distributed, models
    from .losses import probabilities, tune_thresholds

    start = time.perf_counter()
    y_train, keep = _targets(train_df, label_space)
    y_val, keep_val = _targets(val_df, label_space)
    train_texts = [t for t, k in zip(train_df["text"], keep) if k]
    val_texts = [t for t, k in zip(val_df["text"], keep_val) if k]
    y_train, y_val = y_train[keep], y_val[keep_val]

    def progress(event):
        emit(dict(event, stage="embedding"))

    # Under `accelerate launch` each process embeds a share (distributed.run_worker mirrors this call).
    x_all = distributed.embed(train_texts + val_texts, config.model, max_length=config.max_length,
                           pooling=config.pooling, batch_size=max(config.batch_size, 64), emit=progress,
                           should_stop=should_stop, precision=config.precision, device=config.device,
                           windows=config.windows)
    x_train, x_val = x_all[:len(train_texts)], x_all[len(train_texts):]
    mean = x_train.mean(0)
    scale = x_train.std(0) + 1e-6
    xs_train, xs_val = (x_train - mean) / scale, (x_val - mean) / scale
    k = label_space.num_classes
    history: list[dict] = []
    head: dict[str, np.ndarray]
    if config.head == "logreg":
        head = _logreg_head(xs_train, y_train, config, label_space)
        head_type = "linear"
    else:
        head, head_type = _torch_head(xs_train, y_train, xs_val, y_val, config, label_space, emit, should_stop)
    head = {key: np.ascontiguousarray(v, dtype=np.float32) for key, v in head.items()}
    head_for_predict = dict(head, mean=mean.astype(np.float32), scale=scale.astype(np.float32))
    logits_val = _apply_head(head, head_type, xs_val)
    proba_val = probabilities(logits_val, label_space.multi_label)
    thresholds = tune_thresholds(proba_val, y_val) if label_space.multi_label else None
    event = _evaluation_event(proba_val, y_val, label_space, step=1, epoch=float(config.epochs), thresholds=thresholds)
    history.append(event)
    emit(event)
    metric = event["val_loss"] if config.metric_for_best == "val_loss" else event[config.metric_for_best]
    encoder = models.resolve(config.model)
    info = {"kind": "features", "label_space": label_space.to_dict(), "max_length": config.max_length,
            "strategy": config.strategy, "config": config.to_dict(), "thresholds": thresholds,
            "encoder": encoder, "encoder_fingerprint": models.model_fingerprint(config.model),
            "pooling": config.pooling, "precision": config.precision, "windows": config.windows,
            "head": {"type": head_type, "c": config.head_c if config.head == "logreg" else None,
                     "trained_as": config.head}}
    with _output_folder(run) as folder:
        save_file(head_for_predict, str(folder / "head.safetensors"))
        _write_info(folder, info)
        staged = folder
    model_dir = _model_dir(run, staged)
    from .inference import FeaturePredictor

    predictor = FeaturePredictor(model_dir, device=config.device)
    return FitResult(predictor, metric, float(config.epochs), history, time.perf_counter() - start, model_dir,
                     thresholds, (int(x_train.shape[1] * k), int(x_train.shape[1] * k)))


def _logreg_head(x, y, config, label_space) -> dict:
    from sklearn.linear_model import LogisticRegression

    k = label_space.num_classes
    if label_space.multi_label:
        weight = np.zeros((k, x.shape[1]))
        bias = np.zeros(k)
        for j in range(k):
            if 0 < y[:, j].sum() < len(y):
                clf = LogisticRegression(C=config.head_c, max_iter=2000,
                                         class_weight="balanced" if config.class_weights else None)
                clf.fit(x, y[:, j])
                weight[j], bias[j] = clf.coef_[0], clf.intercept_[0]
            else:
                bias[j] = 10.0 if y[:, j].sum() == len(y) else -10.0
        return {"weight": weight, "bias": bias}
    clf = LogisticRegression(C=config.head_c, max_iter=2000, class_weight="balanced" if config.class_weights else None)
    clf.fit(x, y)
    weight = np.zeros((k, x.shape[1]))
    bias = np.zeros(k)
    present = clf.classes_.astype(int)
    if len(present) == 2 and clf.coef_.shape[0] == 1:  # binary: softmax([0, z]) == sigmoid(z)
        weight[present[1]], bias[present[1]] = clf.coef_[0], clf.intercept_[0]
    else:
        weight[present], bias[present] = clf.coef_, clf.intercept_
        missing = np.setdiff1d(np.arange(k), present)
        bias[missing] = -1e4
    return {"weight": weight, "bias": bias}


def _apply_head(head, head_type, x):
    if head_type == "mlp":
        return np.maximum(x @ head["w1"].T + head["b1"], 0) @ head["w2"].T + head["b2"]
    return x @ head["weight"].T + head["bias"]


def _torch_head(x_train, y_train, x_val, y_val, config, label_space, emit, should_stop):
    """A linear or one-hidden-layer MLP head trained with AdamW on the embeddings, early-stopped on
    validation. Runs at least 20 passes (the configured epochs are for the encoder's scale)."""
    import torch
    from torch import nn

    from .losses import compute_loss, make_loss, probabilities

    d, k = x_train.shape[1], label_space.num_classes
    torch.manual_seed(config.seed)
    if config.head == "mlp":
        net = nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Dropout(config.dropout or 0.1), nn.Linear(256, k))
    else:
        net = nn.Sequential(nn.Dropout(config.dropout or 0.0), nn.Linear(d, k))
    loss_fn = make_loss(config, label_space, y_train)
    opt = torch.optim.AdamW(net.parameters(), lr=config.effective_head_lr(), weight_decay=config.weight_decay)
    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    yt = torch.from_numpy(y_train)
    xv = torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
    rng = np.random.default_rng(config.seed)
    passes = max(20, config.epochs)
    best, best_state, bad = None, None, 0
    start = time.perf_counter()
    for epoch in range(passes):
        if should_stop():
            raise CancelledError("cancelled")
        net.train()
        order = rng.permutation(len(xt))
        for i in range(0, len(order), config.batch_size):
            idx = torch.from_numpy(order[i:i + config.batch_size])
            loss = compute_loss(loss_fn, net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.inference_mode():
            proba = probabilities(net(xv), label_space.multi_label)
        value = _val_loss(proba, y_val, label_space.multi_label)
        emit({"type": "step", "time": time.time(), "step": epoch + 1, "total_steps": passes, "epoch": epoch + 1,
              "loss": float(loss.detach()), "lr": config.effective_head_lr(),
              "examples_per_s": (epoch + 1) * len(xt) / max(time.perf_counter() - start, 1e-9),
              "elapsed_s": time.perf_counter() - start, "eta_s": 0.0})
        if best is None or value < best - 1e-6:
            best, bad = value, 0
            best_state = {n: t.detach().clone() for n, t in net.state_dict().items()}
        else:
            bad += 1
            if bad >= 5:
                break
    net.load_state_dict(best_state)
    sd = {n: t.numpy() for n, t in net.state_dict().items()}
    if config.head == "mlp":
        return {"w1": sd["0.weight"], "b1": sd["0.bias"], "w2": sd["3.weight"], "b2": sd["3.bias"]}, "mlp"
    return {"weight": sd["1.weight"], "bias": sd["1.bias"]}, "linear"


def _evaluation_event(proba, y_true, label_space, *, step, epoch, thresholds=None) -> dict:
    values = _metric_values(y_true, proba, label_space.multi_label, label_space.num_classes)
    return {"type": "evaluation", "time": time.time(), "step": int(step), "epoch": float(epoch),
            "val_loss": _val_loss(proba, y_true, label_space.multi_label), **values,
            "classes": list(label_space.classes)}


# --- frozen-prefix cache (partial fine-tuning) -------------------------------------------
class _PrefixCache:
    """Outputs of the frozen embeddings + bottom layers, per example, computed once.

    While :meth:`active`, the model's embeddings module returns the cached states of the
    current batch and its layer stack holds only the trainable top layers, so the model's
    own forward (attention masks, pooler, head) runs unchanged on top of the cache.
    """

    def __init__(self, model, frozen_layers: int, amp):
        import torch

        from . import strategies

        self.base = strategies.base_model(model)
        self.parent, self.attr, self.stack = strategies.find_layer_stack(model)
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

        from .features import pad_batch, sorted_batches

        todo = [i for i, key in enumerate(keys) if key not in self.store]
        if not todo:
            return
        setattr(self.parent, self.attr, nn.ModuleList(list(self.stack)[:self.k]))
        try:
            for batch in sorted_batches([len(ids_list[i]) for i in todo], batch_size * 2):
                if should_stop():
                    raise CancelledError("cancelled")
                rows = [todo[j] for j in batch]
                inputs = {n: v.to(device) for n, v in pad_batch([ids_list[i] for i in rows], pad_id).items()}
                dev_type = getattr(device, "type", str(device))
                with torch.inference_mode(), torch.autocast(dev_type if dev_type != "mps" else "cpu",
                                                            dtype=amp or torch.float32, enabled=amp is not None):
                    hidden = self.base(**inputs).last_hidden_state
                hidden = hidden.to(self.dtype).cpu()
                for r, i in enumerate(rows):
                    self.store[keys[i]] = hidden[r, :len(ids_list[i])].clone()
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
            out[r, :t.shape[0]] = t.float()
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
        setattr(self.parent, self.attr, nn.ModuleList(list(self.stack)[self.k:]))
        self.is_active = True
        try:
            yield self
        finally:
            self.is_active = False
            self.base.embeddings = self.embeddings
            setattr(self.parent, self.attr, self.stack)
            self.current = None


# --- transformer strategies ----------------------------------------------------------
def _fit_transformer(config, train_df, val_df, label_space, *, run, emit, should_stop) -> FitResult:
    import torch
    from accelerate import Accelerator

    from . import hardware, models, strategies
    from .features import pad_batch, sorted_batches, tokenize
    from .losses import compute_loss, make_loss, probabilities, tune_thresholds

    start = time.perf_counter()
    hw = hardware.detect(config.device)
    accelerator = Accelerator(cpu=hw.device == "cpu", mixed_precision="no")
    device = accelerator.device
    dev_type = device.type
    amp = hardware.autocast_dtype(dev_type, config.precision)
    main = accelerator.is_main_process
    if not main:
        emit = lambda event: None  # noqa: E731 - only the main process reports
    multi = label_space.multi_label

    tokenizer = models.load_tokenizer(config.model)
    model = models.load_for_classification(config.model, label_space, dropout=config.dropout, tokenizer=tokenizer)
    model = strategies.apply_strategy(model, config)
    if dev_type == "cpu" and not config.extra.get("no_train_attention"):
        from . import train_attention

        train_attention.install(model)  # CPU only: CUDA's SDPA kernels do dropout themselves
        if not config.extra.get("torch_dropout"):
            train_attention.install_fast_dropout(model)  # CPU only: CUDA draws dropout masks on the device
    total_params, trainable_params = strategies.count_parameters(model)
    pad_id = tokenizer.pad_token_id
    left = getattr(tokenizer, "padding_side", "right") == "left"

    y_train, keep = _targets(train_df, label_space)
    y_val, keep_val = _targets(val_df, label_space)
    train_texts = [t for t, k in zip(train_df["text"], keep) if k]
    val_texts = [t for t, k in zip(val_df["text"], keep_val) if k]
    y_train, y_val = y_train[keep], y_val[keep_val]
    if len(train_texts) == 0:
        raise TextclfError("There are no labelled training rows", hint="Check the label column")
    train_ids = tokenize(tokenizer, train_texts, config.max_length)
    val_ids = tokenize(tokenizer, val_texts, config.max_length)
    train_len = np.array([len(s) for s in train_ids])
    loss_fn = make_loss(config, label_space, y_train)

    # Partial fine-tuning: reuse frozen layers' outputs (frozen modules are in eval mode: no dropout).
    prefix = None
    frozen = int(getattr(model, "textclf_frozen_layers", 0) or 0)
    if (config.strategy == "partial" and frozen > 0 and strategies.family(model) in strategies.PREFIX_CACHE_FAMILIES
            and accelerator.num_processes == 1 and not config.extra.get("no_prefix_cache")):
        hidden = getattr(model.config, "hidden_size", None) or getattr(model.config, "dim", 768)
        size_gb = (train_len.sum() + sum(len(s) for s in val_ids)) * hidden * (2 if amp == torch.bfloat16 else 4) / 1e9
        if size_gb <= PREFIX_CACHE_BUDGET_GB:
            prefix = _PrefixCache(model, frozen, amp)

    groups = strategies.parameter_groups(model, config)
    if not groups:
        raise TextclfError("This strategy leaves nothing to train for this model")
    opt_kwargs = {}
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=0.9)
    else:
        cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        if config.optimizer == "adam":
            for g in groups:
                g["weight_decay"] = 0.0
        try:  # fused kernels: one op per step instead of one per parameter (CPU and CUDA in torch ≥ 2.4)
            optimizer = cls(groups, lr=config.lr, fused=True, **opt_kwargs)
        except (RuntimeError, TypeError, ValueError):
            optimizer = cls(groups, lr=config.lr, **opt_kwargs)

    model.to(device)
    model, optimizer = accelerator.prepare(model, optimizer)
    world, rank = accelerator.num_processes, accelerator.process_index
    per_process_batch = config.batch_size
    n_batches = math.ceil(len(train_ids) / per_process_batch)
    batches_per_process = math.ceil(n_batches / world)
    updates_per_epoch = math.ceil(batches_per_process / config.grad_accum)
    total_updates = updates_per_epoch * config.epochs
    from transformers import get_scheduler

    scheduler = get_scheduler({"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[
        config.scheduler], optimizer, num_warmup_steps=int(config.warmup_ratio * total_updates),
        num_training_steps=total_updates)
    scaler = torch.amp.GradScaler("cuda") if (dev_type == "cuda" and amp == torch.float16) else None
    eval_points = sorted({max(1, round(batches_per_process * (i + 1) / config.evals_per_epoch))
                          for i in range(config.evals_per_epoch)})
    trainable = [(n, p) for n, p in accelerator.unwrap_model(model).named_parameters() if p.requires_grad]

    def autocast():
        return torch.autocast(dev_type if dev_type != "mps" else "cpu", dtype=amp or torch.float32,
                              enabled=amp is not None)

    def batch_inputs(ids_list, rows, keys):
        inputs = pad_batch([ids_list[i] for i in rows], pad_id, left)
        if prefix is not None:
            prefix.set_batch(keys, inputs["input_ids"].shape[1], device)
        return {n: v.to(device) for n, v in inputs.items()}

    def evaluate(step, epoch):
        model.eval()
        logits = np.zeros((len(val_ids), label_space.num_classes), dtype=np.float32)
        ctx = prefix.active() if prefix is not None else contextlib.nullcontext()
        val_batches = sorted_batches([len(s) for s in val_ids], max(config.batch_size, 64))
        # Launched: each process scores every world-th batch with the plain (unwrapped) model, so DDP's
        # per-forward collectives never see uneven call counts; the rows are gathered below.
        scorer = model if world == 1 else accelerator.unwrap_model(model)
        with ctx:
            for batch in val_batches[rank::world]:
                inputs = batch_inputs(val_ids, batch, [("v", int(i)) for i in batch])
                with torch.inference_mode(), autocast():
                    logits[batch] = scorer(**inputs).logits.float().cpu().numpy()
        if world > 1:
            from .distributed import gather_rows

            logits = gather_rows(accelerator, logits, val_batches)
        strategies.set_train_mode(model)
        proba = probabilities(logits, multi)
        return _evaluation_event(proba, y_val, label_space, step=step, epoch=epoch), proba

    if prefix is not None:  # fill once; every epoch and evaluation reads it
        total = len(train_ids) + len(val_ids)
        progress = {"done": 0, "sent": 0.0}

        def frozen_progress(n: int) -> None:
            # A long pass (minutes on a CPU for ~10k texts): tell the page how far, about once a second.
            progress["done"] += n
            now = time.time()
            if now - progress["sent"] >= 1.0 or progress["done"] >= total:
                progress["sent"] = now
                emit({"type": "progress", "stage": "frozen layers", "time": now, "done": progress["done"],
                      "total": total})

        emit({"type": "progress", "stage": "frozen layers", "time": time.time(), "done": 0, "total": total})
        prefix.fill([("t", i) for i in range(len(train_ids))], train_ids, pad_id, device, amp,
                    config.batch_size, should_stop, on_batch=frozen_progress)
        prefix.fill([("v", i) for i in range(len(val_ids))], val_ids, pad_id, device, amp,
                    config.batch_size, should_stop, on_batch=frozen_progress)

    rng = np.random.default_rng(config.seed)
    history: list[dict] = []
    best_metric = best_epoch = best_state = best_proba = None
    bad_evals = 0
    step = 0
    examples_seen = 0
    stop_early = cancelled = False
    loop_start = time.perf_counter()
    last_emit = 0.0
    strategies.set_train_mode(model)
    ctx = prefix.active() if prefix is not None else contextlib.nullcontext()
    with ctx:
        for epoch in range(config.epochs):
            batches = _length_grouped_batches(train_len, per_process_batch, rng)
            if world > 1:  # equal batch counts per process so collective ops line up
                batches = (batches * world)[:batches_per_process * world][rank::world]
            optimizer.zero_grad(set_to_none=True)
            for bi, rows in enumerate(batches):
                if should_stop():
                    cancelled = True
                    break
                inputs = batch_inputs(train_ids, rows, [("t", int(i)) for i in rows])
                targets = torch.as_tensor(y_train[rows]).to(device)
                sync = (bi + 1) % config.grad_accum == 0 or bi + 1 == len(batches)
                sync_ctx = contextlib.nullcontext() if sync or world == 1 else accelerator.no_sync(model)
                with sync_ctx:
                    with autocast():
                        logits = model(**inputs).logits
                    loss = compute_loss(loss_fn, logits, targets) / config.grad_accum
                    if scaler is not None:
                        scaler.scale(loss).backward()
                    else:
                        accelerator.backward(loss)
                if sync:
                    if scaler is not None:
                        scaler.unscale_(optimizer)
                    if config.grad_clip:
                        torch.nn.utils.clip_grad_norm_([p for _, p in trainable], config.grad_clip)
                    if scaler is not None:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                examples_seen += len(rows) * world
                now = time.perf_counter()
                if now - last_emit >= 1.0 or step == 1 or bi + 1 == len(batches):
                    last_emit = now
                    elapsed = now - loop_start
                    done_fraction = (epoch * len(batches) + bi + 1) / (config.epochs * len(batches))
                    emit({"type": "step", "time": time.time(), "step": step, "total_steps": total_updates,
                          "epoch": epoch + (bi + 1) / len(batches), "loss": float(loss.detach()) * config.grad_accum,
                          "lr": float(scheduler.get_last_lr()[0]), "examples_per_s": examples_seen / max(elapsed, 1e-9),
                          "elapsed_s": elapsed, "eta_s": elapsed * (1 - done_fraction) / max(done_fraction, 1e-9)})
                if bi + 1 in eval_points:
                    event, proba = evaluate(step, epoch + (bi + 1) / len(batches))
                    history.append(event)
                    emit(event)
                    value = event[config.metric_for_best]
                    if _better(config.metric_for_best, value, best_metric):
                        best_metric, best_epoch, best_proba, bad_evals = value, event["epoch"], proba, 0
                        # Keyed by the parameter itself, not its name: while the frozen-layer cache is active
                        # the layer stack is renumbered. Only trained parameters change, so only they are copied.
                        best_state = [(p, p.detach().to("cpu", copy=True)) for _, p in trainable]
                    else:
                        bad_evals += 1
                        if config.early_stopping_patience and bad_evals >= config.early_stopping_patience:
                            stop_early = True
                            break
            if cancelled or stop_early:
                break
    train_seconds = time.perf_counter() - start
    if cancelled and best_state is None:
        raise CancelledError("Training was cancelled before the first evaluation; nothing was saved")

    unwrapped = accelerator.unwrap_model(model)
    with torch.no_grad():
        for param, saved in best_state:
            param.copy_(saved.to(param.device))
    thresholds = tune_thresholds(best_proba, y_val) if multi else None
    model_dir = saved_model = None
    from . import train_attention

    train_attention.uninstall(unwrapped)
    train_attention.uninstall_fast_dropout(unwrapped)
    if main:
        with _output_folder(run) as folder:
            saved_model = _save_transformer(unwrapped, tokenizer, folder, config, label_space, thresholds, amp)
            staged = folder
        model_dir = _model_dir(run, staged)
    accelerator.wait_for_everyone()
    del model, optimizer, unwrapped, best_state
    if prefix is not None:
        prefix.store.clear()
    _release()
    if cancelled:
        raise CancelledError("Training was cancelled; the best model so far was saved")
    from .inference import TransformerPredictor

    # The trained weights are already in memory (identical to the saved files): no second from_pretrained.
    predictor = TransformerPredictor(model_dir, device=config.device, precision=config.precision,
                                     model=saved_model, tokenizer=tokenizer) if main else None
    return FitResult(predictor, best_metric, best_epoch, history, train_seconds, model_dir, thresholds,
                     (total_params, trainable_params),
                     val_proba=best_proba if bool(np.all(keep_val)) and best_proba is not None else None)


def _save_transformer(model, tokenizer, folder: Path, config, label_space, thresholds, amp):
    """A save_pretrained folder (safetensors) + tokenizer + textclf.json; LoRA is merged first
    (the adapter alone is kept in adapter/ for people who want it). Returns the model as saved."""
    if hasattr(model, "merge_and_unload"):
        try:
            from .models import quiet_transformers

            with quiet_transformers():
                model.save_pretrained(folder / "adapter")
        except Exception:  # noqa: BLE001 - the merged model is what matters
            pass
        model = model.merge_and_unload()
    for attr in ("textclf_new_keys", "textclf_frozen_layers"):
        if hasattr(model, attr):
            delattr(model, attr)
    from .models import quiet_transformers

    with quiet_transformers():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    _write_info(folder, {"kind": "transformer", "label_space": label_space.to_dict(),
                         "max_length": config.max_length, "strategy": config.strategy, "config": config.to_dict(),
                         "thresholds": thresholds, "base_model": config.model, "windows": config.windows,
                         "precision": "bf16" if amp is not None and "bfloat16" in str(amp) else "fp32"})
    return model
