"""The ``auto`` strategy: the best classifier for the data within a time budget.

How it decides (measuring, not guessing):

1. **Plan.** Candidates, cheapest first: TF-IDF with logistic regression and with a linear SVM,
   frozen embeddings + a logistic head for every available encoder (MiniLM, and the bundled mpnet),
   few-shot tuning when the smallest class is tiny, partial and (on a GPU or small data) full
   fine-tuning. Each gets an estimated time (:func:`textclf_core.strategies.advice.estimate`, TF-IDF from
   a measured rate), refined from the measured speed of the members already trained.
2. **Members.** Each is trained by the strategy's own fit (``baseline.train_baseline``,
   ``training.fit``, ``fewshot.fit``) on the same split and scored on the same validation rows. A
   member whose estimate no longer fits the time left is skipped, with the reason; one that would
   overrun is stopped through ``should_stop`` and keeps its best checkpoint so far.
3. **Ensemble.** Per-member temperature scaling, then greedy forward selection with replacement
   over member probabilities (Caruana et al. 2004, as AutoGluon does), minimising validation log
   loss. If the blend is not better than the best single member on the run's metric (validation),
   the single member is kept. The TF-IDF baseline (always the first member) is the reference: another
   choice replaces it only when it beats it in at least 90% of paired bootstrap resamples of the
   validation rows, so a lead that chance explains does not pick the model. The test split is never
   read here: the runner scores it once, at the end, with the saved ensemble.
4. **One model.** Saved as kind ``ensemble`` (ensemble.py); the leaderboard and one sentence on what
   was chosen and why go to ``eval.json`` (key ``auto``).

Time comes from an injectable ``clock`` so tests can fake it.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from textclf_core.config import DEFAULT_MODEL, NO_LIMIT, NO_LIMIT_WORDS, RunConfig
from textclf_core import events
from textclf_core.store import model_folder
from textclf_core.errors import CancelledError, ModelLoadError, TextclfError
from textclf_core.labels import LabelSpace
# The budget's default and its wording belong to the recommendation (strategies.recommend is auto, for every
# dataset); re-exported here for the pages and the CLI that draw auto's plan.
from .advice import default_budget, format_seconds  # noqa: F401

Clock = Callable[[], float]

# Budgets offered on the Strategy page (seconds; None = no limit).
BUDGET_CHOICES: dict[str, float | str] = {"1 min": 60.0, "3 min": 180.0, "10 min": 600.0, "30 min": 1800.0,
                                          "no limit": NO_LIMIT}
ROUNDS = 25  # greedy selection rounds (AutoGluon's default is 25 too)
RESERVE_SHARE = 0.05  # of the budget, kept for saving and the final test scoring
LOAD_SECONDS = {"feature-extraction": 3.0, "partial": 4.0, "full": 4.0, "lora": 5.0, "fewshot": 5.0}
WORDS_TO_TOKENS = 1.3  # word-piece tokens per whitespace word (English), for plans without a tokenizer
MAX_WINDOWS = 8


# --- budget -----------------------------------------------------------------------------------------
_BUDGET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hours?)?\s*$", re.I)


def parse_budget(text) -> float | str | None:
    """Seconds from "90s", "10m", "1h", "1.5h" or a bare number of seconds; "none"/"no limit" → ``NO_LIMIT``
    ("none", what ``RunConfig.budget_s`` takes for no limit); None (not given) → None (the default budget)."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text > 0:
            return float(text)
        raise TextclfError(f"The time budget must be above 0, got {text}", hint="For example 10m")
    raw = str(text).strip().lower()
    if raw in NO_LIMIT_WORDS:
        return NO_LIMIT
    match = _BUDGET_RE.match(raw)
    if not match or float(match.group(1)) <= 0:
        raise TextclfError(f"'{text}' is not a time budget", hint='Write seconds, minutes or hours: "90s", "10m", '
                                                                 '"1h", or "none" for no limit')
    unit = (match.group(2) or "s")[0]
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]


# --- plan -------------------------------------------------------------------------------------------
@dataclass
class Member:
    """One candidate and, once tried, its leaderboard row."""

    key: str
    label: str
    family: str  # "tfidf" or "transformer": speed refinements apply within a family
    config: dict
    estimate_s: float
    passes: float = 1.0  # forward passes over the training rows (for the test-scoring reserve)
    load_s: float = 0.0  # part of the estimate that is loading, not computing
    state: str = "planned"  # planned | running | done | stopped early | skipped | failed
    reason: str | None = None
    seconds: float | None = None
    val_accuracy: float | None = None
    val_macro_f1: float | None = None
    val_loss: float | None = None
    weight: float = 0.0
    temperature: float | None = None
    kind: str | None = None

    def row(self) -> dict:
        return {"member": self.label, "key": self.key, "strategy": self.config.get("strategy"),
                "state": self.state, "reason": self.reason, "estimate_s": round(self.estimate_s, 1),
                "seconds": None if self.seconds is None else round(self.seconds, 1),
                "val_accuracy": self.val_accuracy, "val_macro_f1": self.val_macro_f1,
                "weight": round(self.weight, 3), "temperature": self.temperature}


