"""One documented dataclass for everything a run needs.

The same :class:`RunConfig` drives the Strategy page, ``textclf train`` and a
multi-process ``accelerate launch``: it is saved as ``config.json`` in every run
folder so a run can be repeated exactly (``textclf train --config run.json``).
Validation lives in ``__post_init__`` so a bad value fails at once with a message a
person can act on, whichever door it came through.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import TextclfError
from .strategy_registry import ALIASES, REGISTRY, STRATEGY_NAMES, canonical, get_strategy

BASELINE_MODELS = ("logreg", "nb", "svm")
POOLINGS = ("mean", "cls")
HEADS = ("logreg", "linear", "mlp")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("linear", "cosine", "constant")
LOSSES = ("ce", "weighted", "focal", "bce")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
METRICS_FOR_BEST = ("macro_f1", "accuracy", "val_loss")
LABEL_SOURCES = ("column", "consensus")  # RunConfig.label_source
AUGMENTATIONS = ("off", "eda", "mlm")  # eda: word deletion + swap; mlm: the model's masked-LM paraphrases

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # catalog key of the bundled, offline model

# Strategy names and their aliases are owned by the strategy registry; these names stay for callers.
STRATEGIES = STRATEGY_NAMES
STRATEGY_ALIASES = ALIASES


@dataclass
class RunConfig:
    """Every setting of one training run. Field comments are the documentation."""

    # --- data -----------------------------------------------------------------
    data_path: str | None = None  # file the rows came from (informational when data is passed in memory)
    text_col: str | None = None  # None: guessed from the data
    label_col: str | None = None  # None: guessed from the data
    split_col: str | None = None  # optional column with train/validation/test per row
    multi_label: bool | None = None  # None: detected (labels joined by ';' or '|')
    label_sep: str | None = None  # separator of multi-label cells; None: detected
    val_size: float = 0.1  # share of labelled rows for validation
    test_size: float = 0.1  # share of labelled rows for the final test
    seed: int = 42  # one seed for split, initialisation, shuffling
    sample_rows: int | None = None  # train on a stratified sample of this many labelled rows (drawn before the split)
    # which labels a run learns from: "column" (the label column, review edits applied: the latest label
    # of each text) or "consensus" (a project's annotators' consensus per text, a reviewer's decision
    # winning; texts nobody annotated keep the column's label; labelling/team.py)
    label_source: str = "column"

    # --- model and strategy ---------------------------------------------------
    strategy: str = "full"  # a strategy_registry name: baseline | feature-extraction | partial | full | lora | fewshot
    model: str = DEFAULT_MODEL  # catalog key, hub id or local folder
    max_length: int = 128  # tokens per text; longer texts are truncated (unless windows > 1)
    windows: int = 1  # texts longer than max_length: read as up to this many overlapping windows, pooled (1 = cut)
    budget_s: float | None = None  # auto: time budget of the whole run in seconds; None: the hardware's default

    baseline_model: str = "logreg"  # baseline only: logreg | nb | svm
    pooling: str = "mean"  # feature-extraction: mean | cls (first token)
    head: str = "logreg"  # feature-extraction head: logreg | linear | mlp
    head_c: float = 1.0  # feature-extraction logreg head: inverse regularisation strength
    layers: int = 2  # partial: number of top encoder layers trained (1 = last layer only)
    lora_r: int = 8  # lora: rank
    lora_alpha: int = 16  # lora: scaling
    lora_dropout: float = 0.1  # lora: dropout on the adapter input
    lora_targets: list[str] | None = None  # lora: module names; None: per model family
    fewshot_max_pairs: int = 1000  # fewshot: contrastive pairs in all (20 per text, at most this many)

    # --- optimisation ---------------------------------------------------------
    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-5  # encoder learning rate
    head_lr: float | None = None  # classification head learning rate; None: 10 x lr (min 1e-3 for frozen encoders)
    layer_decay: float = 1.0  # layer-wise lr decay down the stack (e.g. 0.95); 1.0 = off
    weight_decay: float = 0.01  # not applied to bias and LayerNorm weights
    optimizer: str = "adamw"  # adamw | adam | sgd (momentum 0.9)
    scheduler: str = "linear"  # linear | cosine | constant, after warmup
    warmup_ratio: float = 0.1  # share of steps with linear warmup
    grad_clip: float | None = 1.0  # max gradient norm; None = no clipping
    grad_accum: int = 1  # gradient accumulation steps
    dropout: float | None = None  # override the model's dropout; None = keep
    loss: str = "ce"  # ce | weighted | focal | bce (multi-label)
    class_weights: bool = False  # weight classes by inverse frequency (same as loss="weighted")
    focal_gamma: float = 2.0  # focal loss focusing parameter
    early_stopping_patience: int | None = 2  # evaluations without improvement; None = off
    metric_for_best: str = "macro_f1"  # macro_f1 | accuracy | val_loss
    evals_per_epoch: int = 1  # validation passes per epoch (live curves)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    device: str = "auto"  # auto | cpu | cuda | mps
    num_threads: int | None = None  # CPU threads; None: all cores but one

    # --- augmentation (training rows of scarce classes only; measured not to help: off) ----
    augment: str = "off"  # off | eda | mlm
    augment_copies: int = 2  # augmented variants per training text of a scarce class
    augment_max_per_class: int = 64  # classes with fewer training rows than this are augmented

    # --- bookkeeping ----------------------------------------------------------
    name: str | None = None  # a label shown in the app; None: derived
    track: str | None = None  # "mlflow": log the run to MLflow; None: only when MLFLOW_TRACKING_URI is set; "off"
    extra: dict[str, Any] = field(default_factory=dict)  # forward-compatible settings

    def __post_init__(self) -> None:
        self.strategy = canonical(self.strategy)
        if self.loss == "weighted":
            self.class_weights = True
        self._check_choice("strategy", tuple(REGISTRY))  # read each time: a registered strategy is valid at once
        self._check_choice("baseline_model", BASELINE_MODELS)
        self._check_choice("pooling", POOLINGS)
        self._check_choice("head", HEADS)
        self._check_choice("optimizer", OPTIMIZERS)
        self._check_choice("scheduler", SCHEDULERS)
        self._check_choice("loss", LOSSES)
        self._check_choice("precision", PRECISIONS)
        self._check_choice("metric_for_best", METRICS_FOR_BEST)
        self._check_choice("device", ("auto", "cpu", "cuda", "mps"))
        self._check_choice("label_source", LABEL_SOURCES)
        self.augment = str(self.augment).lower()
        self._check_choice("augment", AUGMENTATIONS)
        for name, low in (("epochs", 1), ("batch_size", 1), ("max_length", 8), ("layers", 1),
                          ("grad_accum", 1), ("lora_r", 1), ("lora_alpha", 1), ("evals_per_epoch", 1),
                          ("augment_copies", 1), ("augment_max_per_class", 1), ("fewshot_max_pairs", 2),
                          ("windows", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise TextclfError(f"Setting '{name}' must be a whole number of at least {low}, got {value!r}")
        if self.max_length > 8192:
            raise TextclfError(f"Setting 'max_length' is {self.max_length}, more than any supported model reads",
                               hint="Use 512 or less")
        for name in ("lr", "weight_decay", "focal_gamma", "head_c"):
            if getattr(self, name) < 0:
                raise TextclfError(f"Setting '{name}' cannot be negative")
        if not self.lr > 0:
            raise TextclfError("Setting 'lr' (learning rate) must be above 0", hint="Try 5e-5 for fine-tuning")
        if self.head_lr is not None and not self.head_lr > 0:
            raise TextclfError("Setting 'head_lr' must be above 0 or left empty")
        if not 0 < self.layer_decay <= 1:
            raise TextclfError("Setting 'layer_decay' must be in (0, 1]", hint="1.0 turns it off; 0.95 is common")
        if not 0 <= self.warmup_ratio < 1:
            raise TextclfError("Setting 'warmup_ratio' must be between 0 and 1")
        for name in ("dropout", "lora_dropout"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise TextclfError(f"Setting '{name}' must be between 0 and 1")
        if not (0 <= self.val_size < 1 and 0 <= self.test_size < 1 and self.val_size + self.test_size < 0.9):
            raise TextclfError(
                f"Validation and test shares ({self.val_size:g} + {self.test_size:g}) leave too little for training",
                hint="Keep them together under 0.9, e.g. 0.1 and 0.1")
        if self.budget_s is not None and not (isinstance(self.budget_s, (int, float)) and self.budget_s > 0):
            raise TextclfError(f"Setting 'budget_s' must be a number of seconds above 0, got {self.budget_s!r}",
                               hint="For example 600 for ten minutes; empty for the default")
        if self.sample_rows is not None and (not isinstance(self.sample_rows, int) or isinstance(self.sample_rows, bool)
                                             or self.sample_rows < 10):
            raise TextclfError(f"Setting 'sample_rows' must be a whole number of at least 10, got {self.sample_rows!r}",
                               hint="For example 20000, or leave it empty to train on every row")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise TextclfError("Setting 'early_stopping_patience' must be at least 1, or empty to turn it off")

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, name)
        if value not in choices:
            raise TextclfError(f"Setting '{name}' is {value!r}, which is not one of: {', '.join(choices)}")

    # --- derived --------------------------------------------------------------
    @property
    def uses_transformer(self) -> bool:
        return get_strategy(self.strategy).uses_model

    def effective_head_lr(self) -> float:
        if self.head_lr is not None:
            return self.head_lr
        if get_strategy(self.strategy).frozen_encoder:
            return max(1e-3, 10 * self.lr)
        return 10 * self.lr

    def display_name(self) -> str:
        if self.name:
            return self.name
        if not get_strategy(self.strategy).uses_model:
            return f"TF-IDF + {self.baseline_model}"
        if self.strategy == "auto":
            return "Auto" + (f" · {self.budget_s / 60:g} min" if self.budget_s else "")
        from pathlib import PurePath

        model = PurePath(self.model).name or self.model
        extra = f" top {self.layers}" if get_strategy(self.strategy).trains == "top_layers" else ""
        return f"{model} · {self.strategy}{extra}"

    # --- serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        kwargs = {k: v for k, v in data.items() if k in known}
        if unknown:  # keep settings written by a newer version instead of failing
            kwargs.setdefault("extra", {}).update({k: data[k] for k in unknown})
        try:
            return cls(**kwargs)
        except TypeError as exc:  # wrong type that dataclasses itself rejects
            raise TextclfError(f"The run settings could not be read ({exc})") from None

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> "RunConfig":
        text = str(path_or_text)
        if not text.lstrip().startswith("{"):
            path = Path(path_or_text)
            if not path.is_file():
                raise TextclfError(f"Run settings file {path} does not exist")
            text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TextclfError(f"Run settings are not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(data, dict):
            raise TextclfError("Run settings must be a JSON object of setting names and values")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)
