"""What a strategy will cost on this data and machine, from the row count and measured speeds.

:func:`estimate` turns (strategy, rows, mean tokens, hardware) into seconds from a table of measured
speeds (:data:`SPEEDS`, each with where it was measured). :func:`advice` says plainly when that is hours
and offers the two ways out: train on a stratified sample (``RunConfig.sample_rows``: its size, its time
and the expected accuracy cost, read off a learning curve), or run elsewhere on a GPU with
``accelerate launch``. The recommendation (``strategies.recommend``) and the Strategy page use it; it
imports no torch and reads no data, so it is cheap to call on every page run.

Estimates are orders of magnitude on a machine shared with others, not promises: the speeds below were
measured on 2 CPU cores (AMD EPYC / Intel Xeon, bf16) with other work running.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

from textclf_core.strategy_registry import canonical, get_strategy

# The TF-IDF baseline's large-data path (baseline.train_large) takes over from these sizes: today's in-memory
# model costs ~0.7 ms a row and its memory grows with the vocabulary (200k short rows: 139 s, 3.5 GB; 1M: 748 s,
# 14.3 GB, MEASUREMENTS.md), so from ~100k rows (~70 s) the hashed, chunked path is the faster one.
LARGE_ROWS = 100_000  # training rows; TEXTCLF_BASELINE_LARGE_ROWS overrides (tests set it low)
LARGE_CHARS = 15_000_000  # or characters of training text (100k short reviews are ~11 M; long texts get there sooner)


def large_threshold() -> int:
    """Training rows from which the baseline takes the large-data path (``TEXTCLF_BASELINE_LARGE_ROWS``)."""
    try:
        return max(1, int(os.environ.get("TEXTCLF_BASELINE_LARGE_ROWS", LARGE_ROWS)))
    except ValueError:
        return LARGE_ROWS


def uses_large_path(n_rows: int, n_chars: int | None = None, config=None) -> bool:
    """Whether training on ``n_rows`` rows (``n_chars`` characters) takes the hashed, chunked path.
    ``config.baseline_path`` = "large" / "in-memory" forces one."""
    forced = config.baseline_path if config is not None else "auto"
    if forced in ("large", "in-memory"):
        return forced == "large"
    threshold = large_threshold()
    char_limit = LARGE_CHARS * threshold / LARGE_ROWS
    return n_rows >= threshold or (n_chars is not None and n_chars >= char_limit)


REFERENCE_CORES = 2  # the speeds below were measured with 2 cores
REFERENCE_TOKENS = 29.0  # mean tokens of the movie reviews the speeds were measured on (26 words x 1.3 + 2)


@dataclass(frozen=True)
class Speed:
    """One measured speed: ``rows_per_s`` at ``REFERENCE_TOKENS`` tokens a text on 2 CPU cores."""

    rows_per_s: float
    passes: str  # which rows the speed applies to, how many times
    source: str


# seconds = rows x passes / rows_per_s x (tokens / REFERENCE_TOKENS) [x 2 / cores for the transformer rows]
SPEEDS: dict[str, Speed] = {
    "baseline": Speed(
        200_000 / 139,
        "all labelled rows, once",
        "MEASUREMENTS.md: today's in-memory TF-IDF, 200k short rows in 139 s (one core busy)",
    ),
    "baseline-large": Speed(
        1_000_000 / 200,
        "all labelled rows, once",
        "bench/baseline_scale.py: the hashed, chunked path, 1M short rows in 202 CPU s on 2 "
        "cores (277 s wall on a machine shared with other jobs; README, 'Large files')",
    ),
    "feature-extraction": Speed(
        432,
        "every row embedded once (train, validation, test)",
        "bench/RESULTS.md case 3: 2,000 rows, cold cache, 432 texts/s",
    ),
    "partial": Speed(
        188,
        "training rows x epochs (+ validation)",
        "bench/RESULTS.md case 2: top 2 layers, 2,000 rows, 188 examples/s",
    ),
    "full": Speed(
        72,
        "training rows x epochs (+ validation)",
        "bench/RESULTS.md case 1: full fine-tuning, 2,000 rows, 72 examples/s",
    ),
    "lora": Speed(
        80,
        "training rows x epochs (+ validation)",
        "assumed ~10% above full fine-tuning: on a CPU LoRA still runs the whole backward pass "
        "(Strategy page's trade-off), not measured separately",
    ),
    "predict": Speed(
        449, "validation and test rows, each pass", "bench/RESULTS.md case 4: prediction, 10,000 texts, 449 texts/s"
    ),
}
# No GPU on the machines these were measured on: order-of-magnitude assumptions for MiniLM-L6 with bf16 on one
# A100-class GPU (roughly 25x to 30x the 2-core CPU figures above), used only to say "elsewhere on a GPU: about".
GPU_ROWS_PER_S = {
    "feature-extraction": 12_000.0,
    "partial": 5_000.0,
    "full": 2_000.0,
    "lora": 2_200.0,
    "fewshot": 2_000.0,
    "predict": 12_000.0,
}
FEWSHOT_PAIRS = 1000  # RunConfig.fewshot_max_pairs' default: few-shot tuning is bounded by pairs, not rows
HOURS = 3600.0  # from here an estimate is "hours": say so plainly and offer the alternatives
LONG = 1800.0  # from here an estimate is worth a sentence
SAMPLE_TARGET_S = 1200.0  # a sample sized to train in about 20 minutes
MIN_SAMPLE = 2000  # a smaller sample is not worth offering
# Expected macro-F1 cost of halving the labels when no learning curve of this data is at hand: README,
# "learning curve, all movie reviews (TF-IDF, validation macro-F1)": 3.2 points per doubling from 1k to 10k
# rows. Curves flatten with more data, so on very large files this overstates the cost: an upper bound.
DEFAULT_PER_DOUBLING = 0.032
# README, "Run elsewhere": the bundle's run.sh; one GPU needs no --multi_gpu (several: --multi_gpu --num_processes N)
GPU_COMMAND = (
    "accelerate launch --num_processes 1 -m textclf_core.cli train --config run.json --no-progress --data {data}"
)


def format_seconds(seconds: float | None) -> str:
    """A budget or an estimate for people (units.format_duration, the one owner): '45 s', '2 min 30 s';
    None, "none" (RunConfig's no limit) and infinity are 'no limit'."""
    from textclf_core.units import format_duration

    if seconds == "none" or (seconds is not None and float(seconds) == float("inf")):
        return "no limit"
    return format_duration(seconds, none="no limit")


def default_budget(hardware=None) -> float:
    """Auto's time budget when none is given: 10 minutes on a CPU (room for embeddings and one fine-tuned
    member on a few thousand rows); 5 on a GPU, where every candidate is fast."""
    return 300.0 if hardware is not None and getattr(hardware, "is_gpu", False) else 600.0


def cores(hardware) -> int:
    """Cores the speeds scale by (the reference's 2 when unknown)."""
    return max(1, int(getattr(hardware, "cpu_cores", REFERENCE_CORES) or REFERENCE_CORES))


def _shares(config) -> tuple[float, float, float]:
    val = float(getattr(config, "val_size", 0.1) if config is not None else 0.1)
    test = float(getattr(config, "test_size", 0.1) if config is not None else 0.1)
    return 1.0 - val - test, val, test


def estimate(
    strategy: str,
    n_rows: int,
    mean_tokens: float | None = None,
    hardware=None,
    *,
    config=None,
    epochs: int | None = None,
) -> float:
    """Seconds to train and score ``strategy`` on ``n_rows`` labelled rows of ``mean_tokens`` tokens on average.

    ``config`` (a RunConfig) supplies epochs, max length and the validation/test shares when given; otherwise
    the strategy's defaults. CPU: the measured speeds in :data:`SPEEDS`, scaled by text length and (for
    transformers) cores. GPU: the assumed :data:`GPU_ROWS_PER_S` for the transformer strategies, the CPU
    figure for TF-IDF (it does not use a GPU). ``auto`` costs its budget (it ends within it).
    """
    name = canonical(strategy)
    spec = get_strategy(name)
    n_rows = max(0, int(n_rows))
    tokens = float(mean_tokens or REFERENCE_TOKENS)
    if config is not None and spec.uses_model:
        tokens = min(tokens, float(config.max_length) * float(getattr(config, "windows", 1) or 1))
    length = max(0.25, tokens / REFERENCE_TOKENS)
    if spec.budgeted:
        budget = config.budget_seconds(default_budget(hardware)) if config is not None else default_budget(hardware)
        return budget if budget is not None else float("inf")  # no limit: as long as every candidate takes
    if not spec.uses_model:
        chars = int(n_rows * tokens / REFERENCE_TOKENS * 111)  # 111 characters a movie review
        key = "baseline-large" if uses_large_path(n_rows, chars, config) else "baseline"
        return 1.0 + n_rows * max(1.0, length) / SPEEDS[key].rows_per_s
    train, val, test = _shares(config)
    n_train, n_val, n_test = n_rows * train, n_rows * val, n_rows * test
    defaults = dict(spec.defaults)
    epochs = int(
        epochs or (getattr(config, "epochs", None) if config is not None else None) or defaults.get("epochs") or 3
    )
    evals = int(getattr(config, "evals_per_epoch", 1) or 1) if config is not None else 1
    pairs = getattr(config, "fewshot_max_pairs", FEWSHOT_PAIRS) if config is not None else FEWSHOT_PAIRS
    gpu = hardware is not None and getattr(hardware, "is_gpu", False)
    if gpu:  # assumed GPU speeds (GPU_ROWS_PER_S), text length scaled alike

        def rate(key: str) -> float:
            return GPU_ROWS_PER_S.get(key, GPU_ROWS_PER_S["full"]) / length
    else:

        def rate(key: str) -> float:
            speed = SPEEDS[key if key in SPEEDS else "full"].rows_per_s
            return speed * cores(hardware) / REFERENCE_CORES / length

    embed, predict = rate("feature-extraction"), rate("predict")
    if spec.trains == "head":  # every row embedded once; the head on cached vectors is seconds
        return 3.0 + n_rows / embed
    if spec.trains == "pairs":  # pairs of two texts, forward and backward, then every row embedded once
        return 5.0 + min(pairs, 20 * n_train) * epochs * 2 / rate("full") + n_rows / embed
    return 4.0 + n_train * epochs / rate(name) + (n_val * epochs * evals + n_test) / predict


@dataclass
class Advice:
    """What :func:`advice` found: the estimate, whether it is hours, and the alternatives."""

    strategy: str
    n_rows: int
    seconds: float
    hours: bool  # the estimate is an hour or more here
    message: str  # one or two plain sentences ("" when the estimate is unremarkable)
    sample_rows: int | None = None  # a stratified sample that trains in about SAMPLE_TARGET_S
    sample_seconds: float | None = None
    sample_cost_points: float | None = None  # expected macro-F1 points lost by sampling
    cost_source: str = ""
    gpu_seconds: float | None = None
    gpu_command: str | None = None
    sources: list[str] = field(default_factory=list)  # where the speeds came from

    def to_dict(self) -> dict:
        return asdict(self)


def per_doubling_of(curve) -> tuple[float, str]:
    """Macro-F1 gain per doubling of labels: from a ``curve.LearningCurve`` (its best member's fitted
    trend), a ``{"per_doubling": ...}`` dict or a number; else :data:`DEFAULT_PER_DOUBLING`, with its source."""
    if isinstance(curve, (int, float)):
        return max(0.0, float(curve)), "the learning curve you gave"
    trends = getattr(curve, "trends", None) if curve is not None else None
    if isinstance(curve, dict) and "per_doubling" in curve:
        return max(0.0, float(curve["per_doubling"])), "this data's learning curve"
    if trends:
        best = max(trends.values(), key=lambda t: t.get("intercept", 0) + t.get("per_doubling", 0) * 20)
        return max(0.0, float(best["per_doubling"])), "this data's learning curve"
    return DEFAULT_PER_DOUBLING, (
        "the movie reviews' TF-IDF learning curve, 3.2 points per doubling up to 10k rows; "
        "curves flatten with more rows, so likely less"
    )


def sample_size(
    strategy: str,
    n_rows: int,
    mean_tokens: float | None = None,
    hardware=None,
    *,
    config=None,
    target_s: float = SAMPLE_TARGET_S,
) -> int:
    """The most rows (two significant figures, rounded down) that train in about ``target_s`` seconds."""
    lo, hi = 0, int(n_rows)
    while hi - lo > max(1, n_rows // 1000):  # the cost is monotone in rows: bisect
        mid = (lo + hi) // 2
        if estimate(strategy, mid, mean_tokens, hardware, config=config) <= target_s:
            lo = mid
        else:
            hi = mid
    if lo <= 0:
        return 0
    digits = 10 ** max(0, int(math.log10(lo)) - 1)
    return int(lo // digits * digits)


def advice(
    strategy: str,
    n_rows: int,
    mean_tokens: float | None = None,
    hardware=None,
    *,
    config=None,
    curve=None,
    data_name: str = "your_file.csv",
    target_s: float = SAMPLE_TARGET_S,
) -> Advice:
    """The estimate for ``strategy`` on ``n_rows`` rows here, and when it is an hour or more, the alternatives:
    a stratified sample of :func:`sample_size` rows (time, expected macro-F1 cost from ``curve``, see
    :func:`per_doubling_of`) and, for strategies that run distributed, a GPU elsewhere with ``accelerate launch``."""
    name = canonical(strategy)
    spec = get_strategy(name)
    seconds = estimate(name, n_rows, mean_tokens, hardware, config=config)
    where = hardware.describe() if hardware is not None and hasattr(hardware, "describe") else "this machine"
    sources = [
        SPEEDS[k].source
        for k in (
            ("baseline", "baseline-large") if not spec.uses_model else (name if name in SPEEDS else "full", "predict")
        )
        if k in SPEEDS
    ]
    out = Advice(name, int(n_rows), round(seconds, 1), seconds >= HOURS, "", sources=sources)
    if spec.budgeted or seconds < LONG:
        return out
    title = spec.title.split(" (")[0]
    took = (
        f"{seconds / 3600:.1f} hours".replace(".0 hours", " hours").replace(" 1 hours", " 1 hour")
        if seconds >= HOURS
        else format_seconds(seconds)
    )  # "hours", plainly, from the first hour
    lines = [f"{title} on {n_rows:,} rows would take about {took} on {where}."]
    n_sample = sample_size(name, n_rows, mean_tokens, hardware, config=config, target_s=target_s)
    if seconds >= HOURS and n_sample >= MIN_SAMPLE and n_sample < n_rows:
        out.sample_rows = n_sample
        out.sample_seconds = round(estimate(name, n_sample, mean_tokens, hardware, config=config), 1)
        gain, out.cost_source = per_doubling_of(curve)
        out.sample_cost_points = round(100 * gain * math.log2(n_rows / n_sample), 1)
        lines.append(
            f"Train on a stratified sample of {n_sample:,} rows instead: about "
            f"{format_seconds(out.sample_seconds)}, at an expected cost of about "
            f"{out.sample_cost_points:.1f} macro-F1 points (from {out.cost_source})."
        )
    elif seconds >= HOURS:
        lines.append("Even a sample large enough to be worth training would take long here.")
    if seconds >= HOURS and spec.supports_distributed and not (hardware is not None and hardware.is_gpu):
        from textclf_core.hardware import Hardware

        gpu = Hardware("cuda", "A100-class", 8, True, 40.0)
        out.gpu_seconds = round(estimate(name, n_rows, mean_tokens, gpu, config=config), 1)
        out.gpu_command = GPU_COMMAND.format(data=data_name)
        lines.append(
            f"Or run it elsewhere on a GPU (about {format_seconds(out.gpu_seconds)} on one A100-class GPU; "
            f'"Run elsewhere" downloads the bundle): {out.gpu_command}'
        )
    if seconds >= HOURS and spec.uses_model:
        base = estimate("baseline", n_rows, mean_tokens, hardware, config=None)
        lines.append(f"The TF-IDF baseline trains on all {n_rows:,} rows in about {format_seconds(base)}.")
    out.message = " ".join(lines)
    return out


# --- this machine's measured speeds (auto's one source of time estimates) ----------------------------
# The table above is a prior measured elsewhere; auto plans from what THIS machine does, measured on a sample
# of the data on first use and kept on disk (``SpeedStore``, a file under the model cache root), keyed by model +
# machine. The FLOP-based estimates auto used before were off by up to 15x on the machines issue 25 measured
# (MiniLM embeddings planned at 463 s took 31 s). This module stays free of torch and of our model modules: the
# caller passes the tokenizer and the function that measures (auto does both).
SPEEDS_FILE = "speeds.json"
# Forward-pass equivalents per training example and epoch, relative to embedding one text of the same length:
# bench/RESULTS.md measured, on the same texts and cores, embedding at 432 texts/s, top-2-layer training at
# 188 examples/s and full fine-tuning at 72 examples/s. Each member's measured time then corrects it.
TRAIN_COST = {"feature-extraction": 1.0, "partial": 432 / 188, "full": 432 / 72, "lora": 432 / 80, "fewshot": 432 / 72}
TOKEN_SAMPLE = 256  # texts whose tokens are counted with the model's own tokenizer
TFIDF_CHARS_PER_S = 200_000 * 111 / 139  # the prior: 200k movie reviews (~111 characters) in 139 s


def machine_key(hardware) -> str:
    """What a measured speed belongs to: device, processor name and cores ('cpu|Intel Xeon|2')."""
    return f"{getattr(hardware, 'device', 'cpu')}|{getattr(hardware, 'name', '?')}|{cores(hardware)}"


class SpeedStore:
    """Measured speeds of this machine in one JSON file ({key: entry}); unreadable = empty (measured again)."""

    def __init__(self, path, hardware=None):
        from pathlib import Path

        self.path = Path(path)
        self.machine = machine_key(hardware)

    def load(self) -> dict:
        import json

        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> dict | None:
        return self.load().get(f"{key}|{self.machine}")

    def put(self, key: str, entry: dict) -> None:
        """Store one speed atomically (a read-only disk only costs a measurement next time)."""
        import time as _time

        from textclf_core.fs import atomic_write_json

        data = self.load()
        data[f"{key}|{self.machine}"] = {**entry, "measured_at": round(_time.time())}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, data)
        except OSError:
            pass

    # -- encoders: tokens per second of the frozen forward pass, per model and window length --
    def encoder_speed(self, model: str, max_length: int, measure=None) -> float | None:
        """Tokens/s of ``model`` at ``max_length``: stored, else ``measure()`` (-> tokens/s) run now and stored,
        else None (the caller falls back to a prior and says so)."""
        key = f"encoder|{model}|{int(max_length)}"
        known = self.get(key)
        if known and known.get("tokens_per_s"):
            return float(known["tokens_per_s"])
        if measure is None:
            return None
        rate = float(measure())
        if rate > 0:
            self.put(key, {"tokens_per_s": rate})
        return rate

    # -- TF-IDF: characters per second of one member, from the last one that ran here --
    def tfidf_seconds(self, member: str, n_chars: int) -> tuple[float, bool]:
        """(seconds, measured here) for a TF-IDF member reading ``n_chars`` characters."""
        known = self.get(f"tfidf|{member}")
        rate = float(known["chars_per_s"]) if known and known.get("chars_per_s") else TFIDF_CHARS_PER_S
        return 0.5 + n_chars / rate, bool(known)

    def record_tfidf(self, member: str, n_chars: int, seconds: float) -> None:
        if seconds > 0 and n_chars > 0:
            self.put(f"tfidf|{member}", {"chars_per_s": n_chars / seconds})

    # -- every other member: actual / estimated seconds of the last one of its strategy and model --
    def correction(self, strategy: str, model: str) -> float:
        known = self.get(f"correction|{strategy}|{model}")
        return float(known["factor"]) if known and known.get("factor") else 1.0

    def has_correction(self, strategy: str, model: str) -> bool:
        """Whether a member of this strategy and model has run here before (its correction is this machine's)."""
        known = self.get(f"correction|{strategy}|{model}")
        return bool(known and known.get("factor"))

    def record_correction(self, strategy: str, model: str, actual_s: float, estimated_s: float) -> float:
        """Fold a finished member's actual / estimated into the stored factor (0.1..10); the factor kept. The first
        run sets it; later runs move it half way (in log terms), so one run on a busy machine does not decide the
        next plan alone (a fine-tuning run at load 4.5 took 2.3x its estimate, the quiet one after it 1.0x)."""
        if actual_s <= 0 or estimated_s <= 0:
            return self.correction(strategy, model)
        step = actual_s / estimated_s
        if self.has_correction(strategy, model):
            step = step**0.5
        factor = min(10.0, max(0.1, self.correction(strategy, model) * step))
        self.put(f"correction|{strategy}|{model}", {"factor": factor})
        return factor


def count_tokens(texts, tokenizer, *, sample: int = TOKEN_SAMPLE, seed: int = 0):
    """Token counts (special tokens included, nothing cut) of up to ``sample`` of ``texts`` with the model's own
    ``tokenizer``: words say nothing about Chinese, and word pieces per word vary by language and domain."""
    import numpy as np

    texts = ["" if t is None else str(t) for t in texts]
    if len(texts) > sample:
        texts = [texts[i] for i in np.sort(np.random.default_rng(seed).choice(len(texts), sample, replace=False))]
    if not texts:
        return np.zeros(0, dtype=int)
    ids = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    return np.array([len(x) for x in ids], dtype=int)


def transformer_seconds(
    strategy: str,
    tokens_per_s: float,
    *,
    n_train: int,
    n_val: int,
    embed_tokens: float,
    train_tokens: float,
    epochs: int = 1,
    evals_per_epoch: int = 1,
    pairs: int = 0,
) -> float:
    """Compute seconds of one transformer member from the measured forward speed: frozen embeddings read every
    training and validation text once (``embed_tokens`` a text, windows included); fine-tuning reads the first
    window (``train_tokens``) ``epochs`` times at :data:`TRAIN_COST` forward passes each, plus its evaluations;
    few-shot tunes on ``pairs`` pairs of texts, then embeds."""
    rate = max(float(tokens_per_s), 1e-6)
    if strategy == "feature-extraction":
        return (n_train + n_val) * embed_tokens / rate
    if strategy == "fewshot":
        return (pairs * 2 * epochs * train_tokens * TRAIN_COST["fewshot"] + (n_train + n_val) * embed_tokens) / rate
    cost = TRAIN_COST.get(strategy, TRAIN_COST["full"])
    return (n_train * epochs * cost + n_val * epochs * max(1, evals_per_epoch)) * train_tokens / rate