@dataclass
class DataStats:
    n_train: int
    n_val: int
    n_test: int
    class_counts: dict
    multi_label: bool
    mean_tokens: float
    long_share: float  # share of texts longer than the embedding window
    n_long: int
    mean_windows: float

    def to_dict(self) -> dict:
        return asdict(self)


def data_stats(train_texts, n_val: int, n_test: int, class_counts: dict, multi_label: bool,
               hardware=None) -> DataStats:
    from textclf_core.engine.encoders import count_windows

    words = np.array([len(str(t).split()) for t in train_texts], dtype=float)
    tokens = words * WORDS_TO_TOKENS + 2
    max_length = window_length(float(tokens.mean()) if len(tokens) else 0.0, hardware)
    windows = count_windows(tokens, max_length, MAX_WINDOWS)
    return DataStats(len(train_texts), int(n_val), int(n_test), {str(k): int(v) for k, v in class_counts.items()},
                     bool(multi_label), float(tokens.mean()) if len(tokens) else 0.0,
                     float((tokens > max_length).mean()) if len(tokens) else 0.0, int((tokens > max_length).sum()),
                     float(windows.mean()) if len(windows) else 1.0)


def stats_for(train_df, n_val: int, n_test: int, label_space: LabelSpace, hardware=None) -> DataStats:
    """:func:`data_stats` of the training rows of a prepared split."""
    if label_space.multi_label:
        y = label_space.encode(train_df["label"].tolist())
        counts = {c: int(y[:, j].sum()) for j, c in enumerate(label_space.classes)}
    else:
        counts = {str(k): int(v) for k, v in train_df["label"].value_counts().items()}
    return data_stats(train_df["text"].tolist(), n_val, n_test, counts, label_space.multi_label, hardware)


def window_length(mean_tokens: float, hardware=None) -> int:
    """Tokens per window for the data (as recommend() picks max_length; 256 at most on a CPU)."""
    limit = 512 if hardware is not None and getattr(hardware, "is_gpu", False) else 256
    for length in (64, 128, 256, 512):
        if mean_tokens <= length * 0.85 or length >= limit:
            return length
    return limit


def encoders_for(config: RunConfig) -> list[tuple[str, str]]:
    """(model, short name) of the encoders to try: the run's model (the bundled MiniLM by default), plus the
    bundled mpnet when the run's model is the default one and mpnet is installed."""
    from pathlib import PurePath

    from textclf_core.store import catalog as models

    if config.model != DEFAULT_MODEL:
        return [(config.model, PurePath(str(config.model)).name or str(config.model))]
    out = [(DEFAULT_MODEL, "MiniLM")]
    if models.mpnet_available():
        out.append((models.MPNET_KEY, "mpnet"))
    return out


