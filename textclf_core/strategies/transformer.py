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
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from textclf_core import events
from textclf_core.config import RunConfig, developer_switch
from textclf_core.engine import loop as engine
from textclf_core.engine.static import refuse_tuning
from textclf_core.errors import CancelledError, TextclfError, is_out_of_memory, out_of_memory_error
from textclf_core.events import Reporter
from textclf_core.labels import LabelSpace
from textclf_core.store import model_folder
from textclf_core.strategy_registry import get_strategy

PREFIX_CACHE_BUDGET_GB = 2.0  # frozen-layer outputs kept in memory up to this size


FitResult = engine.FitResult  # public here too (runner, bench, tests)


# --- helpers -------------------------------------------------------------------------
# The loop pieces live in engine.py; seed_everything stays importable from here (public name).
seed_everything = engine.seed_everything
_targets = engine.targets
HEAD_PATIENCE = (
    5  # head passes over cached embeddings take milliseconds; the config's patience counts encoder evaluations
)


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


# --- entry point ---------------------------------------------------------------------
def fit(
    config: RunConfig,
    train_df,
    val_df,
    label_space: LabelSpace,
    *,
    run=None,
    emit: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FitResult:
    """Train ``config.strategy`` on ``train_df`` (columns text, label), select on ``val_df``,
    save the best model (through ``run.stage_model()``) and return a predictor for it.

    Raises :class:`CancelledError` when ``should_stop()`` turns true (after saving the best
    model so far if an evaluation happened) and :class:`TextclfError` for problems a person can fix.
    """
    from textclf_core import hardware

    reporter = Reporter.of(emit, should_stop)
    trains = get_strategy(config.strategy).trains
    if trains == "none":
        raise TextclfError("The baseline is trained by baseline.train_baseline, not the transformer engine")
    if val_df is None or len(val_df) == 0:
        raise TextclfError(
            "Fine-tuning needs a validation split to pick the best checkpoint", hint="Set a validation share above 0"
        )
    if trains != "head":
        refuse_tuning(config.model, get_strategy(config.strategy).title.lower())
    hardware.configure_threads(config.num_threads)
    seed_everything(config.seed)
    try:
        if trains == "head":
            return _fit_features(config, train_df, val_df, label_space, run=run, reporter=reporter)
        return _fit_transformer(config, train_df, val_df, label_space, run=run, reporter=reporter)
    except TextclfError:
        raise
    except Exception as exc:  # noqa: BLE001
        if is_out_of_memory(exc):
            gc.collect()
            _release()
            raise out_of_memory_error("training") from None
        raise
    finally:
        _release()


def labelled(df, label_space: LabelSpace) -> tuple[list[str], np.ndarray]:
    """The texts of ``df`` that have a label the space knows, and their encoded labels."""
    y, keep = engine.targets(df, label_space)
    return [t for t, k in zip(df["text"], keep) if k], y[keep]


# --- feature extraction ----------------------------------------------------------------
def _fit_features(config, train_df, val_df, label_space, *, run, reporter: Reporter) -> FitResult | None:
    from safetensors.numpy import save_file

    from textclf_core.engine import parallel
    from textclf_core.engine.losses import probabilities, tune_thresholds
    from textclf_core.store import catalog as models

    start = time.perf_counter()
    train_texts, y_train = labelled(train_df, label_space)
    val_texts, y_val = labelled(val_df, label_space)

    # Under `accelerate launch` every process runs this same call and embeds its share.
    x_all = parallel.embed(
        train_texts + val_texts,
        config.model,
        max_length=config.max_length,
        pooling=config.pooling,
        batch_size=max(config.batch_size, 64),
        emit=reporter.with_fields(stage="embedding"),
        should_stop=reporter.should_stop,
        precision=config.precision,
        device=config.device,
        windows=config.windows,
    )
    if not parallel.is_main_process():
        return None  # the head is trained by the main process alone
    x_train, x_val = x_all[: len(train_texts)], x_all[len(train_texts) :]
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
        head, head_type = torch_head(xs_train, y_train, xs_val, y_val, config, label_space, reporter)
    head = {key: np.ascontiguousarray(v, dtype=np.float32) for key, v in head.items()}
    head_for_predict = dict(head, mean=mean.astype(np.float32), scale=scale.astype(np.float32))
    logits_val = _apply_head(head, head_type, xs_val)
    proba_val = probabilities(logits_val, label_space.multi_label)
    thresholds = tune_thresholds(proba_val, y_val) if label_space.multi_label else None
    event = engine.evaluation_event(proba_val, y_val, label_space, step=1, epoch=float(config.epochs))
    history.append(event)
    reporter.emit(event)
    metric = event["val_loss"] if config.metric_for_best == "val_loss" else event[config.metric_for_best]
    encoder = models.resolve(config.model)
    info = {
        "kind": "features",
        "label_space": label_space.to_dict(),
        "max_length": config.max_length,
        "strategy": config.strategy,
        "config": config.to_dict(),
        "thresholds": thresholds,
        "encoder": encoder,
        "encoder_fingerprint": models.model_fingerprint(config.model),
        "pooling": config.pooling,
        "precision": config.precision,
        "windows": config.windows,
        "head": {"type": head_type, "c": config.head_c if config.head == "logreg" else None, "trained_as": config.head},
    }
    with engine.output_folder(run) as folder:
        save_file(head_for_predict, str(folder / "head.safetensors"))
        model_folder.write_info(folder, info)
        staged = folder
    model_dir = engine.model_dir(run, staged)
    from textclf_core.models.predictors import FeaturePredictor

    predictor = FeaturePredictor(model_dir, device=config.device)
    return FitResult(
        predictor,
        metric,
        float(config.epochs),
        history,
        time.perf_counter() - start,
        model_dir,
        thresholds,
        (int(x_train.shape[1] * k), int(x_train.shape[1] * k)),
    )


def _logreg_head(x, y, config, label_space) -> dict:
    from sklearn.linear_model import LogisticRegression

    k = label_space.num_classes
    class_weight = "balanced" if config.class_weights else None
    if label_space.multi_label:  # one sigmoid per class (not a softmax head)
        weight = np.zeros((k, x.shape[1]))
        bias = np.zeros(k)
        for j in range(k):
            if 0 < y[:, j].sum() < len(y):
                clf = LogisticRegression(C=config.head_c, max_iter=2000, class_weight=class_weight)
                clf.fit(x, y[:, j])
                weight[j], bias[j] = clf.coef_[0], clf.intercept_[0]
            else:
                bias[j] = 10.0 if y[:, j].sum() == len(y) else -10.0
        return {"weight": weight, "bias": bias}
    clf = LogisticRegression(C=config.head_c, max_iter=2000, class_weight=class_weight).fit(x, y)
    weight, bias = engine.sklearn_linear_head(clf, k)
    return {"weight": weight, "bias": bias}


def _apply_head(head, head_type, x):
    if head_type == "mlp":
        return np.maximum(x @ head["w1"].T + head["b1"], 0) @ head["w2"].T + head["b2"]
    return x @ head["weight"].T + head["bias"]


def torch_head(x_train, y_train, x_val, y_val, config, label_space, reporter: Reporter):
    """A linear or one-hidden-layer MLP head trained with AdamW on the embeddings, early-stopped on
    validation loss. Runs at least 20 passes (the configured epochs are for the encoder's scale)."""
    import torch
    from torch import nn

    from textclf_core.engine.losses import compute_loss, make_loss, probabilities

    d, k = x_train.shape[1], label_space.num_classes
    torch.manual_seed(config.seed)
    if config.head == "mlp":
        net = nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Dropout(config.dropout or 0.1), nn.Linear(256, k))
    else:
        net = nn.Sequential(nn.Dropout(config.dropout or 0.0), nn.Linear(d, k))
    loss_fn = make_loss(config, label_space, y_train)
    opt = engine.make_optimizer(net.parameters(), "adamw", config.effective_head_lr(), config.weight_decay)
    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    yt = torch.from_numpy(y_train)
    xv = torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
    rng = np.random.default_rng(config.seed)
    passes = max(20, config.epochs)
    stopping = engine.EarlyStopping("val_loss", HEAD_PATIENCE, min_delta=1e-6)
    best_state = None
    start = time.perf_counter()
    for epoch in range(passes):
        reporter.check_stop("cancelled")
        net.train()
        order = rng.permutation(len(xt))
        for i in range(0, len(order), config.batch_size):
            idx = torch.from_numpy(order[i : i + config.batch_size])
            loss = compute_loss(loss_fn, net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.inference_mode():
            proba = probabilities(net(xv), label_space.multi_label)
        elapsed = time.perf_counter() - start
        reporter.emit(
            events.step(
                step=epoch + 1,
                total_steps=passes,
                epoch=epoch + 1,
                loss=float(loss.detach()),
                lr=config.effective_head_lr(),
                examples_per_s=(epoch + 1) * len(xt) / max(elapsed, 1e-9),
                elapsed_s=elapsed,
                eta_s=0.0,
            )
        )
        if stopping.update(engine.val_loss(proba, y_val, label_space.multi_label)):
            best_state = {n: t.detach().clone() for n, t in net.state_dict().items()}
        elif stopping.stop:
            break
    net.load_state_dict(best_state)
    sd = {n: t.numpy() for n, t in net.state_dict().items()}
    if config.head == "mlp":
        return {"w1": sd["0.weight"], "b1": sd["0.bias"], "w2": sd["3.weight"], "b2": sd["3.bias"]}, "mlp"
    return {"weight": sd["1.weight"], "bias": sd["1.bias"]}, "linear"


_torch_head = torch_head  # the name bench scripts knew


# --- transformer strategies ----------------------------------------------------------
class _Loop:
    """What one fine-tuning run holds while it trains: filled by :func:`_setup` and
    :func:`_prepare_optimiser`, read by the evaluation, the epoch loop and the save."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _fit_transformer(config, train_df, val_df, label_space, *, run, reporter: Reporter) -> FitResult:
    start = time.perf_counter()
    loop = _setup(config, train_df, val_df, label_space, reporter)
    _prepare_optimiser(loop, config)
    if loop.prefix is not None:  # fill once; every epoch and evaluation reads it
        _fill_prefix_cache(loop, config)
    outcome = _train_epochs(loop, config)
    train_seconds = time.perf_counter() - start
    if outcome.cancelled and outcome.best_state is None:
        raise CancelledError("Training was cancelled before the first evaluation; nothing was saved")
    return _save_best(loop, outcome, config, run, train_seconds)


# --- setup: device, model, tokens, frozen-layer cache -----------------------------------
def _setup(config, train_df, val_df, label_space, reporter: Reporter) -> _Loop:
    from accelerate import Accelerator

    from textclf_core import hardware
    from textclf_core.engine.encoders import tokenize
    from textclf_core.engine.losses import make_loss
    from textclf_core.strategies import advice as strategies

    hw = hardware.detect(config.device)
    accelerator = Accelerator(cpu=hw.device == "cpu", mixed_precision="no")
    device = accelerator.device
    amp = hardware.autocast_dtype(device.type, config.precision)
    main = accelerator.is_main_process
    if not main:
        reporter = reporter.quiet()  # only the main process reports
    tokenizer, model = _load_model(config, label_space, device.type)
    total_params, trainable_params = strategies.count_parameters(model)

    train_texts, y_train = labelled(train_df, label_space)
    val_texts, y_val = labelled(val_df, label_space)
    keep_val = engine.targets(val_df, label_space)[1]
    if len(train_texts) == 0:
        raise TextclfError("There are no labelled training rows", hint="Check the label column")
    train_ids = tokenize(tokenizer, train_texts, config.max_length)
    val_ids = tokenize(tokenizer, val_texts, config.max_length)
    train_len = np.array([len(s) for s in train_ids])
    return _Loop(
        accelerator=accelerator,
        device=device,
        dev_type=device.type,
        amp=amp,
        main=main,
        reporter=reporter,
        label_space=label_space,
        multi=label_space.multi_label,
        tokenizer=tokenizer,
        model=model,
        params=(total_params, trainable_params),
        pad_id=tokenizer.pad_token_id,
        left=getattr(tokenizer, "padding_side", "right") == "left",
        train_ids=train_ids,
        y_train=y_train,
        val_ids=val_ids,
        y_val=y_val,
        keep_val=keep_val,
        train_len=train_len,
        loss_fn=make_loss(config, label_space, y_train),
        prefix=_prefix_cache(config, model, accelerator, amp, train_len, val_ids),
    )


def _load_model(config, label_space, dev_type: str):
    """(tokenizer, model with the strategy applied); on CPU the training attention and dropout kernels."""
    from textclf_core.store import catalog as models
    from textclf_core.strategies import advice as strategies

    tokenizer = models.load_tokenizer(config.model)
    model = models.load_for_classification(config.model, label_space, dropout=config.dropout, tokenizer=tokenizer)
    model = strategies.apply_strategy(model, config)
    if dev_type == "cpu" and not developer_switch("NO_TRAIN_ATTENTION"):
        from textclf_core.engine import attention as train_attention

        train_attention.install(model)  # CPU only: CUDA's SDPA kernels do dropout themselves
        if not developer_switch("TORCH_DROPOUT"):
            train_attention.install_fast_dropout(model)  # CPU only: CUDA draws dropout masks on the device
    return tokenizer, model


def _prefix_cache(config, model, accelerator, amp, train_len, val_ids):
    """Partial fine-tuning: reuse frozen layers' outputs (frozen modules are in eval mode: no dropout),
    when they fit :data:`PREFIX_CACHE_BUDGET_GB`; else None."""
    import torch

    from textclf_core.strategies import advice as strategies

    frozen = int(getattr(model, "textclf_frozen_layers", 0) or 0)
    if not (
        get_strategy(config.strategy).trains == "top_layers"
        and frozen > 0
        and strategies.family(model) in strategies.PREFIX_CACHE_FAMILIES
        and accelerator.num_processes == 1
        and not developer_switch("NO_PREFIX_CACHE")
    ):
        return None
    hidden = getattr(model.config, "hidden_size", None) or getattr(model.config, "dim", 768)
    size_gb = (train_len.sum() + sum(len(s) for s in val_ids)) * hidden * (2 if amp == torch.bfloat16 else 4) / 1e9
    return engine.PrefixCache(model, frozen, amp) if size_gb <= PREFIX_CACHE_BUDGET_GB else None


# --- model and optimiser --------------------------------------------------------------
def _prepare_optimiser(loop: _Loop, config) -> None:
    """Optimiser, scheduler and scaler; the model placed (and wrapped for several processes) by accelerate;
    how many updates an epoch makes and where it evaluates."""
    import torch

    from textclf_core.strategies import advice as strategies

    groups = strategies.parameter_groups(loop.model, config)
    if not groups:
        raise TextclfError("This strategy leaves nothing to train for this model")
    optimizer = engine.make_optimizer(groups, config.optimizer, config.lr)
    loop.model.to(loop.device)
    loop.model, loop.optimizer = loop.accelerator.prepare(loop.model, optimizer)
    loop.world, loop.rank = loop.accelerator.num_processes, loop.accelerator.process_index
    n_batches = math.ceil(len(loop.train_ids) / config.batch_size)
    loop.batches_per_process = math.ceil(n_batches / loop.world)
    updates_per_epoch = math.ceil(loop.batches_per_process / config.grad_accum)
    loop.total_updates = updates_per_epoch * config.epochs
    loop.scheduler = engine.make_scheduler(loop.optimizer, config.scheduler, loop.total_updates, config.warmup_ratio)
    loop.scaler = torch.amp.GradScaler("cuda") if (loop.dev_type == "cuda" and loop.amp == torch.float16) else None
    loop.eval_points = sorted(
        {
            max(1, round(loop.batches_per_process * (i + 1) / config.evals_per_epoch))
            for i in range(config.evals_per_epoch)
        }
    )
    loop.trainable = [
        (n, p) for n, p in loop.accelerator.unwrap_model(loop.model).named_parameters() if p.requires_grad
    ]


def _batch_inputs(loop: _Loop, ids_list, rows, keys) -> dict:
    from textclf_core.engine.encoders import pad_batch

    inputs = pad_batch([ids_list[i] for i in rows], loop.pad_id, loop.left)
    if loop.prefix is not None:
        loop.prefix.set_batch(keys, inputs["input_ids"].shape[1], loop.device)
    return {n: v.to(loop.device) for n, v in inputs.items()}


def _fill_prefix_cache(loop: _Loop, config) -> None:
    total = len(loop.train_ids) + len(loop.val_ids)
    progress = {"done": 0}
    reporter = loop.reporter

    def frozen_progress(n: int) -> None:
        # A long pass (minutes on a CPU for ~10k texts): tell the page how far, about once a second.
        progress["done"] += n
        reporter.throttled(
            "frozen layers",
            lambda: events.progress(stage="frozen layers", done=progress["done"], total=total),
            force=progress["done"] >= total,
        )

    reporter.throttled("frozen layers", lambda: events.progress(stage="frozen layers", done=0, total=total), force=True)
    for tag, ids in (("t", loop.train_ids), ("v", loop.val_ids)):
        loop.prefix.fill(
            [(tag, i) for i in range(len(ids))],
            ids,
            loop.pad_id,
            loop.device,
            loop.amp,
            config.batch_size,
            reporter.should_stop,
            on_batch=frozen_progress,
        )


# --- evaluation -----------------------------------------------------------------------
def _evaluate(loop: _Loop, config, step, epoch):
    """One pass over the validation rows: (evaluation event, probabilities)."""
    import torch

    from textclf_core.engine.encoders import sorted_batches
    from textclf_core.engine.losses import probabilities
    from textclf_core.strategies import advice as strategies

    model, world = loop.model, loop.world
    model.eval()
    logits = np.zeros((len(loop.val_ids), loop.label_space.num_classes), dtype=np.float32)
    ctx = loop.prefix.active() if loop.prefix is not None else contextlib.nullcontext()
    val_batches = sorted_batches([len(s) for s in loop.val_ids], max(config.batch_size, 64))
    # Launched: each process scores every world-th batch with the plain (unwrapped) model, so DDP's
    # per-forward collectives never see uneven call counts; the rows are gathered below.
    scorer = model if world == 1 else loop.accelerator.unwrap_model(model)
    with ctx:
        for batch in val_batches[loop.rank :: world]:
            inputs = _batch_inputs(loop, loop.val_ids, batch, [("v", int(i)) for i in batch])
            with torch.inference_mode(), engine.autocast(loop.dev_type, loop.amp):
                logits[batch] = scorer(**inputs).logits.float().cpu().numpy()
    if world > 1:
        from textclf_core.engine.parallel import gather_rows

        logits = gather_rows(loop.accelerator, logits, val_batches)
    strategies.set_train_mode(model)
    proba = probabilities(logits, loop.multi)
    return engine.evaluation_event(proba, loop.y_val, loop.label_space, step=step, epoch=epoch), proba


# --- the epoch loop -------------------------------------------------------------------
def _train_batch(loop: _Loop, config, rows, sync: bool):
    """Forward and backward on one batch; an optimiser step when ``sync`` (the last of ``grad_accum``).
    Returns the loss (scaled down by ``grad_accum``)."""
    import torch

    from textclf_core.engine.losses import compute_loss

    inputs = _batch_inputs(loop, loop.train_ids, rows, [("t", int(i)) for i in rows])
    targets = torch.as_tensor(loop.y_train[rows]).to(loop.device)
    sync_ctx = contextlib.nullcontext() if sync or loop.world == 1 else loop.accelerator.no_sync(loop.model)
    scaler, optimizer = loop.scaler, loop.optimizer
    with sync_ctx:
        with engine.autocast(loop.dev_type, loop.amp):
            logits = loop.model(**inputs).logits
        loss = compute_loss(loop.loss_fn, logits, targets) / config.grad_accum
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loop.accelerator.backward(loss)
    if sync:
        if scaler is not None:
            scaler.unscale_(optimizer)
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for _, p in loop.trainable], config.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        loop.scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return loss


def _train_epochs(loop: _Loop, config) -> _Loop:
    """The epochs: train, report steps about once a second, evaluate at ``eval_points``, keep the best
    trained parameters; stops early (patience) or on cancel. Returns the outcome (history, best_*, ...)."""
    from textclf_core.strategies import advice as strategies

    reporter = loop.reporter
    rng = np.random.default_rng(config.seed)
    out = _Loop(
        history=[],
        best_epoch=None,
        best_state=None,
        best_proba=None,
        cancelled=False,
        stopping=engine.EarlyStopping(config.metric_for_best, config.early_stopping_patience),
    )
    step = examples_seen = 0
    stop_early = False
    loop_start = time.perf_counter()
    strategies.set_train_mode(loop.model)
    ctx = loop.prefix.active() if loop.prefix is not None else contextlib.nullcontext()
    with ctx:
        for epoch in range(config.epochs):
            batches = engine.length_grouped_batches(loop.train_len, config.batch_size, rng)
            if loop.world > 1:  # equal batch counts per process so collective ops line up
                batches = (batches * loop.world)[: loop.batches_per_process * loop.world][loop.rank :: loop.world]
            loop.optimizer.zero_grad(set_to_none=True)
            for bi, rows in enumerate(batches):
                if reporter.should_stop():
                    out.cancelled = True
                    break
                sync = (bi + 1) % config.grad_accum == 0 or bi + 1 == len(batches)
                loss = _train_batch(loop, config, rows, sync)
                step += int(sync)
                examples_seen += len(rows) * loop.world

                def step_event():
                    elapsed = time.perf_counter() - loop_start
                    done_fraction = (epoch * len(batches) + bi + 1) / (config.epochs * len(batches))
                    return events.step(
                        step=step,
                        total_steps=loop.total_updates,
                        epoch=epoch + (bi + 1) / len(batches),
                        loss=float(loss.detach()) * config.grad_accum,
                        lr=float(loop.scheduler.get_last_lr()[0]),
                        examples_per_s=examples_seen / max(elapsed, 1e-9),
                        elapsed_s=elapsed,
                        eta_s=elapsed * (1 - done_fraction) / max(done_fraction, 1e-9),
                    )

                reporter.throttled("step", step_event, force=step == 1 or bi + 1 == len(batches))
                if bi + 1 in loop.eval_points:
                    event, proba = _evaluate(loop, config, step, epoch + (bi + 1) / len(batches))
                    out.history.append(event)
                    reporter.emit(event)
                    if out.stopping.update(event[config.metric_for_best]):
                        out.best_epoch, out.best_proba = event["epoch"], proba
                        # Keyed by the parameter itself, not its name: while the frozen-layer cache is active
                        # the layer stack is renumbered. Only trained parameters change, so only they are copied.
                        out.best_state = [(p, p.detach().to("cpu", copy=True)) for _, p in loop.trainable]
                    elif out.stopping.stop:
                        stop_early = True
                        break
            if out.cancelled or stop_early:
                break
    return out


# --- the best checkpoint, saved -------------------------------------------------------
def _save_best(loop: _Loop, out: _Loop, config, run, train_seconds: float) -> FitResult:
    """Put the best parameters back, save the model (main process), free the device; the FitResult."""
    import torch

    from textclf_core.engine import attention as train_attention
    from textclf_core.engine.losses import tune_thresholds

    unwrapped = loop.accelerator.unwrap_model(loop.model)
    with torch.no_grad():
        for param, saved in out.best_state:
            param.copy_(saved.to(param.device))
    thresholds = tune_thresholds(out.best_proba, loop.y_val) if loop.multi else None
    model_dir = saved_model = None
    train_attention.uninstall(unwrapped)
    train_attention.uninstall_fast_dropout(unwrapped)
    if loop.main:
        with engine.output_folder(run) as folder:
            saved_model = _save_transformer(
                unwrapped, loop.tokenizer, folder, config, loop.label_space, thresholds, loop.amp
            )
            staged = folder
        model_dir = engine.model_dir(run, staged)
    loop.accelerator.wait_for_everyone()
    del unwrapped
    loop.model = loop.optimizer = out.best_state = None
    if loop.prefix is not None:
        loop.prefix.store.clear()
    _release()
    if out.cancelled:
        raise CancelledError("Training was cancelled; the best model so far was saved")
    from textclf_core.models.predictors import TransformerPredictor

    # The trained weights are already in memory (identical to the saved files): no second from_pretrained.
    predictor = (
        TransformerPredictor(
            model_dir, device=config.device, precision=config.precision, model=saved_model, tokenizer=loop.tokenizer
        )
        if loop.main
        else None
    )
    best_proba = out.best_proba
    return FitResult(
        predictor,
        out.stopping.best,
        out.best_epoch,
        out.history,
        train_seconds,
        model_dir,
        thresholds,
        loop.params,
        val_proba=best_proba if bool(np.all(loop.keep_val)) and best_proba is not None else None,
    )


def _save_transformer(model, tokenizer, folder: Path, config, label_space, thresholds, amp):
    """A save_pretrained folder (safetensors) + tokenizer + textclf.json; LoRA is merged first
    (the adapter alone is kept in adapter/ for people who want it). Returns the model as saved."""
    if hasattr(model, "merge_and_unload"):
        try:
            from textclf_core.store.catalog import quiet_transformers

            with quiet_transformers():
                model.save_pretrained(folder / "adapter")
        except Exception:  # noqa: BLE001 - the merged model is what matters
            pass
        model = model.merge_and_unload()
    for attr in ("textclf_new_keys", "textclf_frozen_layers"):
        if hasattr(model, attr):
            delattr(model, attr)
    from textclf_core.store.catalog import quiet_transformers

    with quiet_transformers():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    model_folder.write_info(
        folder,
        {
            "kind": "transformer",
            "label_space": label_space.to_dict(),
            "max_length": config.max_length,
            "strategy": config.strategy,
            "config": config.to_dict(),
            "thresholds": thresholds,
            "base_model": config.model,
            "windows": config.windows,
            "precision": "bf16" if amp is not None and "bfloat16" in str(amp) else "fp32",
        },
    )
    return model
