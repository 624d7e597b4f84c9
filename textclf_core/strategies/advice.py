"""What each fine-tuning strategy trains, and what it will cost.

- feature-extraction: the encoder is frozen; pooled embeddings are computed once
  (cached by :mod:`features`) and a small head trains on them (see training.py).
- partial: only the top N encoder layers, whatever sits above them (pooler, final
  norm) and the classification head train; embeddings and lower layers are frozen
  and put in eval mode (no dropout), which lets training reuse their outputs.
- full: every parameter trains.
- lora: low-rank adapters on the attention projections (explicit per family) plus
  every newly initialised head module, trained and saved in full (``modules_to_save``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from textclf_core.config import RunConfig
from textclf_core.engine.layers import LAYER_STACKS, base_model, family, find_layer_stack, submodule  # noqa: F401
from textclf_core.errors import TextclfError
from textclf_core.strategy_registry import REGISTRY, canonical, get_strategy

# The budget's default and the wording of durations belong to sizing (the cost of a strategy); kept importable here.
from .sizing import default_budget, format_seconds  # noqa: F401

if TYPE_CHECKING:  # annotations only: the advice imports no torch (see below)
    import torch

# torch is imported inside the functions that touch a model, so the advice below (estimate,
# recommend, recommend_single, describe_strategy, strategy_defaults) imports no torch: the Strategy page and the CLI's
# recommendation stay light.

# Where the stack of transformer layers lives inside the base model, per family.
# Base-model modules above the layer stack (trained with the top layers in partial mode).
ABOVE_STACK = ("pooler", "ln_f", "final_layer_norm", "norm")

# LoRA target modules per family (attention query/value projections, as in the LoRA paper).
LORA_TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "camembert": ["query", "value"],
    "electra": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "deberta": ["in_proj"],
    "deberta-v2": ["query_proj", "value_proj"],
    "gpt2": ["c_attn"],
    # XLNet's attention projections are raw Parameters, not Linear modules: adapt the feed-forward instead.
    "xlnet": ["layer_1", "layer_2"],
}

# Families whose embeddings feed the layer stack directly, so cached frozen-layer outputs can
# replace the embeddings module (training.py); verified for these model classes.
PREFIX_CACHE_FAMILIES = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "distilbert")


def head_module_names(model) -> list[str]:
    """Names (relative to the classification model) of the head modules: everything that is
    not the base model, plus base-model modules whose weights were newly initialised (a new pooler)."""
    prefix = getattr(model, "base_model_prefix", "")
    names = [name for name, child in model.named_children() if name != prefix and any(True for _ in child.parameters())]
    new_keys = getattr(model, "textclf_new_keys", None) or []
    for key in new_keys:
        if prefix and key.startswith(prefix + "."):
            parts = key.split(".")
            module_name = ".".join(parts[:2])  # e.g. bert.pooler
            if module_name not in names and submodule(model, module_name) is not None:
                names.append(module_name)
    return names


def _head_parameter_names(model) -> set[str]:
    heads = head_module_names(model)
    return {name for name, _ in model.named_parameters() if any(name == h or name.startswith(h + ".") for h in heads)}


# --- applying a strategy -----------------------------------------------------------
def apply_strategy(model, config: RunConfig):
    """Freeze or wrap ``model`` for ``config.strategy`` (what the registry says it trains); returns the model."""
    strategy = config.strategy
    trains = get_strategy(strategy).trains
    if trains == "all":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if trains == "head":
        for p in model.parameters():
            p.requires_grad_(False)
        for name, p in model.named_parameters():
            if name in _head_parameter_names(model):
                p.requires_grad_(True)
        base_model(model).eval()
        return model
    if trains == "top_layers":
        return _apply_partial(model, config.layers)
    if trains == "adapters":
        return _apply_lora(model, config)
    raise TextclfError(f"Strategy '{strategy}' does not train a transformer")


def _apply_partial(model, n_layers: int):
    from torch import nn

    _, _, stack = find_layer_stack(model)
    n = min(int(n_layers), len(stack))
    for p in model.parameters():
        p.requires_grad_(False)
    base = base_model(model)
    trainable: list[nn.Module] = list(stack[len(stack) - n :])
    trainable += [m for name in ABOVE_STACK if isinstance(m := getattr(base, name, None), nn.Module)]
    trainable += [submodule(model, name) for name in head_module_names(model)]
    for module in trainable:
        for p in module.parameters():
            p.requires_grad_(True)
    model.textclf_frozen_layers = len(stack) - n
    return model


def set_train_mode(model) -> None:
    """model.train(), but frozen parts stay in eval mode (no dropout there), so their outputs
    are deterministic and can be cached; trainable parts get dropout as usual."""
    model.train()
    for module in model.modules():
        params = list(module.parameters(recurse=True))
        if params and not any(p.requires_grad for p in params):
            module.eval()


def lora_targets(model, config: RunConfig) -> list[str]:
    from torch import nn

    if config.lora_targets:
        return list(config.lora_targets)
    fam = family(model)
    if fam in LORA_TARGETS:
        return list(LORA_TARGETS[fam])
    names = {name.rsplit(".", 1)[-1] for name, m in base_model(model).named_modules() if isinstance(m, nn.Linear)}
    for pair in (["query", "value"], ["q_proj", "v_proj"], ["q", "v"]):
        if set(pair) <= names:
            return pair
    raise TextclfError(
        f"LoRA does not know which layers to adapt in model type '{fam}'",
        hint="Name them in the LoRA target modules setting, or use partial fine-tuning",
    )


def _apply_lora(model, config: RunConfig):
    from peft import LoraConfig, TaskType, get_peft_model

    heads = head_module_names(model)
    lora_config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=lora_targets(model, config),
        modules_to_save=heads,
        fan_in_fan_out=family(model) == "gpt2",
    )
    try:
        wrapped = get_peft_model(model, lora_config)
    except ValueError as exc:
        raise TextclfError(
            f"LoRA could not be applied ({str(exc).splitlines()[0][:200]})",
            hint="Check the LoRA target modules, or use partial fine-tuning",
        ) from None
    wrapped.textclf_head_modules = heads
    return wrapped


# --- optimiser parameter groups ------------------------------------------------------
def _no_decay(name: str, param: torch.Tensor) -> bool:
    low = name.lower()
    return param.ndim <= 1 or "layernorm" in low or "layer_norm" in low or ".ln_" in low or "norm." in low


def parameter_groups(model, config: RunConfig) -> list[dict]:
    """Optimizer groups: head at ``effective_head_lr()``, encoder at ``lr`` decayed by
    ``layer_decay`` per layer down the stack (embeddings lowest); no weight decay on biases
    and normalisation weights. Only trainable parameters are included."""
    head_lr = config.effective_head_lr()
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    heads = set(getattr(model, "textclf_head_modules", None) or head_module_names(inner))
    try:
        _, _, stack = find_layer_stack(inner)
        layer_of = {id(p): i for i, layer in enumerate(stack) for p in layer.parameters()}
        n_layers = len(stack)
    except TextclfError:
        layer_of, n_layers = {}, 0
    base = base_model(inner)
    embedding_ids = {
        id(p) for name, m in base.named_children() if "emb" in name or name in ("wte", "wpe") for p in m.parameters()
    }
    groups: dict[tuple[float, float], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        clean = name.replace("base_model.model.", "")
        is_head = any(clean == h or clean.startswith(h + ".") for h in heads) or "modules_to_save" in name
        if is_head:
            lr = head_lr
        elif id(param) in layer_of:
            lr = config.lr * config.layer_decay ** (n_layers - 1 - layer_of[id(param)])
        elif id(param) in embedding_ids:
            lr = config.lr * config.layer_decay**n_layers
        else:
            lr = config.lr
        wd = 0.0 if _no_decay(clean, param) else config.weight_decay
        groups.setdefault((lr, wd), []).append(param)
    return [{"params": params, "lr": lr, "weight_decay": wd} for (lr, wd), params in groups.items()]


def count_parameters(model) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return total, trainable


# --- estimates and recommendation --------------------------------------------------
@dataclass
class Estimate:
    """Rough cost of one run, to show before training starts (order of magnitude, not a promise)."""

    params: int  # total parameters
    trainable: int  # trained parameters
    memory_gb: float  # peak memory during training
    seconds_per_epoch: float  # training time per epoch, incl. one validation pass
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _shape_from_config(model: str) -> dict:
    from textclf_core.store import catalog as models

    try:
        cfg = models.config_values(model)  # the config.json as JSON: transformers' AutoConfig imports torch
    except TextclfError:
        info = models.catalog_entry(model)
        params = (info.params_m if info else 110) * 1e6
        return {"layers": 12, "hidden": 768, "vocab": 30522, "params": params}
    hidden = cfg.get("hidden_size") or cfg.get("d_model") or cfg.get("n_embd") or 768
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or 12
    vocab = cfg.get("vocab_size") or 30522
    inner = cfg.get("intermediate_size") or cfg.get("d_inner") or 4 * hidden
    per_layer = 4 * hidden * hidden + 2 * hidden * inner
    return {
        "layers": layers,
        "hidden": hidden,
        "vocab": vocab,
        "params": layers * per_layer + vocab * hidden,
        "layer_params": per_layer,
    }


# Effective sustained throughput in FLOP/s for transformer training steps (measured order of
# magnitude: ~25 GFLOP/s per core fp32 on a recent x86 core with oneDNN, 1.5x with native bf16;
# an A100-class GPU sustains ~60 TFLOP/s with bf16 on small batches).
def _flops_per_second(hardware) -> float:
    if hardware is None or hardware.device == "cpu":
        cores = max(1, (hardware.cpu_cores - 1) if hardware else 1)
        return cores * 25e9 * (1.5 if hardware is not None and hardware.bf16 else 1.0)
    if hardware.device == "mps":
        return 5e12
    return 60e12 if hardware.bf16 else 25e12


def estimate(
    config: RunConfig, n_train: int, hardware=None, avg_tokens: float = 48.0, *, n_val: int | None = None
) -> Estimate:
    """Parameters, trainable parameters, peak memory and seconds per epoch for ``config``.

    Compute: a forward pass costs ~2 x (non-embedding parameters) FLOPs per token, backward twice
    that for the trained part (frozen lower layers do no backward work; feature extraction does one
    forward pass in all, nothing once cached). Memory: weights (4 bytes/param) + gradients and two
    Adam moments for trained parameters + activations (~24 x hidden x layers bytes per token).
    """
    if isinstance(hardware, (int, float)):  # estimate(config, n, avg_tokens, hardware) also accepted
        hardware, avg_tokens = avg_tokens if not isinstance(avg_tokens, (int, float)) else None, float(hardware)
    shape = _shape_from_config(config.model)
    params = int(shape["params"])
    layers, hidden = shape["layers"], shape["hidden"]
    # A static table (minilm-static) is all embedding and no encoder: nothing to run per token (never < 0).
    encoder_params = max(0, params - shape["vocab"] * hidden)
    tokens = max(1.0, float(min(avg_tokens, config.max_length)))
    n_val = int(n_train * 0.12) if n_val is None else n_val
    trains = get_strategy(config.strategy).trains
    if trains == "all":
        trainable, trained_fraction = params, 1.0
    elif trains == "top_layers":
        trained_fraction = min(config.layers, layers) / layers
        trainable = int(encoder_params * trained_fraction)
    elif trains == "adapters":
        trainable = int(layers * 2 * 2 * hidden * config.lora_r)
        trained_fraction = 1.0  # backward still runs through every layer
    else:
        trainable, trained_fraction = hidden * 4, 0.0
    forward = 2 * encoder_params * tokens
    per_example = forward * (1 + 2 * trained_fraction)
    if trains == "top_layers" and config.epochs > 1:  # frozen layers' outputs reused after epoch 1
        per_example = forward * (trained_fraction * 3 + (1 - trained_fraction) / config.epochs)
    if trains == "head":
        per_example = forward / max(1, config.epochs)
    seconds = (n_train * per_example + n_val * forward) / _flops_per_second(hardware)
    if trains == "pairs":  # bounded pairs of two texts, forward and backward, then one embedding pass
        trainable, trained_fraction = params, 1.0
        pairs = min(config.fewshot_max_pairs, FEWSHOT_PAIRS_PER_TEXT * n_train) * config.epochs
        seconds = (pairs * 2 * forward * 3 + (n_train + n_val) * forward) / _flops_per_second(hardware)
    if get_strategy(config.strategy).budgeted:  # auto plans its members itself (auto.plan); it ends within its budget
        budget = config.budget_seconds(None if config.budget_s is None else seconds)
        seconds = budget if budget is not None else seconds
    optimizer_bytes = trainable * 12
    act = config.batch_size * tokens * hidden * layers * 24 * (trained_fraction if trained_fraction else 0.05)
    memory_gb = (params * 4 + optimizer_bytes + act) / 1024**3 + 0.6  # + runtime overhead
    note = (
        "rough estimate from model size, text length and hardware; the first epoch of partial and "
        "feature-extraction runs also fills a cache"
    )
    return Estimate(params, int(trainable), round(memory_gb, 2), round(seconds, 1), note)


def _counts(class_counts) -> dict:
    if class_counts is None:
        return {}
    if hasattr(class_counts, "class_counts"):
        class_counts = class_counts.class_counts
    if hasattr(class_counts, "to_dict"):
        class_counts = class_counts.to_dict()
    return {str(k): int(v) for k, v in dict(class_counts).items()}


# auto.plan's TF-IDF members (its keys; tests/test_strategies.py checks they are in the plan): what auto may
# try when the model cannot read the texts.
TFIDF_MEMBERS = ("tfidf-logreg", "tfidf-svm", "tfidf-nb")


def _unreadable_reason(unreadable, model: str) -> str | None:
    """The sentence saying ``model`` cannot read the texts, from ``unreadable`` (models.unreadable_models'
    answer: model -> sentence, or one sentence for ``model``), else None."""
    if not unreadable:
        return None
    if isinstance(unreadable, str):
        return unreadable
    return unreadable.get(model)


def recommend(
    class_counts,
    median_tokens: float | None = None,
    n_rows: int | None = None,
    hardware=None,
    *,
    model: str | None = None,
    multi_label: bool = False,
    budget_s: float | None = None,
    unreadable: dict[str, str] | str | None = None,
) -> tuple[RunConfig, str]:
    """The recommendation for every dataset, few-shot data included: auto within ``budget_s`` (the hardware's
    :func:`default_budget` unless given), and why, ending with the single strategy to pick instead
    (:func:`recommend_single`, "if you want one strategy").

    ``class_counts`` maps class → labelled rows (a DataReport with ``class_counts`` works too);
    ``median_tokens``: counted by the model's tokenizer (``models.token_lengths``), not estimated from words;
    ``unreadable``: ``models.unreadable_models(texts, [model])`` (model -> the sentence why it cannot read the
    texts): such a model is never recommended, auto tries the TF-IDF members only and says why.
    """
    from textclf_core import hardware as hw_module
    from textclf_core.config import DEFAULT_MODEL

    counts = _counts(class_counts)
    hardware = hardware or hw_module.detect()
    budget = budget_s if budget_s is not None else default_budget(hardware)  # seconds, or "none" for no limit
    cfg = RunConfig(
        strategy="auto",
        model=model or DEFAULT_MODEL,
        budget_s=budget,
        seed=42,
        multi_label=True if multi_label else None,
        loss="bce" if multi_label else "ce",
    )
    smallest = min(counts.values()) if counts else None
    fewshot = (
        " The smallest class has only {} examples, so few-shot tuning is one of the candidates.".format(smallest)
        if smallest is not None and smallest <= FEWSHOT_MAX_SMALLEST_CLASS and not multi_label
        else ""
    )
    reason = (
        f"Auto tries TF-IDF, frozen embeddings and fine-tuning, cheapest first, within "
        f"{format_seconds(budget)}. It keeps the TF-IDF baseline unless another model or a weighted mix "
        f"beats it on the validation rows by more than chance.{fewshot}"
    )
    cannot = _unreadable_reason(unreadable, cfg.model)
    if cannot:
        cfg = cfg.replace(auto_members=list(TFIDF_MEMBERS))
        reason = (
            f"Auto tries the TF-IDF models only, within {format_seconds(budget)}, and keeps the best on the "
            f"validation rows: {cannot}"
        )
    single, why = recommend_single(
        counts or class_counts,
        median_tokens,
        n_rows,
        hardware,
        model=model,
        multi_label=multi_label,
        unreadable=unreadable,
    )
    if cannot:  # the reason was just given: not twice
        why = "It reads the words of any script."
    return cfg, f"{reason} {single_advice(single, why)}"


def recommend_for_texts(
    texts,
    class_counts,
    n_rows: int | None = None,
    hardware=None,
    *,
    model: str | None = None,
    multi_label: bool = False,
    budget_s: float | None = None,
) -> tuple[RunConfig, str]:
    """:func:`recommend` from the texts themselves, for the CLI and any caller without a page's cache: the
    model's own token counts (median) and whether it reads the texts (``models.model_fit``) decide, never
    words times a constant nor a model that cannot read them."""
    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.store.catalog import model_fit

    fit = model_fit(texts, model or DEFAULT_MODEL)
    unreadable = {fit.model: fit.reason} if fit.reads is False else None
    return recommend(
        class_counts,
        fit.median_tokens,
        n_rows,
        hardware,
        model=model,
        multi_label=multi_label,
        budget_s=budget_s,
        unreadable=unreadable,
    )


def size_advice(config: RunConfig, n_rows: int | None, median_tokens: float | None = None, hardware=None, curve=None):
    """:func:`sizing.advice` for ``config`` on ``n_rows`` labelled rows (its time here, and when that is hours,
    a stratified sample and a GPU elsewhere); what the Strategy page shows under the estimate."""
    from . import sizing

    return sizing.advice(
        config.strategy,
        int(n_rows or 0),
        median_tokens,
        hardware,
        config=config,
        curve=curve,
        data_name=str(config.data_path or "your_file.csv"),
    )


def single_advice(config: RunConfig, reason: str) -> str:
    """'If you want one strategy: …' for :func:`recommend_single`'s answer (the page and the CLI say the same)."""
    epochs = (
        ""
        if get_strategy(config.strategy).trains in ("none", "head")
        else f", {config.epochs} epoch{'s' if config.epochs != 1 else ''}"
    )
    length = f" (max length {config.max_length}{epochs})" if get_strategy(config.strategy).uses_model else ""
    return f"If you want one strategy: {get_strategy(config.strategy).title}{length}. {reason}"