def plan(config: RunConfig, stats: DataStats, hardware=None, *, encoders: list[tuple[str, str]] | None = None
         ) -> list[Member]:
    """The candidates for this data and machine, cheapest first, with estimated seconds each."""
    from . import sizing
    from textclf_core.strategies import advice as strategies

    encoders = encoders_for(config) if encoders is None else encoders
    gpu = hardware is not None and getattr(hardware, "is_gpu", False)
    counts = stats.class_counts
    smallest = min(counts.values()) if counts else 0
    imbalanced = bool(counts) and max(counts.values()) > 4 * max(1, smallest)
    loss = "bce" if stats.multi_label else ("weighted" if imbalanced else "ce")
    max_length = window_length(stats.mean_tokens, hardware)
    windows = MAX_WINDOWS if stats.long_share > 0 else 1
    base = {k: v for k, v in config.to_dict().items() if k not in ("strategy", "name", "budget_s")}
    base.update(loss=loss, multi_label=stats.multi_label or None)
    members: list[Member] = []
    n_rows = stats.n_train + stats.n_val

    def add(key, label, family, passes, **settings):
        cfg = RunConfig.from_dict({**base, **settings})
        load = LOAD_SECONDS.get(cfg.strategy, 3.0) if cfg.strategy != "baseline" else 1.0
        if cfg.strategy == "baseline":  # sizing knows the rows, the text length and the large-data path
            seconds = load + sizing.estimate("baseline", n_rows, stats.mean_tokens, hardware, config=cfg) * (
                {"svm": 1.5, "nb": 0.8}.get(cfg.baseline_model, 1.0))
        else:
            # Windows multiply the frozen passes; fine-tuning trains on the first window only.
            tokens = min(stats.mean_tokens, cfg.max_length)
            est = strategies.estimate(cfg, stats.n_train, hardware, tokens, n_val=stats.n_val)
            epochs = 1 if cfg.strategy in ("feature-extraction", "fewshot") else cfg.epochs
            seconds = load + est.seconds_per_epoch * epochs * (
                stats.mean_windows if cfg.windows > 1 and cfg.strategy == "feature-extraction" else 1.0)
        members.append(Member(key, label, family, cfg.to_dict(), float(seconds), passes, load_s=load))

    add("tfidf-logreg", "TF-IDF + logistic regression", "tfidf", 1, strategy="baseline", baseline_model="logreg")
    add("tfidf-svm", "TF-IDF + linear SVM", "tfidf", 1, strategy="baseline", baseline_model="svm")
    add("tfidf-nb", "TF-IDF + naive Bayes", "tfidf", 1, strategy="baseline", baseline_model="nb")
    for model, short in encoders:
        add(f"embeddings-{short.lower()}", f"{short} embeddings", "transformer", 1, strategy="feature-extraction",
            model=model, head="logreg", epochs=1, batch_size=64, max_length=max_length, windows=windows)
    small_model, small_name = encoders[0]
    if counts and smallest <= strategies.FEWSHOT_MAX_SMALLEST_CLASS and not stats.multi_label:
        add(f"fewshot-{small_name.lower()}", f"{small_name} few-shot", "transformer", 3,
            **{**strategies.STRATEGY_DEFAULTS["fewshot"], "strategy": "fewshot", "model": small_model,
               "loss": "ce"})
    if smallest >= 8 or stats.multi_label:
        ft_length = min(max_length, 256)
        add(f"partial-{small_name.lower()}", f"{small_name} top-2 layers", "transformer", 3 * 2,
            strategy="partial", model=small_model, layers=2, epochs=3, batch_size=32, lr=1e-4, max_length=ft_length,
            evals_per_epoch=2, windows=windows)
        add(f"full-{small_name.lower()}", f"{small_name} fine-tuned", "transformer", 3 * 2, strategy="full",
            model=small_model, epochs=2, batch_size=16 if stats.n_train < 2000 else 32, lr=5e-5,
            max_length=ft_length, evals_per_epoch=2, windows=windows)
        if gpu and len(encoders) > 1:
            big_model, big_name = encoders[1]
            add(f"full-{big_name.lower()}", f"{big_name} fine-tuned", "transformer", 3 * 3, strategy="full",
                model=big_model, epochs=3, batch_size=32, lr=3e-5, max_length=ft_length, evals_per_epoch=2,
                windows=windows)
    only = config.auto_members  # e.g. ["tfidf-logreg", "embeddings-minilm"]: try only these
    if only:
        members = [m for m in members if m.key in set(only)]
    # Cheapest first, except that the baseline always comes first: it is the model a run must have, and the one
    # every other choice has to beat (see choose()).
    members.sort(key=lambda m: (m.key != REFERENCE, m.estimate_s))
    return members


def plan_rows(members: list[Member], budget_s: float | None) -> list[dict]:
    """The plan as rows for the Strategy page and the CLI: order, candidate, estimated time, whether it fits."""
    rows, total = [], 0.0
    for i, m in enumerate(members, 1):
        total += m.estimate_s
        fits = budget_s is None or total <= budget_s * (1 - RESERVE_SHARE)
        rows.append({"order": i, "candidate": m.label, "estimated time": format_seconds(m.estimate_s),
                     "fits the budget": "yes" if fits else "probably not"})
    return rows


def describe_windows(stats: DataStats, hardware=None) -> str:
    length = window_length(stats.mean_tokens, hardware)
    if stats.n_long == 0:
        return f"Every training text fits in one window of {length} tokens, so each is read whole."
    return (f"{stats.n_long:,} of {stats.n_train:,} training texts ({stats.long_share:.0%}) are longer than one "
            f"window of {length} tokens. Frozen embeddings read them as up to {MAX_WINDOWS} overlapping windows and "
            f"average the windows' vectors; fine-tuned members train on the first window and predict with the mean "
            f"of the windows' scores; TF-IDF reads every word.")


