"""Every training strategy, described once: the one place that says what a strategy is.

The runner dispatches through :func:`get_strategy(name).load_fit() <Strategy.load_fit>`; the CLI,
``strategies.recommend``/``estimate``, the launcher and the pages read the flags here instead of
comparing strategy names. The fit function is named by a lazy ``"module:function"`` path, so this
module imports no torch and nothing of ours: the advice code and the pages can read it at no cost.

Adding a strategy is one :class:`Strategy` entry in :data:`REGISTRY` (``auto`` will be one), plus its
fit function: ``fit(config, train_df, val_df, label_space, *, run, emit, should_stop) -> FitResult``
that saves the model through ``run.stage_model()``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Strategy:
    name: str  # the value of RunConfig.strategy
    title: str  # for people (Strategy page, CLI)
    description: str  # one plain-language sentence
    fit: str  # "module:function" of its fit function, imported only when a run uses it
    model_kind: str  # the model folder it writes: "baseline" | "features" | "transformer"
    needs_torch: bool  # trains with torch (the transformer engine is installed and loaded)
    supports_distributed: bool  # shares its work between processes under `accelerate launch`
    uses_model: bool = True  # reads RunConfig.model (a pretrained transformer); False: TF-IDF
    multi_label: bool = True  # can train on several labels per text
    frozen_encoder: bool = False  # the encoder is not trained (head learning rate at least 1e-3)
    # What trains, for the cost estimate: "none" (no transformer), "head" (frozen encoder, embeddings
    # once), "top_layers", "adapters", "all", "pairs" (the whole encoder on contrastive pairs).
    trains: str = "all"
    defaults: dict = field(default_factory=dict)  # RunConfig settings when picked by name
    aliases: tuple[str, ...] = ()  # other names accepted for it (CLI, settings files)
    # Plans its own time (RunConfig.budget_s): its fit is also told how many test rows the runner will
    # score afterwards (``n_test=``), so the whole run ends inside the budget.
    budgeted: bool = False

    def load_fit(self) -> Callable:
        module, _, function = self.fit.partition(":")
        return getattr(importlib.import_module(module), function)


# Full fine-tuning of the default model on the movie reviews (10,202 training rows) had its best
# validation score after epoch 1 of 3 (0.856 accuracy; test 0.829). With 2 epochs: test accuracy 0.835
# in 449 CPU-seconds on one thread (load, 2 evaluations and the test included), so under 8 minutes
# even on a single core. Few-shot (SetFit-style, fewshot.py) as measured in bench/fewshot.py: 1 epoch
# over at most 1000 pairs, batch 16, lr 2e-5, 64 tokens.
REGISTRY: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "baseline",
            "Baseline (TF-IDF)",
            "TF-IDF word features with a linear classifier (seconds; the bar to beat).",
            "textclf_core.strategies.baseline:fit_baseline",
            "baseline",
            needs_torch=False,
            supports_distributed=False,
            uses_model=False,
            trains="none",
            aliases=("tfidf",),
        ),
        Strategy(
            "feature-extraction",
            "Feature extraction",
            "Keep the pretrained model as it is; train a small classifier on its sentence embeddings (fastest; "
            "best with little data).",
            "textclf_core.strategies.transformer:fit",
            "features",
            needs_torch=True,
            supports_distributed=True,
            frozen_encoder=True,
            trains="head",
            aliases=("fe", "feature_extraction", "features", "frozen"),
        ),
        Strategy(
            "partial",
            "Partial fine-tuning",
            "Train only the top layers and the classifier; lower layers stay as pretrained (fast on CPU).",
            "textclf_core.strategies.transformer:fit",
            "transformer",
            needs_torch=True,
            supports_distributed=True,
            trains="top_layers",
        ),
        Strategy(
            "full",
            "Full fine-tuning",
            "Train every weight of the model (most accurate with enough data; slowest).",
            "textclf_core.strategies.transformer:fit",
            "transformer",
            needs_torch=True,
            supports_distributed=True,
            trains="all",
            defaults={"epochs": 2},
        ),
        Strategy(
            "lora",
            "LoRA adapters",
            "Train small low-rank adapters plus the classifier (few trainable weights, small checkpoints).",
            "textclf_core.strategies.transformer:fit",
            "transformer",
            needs_torch=True,
            supports_distributed=True,
            trains="adapters",
            aliases=("peft",),
        ),
        Strategy(
            "fewshot",
            "Few-shot",
            "Few-shot (SetFit-style): tune the sentence encoder on pairs of your labelled examples, then train a "
            "classifier on its embeddings (for classes with only a handful of examples).",
            "textclf_core.strategies.fewshot:fit",
            "features",
            needs_torch=True,
            supports_distributed=False,
            multi_label=False,
            trains="pairs",
            defaults={"epochs": 1, "batch_size": 16, "lr": 2e-5, "max_length": 64, "fewshot_max_pairs": 1000},
            aliases=("few-shot", "setfit"),
        ),
        Strategy(
            "auto",
            "Auto (recommended)",
            "Train several candidates, cheapest first, within a time budget, and keep the best one or a "
            "weighted mix of them, chosen on the validation rows.",
            "textclf_core.strategies.auto:fit",
            "ensemble",
            needs_torch=True,
            supports_distributed=False,
            trains="auto",
            budgeted=True,
            aliases=("automl",),
        ),
    )
}
STRATEGY_NAMES: tuple[str, ...] = tuple(REGISTRY)
ALIASES: dict[str, str] = {alias: s.name for s in REGISTRY.values() for alias in s.aliases}


def canonical(name: str) -> str:
    """The registered name for ``name`` or one of its aliases (case-insensitive); unknown names unchanged."""
    low = str(name).lower()
    return ALIASES.get(low, low)


def get_strategy(name: str) -> Strategy:
    """The :class:`Strategy` called ``name`` (aliases accepted); ``KeyError`` naming the known ones otherwise."""
    key = canonical(name)
    if key not in REGISTRY:
        raise KeyError(f"unknown strategy {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[key]


def strategies(*, multi_label: bool | None = None) -> list[Strategy]:
    """Registered strategies in order; with ``multi_label=True`` only those that train multi-label data."""
    return [s for s in REGISTRY.values() if not (multi_label and not s.multi_label)]
