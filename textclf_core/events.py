"""The events a run reports, and the one object a loop reports through.

Events stay plain dicts on disk (one per line of ``metrics.jsonl``: durable, readable by jobs.py,
the pages and old run folders), but they are built here, by one typed constructor per event type,
and their schema lives in :data:`SCHEMA` (tests check it against the events table of
ARCHITECTURE.md, so the docs and the code cannot drift).

:class:`Reporter` is what a training loop holds (the shape of transformers' ``TrainerCallback`` /
Lightning's ``Callback``, kept to one object): ``emit`` an event, ``throttled`` progress at most
about once a second, and ``should_stop`` / ``check_stop`` for the Cancel button. Leaf module:
imports nothing of the pipeline and no torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from textclf_core.errors import CancelledError

Emit = Callable[[dict], None]


@dataclass(frozen=True)
class EventSpec:
    """The keys of one event type: ``required`` are always there (``null`` allowed where the text says so),
    ``optional`` only when the emitter has them. ``type`` and ``time`` are on every event."""

    type: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    doc: str = ""

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(("type", "time") + self.required + self.optional)


_FINAL_DOC = "the run ended; the same state is in status.json"
SCHEMA: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        EventSpec(
            "started",
            (
                "run_id",
                "config",
                "classes",
                "multi_label",
                "n_train",
                "n_val",
                "n_test",
                "n_unlabelled",
                "n_excluded",
                "n_augmented",
                "augmentation",
            ),
            doc="the data is split and training begins (n_train counts original rows, without augmented ones)",
        ),
        EventSpec(
            "step",
            ("step", "total_steps", "epoch", "loss"),
            ("lr", "examples_per_s", "elapsed_s", "eta_s", "stage", "message"),
            doc="training progress, at most about once a second (epoch and loss may be null)",
        ),
        EventSpec(
            "evaluation",
            ("step", "epoch", "val_loss", "accuracy", "macro_f1", "confusion_matrix", "classes"),
            ("candidate", "member", "kept"),
            doc="one pass over the validation rows (confusion_matrix null for multi-label; member: auto's member; "
            "kept: auto's kept model in words, its figures the run's headline)",
        ),
        EventSpec(
            "progress",
            ("stage",),
            ("done", "total", "cached", "examples_per_s", "elapsed_s", "eta_s", "windows", "member", "progress"),
            doc="a long stage without steps, at most about once a second: done of total texts (embedding, "
            "frozen layers; windows: how many windows they make), or auto's share of its budget (progress)",
        ),
        EventSpec("finished", ("message", "test", "train_seconds"), doc=_FINAL_DOC + "; test: accuracy, macro_f1"),
        EventSpec("cancelled", ("message",), doc=_FINAL_DOC),
        EventSpec("failed", ("message",), doc=_FINAL_DOC),
        EventSpec("review_stage", ("stage", "progress"), doc="label review: a stage and its share done (0..1)"),
        EventSpec("review_fold", ("fold", "folds"), doc="label review: one fold of out-of-sample probabilities done"),
        EventSpec(
            "curve_point",
            ("done", "total", "n_train"),
            ("member", "macro_f1", "accuracy"),
            doc="learning curve: done of total subset sizes scored; n_train: the size scored last (done 0: the first, "
            "about to train); member, macro_f1, accuracy: its best member",
        ),
        EventSpec(
            "cancel_requested", ("by",), doc="someone pressed Cancel (by: the signed-in user or browser identity)"
        ),
        EventSpec(
            "plan",
            ("budget_s", "leaderboard"),
            ("stats",),
            doc="auto: the candidates in order, with estimates, before the first trains (budget_s null: no limit)",
        ),
        EventSpec(
            "member",
            ("member", "leaderboard", "budget_s", "elapsed_s"),
            doc="auto: one candidate is done, skipped or failed (its leaderboard row), and the whole board",
        ),
        EventSpec("ensemble", ("summary", "leaderboard"), doc="auto: what was chosen on validation, in one sentence"),
    )
}
FINAL_TYPES = ("finished", "cancelled", "failed")


def check(event: dict) -> dict:
    """``event`` unchanged when it matches :data:`SCHEMA`; ``ValueError`` naming what is wrong otherwise."""
    spec = SCHEMA.get(event.get("type"))
    if spec is None:
        raise ValueError(f"unknown event type {event.get('type')!r}")
    missing = [k for k in spec.required if k not in event]
    unknown = sorted(set(event) - spec.keys)
    if missing or unknown:
        raise ValueError(f"{spec.type} event: missing {missing}, unknown {unknown}")
    return event


def _make(kind: str, required: dict, optional: dict, extra: dict | None = None) -> dict:
    event = {"type": kind, "time": time.time(), **required}
    event.update({k: v for k, v in optional.items() if v is not None})
    if extra:
        event.update(extra)
    return check(event)


# --- one constructor per type ---------------------------------------------------------------------
def started(
    *,
    run_id: str,
    config: dict,
    classes: list,
    multi_label: bool,
    n_train: int,
    n_val: int,
    n_test: int,
    n_unlabelled: int,
    n_excluded: int,
    n_augmented: int,
    augmentation: dict,
) -> dict:
    return _make(
        "started",
        dict(
            run_id=run_id,
            config=config,
            classes=list(classes),
            multi_label=multi_label,
            n_train=n_train,
            n_val=n_val,
            n_test=n_test,
            n_unlabelled=n_unlabelled,
            n_excluded=n_excluded,
            n_augmented=n_augmented,
            augmentation=augmentation,
        ),
        {},
    )


def step(
    *,
    step: int,
    total_steps: int,
    epoch: float | None,
    loss: float | None,
    lr: float | None = None,
    examples_per_s: float | None = None,
    elapsed_s: float | None = None,
    eta_s: float | None = None,
    stage: str | None = None,
    message: str | None = None,
) -> dict:
    return _make(
        "step",
        dict(step=step, total_steps=total_steps, epoch=epoch, loss=loss),
        dict(lr=lr, examples_per_s=examples_per_s, elapsed_s=elapsed_s, eta_s=eta_s, stage=stage, message=message),
    )


def evaluation(
    *,
    step: int,
    epoch: float,
    val_loss: float | None,
    accuracy: float | None,
    macro_f1: float | None,
    confusion_matrix: list | None,
    classes: list,
    candidate: dict | None = None,
    member: str | None = None,
    kept: str | None = None,
) -> dict:
    return _make(
        "evaluation",
        dict(
            step=int(step),
            epoch=float(epoch),
            val_loss=val_loss,
            accuracy=accuracy,
            macro_f1=macro_f1,
            confusion_matrix=confusion_matrix,
            classes=list(classes),
        ),
        dict(candidate=candidate, member=member, kept=kept),
    )


def progress(
    *,
    stage: str,
    done: int | None = None,
    total: int | None = None,
    cached: int | None = None,
    examples_per_s: float | None = None,
    elapsed_s: float | None = None,
    eta_s: float | None = None,
    windows: int | None = None,
    member: str | None = None,
    progress: float | None = None,
) -> dict:
    return _make(
        "progress",
        dict(stage=stage),
        dict(
            done=done,
            total=total,
            cached=cached,
            examples_per_s=examples_per_s,
            elapsed_s=elapsed_s,
            eta_s=eta_s,
            windows=windows,
            member=member,
            progress=progress,
        ),
    )


def final(state: str, message: str, **extra) -> dict:
    """``finished`` (with ``test`` and ``train_seconds``), ``cancelled`` or ``failed``."""
    if state not in FINAL_TYPES:
        raise ValueError(f"{state!r} is not one of {FINAL_TYPES}")
    return _make(state, dict(message=message), {}, extra)


def finished(*, message: str, test: dict, train_seconds: float) -> dict:
    return final("finished", message, test=test, train_seconds=train_seconds)


def curve_point(
    *,
    done: int,
    total: int,
    n_train: int,
    member: str | None = None,
    macro_f1: float | None = None,
    accuracy: float | None = None,
) -> dict:
    return _make(
        "curve_point",
        dict(done=int(done), total=int(total), n_train=int(n_train)),
        dict(member=member, macro_f1=macro_f1, accuracy=accuracy),
    )


def cancel_requested(*, by: str) -> dict:
    return _make("cancel_requested", dict(by=by), {})


def auto_plan(*, budget_s: float | None, leaderboard: list, stats: dict | None = None) -> dict:
    return _make("plan", dict(budget_s=budget_s, leaderboard=leaderboard), dict(stats=stats))


def auto_member(*, member: dict, leaderboard: list, budget_s: float | None, elapsed_s: float) -> dict:
    return _make("member", dict(member=member, leaderboard=leaderboard, budget_s=budget_s, elapsed_s=elapsed_s), {})


def auto_ensemble(*, summary: str, leaderboard: list) -> dict:
    return _make("ensemble", dict(summary=summary, leaderboard=leaderboard), {})


def review_stage(*, stage: str, progress: float) -> dict:
    return _make("review_stage", dict(stage=stage, progress=progress), {})


def review_fold(*, fold: int, folds: int) -> dict:
    return _make("review_fold", dict(fold=fold, folds=folds), {})


# --- the one reporter --------------------------------------------------------------------------------
class Reporter:
    """Where a loop sends its events and asks whether to stop.

    ``emit`` is the listener (None: events are dropped, as on the non-main processes of a launched
    run); ``should_stop`` the Cancel flag. ``throttled(key, make)`` emits ``make()`` at most once
    per ``interval_s`` per key (and always with ``force``), so a loop of thousands of small steps
    writes about one line a second instead of one per step; the event is only built when it is due.
    """

    def __init__(
        self,
        emit: Emit | None = None,
        should_stop: Callable[[], bool] | None = None,
        *,
        interval_s: float = 1.0,
        fields: dict | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._emit = emit
        self._should_stop = should_stop
        self.interval_s = float(interval_s)
        self._fields = dict(fields or {})
        self._clock = clock
        self._last: dict[str, float] = {}

    @classmethod
    def of(cls, emit: "Emit | Reporter | None" = None, should_stop: Callable[[], bool] | None = None) -> "Reporter":
        """A reporter from the ``emit=`` / ``should_stop=`` pair public functions take (or the reporter itself)."""
        if isinstance(emit, Reporter):
            return emit if should_stop is None else Reporter(emit.emit, should_stop, interval_s=emit.interval_s)
        return cls(emit, should_stop)

    def __call__(self, event: dict) -> None:  # a reporter can be passed wherever an ``emit`` callable goes
        self.emit(event)

    def emit(self, event: dict) -> None:
        if self._emit is not None:
            self._emit(dict(event, **self._fields) if self._fields else event)

    def due(self, key: str = "step", *, force: bool = False) -> bool:
        """True (and the clock for ``key`` restarted) when an event of ``key`` may go out now."""
        now = self._clock()
        last = self._last.get(key)
        if force or last is None or now - last >= self.interval_s:
            self._last[key] = now
            return True
        return False

    def throttled(self, key: str, make: Callable[[], dict], *, force: bool = False) -> bool:
        if self._emit is None or not self.due(key, force=force):
            return False
        self.emit(make())
        return True

    def should_stop(self) -> bool:
        return bool(self._should_stop is not None and self._should_stop())

    def check_stop(self, message: str | None = None) -> None:
        """Raise :class:`CancelledError` when the user asked to stop."""
        if self.should_stop():
            raise CancelledError(message) if message else CancelledError()

    def quiet(self) -> "Reporter":
        """Same stop flag, no events (non-main processes of a launched run report nothing)."""
        return Reporter(None, self._should_stop, interval_s=self.interval_s)

    def with_fields(self, **fields: Any) -> "Reporter":
        """Same listener and stop flag; every event gets ``fields`` added (e.g. ``stage="embedding"``)."""
        return Reporter(
            self.emit if self._emit is not None else None, self._should_stop, interval_s=self.interval_s, fields=fields
        )


# --- events in words ------------------------------------------------------------------------------
def _num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


def _duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = float(seconds)
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _member_sentence(row: dict) -> str:
    name, state = row.get("member") or row.get("key") or "a candidate", row.get("state")
    if state == "running":
        return f"Auto started {name} (estimated {_duration(row.get('estimate_s'))})."
    if state in ("done", "stopped early"):
        text = (
            f"Auto trained {name} in {_duration(row.get('seconds'))} (estimated {_duration(row.get('estimate_s'))}"
            f"): validation macro-F1 {_num(row.get('val_macro_f1'))}"
        )
        return text + (f"; {row['reason']}." if row.get("reason") else ".")
    return f"Auto {state or 'skipped'} {name}" + (f": {row['reason']}." if row.get("reason") else ".")


def describe(event: dict, labels: dict | None = None) -> str:
    """One plain sentence for an event (the Training page's event log): 'Auto trained TF-IDF + linear SVM in
    4 s (estimated 3 s): validation macro-F1 0.812.' ``labels`` maps auto member keys to their names."""
    labels = labels or {}
    kind = event.get("type")
    key = event.get("member") if isinstance(event.get("member"), str) else None
    who = labels.get(key, key)
    if kind == "started":
        return (
            f"Training started: {event.get('n_train', 0):,} training, {event.get('n_val', 0):,} validation and "
            f"{event.get('n_test', 0):,} test rows, {len(event.get('classes') or [])} classes."
        )
    if kind == "step":
        parts = [event.get("message") or f"Step {event.get('step')} of {event.get('total_steps')}"]
        if event.get("loss") is not None:
            parts.append(f"loss {_num(event['loss'])}")
        if event.get("examples_per_s"):
            parts.append(f"{float(event['examples_per_s']):,.0f} examples/s")
        return ", ".join(str(p) for p in parts) + "."
    if kind == "evaluation":
        if event.get("kept"):
            return (
                f"Kept model ({event['kept']}): validation accuracy {_num(event.get('accuracy'))}, "
                f"macro-F1 {_num(event.get('macro_f1'))}."
            )
        return (
            f"Validation{f' of {who}' if who else ''} at step {event.get('step')}: accuracy "
            f"{_num(event.get('accuracy'))}, macro-F1 {_num(event.get('macro_f1'))}."
        )
    if kind == "progress":
        what = who or event.get("stage") or "work"
        text = f"Working on {what}"
        if event.get("total"):
            text += f": {int(event.get('done') or 0):,} of {int(event['total']):,} texts"
        if event.get("examples_per_s"):
            text += f", {float(event['examples_per_s']):,.0f} examples/s"
        if event.get("eta_s") is not None:
            text += f", about {_duration(event['eta_s'])} left"
        return text + "."
    if kind == "plan":
        rows = event.get("leaderboard") or []
        budget = event.get("budget_s")
        return (
            f"Auto planned {len(rows)} candidates for a budget of "
            f"{'no limit' if budget is None else _duration(budget)}: "
            + ", ".join(str(r.get("member")) for r in rows)
            + "."
        )
    if kind == "member":
        return _member_sentence(event.get("member") or {})
    if kind == "ensemble":
        return str(event.get("summary") or "Auto chose its model.")
    if kind in FINAL_TYPES:
        return f"The run {kind}: {event.get('message') or ''}".rstrip(": ") + "."
    if kind == "cancel_requested":
        return f"{event.get('by') or 'Someone'} asked to cancel the run."
    if kind == "review_stage":
        return f"Label review: {event.get('stage')} ({float(event.get('progress') or 0):.0%} done)."
    if kind == "review_fold":
        return f"Label review: fold {event.get('fold')} of {event.get('folds')} done."
    if kind == "curve_point":
        return f"Learning curve: {event.get('done')} of {event.get('total')} sizes scored."
    return f"{kind} event."