# --- members ----------------------------------------------------------------------------------------
class _Slot:
    """What the fit functions need of a run (``stage_model``, ``model_dir``) for one member's folder."""

    def __init__(self, folder: Path):
        self.model_dir = Path(folder)

    @contextlib.contextmanager
    def stage_model(self):
        staging = self.model_dir.with_name(f".{self.model_dir.name}-{uuid.uuid4().hex[:6]}")
        staging.mkdir(parents=True)
        try:
            yield staging
            if self.model_dir.exists():
                shutil.rmtree(self.model_dir)
            staging.rename(self.model_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @property
    def has_model(self) -> bool:
        return model_folder.has_info(self.model_dir)


def _predict(model, texts):
    try:
        return np.asarray(model.predict_proba(texts, batch_size=64), dtype=np.float64)
    except TypeError:
        return np.asarray(model.predict_proba(texts), dtype=np.float64)


def _fit_member(cfg: RunConfig, train_df, val_df, label_space: LabelSpace, folder: Path, emit, should_stop):
    """Train one member with its strategy's own fit; (model kind, validation probabilities)."""
    val_texts = val_df["text"].tolist()
    slot = _Slot(folder)
    if cfg.strategy == "baseline":
        from .baseline import train_baseline

        model = train_baseline(cfg, train_df, val_df, label_space, emit, should_stop=should_stop)
        with slot.stage_model() as staged:
            model.save(staged)
        return "baseline", _predict(model, val_texts)
    if cfg.strategy == "fewshot":
        from .fewshot import fit
    else:
        from .transformer import fit
    result = fit(cfg, train_df, val_df, label_space, run=slot, emit=emit, should_stop=should_stop)
    proba = getattr(result, "val_proba", None)
    if proba is None or len(proba) != len(val_df):
        proba = _predict(result.predictor, val_texts)
    return ("transformer" if cfg.strategy in ("partial", "full", "lora") else "features"), np.asarray(proba, float)


def _probe_speed(member: Member, texts: list, stats: DataStats, hardware, clock: Clock) -> float:
    """Measured / estimated compute time of the member's encoder: embed a few training texts (after one text
    that loads the model, which the member reuses) and compare with the FLOP-based estimate of the same
    windows. Order-of-magnitude estimates on a shared CPU are often several times off; this is measured."""
    from textclf_core.strategies import advice as strategies
    from textclf_core.engine.encoders import count_windows, embed

    cfg = RunConfig.from_dict(member.config)
    sample = [str(t) for t in texts[:24]]
    if len(sample) < 4:
        return 1.0
    try:
        embed(sample[:1], cfg.model, max_length=cfg.max_length, use_cache=False, precision=cfg.precision,
              device=cfg.device)
        began = clock()
        embed(sample[1:], cfg.model, max_length=cfg.max_length, windows=cfg.windows, use_cache=False,
              precision=cfg.precision, device=cfg.device)
        took = clock() - began
    except Exception:  # noqa: BLE001 - no probe: keep the plain estimate; the member reports its own error
        return 1.0
    words = np.array([len(s.split()) for s in sample[1:]], dtype=float) * WORDS_TO_TOKENS + 2
    n_windows = float(count_windows(words, cfg.max_length, cfg.windows).sum())
    fe = RunConfig.from_dict({**member.config, "strategy": "feature-extraction", "epochs": 1})
    per_text = strategies.estimate(fe, 1, hardware, min(stats.mean_tokens, cfg.max_length), n_val=0).seconds_per_epoch
    expected = per_text * n_windows
    return float(np.clip(took / expected, 0.05, 50.0)) if expected > 0 and took > 0 else 1.0


def _fit_temperature(proba: np.ndarray, y, multi_label: bool) -> float:
    """The temperature minimising validation log loss (bounded search over log T)."""
    from scipy.optimize import minimize_scalar

    from textclf_core.models.ensemble import apply_temperature, log_loss

    if len(proba) < 10:
        return 1.0
    res = minimize_scalar(lambda lt: log_loss(apply_temperature(proba, math.exp(lt), multi_label), y, multi_label),
                          bounds=(-3.0, 3.0), method="bounded", options={"xatol": 1e-3})
    return float(math.exp(res.x)) if res.success else 1.0


def select_weights(probas: list[np.ndarray], y, multi_label: bool, rounds: int = ROUNDS,
                   temperatures: list[float | None] | None = None) -> np.ndarray:
    """Greedy forward selection with replacement (Caruana et al. 2004): start from nothing, add the member
    that most lowers the validation log loss of the running average, ``rounds`` times; keep the counts of
    the best round as weights. Ties go to the earlier (cheaper) member. A member that never helps gets 0."""
    from textclf_core.models.ensemble import apply_temperature, log_loss

    tempered = [apply_temperature(p, t, multi_label) for p, t in
                zip(probas, temperatures or [None] * len(probas))]
    counts = np.zeros(len(probas))
    total = None
    best_loss, best_counts = math.inf, None
    for r in range(rounds):
        losses = [log_loss(p if total is None else (total + p) / (r + 1), y, multi_label) for p in tempered]
        i = int(np.argmin(losses))
        counts[i] += 1
        total = tempered[i].copy() if total is None else total + tempered[i]
        if losses[i] < best_loss - 1e-9:
            best_loss, best_counts = losses[i], counts.copy()
    return best_counts / best_counts.sum()


def _scores(proba, val_df, label_space: LabelSpace, thresholds=None) -> dict:
    from textclf_core.evaluation.metrics import compute_metrics

    m = compute_metrics(val_df["label"].tolist(), proba, label_space.classes, multi_label=label_space.multi_label,
                        thresholds=thresholds, separator=label_space.separator or ";")
    return {"accuracy": float(m["accuracy"]), "macro_f1": float(m["macro_f1"]), "loss": m.get("loss")}


def _targets(val_df, label_space: LabelSpace):
    return label_space.encode(val_df["label"].tolist())


def _metric(scores: dict, name: str) -> float:
    if name == "val_loss":
        return -float(scores.get("loss") or 0.0)
    return float(scores[name])


@dataclass
class AutoResult:
    """What the runner reads from a fit (same attribute names as training.FitResult)."""

    predictor: object
    thresholds: list | None
    val_proba: np.ndarray | None
    best_metric: float | None
    train_seconds: float
    auto: dict = field(default_factory=dict)  # leaderboard, summary, plan: written to eval.json["auto"]


def fit(config: RunConfig, train_df, val_df, label_space: LabelSpace, *, run=None, emit=None, should_stop=None,
        n_test: int = 0, clock: Clock | None = None, hardware=None, encoders=None) -> AutoResult:
    """Train the planned members within ``config.budget_s``, choose the ensemble on validation, save it as the run's
    model (kind ``ensemble``). ``clock`` (default ``time.monotonic``) is injectable for tests."""
    from textclf_core import hardware as hw_module

    emit = emit or (lambda event: None)
    should_stop = should_stop or (lambda: False)
    clock = clock or time.monotonic
    if val_df is None or len(val_df) == 0:
        raise TextclfError("Auto needs a validation split to compare and weigh its members",
                           hint="Set a validation share above 0")
    start = clock()
    hardware = hardware or hw_module.detect(config.device)
    budget = config.budget_seconds(default_budget(hardware))
    stats = stats_for(train_df, len(val_df), n_test, label_space, hardware)
    members = plan(config, stats, hardware, encoders=encoders)
    base_dir = Path(run.path) / ".members" if run is not None and hasattr(run, "path") else \
        Path(config.auto_members_dir or Path.cwd() / f".textclf-members-{uuid.uuid4().hex[:8]}")
    base_dir.mkdir(parents=True, exist_ok=True)
    y_val = _targets(val_df, label_space)
    probas: dict[str, np.ndarray] = {}
    factor = {"tfidf": [], "transformer": []}  # measured / estimated seconds of finished members
    test_share = stats.n_test / max(1, stats.n_train + stats.n_val) if stats.n_test else 0.15

    def leaderboard() -> list[dict]:
        return [m.row() for m in members]

    def announce(member: Member) -> None:
        emit(events.auto_member(member=member.row(), leaderboard=leaderboard(), budget_s=budget,
                                elapsed_s=round(clock() - start, 1)))

    # Measured / estimated compute seconds from one probe of the first encoder. One probe per run: how far the
    # FLOP estimate is off is mostly the machine (its load, its bf16), and probing mpnet as well cost 2 minutes
    # of a 10-minute budget on the loaded bench machine (bbc_news, `textclf train` with the default budget).
    speed: dict[str, float] = {}

    # Seconds the first TF-IDF member spent building its features, which the later TF-IDF members reuse
    # (baseline.shared_features): their refined estimate leaves it out.
    built = {"features_s": 0.0}

    def refined(member: Member) -> float:
        seen = factor[member.family]
        if seen:
            scaled = member.estimate_s * float(np.median(seen))
            if member.family == "tfidf":
                scaled = max(0.2 * scaled, scaled - built["features_s"])
            return scaled
        if member.family == "transformer" and "probe" in speed:
            return member.load_s + (member.estimate_s - member.load_s) * speed["probe"]
        return member.estimate_s

    emit(events.auto_plan(budget_s=budget, leaderboard=leaderboard(), stats=stats.to_dict()))
    from .baseline import shared_features

    # The TF-IDF members share one feature build (baseline.shared_features), released before the first
    # transformer member so that its matrix is not held through the long members.
    sharing = contextlib.ExitStack()
    sharing.enter_context(shared_features())
    try:
        for member in members:
            if member.family != "tfidf":
                sharing.close()
            if should_stop():
                raise CancelledError("cancelled")
            time_left = None if budget is None else start + budget - clock()
            if (member.family == "transformer" and not factor["transformer"] and "probe" not in speed
                    and (time_left is None or time_left > 30 + 2 * member.load_s)):  # a probe only when it can pay off
                speed["probe"] = _probe_speed(member, train_df["text"].tolist(), stats, hardware, clock)
            now = clock()
            reserve = (RESERVE_SHARE * budget if budget else 0.0) + sum(
                (m.seconds or 0) * test_share / max(1.0, m.passes) for m in members if m.state in ("done", "stopped early"))
            deadline = None if budget is None else start + budget - reserve
            expected = refined(member)
            first = not probas  # nothing trained yet: a run without any model is worse than an overrun
            if first:
                deadline = None
            if deadline is not None and now + expected > deadline:
                member.state, member.reason = "skipped", (f"no time: needs about {format_seconds(expected)}, "
                                                          f"{format_seconds(max(0.0, deadline - now))} left")
                announce(member)
                continue
            member.state = "running"
            announce(member)
            cfg = RunConfig.from_dict(member.config)
            timed_out = {"hit": False}

            def member_stop(deadline=deadline) -> bool:
                if should_stop():
                    return True
                if deadline is not None and clock() >= deadline:
                    timed_out["hit"] = True
                    return True
                return False

            def member_emit(event: dict, key=member.key, family=member.family) -> None:
                kind = event.get("type")
                if (kind == "step" and family == "tfidf" and event.get("step") == 1 and not built["features_s"]
                        and event.get("elapsed_s")):
                    built["features_s"] = float(event["elapsed_s"])  # step 1: "Built N word and character features"
                if kind == "step":  # the job's progress is the budget's, not one member's steps
                    frac = (clock() - start) / budget if budget else None
                    emit(events.progress(stage=key, member=key, progress=min(0.99, frac) if frac is not None else None))
                elif kind in ("evaluation", "progress"):
                    emit(dict(event, member=key))

            folder = base_dir / member.key
            began = clock()
            try:
                member.kind, proba = _fit_member(cfg, train_df, val_df, label_space, folder, member_emit, member_stop)
                member.state = "done"
            except CancelledError:
                if not timed_out["hit"]:
                    raise
                if _Slot(folder).has_model:  # stopped at its best checkpoint so far
                    from textclf_core.models.ensemble import load_member

                    member.kind = _kind_of(folder)
                    proba = _predict(load_member(folder), val_df["text"].tolist())
                    member.state, member.reason = "stopped early", "time budget reached: kept its best checkpoint"
                else:
                    member.state, member.reason = "skipped", "no time: stopped before its first checkpoint"
                    member.seconds = clock() - began
                    announce(member)
                    continue
            except TextclfError as exc:
                member.state, member.reason, member.seconds = "failed", str(exc), clock() - began
                announce(member)
                continue
            except Exception as exc:  # noqa: BLE001 - one broken member must not end the run
                member.state, member.reason = "failed", f"internal error ({type(exc).__name__}: {str(exc)[:120]})"
                member.seconds = clock() - began
                announce(member)
                continue
            member.seconds = clock() - began
            if first and budget is not None and clock() - start > budget * (1 - RESERVE_SHARE):
                member.reason = ("ran past the budget: the first member is always finished, so the run has a model "
                                 "(the machine is slower than estimated)")
            if member.state == "done" and member.estimate_s > 0:
                factor[member.family].append(member.seconds / member.estimate_s)
            scores = _scores(proba, val_df, label_space)
            member.val_accuracy, member.val_macro_f1, member.val_loss = scores["accuracy"], scores["macro_f1"], \
                scores.get("loss")
            probas[member.key] = proba
            announce(member)

    finally:
        sharing.close()

    trained = [m for m in members if m.key in probas]
    if not trained:
        raise TextclfError("No candidate model finished within the time budget",
                           hint="Give auto more time (e.g. --budget 10m) or choose the baseline strategy")
    summary = choose(trained, probas, y_val, val_df, label_space, config.metric_for_best)
    thresholds = summary.pop("thresholds")
    val_proba = summary.pop("val_proba")
    train_seconds = clock() - start
    auto_info = {"budget_s": budget, "seconds": round(train_seconds, 1), "leaderboard": leaderboard(),
                 "summary": summary["sentence"], "chosen": summary["chosen"], "validation": summary["validation"],
                 "best_single": summary["best_single"], "stats": stats.to_dict(),
                 "windows": describe_windows(stats, hardware)}
    from textclf_core.models.ensemble import load_ensemble, save_ensemble

    entries = [{"key": m.key, "label": m.label, "kind": m.kind, "source": base_dir / m.key, "weight": m.weight,
                "temperature": m.temperature} for m in trained]
    target = run.stage_model() if run is not None else contextlib.nullcontext(base_dir / "ensemble")
    with target as folder:
        save_ensemble(folder, entries, label_space, thresholds=thresholds,
                      extra={"strategy": "auto", "config": config.to_dict(), "summary": summary["sentence"],
                             "leaderboard": leaderboard()})
        staged = Path(folder)
    model_dir = Path(run.model_dir) if run is not None else staged
    if run is not None and not config.auto_keep_members:
        shutil.rmtree(base_dir, ignore_errors=True)  # members of weight 0 (the others moved into the model)
    predictor = load_ensemble(model_dir)
    emit(events.auto_ensemble(summary=summary["sentence"], leaderboard=leaderboard()))
    best = summary["validation"].get(config.metric_for_best if config.metric_for_best != "val_loss" else "macro_f1")
    return AutoResult(predictor, thresholds, val_proba, best, train_seconds, auto_info)


def _kind_of(folder: Path) -> str | None:
    try:
        return model_folder.read_info(folder).kind
    except ModelLoadError:
        return None


REFERENCE = "tfidf-logreg"  # the baseline: what auto must never be worse than
CONFIDENCE = 0.9  # share of validation resamples in which a challenger must beat the baseline
RESAMPLES = 1000


def _decisions(proba: np.ndarray, thresholds, multi_label: bool) -> np.ndarray:
    """Predicted classes: (n,) indices, or an (n, k) 0/1 matrix for multi-label data."""
    if not multi_label:
        return np.asarray(proba).argmax(axis=1)
    cut = np.asarray(thresholds if thresholds is not None else [0.5] * proba.shape[1], dtype=float)
    return (np.asarray(proba) >= cut[None, :]).astype(np.int8)


def _truth(val_df, label_space: LabelSpace) -> np.ndarray:
    y = label_space.encode(val_df["label"].tolist())
    return np.asarray(y).astype(np.int8) if label_space.multi_label else np.asarray(y)


def _resampled_metric(y, pred, idx: np.ndarray, name: str, multi_label: bool, k: int) -> np.ndarray:
    """The metric of each bootstrap resample (rows ``idx``, shape (B, n)), vectorised."""
    if multi_label:
        yt, yp = y[idx], pred[idx]  # (B, n, k)
        if name == "accuracy":
            return (yt == yp).all(axis=2).mean(axis=1)
        tp = (yt & yp).sum(axis=1)
        fp = ((1 - yt) & yp).sum(axis=1)
        fn = (yt & (1 - yp)).sum(axis=1)
    else:
        yt, yp = y[idx], pred[idx]  # (B, n)
        if name == "accuracy":
            return (yt == yp).mean(axis=1)
        classes = np.arange(k)[None, None, :]
        t1, p1 = yt[..., None] == classes, yp[..., None] == classes
        tp, fp, fn = (t1 & p1).sum(axis=1), (~t1 & p1).sum(axis=1), (t1 & ~p1).sum(axis=1)
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    present = (tp + fn) > 0  # as scikit-learn's macro average over the labels present (zero_division=0)
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def better_share(y, challenger, reference, name: str, multi_label: bool, *, resamples: int = RESAMPLES,
                 seed: int = 0) -> float:
    """Share of paired bootstrap resamples of the validation rows in which ``challenger``'s decisions score
    higher than ``reference``'s on ``name`` (accuracy or macro_f1; ties count half)."""
    y, challenger, reference = np.asarray(y), np.asarray(challenger), np.asarray(reference)
    n = len(y)
    if n == 0:
        return 0.0
    k = int(max(y.max(initial=0), challenger.max(initial=0), reference.max(initial=0))) + 1 if not multi_label \
        else y.shape[1]
    rng = np.random.default_rng(seed)
    name = "accuracy" if name == "accuracy" else "macro_f1"
    wins = 0.0
    for start in range(0, resamples, 100):  # chunks of 100 resamples keep memory at 100 x n x k
        idx = rng.integers(0, n, size=(min(100, resamples - start), n))
        a = _resampled_metric(y, challenger, idx, name, multi_label, k)
        b = _resampled_metric(y, reference, idx, name, multi_label, k)
        wins += float((a > b).sum() + 0.5 * (a == b).sum())
    return wins / resamples


def choose(trained: list[Member], probas: dict, y_val, val_df, label_space: LabelSpace, metric: str) -> dict:
    """Set each member's temperature and weight; the sentence saying what was chosen and why."""
    from textclf_core.models.ensemble import combine

    multi = label_space.multi_label
    for m in trained:
        m.temperature = round(_fit_temperature(probas[m.key], y_val, multi), 4)
    plist = [probas[m.key] for m in trained]
    temps = [m.temperature for m in trained]
    weights = select_weights(plist, y_val, multi, temperatures=temps)
    name = metric if metric != "val_loss" else "macro_f1"

    def thresholds_for(proba):
        if not multi:
            return None
        from textclf_core.evaluation.metrics import tune_thresholds

        return tune_thresholds(val_df["label"].tolist(), proba, label_space.classes,
                               separator=label_space.separator or ";")

    singles = []
    for m in trained:
        p = combine([probas[m.key]], [1.0], [m.temperature], multi)
        t = thresholds_for(p)
        singles.append((_scores(p, val_df, label_space, t), m, p, t))
    best_scores, best_member, best_p, best_t = max(singles, key=lambda s: (_metric(s[0], name), -trained.index(s[1])))
    blend = combine(plist, weights, temps, multi)
    blend_t = thresholds_for(blend)
    blend_scores = _scores(blend, val_df, label_space, blend_t)
    used = int((weights > 0).sum())
    # The reference is the TF-IDF baseline (always the first member): another choice replaces it only when it is
    # better on validation beyond chance. Measured (bench/auto.py, movie reviews, 2-min budget): validation
    # preferred the SVM by 0.3 points (4 of 1,275 rows) and the test split then preferred the baseline by 1.2;
    # with a few hundred validation rows, differences that small are noise, and picking on them is how a
    # selection overfits validation.
    ref = next((s for s in singles if s[1].key == REFERENCE), singles[0])
    ref_decisions = _decisions(ref[2], ref[3], multi)
    # Every alternative to the baseline: (key, validation scores, probabilities, thresholds). The blend comes
    # last, so that a single model it only ties is kept (max() keeps the first of equals): one model is
    # simpler to explain and faster to serve.
    options = [(m.key, sc, p, t) for sc, m, p, t in singles if m is not ref[1]]
    if used > 1:
        options.append(("ensemble", blend_scores, blend, blend_t))
    y_dec = _truth(val_df, label_space)
    tested = []
    for key, sc, p, t in options:
        if _metric(sc, name) <= _metric(ref[0], name):
            continue
        share = better_share(y_dec, _decisions(p, t, multi), ref_decisions, name, multi, seed=0)
        tested.append((key, sc, p, t, share))
    passing = [o for o in tested if o[4] >= CONFIDENCE]
    pick = max(passing, key=lambda o: _metric(o[1], name)) if passing else None
    metric_word = name.replace("_", "-").replace("macro-f1", "macro-F1")
    label_of = {m.key: m.label for m in trained}
    if pick is not None and pick[0] == "ensemble":
        for m, w in zip(trained, weights):
            m.weight = float(w)
        parts = sorted((m for m in trained if m.weight > 0), key=lambda m: -m.weight)
        names = ", ".join(f"{m.label} ({m.weight:.2f})" for m in parts[:-1]) + f" and {parts[-1].label} " \
                                                                                 f"({parts[-1].weight:.2f})"
        gain = (blend_scores[name] - best_scores[name]) * 100
        sentence = (f"Ensemble of {names}: {gain:+.1f} {metric_word} points over the best single model "
                    f"({best_member.label}) on validation, better than {ref[1].label} alone in {pick[4]:.0%} of "
                    f"{RESAMPLES:,} resamples of the validation rows.")
        chosen, scores, proba, thresholds = "ensemble", blend_scores, blend, blend_t
    else:
        winner = ref if pick is None else next(s for s in singles if s[1].key == pick[0])
        for m in trained:
            m.weight = 1.0 if m is winner[1] else 0.0
        if pick is not None:
            why = f"better than {ref[1].label} in {pick[4]:.0%} of {RESAMPLES:,} resamples of the validation rows"
        elif len(trained) == 1:
            why = "it was the only model that finished in time"
        elif tested:
            top = max(tested, key=lambda o: _metric(o[1], name))
            what = "the ensemble" if top[0] == "ensemble" else label_of[top[0]]
            why = (f"{what} scored higher on validation ({metric_word} {top[1][name]:.3f} vs {ref[0][name]:.3f}) "
                   f"but was better in only {top[4]:.0%} of {RESAMPLES:,} resamples of the validation rows "
                   f"({CONFIDENCE:.0%} needed), a difference chance explains")
        else:
            why = "no other model or weighting beat it on validation"
        sentence = (f"{winner[1].label} alone: {metric_word} {winner[0][name]:.3f} on validation; {why}.")
        chosen, scores, proba, thresholds = winner[1].key, winner[0], winner[2], winner[3]
    return {"sentence": sentence, "chosen": chosen, "validation": scores, "thresholds": thresholds,
            "val_proba": proba, "best_single": {"member": best_member.label, **best_scores}}


def leaderboard_frame(rows: list[dict]):
    """The leaderboard as a table for pages and the CLI (plain columns, best first)."""
    import pandas as pd

    frame = pd.DataFrame(rows or [], columns=["member", "state", "val_accuracy", "val_macro_f1", "seconds",
                                              "estimate_s", "weight", "reason"])
    if not len(frame):
        return frame
    frame["_done"] = frame["val_macro_f1"].notna()
    frame = frame.sort_values(["_done", "weight", "val_macro_f1"], ascending=[False, False, False]).drop(columns="_done")
    return frame.reset_index(drop=True)


def latest_leaderboard(events: list[dict]) -> tuple[list[dict], str | None]:
    """The newest leaderboard and summary found in a run's events (for live pages)."""
    rows, summary = [], None
    for event in events:
        if event.get("type") in ("plan", "member", "ensemble") and event.get("leaderboard") is not None:
            rows = event["leaderboard"]
        if event.get("type") == "ensemble":
            summary = event.get("summary")
    return rows, summary
