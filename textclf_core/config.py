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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textclf_core.errors import TextclfError
from textclf_core.strategy_registry import ALIASES, REGISTRY, STRATEGY_NAMES, canonical, get_strategy

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
NO_LIMIT = "none"  # budget_s: auto runs every candidate, however long it takes
NO_LIMIT_WORDS = ("none", "no limit", "nolimit", "unlimited", "off", "inf")
BASELINE_PATHS = ("auto", "in-memory", "large")
BASELINE_FEATURES = ("auto", "words", "segmented")

# Developer switches: environment variables read at the point of use, never part of a run's settings
# (they change speed, not results, beyond float noise). Set to 1 to turn one on.
DEVELOPER_SWITCHES = {
    "NO_TRAIN_ATTENTION": "CPU training keeps the model's own attention instead of textclf's plain-softmax one",
    "TORCH_DROPOUT": "CPU training keeps torch's dropout instead of textclf's numpy-drawn masks",
    "NO_PREFIX_CACHE": "partial fine-tuning recomputes the frozen layers every epoch instead of caching them",
}


def developer_switch(name: str) -> bool:
    """Whether ``TEXTCLF_<name>`` is set to a true value (see DEVELOPER_SWITCHES)."""
    if name not in DEVELOPER_SWITCHES:
        raise KeyError(f"unknown developer switch {name!r}")
    return os.environ.get(f"TEXTCLF_{name}", "").strip().lower() not in ("", "0", "false", "no", "off")


# Settings that older versions kept in ``extra``: read into their typed fields (config.json files and
# callers written before the fields existed keep working). Value: the field, and how the old value maps.
LEGACY_EXTRA = {
    "no_budget": ("budget_s", lambda v: NO_LIMIT if v else None),
    "auto_members": ("auto_members", list),
    "members_dir": ("auto_members_dir", str),
    "keep_members": ("auto_keep_members", bool),
    "no_extra_rounds": ("auto_extra_rounds", lambda v: not v),
    "baseline_path": ("baseline_path", str),
    "baseline_c": ("baseline_c", float),
    "baseline_epochs": ("baseline_epochs", int),
    "baseline_features": ("baseline_features", str),
}

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

    # --- auto -----------------------------------------------------------------
    budget_s: float | str | None = None  # seconds for the whole run; None: the hardware's default; "none": no limit
    auto_members: list[str] | None = None  # try only these candidates (leaderboard keys, e.g. "tfidf-logreg")
    auto_members_dir: str | None = None  # where member folders are built; None: a temporary folder beside the run
    auto_keep_members: bool = False  # keep every finished member's folder (bench/auto.py scores each one)
    auto_extra_rounds: bool = True  # time left after the plan: more epochs, larger samples, bagged folds

    # --- baseline (TF-IDF + a linear model) -----------------------------------
    baseline_model: str = "logreg"  # logreg | nb | svm
    baseline_c: float | None = None  # a fixed C (or naive Bayes alpha); None: chosen on the validation rows
    baseline_path: str = (
        "auto"  # auto (in memory below 100k rows) | in-memory | large (hashed, chunked, bounded memory)
    )
    baseline_epochs: int | None = None  # large path: passes over the data; None: by the number of rows
    # auto: from the data's language (segmented words + characters for scripts without spaces, e.g. Chinese);
    # words: word 1-2 grams + char_wb 2-5 grams; segmented: segmented word 1-2 grams + character 1-3 grams
    baseline_features: str = "auto"

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
    extra: dict[str, Any] = field(default_factory=dict)  # unknown settings (a newer version's), carried forward only

    def __post_init__(self) -> None:
        self._read_legacy_extra()
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
        for name, low in (
            ("epochs", 1),
            ("batch_size", 1),
            ("max_length", 8),
            ("layers", 1),
            ("grad_accum", 1),
            ("lora_r", 1),
            ("lora_alpha", 1),
            ("evals_per_epoch", 1),
            ("augment_copies", 1),
            ("augment_max_per_class", 1),
            ("fewshot_max_pairs", 2),
            ("windows", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise TextclfError(f"Setting '{name}' must be a whole number of at least {low}, got {value!r}")
        if self.max_length > 8192:
            raise TextclfError(
                f"Setting 'max_length' is {self.max_length}, more than any supported model reads",
                hint="Use 512 or less",
            )
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
                hint="Keep them together under 0.9, e.g. 0.1 and 0.1",
            )
        if isinstance(self.budget_s, str) and self.budget_s.strip().lower() in NO_LIMIT_WORDS:
            self.budget_s = NO_LIMIT
        elif self.budget_s is not None and not (
            isinstance(self.budget_s, (int, float)) and not isinstance(self.budget_s, bool) and self.budget_s > 0
        ):
            raise TextclfError(
                f"Setting 'budget_s' must be a number of seconds above 0, got {self.budget_s!r}",
                hint='For example 600 for ten minutes, "none" for no limit, or empty for the default',
            )
        if self.auto_members is not None:
            if isinstance(self.auto_members, str) or not all(isinstance(m, str) for m in self.auto_members):
                raise TextclfError(
                    "Setting 'auto_members' must be a list of candidate names",
                    hint='For example ["tfidf-logreg", "embeddings-all-minilm-l6-v2"]',
                )
            self.auto_members = list(self.auto_members)
        self._check_choice("baseline_path", BASELINE_PATHS)
        self._check_choice("baseline_features", BASELINE_FEATURES)
        if self.baseline_c is not None and not self.baseline_c > 0:
            raise TextclfError(
                f"Setting 'baseline_c' must be above 0, got {self.baseline_c!r}",
                hint="Leave it empty to choose it on the validation rows",
            )
        if self.baseline_epochs is not None and (
            not isinstance(self.baseline_epochs, int)
            or isinstance(self.baseline_epochs, bool)
            or self.baseline_epochs < 1
        ):
            raise TextclfError(
                f"Setting 'baseline_epochs' must be a whole number of at least 1, got {self.baseline_epochs!r}"
            )
        if self.sample_rows is not None and (
            not isinstance(self.sample_rows, int) or isinstance(self.sample_rows, bool) or self.sample_rows < 10
        ):
            raise TextclfError(
                f"Setting 'sample_rows' must be a whole number of at least 10, got {self.sample_rows!r}",
                hint="For example 20000, or leave it empty to train on every row",
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise TextclfError("Setting 'early_stopping_patience' must be at least 1, or empty to turn it off")

    def _read_legacy_extra(self) -> None:
        """Move settings that older versions kept in ``extra`` into their fields (see LEGACY_EXTRA)."""
        if not isinstance(self.extra, dict):
            raise TextclfError("Setting 'extra' must be an object of setting names and values")
        for key in [k for k in self.extra if k in LEGACY_EXTRA]:
            name, convert = LEGACY_EXTRA[key]
            value = self.extra.pop(key)
            if value is not None and getattr(self, name) == getattr(type(self), name, None):
                setattr(self, name, convert(value))

    # --- derived --------------------------------------------------------------
    @property
    def no_budget_limit(self) -> bool:
        """auto runs every candidate, however long it takes (``budget_s="none"``)."""
        return self.budget_s == NO_LIMIT

    def budget_seconds(self, default: float | None) -> float | None:
        """The time budget in seconds: None when there is no limit, ``default`` when none was given."""
        if self.budget_s == NO_LIMIT:
            return None
        return float(self.budget_s) if self.budget_s is not None else default

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, name)
        if value not in choices:
            raise TextclfError(f"Setting '{name}' is {value!r}, which is not one of: {', '.join(choices)}")

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
            if self.no_budget_limit:
                return "Auto · no time limit"
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
