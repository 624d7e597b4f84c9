"""Projects: one dataset as uploaded, with everything an analyst did to it, kept on disk.

Layout of ``$TEXTCLF_HOME/projects/<project_id>/``::

    project.json     {"id", "name", "created_at", "updated_at", "owner", "shared_with", "source",
                      "filename", "sheet", "header_row", "text_col", "label_col", "split_col",
                      "rows", "columns", "fingerprint", "read_info", "notes", "label_col_added"}
    labelling.json   the Label page's class list and settings (textclf_core.labelling.active.ProjectLabelLog)
    team.json        who labels and reviews, and the overlap setting (textclf_core.labelling.team), versioned
    guidelines.json  the codebook, every saved version (textclf_core.labelling.guidelines)
    original/<file>  the uploaded bytes, unchanged
    data.parquet     the table as read (read_table's result), for fast reopening
    changes.jsonl    the label change log, one JSON line per edit, appended as each edit happens
    review/<name>.json  review results

Written like the run store: a new project is built in a hidden staging folder and renamed into
place, JSON files are replaced atomically, and the change log is append-only with one ``write``
of one line under an exclusive lock, fsynced; so SIGKILL loses at most the edit in flight and two
sessions (threads or processes) appending to one project never overwrite each other.

The change log's lines (``op``):
``{"op": "add", "id", "change": {Change fields}, "by"}`` one edit;
``{"op": "undo", "ids": [...], "by"}`` takes edits back (a grouped undo is one line);
``{"op": "undo_all", "by"}`` takes back every edit written before it;
``{"op": "amend", "id", "fields": {...}}`` a note or group set on an edit after it was recorded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from textclf_core.data.changelog import Change, ChangeLog
from textclf_core.errors import TextclfError

from .runs import RUN_ID_RE, atomic_write_bytes, atomic_write_json, now_iso

try:  # POSIX; elsewhere the in-process lock below still serialises threads
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

PROJECT_FILE = "project.json"
DATA_FILE = "data.parquet"
CHANGES_FILE = "changes.jsonl"
TEAM_FILE = "team.json"
_STAGING_PREFIX = ".creating-"
_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


class ProjectError(TextclfError):
    """A project is missing, damaged, not yours, or cannot be written."""


def default_root() -> Path:
    """``$TEXTCLF_HOME/projects`` when TEXTCLF_HOME is set, else ``./projects``."""
    home = os.environ.get("TEXTCLF_HOME")
    return Path(home).expanduser() / "projects" if home else Path("projects")


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe, readable piece of ``text`` ("Tweets (2024).xlsx" → "tweets-2024")."""
    stem = re.sub(r"\.(csv|tsv|txt|xlsx?|xlsm|json|jsonl|ndjson|parquet)$", "", str(text), flags=re.I)
    out = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()[:limit].strip("-")
    return out or "project"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if needed) across threads and processes."""
    key = os.path.realpath(path)
    with _THREAD_LOCKS_GUARD:
        tlock = _THREAD_LOCKS.setdefault(key, threading.RLock())
    with tlock:
        if fcntl is None:
            yield
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


# --- the change log on disk --------------------------------------------------------------


def _change_to_dict(change: Change) -> dict:
    return {f.name: getattr(change, f.name) for f in dataclasses.fields(change)}


def _change_from_dict(data: dict) -> Change:
    known = {f.name for f in dataclasses.fields(Change)}
    return Change(**{k: v for k, v in data.items() if k in known})


def _group_key(change: Change):
    """What ties one user action's edits together: the review's group id, else a "batch:" note."""
    group = getattr(change, "group", None)
    if group:
        return ("group", group)
    note = change.note or ""
    return ("note", note) if note.startswith("batch:") else None


class ProjectChangeLog(ChangeLog):
    """A :class:`~textclf_core.data.changelog.ChangeLog` whose every edit is appended to ``changes.jsonl``.

    Pages use it like the plain change log (``relabel``, ``drop``, ``record_many``, ``undo``...).
    :meth:`refresh` reads edits other sessions appended since; it is cheap (reads only new bytes).
    ``by`` names who made the edits (written on each line).
    """

    def __init__(self, path: str | Path, *, by: str | None = None):
        self.path = Path(path)
        self.by = by
        self._offset = 0
        self._live: dict[str, Change] = {}  # id -> edit, in log order
        self._saved: dict[str, dict] = {}  # id -> fields as last written (to spot notes set later)
        self._by: dict[str, str | None] = {}  # id -> who wrote the edit (the line's "by")
        self._at: dict[str, int] = {}  # id -> byte offset of its line: the log's order, exact to the line
        self._pending: list | None = None
        super().__init__()
        self.refresh()

    # --- reading ----------------------------------------------------------------
    def refresh(self) -> "ProjectChangeLog":
        """Write notes set on edits since they were recorded, then read what others appended."""
        with _locked(self._lock_path):
            self._write_amendments()
            self._catch_up()
        return self

    @property
    def version(self) -> int:
        """Grows with every line read (edits, undos, amendments): a cache key for derived views."""
        return self._offset

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name("." + self.path.name + ".lock")

    def _catch_up(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        end = data.rfind(b"\n")
        if end < 0:
            self._rebuild()
            return
        start = self._offset
        for raw in data[: end + 1].splitlines(keepends=True):
            self._apply_line(raw, start)
            start += len(raw)
        self._offset += end + 1
        self._rebuild()

    def _apply_line(self, raw: bytes, offset: int = 0) -> None:
        try:
            entry = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return  # a line cut by a crash (later lines are whole again)
        if not isinstance(entry, dict):
            return
        op = entry.get("op")
        if op == "add" and isinstance(entry.get("change"), dict):
            try:
                change = _change_from_dict(entry["change"])
            except TypeError:
                return
            cid = str(entry.get("id"))
            self._live[cid] = change
            self._saved[cid] = _change_to_dict(change)
            self._by[cid] = None if entry.get("by") is None else str(entry.get("by"))
            self._at[cid] = offset
        elif op == "undo":
            for cid in entry.get("ids") or []:
                self._live.pop(str(cid), None)
        elif op == "undo_all":
            self._live.clear()
        elif op == "amend":
            cid = str(entry.get("id"))
            change = self._live.get(cid)
            if change is not None:
                for key, value in (entry.get("fields") or {}).items():
                    if hasattr(change, key):
                        setattr(change, key, value)
                self._saved[cid] = _change_to_dict(change)

    def entries(self) -> list[dict]:
        """The edits in force, oldest first, each ``{"id", "change", "by", "at"}``: who wrote it
        (the line's ``by``) and ``at``, the byte offset of its line (compare with :attr:`version`)."""
        return [
            {"id": cid, "change": change, "by": self._by.get(cid), "at": self._at.get(cid, 0)}
            for cid, change in self._live.items()
        ]

    def _rebuild(self) -> None:
        # Only the list of edits: an open `with log.group()` block must survive each write.
        self._changes = list(self._live.values())

    # --- writing ----------------------------------------------------------------
    def _append(self, entries: list[dict]) -> None:
        """Append whole lines; a line cut by an earlier crash is cut off first so it cannot swallow ours."""
        data = b"".join(json.dumps(e, ensure_ascii=False, default=str).encode("utf-8") + b"\n" for e in entries)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ProjectError(
                f"The change log cannot be written ({exc.strerror or exc})",
                where=str(self.path),
                hint="Check the disk and the TEXTCLF_HOME setting",
            ) from None
        try:
            size = os.fstat(fd).st_size
            if size:
                os.lseek(fd, size - 1, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":
                    with open(self.path, "rb") as fh:
                        last = fh.read().rfind(b"\n")
                    os.ftruncate(fd, last + 1)
                    self._offset = min(self._offset, last + 1)
            os.write(fd, data)
            os.fsync(fd)
        except OSError as exc:
            raise ProjectError(
                f"The change log cannot be written ({exc.strerror or exc})",
                where=str(self.path),
                hint="Free some disk space and try again",
            ) from None
        finally:
            os.close(fd)

    def _write_amendments(self) -> None:
        entries = []
        for cid, change in self._live.items():
            now = _change_to_dict(change)
            before = self._saved.get(cid)
            if before is not None and now != before:
                entries.append(
                    {"op": "amend", "id": cid, "fields": {k: v for k, v in now.items() if before.get(k) != v}}
                )
        if entries:
            self._append(entries)
            self._catch_up()

    def record(self, *args, **kwargs) -> Change:
        if self._pending is not None:  # inside record_many: written together at its end
            change = super().record(*args, **kwargs)
            self._pending.append((uuid.uuid4().hex[:12], change))
            return change
        with _locked(self._lock_path):
            self._write_amendments()
            self._catch_up()
            change = super().record(*args, **kwargs)  # validates; the base list is rebuilt below
            self._write_new([(uuid.uuid4().hex[:12], change)])
        return change

    def record_many(self, findings, action: str, *, note: str | None = None) -> int:
        """One bulk action (one group): every edit in one append (one fsync, not one per row)."""
        with _locked(self._lock_path):
            self._write_amendments()
            self._catch_up()
            self._pending = []
            try:
                count = super().record_many(findings, action, note=note)
                pending = self._pending
            finally:
                self._pending = None
            self._write_new(pending)
        return count

    def add_changes(self, changes: list[Change]) -> int:
        """Write edits made elsewhere (an import: each keeps its own time and group) in one append,
        as :attr:`by`'s. Returns how many were written."""
        known = ChangeLog()
        for change in changes:  # validated as record() would
            known.record(change.row, change.action, old_label=change.old_label, new_label=change.new_label)
        with _locked(self._lock_path):
            self._write_amendments()
            self._catch_up()
            self._write_new([(uuid.uuid4().hex[:12], change) for change in changes])
        return len(changes)

    def _write_new(self, items: list) -> None:
        if not items:
            self._rebuild()
            return
        self._append([{"op": "add", "id": cid, "change": _change_to_dict(c), "by": self.by} for cid, c in items])
        self._catch_up()
        # Keep the caller's objects (pages set .note on them) as the ones in the log.
        for cid, change in items:
            if cid in self._live:
                self._live[cid] = change
        self._rebuild()

    def undo(self) -> Change | None:
        """Take back the latest action in the log (whoever made it), its whole group as
        :meth:`ChangeLog.undo` does; returns the latest edit taken back."""
        taken = self.undo_action()
        return taken[-1] if taken else None

    def undo_action(self, *, by: str | None = None, where: Callable[[Change], bool] | None = None) -> list[Change]:
        """Grouped undo: take back the latest edit and the edits recorded with it in one action
        (same group id, or the same "batch:" note), in one line. Returns them, oldest first.

        ``by`` (and/or ``where``, a test on the edit) takes back the latest action *of that person*
        (or of that kind) instead of the latest in the log: one annotator's undo never takes back
        another annotator's label written since.
        """
        with _locked(self._lock_path):
            self._write_amendments()
            self._catch_up()
            items = [
                (cid, change)
                for cid, change in self._live.items()
                if (by is None or self._by.get(cid) == by) and (where is None or where(change))
            ]
            if not items:
                return []
            key = _group_key(items[-1][1])
            taken = [items.pop()]
            while key is not None and items and _group_key(items[-1][1]) == key:
                taken.append(items.pop())
            self._append([{"op": "undo", "ids": [cid for cid, _ in taken], "by": self.by}])
            self._catch_up()
        return [change for _, change in reversed(taken)]

    def undo_all(self) -> int:
        with _locked(self._lock_path):
            self._write_amendments()
            self._catch_up()
            count = len(self._live)
            if count:
                self._append([{"op": "undo_all", "by": self.by}])
                self._catch_up()
        return count


def project_of(frame: pd.DataFrame | None = None, data_path: str | Path | None = None) -> "Project | None":
    """The project a table came from: the one :meth:`Project.frame` tagged it with, else the project
    folder that holds ``data_path`` (``textclf train --project`` passes ``original/<file>``); None if neither."""
    tagged = (
        ((getattr(frame, "attrs", None) or {}).get("textclf") or {}).get("project_path") if frame is not None else None
    )
    candidates = [Path(tagged)] if tagged else []
    if data_path:
        candidates += list(Path(data_path).parents)[:2]
    for folder in candidates:
        if (folder / PROJECT_FILE).is_file():
            return Project(folder)
    return None


def read_change_log(path: str | Path) -> ChangeLog:
    """The edits in force in a ``changes.jsonl`` file, as a plain (in-memory) ChangeLog."""
    return ChangeLog(ProjectChangeLog(path).changes)


# --- the team's settings (textclf_core.labelling.team uses them; kept here, with the project) ---------

ROLES = ("owner", "annotator", "reviewer")


@dataclass
class Member:
    """One person on the project: ``owner`` (sets the team up), ``annotator`` (labels), ``reviewer``
    (settles disagreements). A name is a signed-in user's name, or a guest's when sign-in is off."""

    name: str
    role: str = "annotator"

    def __post_init__(self) -> None:
        self.name = str(self.name or "").strip()
        if not self.name:
            raise TextclfError("A team member needs a name", hint="Type the person's user name")
        if self.role not in ROLES:
            raise TextclfError(
                f"Role {self.role!r} is not one of: {', '.join(ROLES)}", hint="Choose owner, annotator or reviewer"
            )


@dataclass
class TeamSettings:
    """Who is on the team and how texts are shared out.

    overlap_share : share of the texts (0..1) labelled by ``per_text`` annotators each, to measure
      agreement (e.g. 0.1 with per_text 2: one text in ten goes to two people).
    per_text : annotators per overlapping text (at least 2; capped by the number of annotators).
    seed : the assignment's seed; the same seed gives everyone the same share, whatever they open.
    """

    members: list[Member] = field(default_factory=list)
    overlap_share: float = 0.0
    per_text: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        self.members = [m if isinstance(m, Member) else Member(**m) for m in self.members]
        names = [m.name for m in self.members]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise TextclfError(f"{', '.join(twice)} is on the team twice", hint="Keep one role per person")
        try:
            self.overlap_share = float(self.overlap_share)
        except (TypeError, ValueError):
            raise TextclfError(f"The overlap share must be a number, got {self.overlap_share!r}") from None
        if not 0 <= self.overlap_share <= 1:
            raise TextclfError(
                f"The overlap share must be between 0 and 1, got {self.overlap_share:g}",
                hint="For example 0.1: one text in ten is labelled by several people",
            )
        if not isinstance(self.per_text, (int, np.integer)) or isinstance(self.per_text, bool) or self.per_text < 2:
            raise TextclfError(
                f"Annotators per overlapping text must be a whole number of at least 2, got {self.per_text!r}"
            )
        self.per_text = int(self.per_text)
        self.seed = int(self.seed)

    @property
    def annotators(self) -> list[str]:
        return [m.name for m in self.members if m.role == "annotator"]

    @property
    def reviewers(self) -> list[str]:
        """Who may settle a disagreement: reviewers and owners."""
        return [m.name for m in self.members if m.role in ("reviewer", "owner")]

    def role_of(self, name: str | None) -> str | None:
        return next((m.role for m in self.members if m.name == name), None)

    def with_member(self, name: str, role: str = "annotator") -> "TeamSettings":
        """A copy with ``name`` added (or given this role)."""
        members = [m for m in self.members if m.name != str(name).strip()] + [Member(name, role)]
        return TeamSettings(members, self.overlap_share, self.per_text, self.seed)

    def without_member(self, name: str) -> "TeamSettings":
        return TeamSettings([m for m in self.members if m.name != name], self.overlap_share, self.per_text, self.seed)

    def to_dict(self) -> dict:
        return {
            "members": [asdict(m) for m in self.members],
            "overlap_share": self.overlap_share,
            "per_text": self.per_text,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "TeamSettings":
        data = dict(data or {})
        return cls(
            members=[
                Member(**{k: v for k, v in dict(m).items() if k in ("name", "role")}) for m in data.get("members") or []
            ],
            overlap_share=data.get("overlap_share", 0.0),
            per_text=data.get("per_text", 2),
            seed=data.get("seed", 0),
        )


# --- projects --------------------------------------------------------------------------------


@dataclass
class ProjectSummary:
    """One row of the project list; ``damaged`` projects carry a plain ``message`` instead."""

    id: str
    name: str
    dataset: str | None = None
    rows: int | None = None
    classes: int | None = None
    edits: int = 0
    owner: str | None = None
    shared_with: list[str] = field(default_factory=list)
    created: str | None = None
    last_activity: str | None = None
    best_macro_f1: float | None = None
    best_run: str | None = None
    runs: int = 0
    damaged: bool = False
    message: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Project:
    """A project folder. Cheap to create; reads files on demand."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.id = self.path.name
        self._frame: tuple[float, pd.DataFrame] | None = None

    def __repr__(self) -> str:
        return f"Project({self.id!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Project) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # --- metadata ------------------------------------------------------------------
    @property
    def meta(self) -> dict:
        try:
            data = json.loads((self.path / PROJECT_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProjectError(
                f"Project {self.id} has no {PROJECT_FILE}",
                where=self.id,
                hint="The folder is damaged; delete it, or restore it from a backup",
            ) from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProjectError(
                f"Project {self.id}: {PROJECT_FILE} cannot be read ({exc})",
                where=self.id,
                hint="The folder is damaged; delete it, or restore it from a backup",
            ) from None
        if not isinstance(data, dict):
            raise ProjectError(f"Project {self.id}: {PROJECT_FILE} is not a settings object", where=self.id)
        return data

    def update(self, **fields: Any) -> dict:
        """Change some of project.json (read-modify-write under the project's lock) and touch it."""
        with _locked(self.path / ".project.lock"):
            meta = self.meta
            meta.update(fields)
            meta["updated_at"] = now_iso()
            atomic_write_json(self.path / PROJECT_FILE, meta)
        return meta

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.id)

    def rename(self, name: str) -> None:
        name = str(name or "").strip()
        if not name:
            raise ProjectError("A project needs a name", hint="Type a name")
        self.update(name=name[:120])

    def set_notes(self, notes: str) -> None:
        self.update(notes=str(notes or ""))

    def set_columns(self, text_col=None, label_col=None, split_col=None) -> None:
        columns = set(self.meta.get("columns") or [])
        for col in (text_col, label_col, split_col):
            if col is not None and columns and col not in columns:
                raise ProjectError(
                    f"Column {col!r} is not in the data",
                    where=self.name,
                    hint=f"Choose one of: {', '.join(sorted(columns))}",
                )
        self.update(text_col=text_col, label_col=label_col, split_col=split_col)

    def share(self, *users: str) -> None:
        shared = sorted(set(self.meta.get("shared_with") or []) | {u for u in users if u})
        self.update(shared_with=shared)

    def allowed(self, user: str | None) -> bool:
        """No user (login off) sees everything; otherwise the owner and those it is shared with."""
        if user is None:
            return True
        meta = self.meta
        owner = meta.get("owner")
        return owner in (None, user) or user in (meta.get("shared_with") or [])

    # --- data ------------------------------------------------------------------------
    @property
    def original_path(self) -> Path | None:
        folder = self.path / "original"
        files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        return files[0] if files else None

    def frame(self) -> pd.DataFrame:
        """The table as first read (no edits applied), from the normalised copy."""
        target = self.path / DATA_FILE
        try:
            mtime = target.stat().st_mtime
            if self._frame is not None and self._frame[0] == mtime:
                return self._frame[1]
            df = pd.read_parquet(target)
        except FileNotFoundError:
            raise ProjectError(
                f"Project {self.name} has lost its data copy ({DATA_FILE})",
                where=self.id,
                hint="Delete the project and upload the file again",
            ) from None
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a damaged file
            raise ProjectError(
                f"Project {self.name}: the data copy cannot be read ({type(exc).__name__})",
                where=self.id,
                hint="Delete the project and upload the file again",
            ) from None
        meta = self.meta
        # The project's folder travels with the table: a run trained on the consensus labels
        # (RunConfig.label_source) finds its annotators' labels through it (training_setup).
        df.attrs["textclf"] = {**dict(meta.get("read_info") or {}), "project_path": str(self.path)}
        added = meta.get("label_col_added")
        if added and added not in df.columns:  # a file of texts only, labelled here: its label column starts empty
            df[added] = pd.Series([None] * len(df), index=df.index, dtype=object)
        self._frame = (mtime, df)
        return df

    def add_label_column(self, name: str = "label") -> str:
        """Give a project without a label column one (empty; the change log fills it), made the
        project's label column. Returns its name ("label", or "label_2"... when taken)."""
        meta = self.meta
        columns = [str(c) for c in meta.get("columns") or []]
        chosen, n = name, 1
        while chosen in columns:
            n += 1
            chosen = f"{name}_{n}"
        self.update(label_col=chosen, label_col_added=chosen, columns=columns + [chosen])
        self._frame = None
        return chosen

    def change_log(self, *, by: str | None = None) -> ProjectChangeLog:
        return ProjectChangeLog(self.path / CHANGES_FILE, by=by)

    def working_frame(self) -> pd.DataFrame:
        """The table with the change log applied (what training uses)."""
        df = self.frame()
        label_col = self.meta.get("label_col")
        log = self.change_log()
        return log.apply(df, label_col=label_col) if len(log) and label_col else df

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The project's lock (threads and processes): hold it around a read-modify-write of a file."""
        with _locked(self.path / ".project.lock"):
            yield

    # --- the team --------------------------------------------------------------------------
    def team(self):
        """Who labels and reviews this project, and the overlap setting (``team.json``);
        a :class:`textclf_core.labelling.team.TeamSettings` (no members when none was set)."""
        try:
            data = json.loads((self.path / TEAM_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return TeamSettings(members=[])
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProjectError(
                f"Project {self.name}: {TEAM_FILE} cannot be read ({exc})",
                where=self.id,
                hint="Set the team again on the Team page",
            ) from None
        return TeamSettings.from_dict(data)

    def set_team(self, settings, *, by: str | None = None) -> int:
        """Save the team settings as a new version (dated, with who saved it); returns the version.
        Earlier versions stay in ``team.json["history"]``."""
        with _locked(self.path / ".project.lock"):
            try:
                old = json.loads((self.path / TEAM_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = {}
            history = list(old.get("history") or []) if isinstance(old, dict) else []
            if isinstance(old, dict) and old.get("version"):
                history.append({k: v for k, v in old.items() if k != "history"})
            version = len(history) + 1
            data = {**settings.to_dict(), "version": version, "saved_at": now_iso(), "saved_by": by, "history": history}
            atomic_write_json(self.path / TEAM_FILE, data)
        self.update()
        return version

    # --- review results -----------------------------------------------------------------
    def write_review(self, name: str, obj: Any) -> Path:
        target = self._review_path(name)
        atomic_write_json(target, obj)
        self.update()
        return target

    def read_review(self, name: str, default: Any = None) -> Any:
        try:
            return json.loads(self._review_path(name).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return default

    def _review_path(self, name: str) -> Path:
        if not RUN_ID_RE.match(str(name)):
            raise ProjectError(f"'{name}' is not a valid review name")
        return self.path / "review" / f"{name}.json"

    # --- summary ---------------------------------------------------------------------
    def summary(self) -> ProjectSummary:
        meta = self.meta
        if not (self.path / DATA_FILE).is_file():
            raise ProjectError(
                f"Project {meta.get('name') or self.id} has lost its data copy",
                where=self.id,
                hint="Delete the project and upload the file again",
            )
        log = self.change_log()
        try:
            log_mtime = (self.path / CHANGES_FILE).stat().st_mtime
        except FileNotFoundError:
            log_mtime = None
        last = meta.get("updated_at")
        if log_mtime is not None:
            import datetime as _dt

            log_iso = _dt.datetime.fromtimestamp(log_mtime).astimezone().isoformat(timespec="seconds")
            last = max(filter(None, [last, log_iso]))
        return ProjectSummary(
            id=self.id,
            name=str(meta.get("name") or self.id),
            dataset=meta.get("filename"),
            rows=meta.get("rows"),
            classes=meta.get("classes"),
            edits=len(log),
            owner=meta.get("owner"),
            shared_with=list(meta.get("shared_with") or []),
            created=meta.get("created_at"),
            last_activity=last,
        )


class ProjectStore:
    """All projects under one root folder (default ``$TEXTCLF_HOME/projects``)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"ProjectStore({str(self.root)!r})"

    def path_for(self, project_id: str) -> Path:
        """The folder of ``project_id``; rejects anything that is not a plain id (as run ids)."""
        if not isinstance(project_id, str) or not RUN_ID_RE.match(project_id) or project_id in (".", ".."):
            raise ProjectError(
                f"'{project_id}' is not a valid project id",
                hint="Project ids are letters, digits, '-', '_' and '.'; `textclf projects` lists them",
            )
        root = self.root.resolve()
        path = (root / project_id).resolve()
        if path.parent != root:
            raise ProjectError(f"'{project_id}' points outside the projects folder")
        return path

    def get(self, project_id: str | Project, *, user: str | None = None) -> Project:
        """The project, or a ProjectError (unknown, damaged, or not shared with ``user``)."""
        if isinstance(project_id, Project):
            project = project_id
        else:
            path = self.path_for(project_id)
            if not path.is_dir():
                raise ProjectError(
                    f"There is no project '{project_id}'",
                    hint="`textclf projects` lists them; it may have been deleted",
                )
            project = Project(path)
        if not project.allowed(user):
            # Same words as an unknown id: another user's project names are not revealed.
            raise ProjectError(
                f"There is no project '{project.id}'", hint="`textclf projects` lists them; ask its owner to share it"
            )
        return project

    def exists(self, project_id: str) -> bool:
        try:
            return self.path_for(project_id).is_dir()
        except ProjectError:
            return False

    def new_id(self, name: str) -> str:
        return f"{slug(name)}-{uuid.uuid4().hex[:6]}"

    def create(
        self,
        source,
        *,
        name: str | None = None,
        filename: str | None = None,
        sheet=None,
        header_row: int | None = None,
        owner: str | None = None,
        text_col=None,
        label_col=None,
        split_col=None,
        source_label: str | None = None,
        frame: pd.DataFrame | None = None,
    ) -> Project:
        """A new project from a file (path, bytes or uploaded file): the bytes are kept unchanged,
        the table is read once (``frame`` when the caller already read it) and saved as parquet,
        columns are guessed where not given. Built in a hidden folder and renamed into place."""
        from textclf_core.data import fingerprint, guess_columns, read_table

        raw, filename = _source_bytes(source, filename)
        if frame is None:
            kwargs = {"header_row": header_row} if header_row is not None else {}
            frame = read_table(raw, filename=filename, sheet=sheet, **kwargs)
        if text_col is None and label_col is None:
            guess = guess_columns(frame)
            text_col, label_col, split_col = guess.text_col, guess.label_col, guess.split_col
            reasons = dict(guess.reasons or {})
        else:
            reasons = {}
        info = dict(frame.attrs.get("textclf") or {})
        classes = None
        if label_col is not None and label_col in frame.columns:
            classes = int(frame[label_col].dropna().astype(str).str.strip().replace("", None).dropna().nunique())
        name = (name or Path(filename).stem or "project").strip()[:120]
        project_id = self.new_id(name)
        meta = {
            "id": project_id,
            "name": name,
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "owner": owner,
            "shared_with": [],
            "source": source_label or "upload",
            "filename": filename,
            "sheet": sheet,
            "header_row": info.get("header_row", header_row),
            "text_col": text_col,
            "label_col": label_col,
            "split_col": split_col,
            "reasons": reasons,
            "rows": int(len(frame)),
            "columns": [str(c) for c in frame.columns],
            "classes": classes,
            "fingerprint": fingerprint(frame),
            "read_info": _jsonable(info),
            "notes": "",
        }
        self._ensure_root()
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{project_id}-", dir=self.root))
        try:
            atomic_write_bytes(staging / "original" / _safe_file_name(filename), raw)
            _write_parquet(frame, staging / DATA_FILE)
            atomic_write_json(staging / PROJECT_FILE, meta)
            os.replace(staging, self.path_for(project_id))
            _fsync_dir(self.root)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ProjectError(
                f"The project could not be saved ({exc.strerror or exc})",
                where=str(self.root),
                hint="Check the disk space and that TEXTCLF_HOME is writable",
            ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Project(self.root / project_id)

    def list(self, *, user: str | None = None, runs=None) -> list[ProjectSummary]:
        """Every project ``user`` may see, last activity first; damaged folders are listed as damaged.

        ``runs`` (a RunStore) adds each project's run count and best macro-F1.
        """
        if not self.root.is_dir():
            return []
        by_project: dict[str, list] = {}
        if runs is not None:
            for run in runs.list():
                if run.project:
                    by_project.setdefault(run.project, []).append(run)
        out = []
        for child in self.root.iterdir():
            if not child.is_dir() or child.name.startswith(".") or not RUN_ID_RE.match(child.name):
                continue
            project = Project(child)
            try:
                if not project.allowed(user):
                    continue
                summary = project.summary()
            except ProjectError as exc:
                if user is not None:
                    continue  # a damaged folder's owner is unknown: show it only when login is off
                summary = ProjectSummary(id=child.name, name=child.name, damaged=True, message=str(exc))
            except OSError as exc:
                summary = ProjectSummary(
                    id=child.name,
                    name=child.name,
                    damaged=True,
                    message=f"Project {child.name} cannot be read ({exc.strerror or exc})",
                )
            mine = by_project.get(child.name, [])
            summary.runs = len(mine)
            scored = [r for r in mine if r.state == "finished" and r.macro_f1 is not None]
            if scored:
                best = max(scored, key=lambda r: r.macro_f1)
                summary.best_macro_f1, summary.best_run = best.macro_f1, best.id
                newest = max(filter(None, (r.created for r in mine)), default=None)
                if newest and (summary.last_activity or "") < newest:
                    summary.last_activity = newest
            out.append(summary)
        out.sort(key=lambda s: (s.last_activity or "", s.id), reverse=True)
        return [s for s in out if not s.damaged] + [s for s in out if s.damaged]  # damaged ones last

    def delete(self, project_id: str, *, user: str | None = None) -> None:
        """Remove a project folder (its runs stay in the run store)."""
        path = self.path_for(project_id)
        if not path.is_dir():
            raise ProjectError(f"There is no project '{project_id}'")
        project = Project(path)
        if user is not None:  # a damaged folder (no readable owner) can only be deleted with login off
            if not project.allowed(user):
                raise ProjectError(f"There is no project '{project_id}'")
            owner = project.meta.get("owner")
            if owner not in (None, user):
                raise ProjectError(f"Project {project.name} belongs to {owner}", hint="Only its owner can delete it")
        trash = self.root / f".deleting-{project_id}-{uuid.uuid4().hex[:6]}"
        try:
            os.replace(path, trash)
        except OSError as exc:
            raise ProjectError(f"Project {project_id} could not be deleted ({exc.strerror or exc})") from None
        shutil.rmtree(trash, ignore_errors=True)

    def _ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(
                f"The projects folder cannot be created ({exc.strerror or exc})",
                where=str(self.root),
                hint="Set TEXTCLF_HOME to a folder you can write to",
            ) from None


# --- helpers ---------------------------------------------------------------------------------


def _source_bytes(source, filename: str | None) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), filename or "data.csv"
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        try:
            return path.read_bytes(), filename or path.name
        except OSError as exc:
            raise ProjectError(
                f"{path} cannot be read ({exc.strerror or exc})", hint="Check the path of the file"
            ) from None
    if hasattr(source, "getvalue"):
        return bytes(source.getvalue()), filename or getattr(source, "name", None) or "data.csv"
    if hasattr(source, "read"):
        with contextlib.suppress(Exception):
            source.seek(0)
        data = source.read()
        return (data.encode("utf-8") if isinstance(data, str) else bytes(data)), filename or getattr(
            source, "name", None
        ) or "data.csv"
    raise ProjectError("A project needs a file", hint="Give a path, bytes or an uploaded file")


def _safe_file_name(name: str) -> str:
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(". ") or "data"
    return base[:120]


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Parquet of the table; object columns with mixed cell types are written as text (None kept)."""
    buf = io.BytesIO()
    df = frame.copy()
    df.attrs = {}
    df.columns = [str(c) for c in df.columns]
    try:
        df.to_parquet(buf, index=False)
    except Exception:  # noqa: BLE001 - pyarrow refuses mixed object columns
        for col in df.columns:
            if df[col].dtype == object:
                df[col] = df[col].map(lambda v: None if v is None or (isinstance(v, float) and v != v) else str(v))
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _jsonable(obj):
    try:
        return json.loads(json.dumps(obj, default=str))
    except (TypeError, ValueError):
        return {}
