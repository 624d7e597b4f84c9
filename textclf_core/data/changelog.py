"""The edits a person makes while reviewing labels: recorded, grouped, undone, applied, exported."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd

from textclf_core.errors import DataError, TextclfError
from textclf_core.labels import clean_label

ACTIONS = ("accept", "relabel", "drop", "keep")  # what a user can do to one row


@dataclass
class Change:
    """One edit of one original row."""

    row: int
    action: str  # accept | relabel | drop | keep
    old_label: str | None = None
    new_label: str | None = None
    finding: str | None = None
    note: str | None = None
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    group: str | None = None  # edits made by one user action share it; Undo takes the whole group back


class ChangeLog:
    """The edits made while reviewing labels, in order, over the original rows.

    - ``accept``: take the suggested label (``new_label``);
    - ``relabel``: set a label the person typed or picked;
    - ``drop``: leave the row out of the cleaned data;
    - ``keep``: the row was checked and stays as it is (undoes an earlier drop/relabel).

    The latest edit of a row wins. :meth:`apply` gives the cleaned table;
    :meth:`export` writes it and the change log (``<name>.changes.csv``) side by side.

    One user action that touches many rows (rename a class, accept 40 suggestions) is one
    *group*: ``with log.group("rename A → B"):`` or ``record_many(...)``; :meth:`undo`
    takes back the whole last group. :meth:`to_records` / :meth:`from_records` are the
    plain-dict form for an append-only log on disk; logs written before groups existed
    (their batches marked by ``"batch:"`` notes) read back with those batches as groups.
    """

    COLUMNS = ["row", "action", "old_label", "new_label", "finding", "note", "time", "group"]

    def __init__(self, changes: Iterable[Change] | None = None):
        self._changes: list[Change] = list(changes or [])
        self._open_group: tuple[str, str | None] | None = None  # (id, note) while a `with group()` is open
        self._ids = itertools.count(1)

    def _new_group_id(self) -> str:
        # Unique across sessions too: logs of one project may be appended to from several sessions.
        return f"g{next(self._ids)}-{uuid.uuid4().hex[:8]}"

    @contextlib.contextmanager
    def group(self, note: str | None = None):
        """Every edit recorded inside the block is one group (one Undo); yields the group id.

        ``note`` (e.g. ``"rename A → B"``) is stored on edits that have no note of their own.
        Nested blocks join the outer group.
        """
        if self._open_group is not None:
            yield self._open_group[0]
            return
        self._open_group = (self._new_group_id(), note)
        try:
            yield self._open_group[0]
        finally:
            self._open_group = None

    # --- recording --------------------------------------------------------------
    def record(
        self, row, action: str, *, old_label=None, new_label=None, finding=None, note=None, group: str | None = None
    ) -> Change:
        if action not in ACTIONS:
            raise TextclfError(f"Unknown review action {action!r}; use one of: {', '.join(ACTIONS)}")
        if action in ("accept", "relabel") and clean_label(new_label) is None:
            raise TextclfError(
                f"Row {row}: '{action}' needs a new label", hint="Pick a label, or use 'drop' to leave the row out"
            )
        change = Change(
            row=_as_row(row),
            action=action,
            old_label=clean_label(old_label),
            new_label=clean_label(new_label) if action in ("accept", "relabel") else None,
            finding=finding,
            note=note,
            group=group,
        )
        if self._open_group is not None:
            change.group = change.group or self._open_group[0]
            change.note = change.note if change.note is not None else self._open_group[1]
        self._changes.append(change)
        return change

    def accept(self, row, suggested_label, *, old_label=None, finding=None) -> Change:
        return self.record(row, "accept", old_label=old_label, new_label=suggested_label, finding=finding)

    def relabel(self, row, new_label, *, old_label=None, finding=None) -> Change:
        return self.record(row, "relabel", old_label=old_label, new_label=new_label, finding=finding)

    def drop(self, row, *, old_label=None, finding=None) -> Change:
        return self.record(row, "drop", old_label=old_label, finding=finding)

    def keep(self, row, *, old_label=None, finding=None) -> Change:
        return self.record(row, "keep", old_label=old_label, finding=finding)

    def record_many(self, findings: pd.DataFrame, action: str, *, note: str | None = None) -> int:
        """Apply one action to every row of a findings table (bulk accept / keep / drop), as one group.

        ``accept`` skips rows without a suggestion. Returns the number recorded; one
        :meth:`undo` takes them all back.
        """
        with self.group(note):
            return self._record_many(findings, action)

    def _record_many(self, findings: pd.DataFrame, action: str) -> int:
        count = 0
        for rec in findings.to_dict("records"):
            suggestion = rec.get("suggested_label")
            if action == "accept" and clean_label(suggestion) is None:
                continue
            if action == "accept" and clean_label(suggestion) == clean_label(rec.get("given_label")):
                action_here = "keep"  # e.g. the majority member of a conflict group: nothing to change
            else:
                action_here = action
            self.record(
                rec["row"],
                action_here,
                old_label=rec.get("given_label"),
                new_label=suggestion if action_here == "accept" else None,
                finding=rec.get("finding"),
            )
            count += 1
        return count

    # --- undo -------------------------------------------------------------------
    def undo(self) -> Change | None:
        """Take back the last user action: the last edit with every edit of its group.

        Returns the last edit taken back (None when there was nothing to undo).
        """
        if not self._changes:
            return None
        last = self._changes.pop()
        if last.group is not None:
            while self._changes and self._changes[-1].group == last.group:
                self._changes.pop()
        return last

    def undo_all(self) -> int:
        count = len(self._changes)
        self._changes.clear()
        return count

    # --- reading ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._changes)

    def __iter__(self):
        return iter(list(self._changes))

    @property
    def changes(self) -> list[Change]:
        return list(self._changes)

    def current(self) -> dict[int, Change]:
        """The edit in force for each row (the latest one)."""
        latest: dict[int, Change] = {}
        for change in self._changes:
            latest[change.row] = change
        return latest

    def counts(self) -> dict[str, int]:
        """How many rows are, in the end, relabelled, dropped or kept (``accept`` counts as relabelled)."""
        out = {"relabelled": 0, "dropped": 0, "kept": 0}
        for change in self.current().values():
            if change.action in ("accept", "relabel"):
                if change.new_label != change.old_label:
                    out["relabelled"] += 1
                else:
                    out["kept"] += 1
            elif change.action == "drop":
                out["dropped"] += 1
            else:
                out["kept"] += 1
        return out

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.to_records(), columns=self.COLUMNS)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "ChangeLog":
        return cls.from_records(frame.to_dict("records"))

    def to_records(self) -> list[dict]:
        """The edits as plain dicts (keys :attr:`COLUMNS`), oldest first: JSON lines, a CSV row each."""
        return [{name: getattr(c, name) for name in self.COLUMNS} for c in self._changes]

    @classmethod
    def from_records(cls, records: Iterable[dict]) -> "ChangeLog":
        """A change log from :meth:`to_records`' dicts (or a change-log CSV's rows), validated edit by edit.

        Older logs have no ``group``: their ``"batch:<n>:<what>"`` notes mark the edits of one
        action, and become its group, so Undo still takes a whole batch back.
        """
        log = cls()
        for rec in records:
            rec = {k: (None if _missing(v) else v) for k, v in dict(rec).items()}
            note = None if rec.get("note") is None else str(rec["note"])
            group = None if rec.get("group") is None else str(rec["group"])
            if group is None and note and note.startswith("batch:"):
                group, note = note, note.split(":", 2)[-1] or None
            change = log.record(
                rec["row"],
                rec["action"],
                old_label=rec.get("old_label"),
                new_label=rec.get("new_label"),
                finding=rec.get("finding"),
                note=note,
                group=group,
            )
            if rec.get("time"):
                change.time = str(rec["time"])
        return log

    # --- applying ---------------------------------------------------------------
    def apply(self, frame: pd.DataFrame, *, label_col: str = "label", row_col: str | None = None) -> pd.DataFrame:
        """The cleaned table: labels changed, dropped rows removed, every other cell as it was.

        Rows are matched by ``row_col`` when given (e.g. ``"row"`` in a prepared frame),
        else by position in ``frame`` (the original file's row order).
        """
        if row_col is not None and row_col not in frame.columns:
            raise DataError(f"Column {row_col!r} is not in the data")
        ids = frame[row_col].tolist() if row_col is not None else list(range(len(frame)))
        position = {_as_row(r): i for i, r in enumerate(ids)}
        out = frame.copy()
        drop = []
        # A table labelled from scratch (texts only) gets its label column here, empty where unlabelled.
        label_values = out[label_col].astype(object).tolist() if label_col in out.columns else [None] * len(out)
        for row, change in self.current().items():
            if row not in position:
                raise DataError(
                    f"The change log refers to row {row}, which is not in the data",
                    hint="Apply the change log to the table it was made on",
                )
            i = position[row]
            if change.action in ("accept", "relabel"):
                label_values[i] = change.new_label
            elif change.action == "drop":
                drop.append(i)
        out[label_col] = label_values
        if drop:
            out = out.drop(index=out.index[sorted(drop)])
        return out

    def export(
        self, frame: pd.DataFrame, path: str | Path, *, label_col: str = "label", row_col: str | None = None
    ) -> tuple[Path, Path]:
        """Write the cleaned table to ``path`` (CSV) and the change log beside it.

        Returns ``(cleaned_csv, changes_csv)``; the change log is ``<stem>.changes.csv``.
        """
        from . import write_csv  # formulas neutralised: the cleaned table is opened in spreadsheets

        path = Path(path)
        cleaned = self.apply(frame, label_col=label_col, row_col=row_col)
        changes = path.with_name(path.stem + ".changes.csv")
        write_csv(cleaned, path, neutralize=True)
        write_csv(self.to_frame(), changes, neutralize=True)
        return path, changes

    def to_csv_bytes(self) -> bytes:
        """The change log as CSV bytes (for a download button)."""
        from . import neutralize_formulas

        return neutralize_formulas(self.to_frame()).to_csv(index=False).encode("utf-8")


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _as_row(row) -> int:
    try:
        return int(row)
    except (TypeError, ValueError):
        raise TextclfError(f"Row id {row!r} is not a whole number") from None
