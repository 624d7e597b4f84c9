"""The label logs: where a labelling session's labels are written, one at a time, as they are made.

- :class:`ProjectLabelLog`: data in a project (the Label page, ``label-queue --project``): one ``relabel``
  per label in the project's change log, the class list in ``<project>/labelling.json``;
- :class:`LabelLog`: a file outside any project: one JSON line per label in
  ``$TEXTCLF_HOME/labelling/<fingerprint>/`` (:func:`labelling_root`, :func:`data_fingerprint`), in the
  columns of :class:`textclf_core.review.ChangeLog`, so ``ChangeLog.from_frame`` reads it;
- :func:`labelling_order`: the rows in the order they were last labelled, from either log's lines.

Both logs have one interface (``append``, ``lines``, ``labels``, ``history``, ``group``, ``undo_label``,
``meta``, ``write_meta``), so a :class:`textclf_core.labelling.active.LabellingSession` works on either (and
on :class:`textclf_core.labelling.team_log.TeamLabelLog`). Nothing here imports streamlit.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Sequence

import pandas as pd

from textclf_core.errors import TextclfError
from textclf_core.labels import clean_label

log = logging.getLogger(__name__)

FINDING = "labelled"  # the change log's ``finding`` for labels made on the Label page


def labelling_root(root: str | os.PathLike | None = None) -> Path:
    """``$TEXTCLF_HOME/labelling`` (``./labelling`` when TEXTCLF_HOME is unset)."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("TEXTCLF_HOME") or ".") / "labelling"


def data_fingerprint(texts: Sequence[str]) -> str:
    """The identity of a labelling session: the texts, in order (labels and other columns aside)."""
    from textclf_core.data import fingerprint

    return fingerprint(pd.DataFrame({"text": ["" if t is None else str(t) for t in texts]}))


def labelling_order(lines) -> list[int]:
    """Rows in the order they were last labelled, from change-log records (``row``, ``action``):
    a row labelled again moves to the end; a row whose latest edit is not a label leaves."""
    order: dict[int, None] = {}
    for rec in lines:
        row = int(rec["row"])
        order.pop(row, None)
        if rec["action"] in ("accept", "relabel"):
            order[row] = None
    return list(order)