def recommend_single(
    class_counts,
    median_tokens: float | None = None,
    n_rows: int | None = None,
    hardware=None,
    *,
    model: str | None = None,
    multi_label: bool = False,
    unreadable: dict[str, str] | str | None = None,
) -> tuple[RunConfig, str]:
    """The one strategy to pick for the data and machine when not using auto, and one sentence saying why
    (what the Strategy page and auto's advice show as "if you want one strategy").

    ``class_counts`` maps class → labelled rows (a DataReport with ``class_counts`` works too);
    ``median_tokens`` and ``unreadable`` as in :func:`recommend`: a model that cannot read the texts gives
    the TF-IDF baseline, with the sentence why.
    """
    from textclf_core import hardware as hw_module
    from textclf_core.config import DEFAULT_MODEL

    counts = _counts(class_counts)
    hardware = hardware or hw_module.detect()
    n_rows = int(n_rows if n_rows is not None else sum(counts.values()))
    smallest = min(counts.values()) if counts else n_rows
    median_tokens = float(median_tokens or 48)
    max_length = 64 if median_tokens <= 40 else 128 if median_tokens <= 110 else 256 if median_tokens <= 230 else 512
    if not hardware.is_gpu:
        max_length = min(max_length, 256)
    imbalanced = bool(counts) and max(counts.values()) > 4 * max(1, smallest)
    common = dict(
        model=model or DEFAULT_MODEL,
        max_length=max_length,
        seed=42,
        loss="bce" if multi_label else ("weighted" if imbalanced else "ce"),
    )
    balance = " Classes are imbalanced, so rarer ones get more weight." if imbalanced and not multi_label else ""
    cannot = _unreadable_reason(unreadable, common["model"])
    if cannot:
        cfg = RunConfig(strategy="baseline", **common)
        return cfg.replace(multi_label=True) if multi_label else cfg, (
            f"{cannot} So the TF-IDF baseline is the one strategy to pick here."
        )
    if counts and smallest <= FEWSHOT_MAX_SMALLEST_CLASS and not multi_label:
        cfg = RunConfig(strategy="fewshot", **{**common, **get_strategy("fewshot").defaults})
        reason = f"Only {smallest} examples in the smallest class: {FEWSHOT_REASON}"
    elif smallest < 64 or n_rows < 300:
        cfg = RunConfig(strategy="feature-extraction", head="logreg", epochs=1, batch_size=64, **common)
        reason = (
            f"With only {smallest} examples in the smallest class, fine-tuning would overfit; a classifier on "
            "frozen sentence embeddings is the most reliable choice and trains in seconds."
        )
    elif hardware.is_gpu:
        cfg = RunConfig(strategy="full", epochs=3, batch_size=32, lr=5e-5, **common)
        reason = "A GPU is available, so fine-tuning the whole model gives the best accuracy in reasonable time."
    elif n_rows > 20000:
        cfg = RunConfig(strategy="feature-extraction", head="logreg", epochs=1, batch_size=64, **common)
        reason = (
            f"{n_rows:,} rows on a CPU would take long to fine-tune; frozen embeddings plus a classifier "
            "are fast and usually within a few points of fine-tuning."
        )
        frozen = size_advice(cfg, n_rows, median_tokens, hardware)
        if frozen.hours:  # even one embedding pass is hours here: the baseline, with the ways out said plainly
            cfg = RunConfig(strategy="baseline", **common)
            reason = f"{frozen.message} So the TF-IDF baseline is the one strategy to pick here."
    elif n_rows > 2000:
        cfg = RunConfig(strategy="partial", layers=2, epochs=3, batch_size=32, lr=1e-4, **common)
        reason = (
            f"On a CPU with {n_rows:,} rows, training only the top 2 layers reuses the frozen layers' "
            "outputs and gets most of full fine-tuning's accuracy several times faster."
        )
    else:
        cfg = RunConfig(strategy="full", epochs=4, batch_size=16, lr=5e-5, **common)
        reason = f"{n_rows:,} rows is small enough to fine-tune the whole model on this CPU in a few minutes."
    if multi_label:
        cfg = cfg.replace(multi_label=True)
    if cfg.strategy != "baseline":
        sized = size_advice(cfg, n_rows, median_tokens, hardware)
        if sized.message:  # half an hour or more here: say so, with the alternatives when it is hours
            reason = f"{reason} {sized.message}"
    return cfg, reason + balance


