"""One annotator's labels on a team project, in the label-log interface a ``LabellingSession`` uses.

On a project with a team (``Project.team()`` has annotators), the Label page labels as the signed-in
user (or a named guest): each label is :func:`textclf_core.labelling.team.add_annotation` (a line of
the project's change log with the annotator in ``by``), the session sees only this annotator's own
labels (so the fast model never learns a colleague's answer to an overlap text and cannot hint at
it), Undo is :func:`~textclf_core.labelling.team.undo_annotation` (the annotator's own latest label;
a colleague's label written since stays), and the queue keeps the annotator's share with the overlap
texts interleaved (:func:`queue_arrangement`, through :func:`~textclf_core.labelling.team.queue_for`).
The class list stays the project's one ``labelling.json`` (the team labels into the same classes).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from textclf_core.labels import clean_label

from . import team


class TeamLabelLog:
    """Same interface as ``active.LabelLog``/``active.ProjectLabelLog`` for one annotator."""

    META = "labelling.json"

    def __init__(self, project, annotator: str, *, meta_log=None):
        self.project = project
        self.annotator = str(annotator or "").strip()
        self.folder = Path(project.path)
        self._meta_log = meta_log  # where the class list lives (the project's ProjectLabelLog)
        self._lock = threading.RLock()
        self._cache: tuple | None = None

    # --- reading ---------------------------------------------------------------------------
    def _version(self) -> tuple:
        path = self.folder / "changes.jsonl"
        try:
            st = path.stat()
            return st.st_size, st.st_mtime_ns
        except OSError:
            return 0, 0

    def frame(self):
        """Every annotator's labels (:func:`team.annotations`), read again only when the log changed."""
        with self._lock:
            version = self._version()
            if self._cache is None or self._cache[0] != version:
                self._cache = (version, team.annotations(self.project))
            return self._cache[1]

    def refresh(self) -> None:
        with self._lock:
            self._cache = None

    def mine(self):
        frame = self.frame()
        return frame[frame["annotator"] == self.annotator] if len(frame) else frame

    def labels(self) -> dict[int, str]:
        mine = self.mine()
        return {int(r): str(v) for r, v in zip(mine["row"], mine["label"])}

    def lines(self) -> list[dict]:
        """This annotator's labels in order, as label-log records (for Undo across a reload)."""
        mine = self.mine()
        return [
            {"row": int(r), "action": "relabel", "old_label": None, "new_label": str(v), "finding": team.LABEL_PAGE}
            for r, v in zip(mine["row"], mine["label"])
        ]

    def history(self) -> list[int]:
        return [int(r) for r in self.mine()["row"]]

    def change_log(self):
        return self.project.change_log(by=self.annotator)

    @property
    def path(self) -> Path:
        return self.folder / "changes.jsonl"

    # --- writing ---------------------------------------------------------------------------
    def append(
        self,
        row: int,
        action: str,
        *,
        old_label=None,
        new_label=None,
        finding: str | None = None,
        note: str | None = None,
    ) -> dict:
        value = clean_label(new_label)
        if action in ("accept", "relabel") and value is not None:
            change = team.add_annotation(self.project, int(row), value, self.annotator)
        else:  # taking one's own label back without a label to return to
            change = team.undo_annotation(self.project, self.annotator)
        self.refresh()
        return dict(vars(change)) if hasattr(change, "__dict__") else {"row": int(row), "action": action}

    def group(self, note: str | None = None):
        return contextlib.nullcontext()

    def undo_label(self, row: int, current: str, before: str | None) -> None:
        """The annotator's own latest label back (a colleague's labels stay)."""
        team.undo_annotation(self.project, self.annotator)
        self.refresh()

    # --- the class list: the project's, shared by the team --------------------------------
    def meta(self) -> dict:
        return self._meta_log.meta() if self._meta_log is not None else {}

    def write_meta(self, meta: dict) -> None:
        if self._meta_log is not None:
            self._meta_log.write_meta(meta)


def is_team_project(project) -> bool:
    """True when the project has annotators set (the Label page then labels as a team member)."""
    try:
        return bool(project.team().annotators)
    except AttributeError:
        return False


def queue_arrangement(project, annotator: str) -> Callable[[Sequence[int]], list[int]]:
    """The session's ``arrange`` hook: the queue's order kept, cut to this annotator's share, overlap interleaved."""

    def arrange(rows: Sequence[int]) -> list[int]:
        return team.queue_for(project.team(), annotator, [int(r) for r in rows])

    return arrange


def session_options(project, *, change_log, base_labels=None, label_col: str | None = None, annotator=None) -> dict:
    """How a labelling session on ``project`` is set up, the same from the Label page and ``textclf label-queue``:
    where the labels go (the project's change log; one annotator's own labels on a team), the name the fast model
    is kept under (per label column, and per annotator on a team, so a reload or the other front end continues
    the same model), and on a team the queue cut to the annotator's share. ``annotator`` None: no team member.
    """
    from .label_log import ProjectLabelLog

    project_log = ProjectLabelLog(project, change_log, base_labels=base_labels)
    column = label_col or "label"
    if annotator is None:
        return {"label_log": project_log, "model_name": f"fast_model-{column}"}
    return {
        "label_log": TeamLabelLog(project, annotator, meta_log=project_log),
        "model_name": f"fast_model-{column}-{annotator}",
        "arrange": queue_arrangement(project, annotator),
    }
