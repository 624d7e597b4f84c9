"""Labelling from scratch with active learning: the package's entry point for a labelling session.

A :class:`LabellingSession` holds the texts, the class names and the labels made so far, writes each
label at once to a label log, keeps the queue (what to label next) and retrains the fast model every
``retrain_every`` new labels in the background (a scheduler), never blocking labelling; a failed
retrain keeps the previous model and says why. Before the first model, suggestions and the order
may come from the class names (:mod:`.coldstart`); the model is kept with the labels
(:mod:`.model_store`), so a reload continues the queue.

This module holds the session, its schedulers (:class:`ThreadScheduler` for the page,
:class:`ImmediateScheduler` for the CLI and simulations, :class:`ManualScheduler` for tests),
:class:`RetrainStatus`, :func:`highlight` (a search hit on the card) and :func:`simulate` (the bench's
labeller). Each other concern lives in its own module, and its public names are re-exported here
(``__all__``), so ``active.X`` keeps working for the pages, the CLI, the bench and the tests:

- :mod:`.label_log`: where labels are written: :class:`LabelLog` (a file outside any project),
  :class:`ProjectLabelLog` (the project's change log), ``FINDING``, :func:`labelling_root`,
  :func:`data_fingerprint`, :func:`labelling_order`;
- :mod:`.fast_model`: the features (:func:`build_features`, :func:`cached_features`) and the model
  (:func:`fit_fast_model`, :class:`FastModel`, :func:`cross_validated`, :class:`Estimate`,
  :func:`progress_sentence`, :func:`trainable`, the multi-label cell helpers);
- :mod:`.queue`: the order to label in (``STRATEGIES``, :func:`queue_order`, :func:`uncertainty`,
  :func:`diverse_order`).

Import order inside the package: ``label_log`` < ``fast_model`` < ``queue`` < ``active``. Nothing here
imports streamlit.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import TextclfError
from textclf_core.labels import clean_label

from . import coldstart
from .fast_model import (
    MULTI_SEPARATOR,
    C,
    Estimate,
    FastModel,
    FeatureMatrix,
    build_features,
    cached_features,
    cross_validated,
    fast_model_fields,
    fast_model_from_fields,
    fit_fast_model,
    join_cell,
    progress_sentence,
    split_cell,
    trainable,
    wilson_interval,
)
from .label_log import FINDING, LabelLog, ProjectLabelLog, data_fingerprint, labelling_order, labelling_root
from .queue import (
    DEFAULT_RETRAIN_EVERY,
    DEFAULT_STRATEGY,
    DEFAULT_UNCERTAINTY,
    MAX_DIVERSITY_SLOTS,
    POOL_FACTOR,
    STRATEGIES,
    diverse_order,
    queue_order,
    uncertainty,
)

__all__ = [
    # the session (this module)
    "LabellingSession",
    "RetrainStatus",
    "ThreadScheduler",
    "ManualScheduler",
    "ImmediateScheduler",
    "highlight",
    "simulate",
    # label_log
    "FINDING",
    "LabelLog",
    "ProjectLabelLog",
    "data_fingerprint",
    "labelling_order",
    "labelling_root",
    # fast_model
    "C",
    "MULTI_SEPARATOR",
    "Estimate",
    "FastModel",
    "FeatureMatrix",
    "build_features",
    "cached_features",
    "cross_validated",
    "fast_model_fields",
    "fast_model_from_fields",
    "fit_fast_model",
    "join_cell",
    "progress_sentence",
    "split_cell",
    "trainable",
    "wilson_interval",
    # queue
    "DEFAULT_RETRAIN_EVERY",
    "DEFAULT_STRATEGY",
    "DEFAULT_UNCERTAINTY",
    "MAX_DIVERSITY_SLOTS",
    "POOL_FACTOR",
    "STRATEGIES",
    "diverse_order",
    "queue_order",
    "uncertainty",
]

log = logging.getLogger(__name__)


# =============================================================================== background work
class ThreadScheduler:
    """One worker thread; a request that arrives while another waits replaces it (latest wins).

    The thread exits when nothing is waiting, so an idle session holds no thread.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self._busy = False

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            self._pending = task
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="textclf-active-retrain", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                task, self._pending = self._pending, None
                if task is None:
                    self._busy = False
                    self._thread = None
                    return
                self._busy = True
            task()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._busy or self._pending is not None

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until idle (for the CLI and tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.busy:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


class ManualScheduler:
    """Keeps the latest request until :meth:`run_pending` (tests: background work, run when you say)."""

    def __init__(self):
        self.pending: Callable[[], None] | None = None
        self.submitted = 0

    def submit(self, task: Callable[[], None]) -> None:
        self.pending = task
        self.submitted += 1

    @property
    def busy(self) -> bool:
        return self.pending is not None

    def run_pending(self) -> bool:
        task, self.pending = self.pending, None
        if task is None:
            return False
        task()
        return True

    def wait(self, timeout: float = 0.0) -> bool:
        self.run_pending()
        return True


class ImmediateScheduler(ManualScheduler):
    """Runs each request at once, in the caller's thread (simulations, the CLI)."""

    def submit(self, task: Callable[[], None]) -> None:
        self.submitted += 1
        task()


@dataclass
class RetrainStatus:
    state: str  # "waiting" (not enough labels yet), "ready", "training", "failed"
    message: str
    model_version: int = 0
    model_labels: int = 0
    labels_until_next: int = 0
    seconds: float | None = None
    error: str | None = None


# =============================================================================== the session
class LabellingSession:
    """Labelling one table's texts: labels (persisted), the queue, the fast model as you go.

    Thread-safe: the retrainer reads a copy of the labels; the page thread labels meanwhile.
    """

    def __init__(
        self,
        texts: Sequence[str],
        classes: Sequence[str] = (),
        *,
        multi_label: bool = False,
        label_log: LabelLog | ProjectLabelLog | None = None,
        strategy: str = DEFAULT_STRATEGY,
        seed: int = 0,
        retrain_every: int = DEFAULT_RETRAIN_EVERY,
        scheduler=None,
        feature_source: str = "tfidf",
        embedding_model: str | None = None,
        features: FeatureMatrix | None = None,
        cross_validate: bool = True,
        train: Callable[[FeatureMatrix, dict, list, int], FastModel] | None = None,
        zero_shot=None,
        model_name: str | None = None,
        arrange: Callable[[Sequence[int]], Sequence[int]] | None = None,
    ):
        if strategy not in STRATEGIES:
            raise TextclfError(f"Unknown queue strategy {strategy!r}", hint=f"Use one of: {', '.join(STRATEGIES)}")
        self.texts = ["" if t is None else str(t) for t in texts]
        if not self.texts:
            raise TextclfError("There are no texts to label", hint="Choose a file with a column of texts")
        self.log = label_log if label_log is not None else LabelLog(None)
        meta = self.log.meta()
        self.multi_label = bool(meta.get("multi_label", multi_label))
        self._classes: list[str] = list(meta.get("classes") or [])
        for name in classes:
            self._add_class_name(name)
        # Settings saved by an earlier session on this data (a reload) win over the defaults.
        self.strategy = meta.get("strategy") if meta.get("strategy") in STRATEGIES else strategy
        self.seed = int(seed)
        self.retrain_every = max(1, int(meta.get("retrain_every") or retrain_every))
        self.scheduler = scheduler if scheduler is not None else ThreadScheduler()
        self.feature_source = feature_source
        self.embedding_model = embedding_model
        self.cross_validate = cross_validate
        self._features = features
        self._train = train
        self._lock = threading.RLock()
        self._model: FastModel | None = None
        self._error: str | None = None
        self._requested_at = 0  # labels made when the last retrain was requested
        self._training = False
        self._version = 0
        self.curve: list[Estimate] = []
        self.skipped: set[int] = set()
        self.checked: set[int] = set()  # disputed rows looked at again (suspicious queue)
        self._order_cache: tuple | None = None
        self.cursor: int | None = None  # position in history() while moving back; None = the queue
        self._pinned: int | None = None  # a row put on the card (undo, search)
        self._class_epoch = 0  # bumped by rename/merge: a retrain that started before is redone
        # Undo reaches labels made before a reload too (the log keeps what each label replaced).
        self._undo_stack: list[tuple[int, str | None]] = [
            (int(rec["row"]), clean_label(rec.get("old_label")))
            for rec in self.log.lines()
            if rec.get("finding") == FINDING
        ]
        self._save_meta()
        # Cold start (labelling.coldstart.ZeroShot): suggestions and order from the class descriptions.
        self._zero_shot = zero_shot
        self._guide_cache: tuple | None = None
        self._cold_scheduler = None  # the zero-shot is computed on its own thread (prepare_cold_start)
        self._cold_error: str | None = None
        # The fast model is kept with the labels (labelling.model_store); a reload restores the queue.
        self.model_name = model_name
        self._restore_model()
        # A team member's share of the queue (labelling.team_log.queue_arrangement): order kept, rows cut.
        self.arrange = arrange

    # --- classes -------------------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        with self._lock:
            names = list(self._classes)
            for value in self.labels().values():
                for part in split_cell(value) if self.multi_label else [value]:
                    if part not in names:
                        names.append(part)
            return names

    def _add_class_name(self, name) -> str:
        name = clean_label(name)
        if name is None:
            raise TextclfError("A class needs a name", hint="Type a name for the class")
        if self.multi_label and MULTI_SEPARATOR in name:
            raise TextclfError(
                f"A class name cannot contain '{MULTI_SEPARATOR}' in multi-label data", hint="Choose another name"
            )
        if name not in self._classes:
            self._classes.append(name)
        return name

    def add_class(self, name: str) -> str:
        with self._lock:
            name = self._add_class_name(name)
            self._save_meta()
            return name

    def _save_meta(self) -> None:
        self.log.write_meta(
            {
                "classes": self._classes,
                "multi_label": self.multi_label,
                "strategy": getattr(self, "strategy", DEFAULT_STRATEGY),
                "retrain_every": getattr(self, "retrain_every", DEFAULT_RETRAIN_EVERY),
            }
        )

    def rename_class(self, old: str, new: str) -> int:
        """Rename a class (into an existing one = merge). Labels, queue and model follow. Returns rows changed."""
        new = clean_label(new)
        if new is None:
            raise TextclfError("A class needs a name", hint="Type the new name")
        if old not in self.classes:
            raise TextclfError(f"There is no class '{old}'", hint=f"Choose one of: {', '.join(self.classes)}")
        if new in self.classes and new != old:
            return self.merge_classes([old], new)
        with self._lock:
            changed = self._relabel_everywhere({old}, new, note=f"renamed '{old}' to '{new}'")
            self._classes = [new if c == old else c for c in self._classes]
            self._class_epoch += 1
            self._save_meta()
            if self._model is not None:
                self._model = self._model.renamed(old, new)
            return changed

    def merge_classes(self, sources: Sequence[str], into: str) -> int:
        """Fold ``sources`` into ``into`` (a new or existing class); the model retrains at once."""
        into = clean_label(into)
        sources = [s for s in sources if s != into]
        if into is None or not sources:
            raise TextclfError("Choose the classes to merge and the class they become")
        missing = [s for s in sources if s not in self.classes]
        if missing:
            raise TextclfError(f"There is no class '{missing[0]}'", hint=f"Choose from: {', '.join(self.classes)}")
        with self._lock:
            changed = self._relabel_everywhere(set(sources), into, note=f"merged {', '.join(sources)} into '{into}'")
            self._classes = [c for c in self._classes if c not in sources]
            if into not in self._classes:
                self._classes.append(into)
            self._class_epoch += 1
            self._save_meta()
            if self._model is not None:
                self._model = self._model.merged(sources, into)
                self._order_cache = None
        self.request_retrain()
        return changed

    def _relabel_everywhere(self, sources: set[str], into: str, *, note: str) -> int:
        with self.log.group(note):  # one rename is one Undo in the project's change log
            return self._relabel_rows(sources, into, note=note)

    def _relabel_rows(self, sources: set[str], into: str, *, note: str) -> int:
        changed = 0
        for row, value in self.labels().items():
            if self.multi_label:
                parts = split_cell(value)
                if not sources & set(parts):
                    continue
                new_parts = []
                for p in parts:
                    p = into if p in sources else p
                    if p not in new_parts:
                        new_parts.append(p)
                new_value = join_cell(new_parts)
            else:
                if value not in sources:
                    continue
                new_value = into
            self.log.append(row, "relabel", old_label=value, new_label=new_value, finding="class-change", note=note)
            changed += 1
        return changed

    # --- labels ---------------------------------------------------------------------------
    def labels(self) -> dict[int, str]:
        return self.log.labels()

    def counts(self) -> pd.DataFrame:
        """Labels per class (every class listed, zero included)."""
        tally = {c: 0 for c in self.classes}
        for value in self.labels().values():
            for part in split_cell(value) if self.multi_label else [value]:
                tally[part] = tally.get(part, 0) + 1
        return pd.DataFrame({"class": list(tally), "labels": list(tally.values())})

    def history(self) -> list[int]:
        return self.log.history()

    def label(self, row: int, value) -> dict:
        """Label ``row`` (a class name; a list of names for multi-label). Saved at once; may start a retrain."""
        row = self._check_row(row)
        if self.multi_label:
            names = [value] if isinstance(value, str) else list(value or [])
            for name in names:
                self._add_class_name(name)
            cell = join_cell([c for c in self.classes if c in set(names)])
            if cell is None:
                raise TextclfError("Pick at least one class for this text", hint="Or skip it with S")
        else:
            if isinstance(value, (list, tuple)):
                raise TextclfError("This data is single-label: pick one class")
            cell = self._add_class_name(value)
        with self._lock:
            old = self.labels().get(row)
            line = self.log.append(row, "relabel", old_label=old, new_label=cell)
            self._undo_stack.append((row, old))
            self._save_meta()
            self.skipped.discard(row)
            self.checked.add(row)
            self._advance_cursor(row)
        self.maybe_retrain()
        return line

    def accept(self, row: int) -> dict:
        """Take the model's suggestion for ``row``."""
        suggestion = self.suggestion(row)
        if suggestion is None:
            raise TextclfError(
                "There is no suggestion yet",
                hint=f"The model starts after {self.retrain_every} labels of two classes or more",
            )
        value, _ = suggestion
        if self.multi_label and not value:
            raise TextclfError("The model suggests no class for this text", hint="Pick the classes yourself")
        return self.label(row, value)

    def skip(self, row: int) -> None:
        row = self._check_row(row)
        with self._lock:
            self.skipped.add(row)
            self.checked.add(row)
            self._advance_cursor(row)

    def undo(self) -> int | None:
        """Take back the last label (its row comes back to the card). None when there is none."""
        with self._lock:
            labels = self.labels()
            while self._undo_stack:
                row, before = self._undo_stack.pop()
                if row in labels:
                    break
            else:
                return None
            self.log.undo_label(row, labels[row], before)
            self.cursor = None
            self.skipped.discard(row)
            self.checked.discard(row)
            self._pinned = row
            return row

    def open(self, row: int) -> None:
        """Put ``row`` on the card (e.g. a search hit); labelling it goes back to the queue."""
        row = self._check_row(row)
        with self._lock:
            self.cursor = None
            self._pinned = row
            if row in self.labels():  # a labelled row is shown through the history
                hist = self.history()
                self.cursor = hist.index(row)
                self._pinned = None

    def _check_row(self, row) -> int:
        try:
            row = int(row)
        except (TypeError, ValueError):
            raise TextclfError(f"Row {row!r} is not a row number") from None
        if not 0 <= row < len(self.texts):
            raise TextclfError(f"Row {row} is not in the data", hint=f"Rows go from 0 to {len(self.texts) - 1}")
        return row

    # --- where the card is: the queue or the history -------------------------------------
    def back(self) -> int | None:
        hist = self.history()
        if not hist:
            return None
        with self._lock:
            self.cursor = len(hist) - 1 if self.cursor is None else max(0, self.cursor - 1)
            return hist[self.cursor]

    def forward(self) -> int | None:
        hist = self.history()
        with self._lock:
            if self.cursor is None:
                return None
            self.cursor += 1
            if self.cursor >= len(hist):
                self.cursor = None
                return None
            return hist[self.cursor]

    def _advance_cursor(self, row: int) -> None:
        if self.cursor is None:
            return
        hist = self.history()
        pos = hist.index(row) if row in hist else self.cursor
        self.cursor = pos + 1 if pos + 1 < len(hist) else None
        if self.cursor is not None and hist[self.cursor] == row:
            self.cursor = None

    def current(self) -> int | None:
        """The row on the card: an undone row first, else the history position, else the head of the queue."""
        with self._lock:
            pinned = self._pinned
            if pinned is not None and pinned not in self.labels():
                return pinned
            self._pinned = None
            if self.cursor is not None:
                hist = self.history()
                if self.cursor < len(hist):
                    return hist[self.cursor]
                self.cursor = None
        nxt = self.next_rows(1)
        return nxt[0] if nxt else None

    def next_rows(self, n: int = 10) -> list[int]:
        """The next ``n`` rows of the queue (labelled and skipped rows left out)."""
        labels = self.labels()
        out: list[int] = []
        if self.strategy == "suspicious":
            model = self.model
            if model is not None and model.disputed is not None:
                for row in model.disputed["row"]:
                    row = int(row)
                    if row not in self.checked and row in labels and row not in self.skipped:
                        out.append(row)
                        if len(out) >= n:
                            return out
        for row in self._order():
            if row not in labels and row not in self.skipped and row not in out:
                out.append(int(row))
                if len(out) >= n:
                    break
        if not out and self.skipped:  # everything else done: the skipped rows come back
            out = sorted(r for r in self.skipped if r not in labels)[:n]
        return out

    def _order(self) -> np.ndarray:
        model = self.model
        cold = self._zero_shot is not None and self.strategy != "random"
        key = (model.version if model is not None else -1, self.strategy, id(self._zero_shot) if cold else None)
        cached = self._order_cache
        if cached is not None and cached[0] == key:
            order = cached[1]
        else:
            labelled = set(model.labelled_rows) if model is not None else set()
            unlabelled = [r for r in range(len(self.texts)) if r not in labelled]
            guide = self.guide() if cold else None
            if guide is not None and model is None:  # before the first model: the zero-shot's order
                order = coldstart.confident_order(guide, unlabelled, seed=self.seed)
            else:
                if self._features is None and model is not None:  # a restored model: the features if in memory
                    self._features = cached_features(
                        self.texts, self.feature_source, model=self.embedding_model, build=False
                    )
                X = self._features.X if self._features is not None else None
                # Once a model exists the queue follows it alone (as without a cold start): ordering by the
                # blend kept asking where the zero-shot was unsure, and the model at 100 labels scored
                # 0.90 instead of 0.97 on BBC news (bench/coldstart.py, seed 0).
                order = queue_order(
                    unlabelled,
                    self.strategy,
                    model=model,
                    X=X,
                    seed=self.seed + key[0] + 1,
                    batch=min(self.retrain_every, MAX_DIVERSITY_SLOTS),
                )
            if self.arrange is not None:
                order = np.asarray(list(self.arrange([int(r) for r in order])), dtype=np.int64)
            self._order_cache = (key, order)
        return order

    def set_strategy(self, strategy: str) -> None:
        if strategy not in STRATEGIES:
            raise TextclfError(f"Unknown queue strategy {strategy!r}", hint=f"Use one of: {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self._save_meta()

    def set_retrain_every(self, n: int) -> None:
        """Retrain after every ``n`` new labels (saved with the class list)."""
        n = max(1, int(n))
        if n != self.retrain_every:
            self.retrain_every = n
            self._save_meta()

    # --- the model ------------------------------------------------------------------------
    @property
    def model(self) -> FastModel | None:
        return self._model

    def suggestion(self, row: int):
        """(class, confidence) from the guide (zero-shot, blend or fast model); None when there is none."""
        guide = self.guide()
        if guide is None:
            return None
        if guide.source == "trained":
            return self.model.suggestion(row)
        return guide.suggestion(row)

    def guide(self):
        """What suggestions and the queue come from now (:func:`textclf_core.labelling.coldstart.blend`)."""
        model = self.model
        if self._zero_shot is None:
            return None if model is None else coldstart.blend(None, model, {})
        labels = self.labels()
        key = (id(self._zero_shot), model.version if model is not None else -1, len(labels), tuple(self.classes))
        cached = self._guide_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        guide = coldstart.blend(self._zero_shot, model, labels)
        self._guide_cache = (key, guide)
        return guide

    @property
    def zero_shot(self):
        return self._zero_shot

    def prepare_cold_start(
        self, descriptions=None, *, embed=None, model: str | None = None, method: str = coldstart.DEFAULT_METHOD
    ) -> bool:
        """Compute zero-shot guesses from the class names and ``descriptions`` (name -> text or
        ``{"description", "examples"}``) in the background; suggestions start when it is done.
        False (nothing started) for multi-label data, fewer than two classes, or once a model exists."""
        classes = self.classes
        if self.multi_label or len(classes) < 2 or self.model is not None:
            return False
        described = coldstart.describe_classes(classes, descriptions)

        def task():
            try:
                self.set_zero_shot(
                    coldstart.zero_shot(self.texts, described, embed=embed, model=model, method=method, seed=self.seed)
                )
                self._cold_error = None
            except Exception as exc:  # noqa: BLE001 - no cold start is today's behaviour, never a failure
                self._cold_error = str(exc) if isinstance(exc, TextclfError) else f"{type(exc).__name__}: {exc}"
                log.warning("cold start failed: %s", self._cold_error)

        self._cold_scheduler = self._cold_scheduler or (
            ImmediateScheduler() if isinstance(self.scheduler, ManualScheduler) else ThreadScheduler()
        )
        self._cold_scheduler.submit(task)
        return True

    def cold_start_message(self) -> str | None:
        """What the cold start is doing, for the page: preparing, its caveat, or why it failed."""
        if self._cold_scheduler is not None and self._cold_scheduler.busy:
            return "Reading the texts to make first suggestions from the class names and descriptions…"
        if self._cold_error:
            return f"No suggestions before the first labels: {self._cold_error}"
        return (self._zero_shot.message or None) if self._zero_shot is not None else None

    def set_zero_shot(self, zero_shot) -> None:
        """Use ``zero_shot`` (a :class:`textclf_core.labelling.coldstart.ZeroShot`, or None) from now on."""
        with self._lock:
            self._zero_shot = zero_shot
            self._guide_cache = None
            self._order_cache = None

    def maybe_retrain(self) -> bool:
        """Ask for a retrain when ``retrain_every`` labels arrived since the last one (and two classes exist)."""
        labels = self.labels()
        if len(labels) - self._requested_at < self.retrain_every and (self._model is not None or self._requested_at):
            return False  # counted from the last request, so labels made while one runs don't pile up requests
        if len(labels) < self.retrain_every:
            return False
        if not trainable(labels, self.multi_label):
            return False
        self.request_retrain()
        return True

    def resume(self) -> bool:
        """After a reload: retrain in the background when labels were made since the kept model (or
        none was kept); the kept model orders the queue meanwhile. True when a retrain was asked for."""
        model = self.model
        if model is None:
            return self.maybe_retrain()
        if len(self.labels()) == model.n_labels or not trainable(self.labels(), self.multi_label):
            return False
        self.request_retrain()
        return True

    def request_retrain(self) -> None:
        labels = self.labels()
        if not trainable(labels, self.multi_label):
            return
        with self._lock:
            self._requested_at = len(labels)
            self._training = True
        self.scheduler.submit(self._retrain)

    def _retrain(self) -> None:
        """The background task: train on the labels as they are now; on failure keep the old model."""
        try:
            with self._lock:
                labels = dict(self.labels())
                classes = list(self.classes)
                version = self._version + 1
                epoch = self._class_epoch
            if self._features is None:
                self._features = cached_features(self.texts, self.feature_source, model=self.embedding_model)
            if self._train is not None:
                model = self._train(self._features, labels, classes, version)
            else:
                model = fit_fast_model(
                    self._features,
                    labels,
                    classes,
                    multi_label=self.multi_label,
                    seed=self.seed,
                    cross_validate=self.cross_validate,
                    version=version,
                )
            with self._lock:
                redo = epoch != self._class_epoch  # classes renamed or merged meanwhile: train on the new names
                if not redo:
                    self._version = version
                    self._model = model
                    self._error = None
                    self._order_cache = None
                    self.checked = set()  # the new model's disputes are all new
                    if model.estimate is not None:
                        self.curve.append(model.estimate)
            if not redo:
                self._save_model(model)
            if redo:
                self.scheduler.submit(self._retrain)
        except Exception as exc:  # noqa: BLE001 - a failed retrain must never stop labelling
            message = str(exc) if isinstance(exc, TextclfError) else f"{type(exc).__name__}: {exc}"
            log.warning("active retrain failed: %s", message, exc_info=not isinstance(exc, TextclfError))
            with self._lock:
                self._error = message
        finally:
            with self._lock:
                self._training = False

    def _save_model(self, model: FastModel) -> None:
        from . import model_store

        try:
            model_store.save(
                getattr(self.log, "folder", None),
                self.model_name or model_store.DEFAULT_NAME,
                fast_model_fields(model, data_fingerprint(self.texts)),
                model.proba,
            )
        except OSError as exc:  # keeping it is a convenience: labelling goes on without
            log.warning("could not keep the fast model: %s", exc)

    def _restore_model(self) -> None:
        """The fast model of an earlier session on these labels (a reload): the queue continues its order."""
        from . import model_store

        saved = model_store.load(
            getattr(self.log, "folder", None),
            self.model_name or model_store.DEFAULT_NAME,
            fingerprint=data_fingerprint(self.texts),
            n_rows=len(self.texts),
            labels=self.labels(),
        )
        if saved is None:
            return
        model = fast_model_from_fields(*saved)
        if model.multi_label != self.multi_label:
            return
        self._model, self._version = model, model.version
        self._requested_at = model.n_labels  # the next retrain is due retrain_every labels after it
        if model.estimate is not None:
            self.curve.append(model.estimate)

    def busy(self) -> bool:
        """True while background work (a retrain, the cold start) may still change what the page shows."""
        cold = self._cold_scheduler
        return self.status().state == "training" or bool(cold is not None and cold.busy)

    def status(self) -> RetrainStatus:
        labels = self.labels()
        model = self.model
        with self._lock:
            training = self._training or bool(getattr(self.scheduler, "busy", False))
            error = self._error
        due = (
            max(0, self.retrain_every - (len(labels) - self._requested_at))
            if model
            else max(0, self.retrain_every - len(labels))
        )
        common = dict(
            model_version=model.version if model else 0,
            model_labels=model.n_labels if model else 0,
            labels_until_next=due,
            seconds=model.seconds if model else None,
            error=error,
        )
        if training:
            return RetrainStatus("training", "The model is retraining in the background; keep labelling.", **common)
        if error:
            kept = f" The model trained on {model.n_labels} labels stays in use." if model else ""
            return RetrainStatus("failed", f"The last retrain failed: {error}.{kept}", **common)
        if model is None:
            if not trainable(labels, self.multi_label) and len(labels) >= self.retrain_every:
                return RetrainStatus("waiting", "The model starts once two classes have labels.", **common)
            return RetrainStatus("waiting", f"The model starts after {due} more label(s).", **common)
        return RetrainStatus(
            "ready",
            f"Model {model.version} trained on {model.n_labels} labels; next retrain after {due} more.",
            **common,
        )

    def wait(self, timeout: float = 60.0) -> bool:
        cold = self._cold_scheduler.wait(timeout) if self._cold_scheduler is not None else True
        return self.scheduler.wait(timeout) and cold

    # --- results ---------------------------------------------------------------------------
    def labelled_frame(self, df: pd.DataFrame | None = None, *, label_col: str = "label") -> tuple[pd.DataFrame, str]:
        """The labelled rows (of ``df`` when given, else text + label) and the label column's name."""
        labels = self.labels()
        rows = sorted(labels)
        if df is None:
            frame = pd.DataFrame({"text": [self.texts[r] for r in rows]})
        else:
            frame = df.iloc[rows].reset_index(drop=True).copy()
        while label_col in frame.columns:
            label_col = label_col + "_new"
        frame[label_col] = [labels[r] for r in rows]
        return frame, label_col


def highlight(text: str, query: str | None) -> str:
    """``text`` as HTML (escaped) with every case-insensitive match of ``query`` in ``<mark>``."""
    import html
    import re

    text = "" if text is None else str(text)
    if not query or not query.strip():
        return html.escape(text)
    parts = re.split(f"({re.escape(query.strip())})", text, flags=re.IGNORECASE)
    return "".join(f"<mark>{html.escape(p)}</mark>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


# =============================================================================== simulation
def simulate(
    pool_texts: Sequence[str],
    pool_gold: Sequence[str],
    test_texts: Sequence[str],
    test_gold: Sequence[str],
    *,
    strategy: str,
    budgets: Sequence[int] = (50, 100, 200, 400),
    seed: int = 0,
    retrain_every: int = DEFAULT_RETRAIN_EVERY,
    features: FeatureMatrix | None = None,
    diversity: bool = True,
    X_test=None,
) -> list[dict]:
    """A simulated labeller: gold labels stay hidden and are revealed only for the rows the queue asks for.

    Returns one dict per budget: ``{"labels", "macro_f1"}`` of the fast model on the test texts.
    """
    from sklearn.metrics import f1_score

    classes = sorted(set(map(str, test_gold)))  # the labeller knows the class names, not the pool's labels
    features = features or build_features(pool_texts)
    X_test = features.transform(list(test_texts)) if X_test is None else X_test
    y_test = np.array([classes.index(str(g)) for g in test_gold])
    session = LabellingSession(
        pool_texts,
        classes,
        strategy=strategy,
        seed=seed,
        retrain_every=retrain_every,
        scheduler=ImmediateScheduler(),
        features=features,
        cross_validate=False,
    )
    out = []
    for budget in sorted(budgets):
        while len(session.labels()) < budget:
            row = _next_row(session, diversity)
            if row is None:
                break
            session.label(row, str(pool_gold[row]))  # the oracle answers only for the row asked about
        labels = session.labels()
        if not trainable(labels, False):
            out.append({"labels": len(labels), "macro_f1": float("nan")})
            continue
        model = fit_fast_model(features, labels, classes, seed=seed, cross_validate=False)
        pred = model.predict_proba_features(X_test).argmax(axis=1)
        out.append({"labels": len(labels), "macro_f1": float(f1_score(y_test, pred, average="macro"))})
    return out


def _next_row(session: LabellingSession, diversity: bool) -> int | None:
    if diversity:
        return session.current()
    model = session.model
    labels = session.labels()
    key = ("nodiv", model.version if model else -1)
    if getattr(session, "_nodiv", (None,))[0] != key:
        unlabelled = [r for r in range(len(session.texts)) if r not in labels]
        session._nodiv = (
            key,
            queue_order(unlabelled, session.strategy, model=model, seed=session.seed, diversity=False),
        )
    for row in session._nodiv[1]:
        if int(row) not in labels:
            return int(row)
    return None