class LabelLog:
    """Append-only JSON-lines log of labels, in ChangeLog's columns, plus the class list.

    ``folder/labels.jsonl`` gets one line per label, written with a single ``O_APPEND`` write,
    so a reload or a killed server loses at most the label in flight and two sessions
    appending to the same file keep each other's lines. ``folder/session.json`` holds the class
    names and the multi-label switch (written atomically). ``folder=None`` keeps it all in
    memory (simulations, tests). Data in a project uses :class:`ProjectLabelLog` instead.
    """

    FILE = "labels.jsonl"
    META = "session.json"

    def __init__(self, folder: str | os.PathLike | None):
        self.folder = Path(folder) if folder is not None else None
        self.session_id = uuid.uuid4().hex[:8]
        self._memory: list[dict] = []
        self._meta: dict = {}
        self._offset = 0
        self._lines: list[dict] = []
        self._lock = threading.Lock()  # the page thread and the retrainer read the same log

    @classmethod
    def for_data(cls, fingerprint: str, root: str | os.PathLike | None = None) -> "LabelLog":
        return cls(labelling_root(root) / fingerprint)

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder / self.FILE

    def append(
        self, row: int, action: str, *, old_label=None, new_label=None, finding: str = FINDING, note: str | None = None
    ) -> dict:
        """Record one edit (ChangeLog's actions) and return the line written."""
        from textclf_core.review import ChangeLog

        change = ChangeLog().record(
            int(row), action, old_label=old_label, new_label=new_label, finding=finding, note=note
        )
        line = dict(vars(change), session=self.session_id)
        if self.folder is None:
            with self._lock:
                self._memory.append(line)
            return line
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)  # one write: lines of two sessions never interleave
            finally:
                os.close(fd)
        except OSError as exc:
            raise TextclfError(
                f"The label could not be saved ({exc.strerror or exc})",
                where=str(self.path),
                hint="Check that the disk is not full and TEXTCLF_HOME is writable",
            ) from None
        return line

    def lines(self) -> list[dict]:
        """Every line so far, including other sessions' (re-reads only what was appended since)."""
        if self.folder is None:
            with self._lock:
                return list(self._memory)
        with self._lock:
            return self._read_new()

    def _read_new(self) -> list[dict]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return list(self._lines)
        end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
        for raw in chunk[:end].splitlines():
            try:
                rec = json.loads(raw)
            except ValueError:
                log.warning("skipping an unreadable line in %s", self.path)
                continue
            if isinstance(rec, dict) and "row" in rec and "action" in rec:
                self._lines.append(rec)
        self._offset += end
        return list(self._lines)

    def change_log(self):
        """The labels as a :class:`textclf_core.review.ChangeLog` (same edits, same order)."""
        from textclf_core.review import ChangeLog

        lines = self.lines()
        return ChangeLog.from_frame(pd.DataFrame(lines, columns=ChangeLog.COLUMNS))

    def labels(self) -> dict[int, str]:
        """The label in force for each labelled row (latest edit wins; 'keep' returns a row to unlabelled)."""
        out: dict[int, str] = {}
        for rec in self.lines():
            row = int(rec["row"])
            if rec["action"] in ("accept", "relabel") and clean_label(rec.get("new_label")) is not None:
                out[row] = str(rec["new_label"])
            else:
                out.pop(row, None)
        return out

    def history(self) -> list[int]:
        """Labelled rows in the order they were last labelled (for back/forward and 'continue')."""
        return labelling_order(self.lines())

    def group(self, note: str | None = None):
        """One user action's labels (a rename); a file log has no groups, so this is a no-op."""
        import contextlib

        return contextlib.nullcontext()

    def undo_label(self, row: int, current: str, before: str | None) -> None:
        """Take back the label ``current`` of ``row``: a file log appends the edit that restores ``before``."""
        if before is None:
            self.append(row, "keep", old_label=current, finding="undo")
        else:
            self.append(row, "relabel", old_label=current, new_label=before, finding="undo")

    # --- the class list ------------------------------------------------------------------
    def meta(self) -> dict:
        if self.folder is not None and (self.folder / self.META).is_file():
            try:
                self._meta = json.loads((self.folder / self.META).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass
        return dict(self._meta)

    def write_meta(self, meta: dict) -> None:
        self._meta = dict(meta)
        if self.folder is not None:
            from textclf_core.store.runs import atomic_write_json

            atomic_write_json(self.folder / self.META, self._meta)


class ProjectLabelLog:
    """The labels of a project: each one a ``relabel`` in the project's change log (the log that
    Label review, Training and a reload read), and the class list in ``<project>/labelling.json``.

    Same interface as :class:`LabelLog`, so a :class:`LabellingSession` works on either. The
    labels are the project's file labels overlaid by the change log's edits in force (``drop``
    and ``keep`` leave a row as the file had it). Undo is the change log's undo when the newest
    edit in the log is the label being taken back (else, another session labelled since, an edit
    that restores the old label, so nobody's label is lost).

    ``change_log`` is a :class:`textclf_core.store.projects.ProjectChangeLog` (pass the page's own, so
    Label review in the same session sees each label at once); ``base_labels`` are the file's
    labels by row (None: none).
    """

    META = "labelling.json"

    def __init__(self, project, change_log=None, *, base_labels: Sequence | None = None):
        self.project = project
        self.folder = Path(project.path)
        self.changes = change_log if change_log is not None else project.change_log()
        self._base = {
            i: clean_label(v)
            for i, v in enumerate(list(base_labels) if base_labels is not None else [])
            if clean_label(v) is not None
        }
        self._lock = threading.RLock()  # the page thread and the retrainer share the change log

    @property
    def path(self) -> Path:
        return Path(self.changes.path)

    def refresh(self) -> None:
        """Read what other sessions (Label review, another tab) wrote since."""
        with self._lock:
            self.changes.refresh()

    def append(
        self, row: int, action: str, *, old_label=None, new_label=None, finding: str = FINDING, note: str | None = None
    ) -> dict:
        with self._lock:
            change = self.changes.record(
                int(row), action, old_label=old_label, new_label=new_label, finding=finding, note=note
            )
        return dict(vars(change))

    def group(self, note: str | None = None):
        return self.changes.group(note)

    def lines(self) -> list[dict]:
        with self._lock:
            return [dict(vars(c)) for c in self.changes.changes]

    def change_log(self):
        return self.changes

    def labels(self) -> dict[int, str]:
        with self._lock:
            current = self.changes.current()
        out = dict(self._base)
        for row, change in current.items():
            if change.action in ("accept", "relabel") and clean_label(change.new_label) is not None:
                out[row] = str(change.new_label)
            elif change.action == "drop":
                out.pop(row, None)  # left out of the data: not a label to learn from
            elif row in self._base:
                out[row] = self._base[row]
            else:
                out.pop(row, None)
        return out

    def history(self) -> list[int]:
        return labelling_order(self.lines())

    def undo_label(self, row: int, current: str, before: str | None) -> None:
        with self._lock:
            self.changes.refresh()
            last = self.changes.changes[-1:] or [None]
            if last[0] is not None and last[0].row == int(row) and last[0].new_label == current:
                self.changes.undo()
                return
        if before is None:
            self.append(row, "keep", old_label=current, finding="undo")
        else:
            self.append(row, "relabel", old_label=current, new_label=before, finding="undo")

    def meta(self) -> dict:
        try:
            data = json.loads((self.folder / self.META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_meta(self, meta: dict) -> None:
        from textclf_core.fs import atomic_write_json

        merged = {**self.meta(), **meta}
        if merged != self.meta():
            atomic_write_json(self.folder / self.META, merged)