# Settings that differ from RunConfig's defaults when a strategy is chosen by name (``textclf train
# --strategy full``): each strategy's ``defaults`` in the registry (the measurements are quoted there).
STRATEGY_DEFAULTS: dict[str, dict] = {name: dict(s.defaults) for name, s in REGISTRY.items() if s.defaults}
FEWSHOT_PAIRS_PER_TEXT = 20  # fewshot.fit draws this many contrastive pairs per training text (then the cap)
# recommend_single() picks few-shot mode when the smallest class has at most this many labelled examples
# (single-label only). bench/fewshot.py, same draws, 10 seeds (docs/advanced.md): at 8 per class few-shot
# beat frozen embeddings by +5.0 +- 1.9 accuracy points on BBC news and +1.2 +- 1.6 on movie reviews;
# at 64 per class only about +1 point for ~100x the training time, so not recommended there.
FEWSHOT_MAX_SMALLEST_CLASS = 16
FEWSHOT_REASON = (
    "few-shot mode (the encoder is tuned on pairs of your examples, then a classifier) beat frozen "
    "embeddings by about 5 accuracy points on news topics with 8 examples per class in our "
    "measurement (less on short sentiment texts); it takes minutes rather than seconds."
)


def strategy_defaults(strategy: str) -> dict:
    """RunConfig settings to start from when ``strategy`` is picked by name without a settings file."""
    name = canonical(strategy)
    return dict(REGISTRY[name].defaults) if name in REGISTRY else {}


def switch_strategy(config, strategy: str):
    """``config`` with another strategy and that strategy's own starting settings (epochs, batch size,
    learning rate…), as when a user picks it instead of the recommended one; the rest is kept."""
    from textclf_core.config import RunConfig

    plain = RunConfig()
    return config.replace(
        **{
            "strategy": strategy,
            "epochs": plain.epochs,
            "batch_size": plain.batch_size,
            "lr": plain.lr,
            **strategy_defaults(strategy),
        }
    )


def describe_strategy(strategy: str) -> str:
    """One plain-language sentence per strategy, for the UI and CLI (the registry's description)."""
    name = canonical(strategy)
    return REGISTRY[name].description if name in REGISTRY else strategy
