"""The codebook of a project: what each class means, with example texts, shown beside the text.

Kept in ``<project>/guidelines.json`` as every version ever saved (``{"versions": [...]}``), each
dated, with its author, a note and where the change log stood when it was saved, so the labels
given before a change can be listed exactly (:func:`labels_before`), not guessed from clock times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd

from textclf_core.errors import TextclfError
from textclf_core.fs import atomic_write_json

FILE = "guidelines.json"
MAX_EXAMPLES = 20  # per class: a codebook is read beside each text, not a second data set


@dataclass
class ClassGuide:
    """One class in the codebook: what it means, and texts that show it."""

    description: str = ""
    examples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.description = str(self.description or "").strip()
        self.examples = [str(e).strip() for e in (self.examples or []) if str(e or "").strip()][:MAX_EXAMPLES]


@dataclass
class Guidelines:
    """One version of the codebook. ``version`` 0: nothing was saved yet."""

    classes: dict[str, ClassGuide] = field(default_factory=dict)
    version: int = 0
    saved_at: str | None = None
    author: str | None = None
    note: str = ""
    log_position: int = 0  # the change log's version (byte offset) when this was saved

    def __post_init__(self) -> None:
        self.classes = {
            str(name): guide if isinstance(guide, ClassGuide) else ClassGuide(**dict(guide))
            for name, guide in (self.classes or {}).items()
        }

    def for_class(self, name: str) -> ClassGuide:
        return self.classes.get(str(name), ClassGuide())

    def to_dict(self) -> dict:
        return {
            "classes": {
                k: {"description": g.description, "examples": list(g.examples)} for k, g in self.classes.items()
            },
            "version": self.version,
            "saved_at": self.saved_at,
            "author": self.author,
            "note": self.note,
            "log_position": self.log_position,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "Guidelines":
        data = dict(data or {})
        return cls(
            classes=data.get("classes") or {},
            version=int(data.get("version") or 0),
            saved_at=data.get("saved_at"),
            author=data.get("author"),
            note=str(data.get("note") or ""),
            log_position=int(data.get("log_position") or 0),
        )


def _read(project) -> list[dict]:
    try:
        data = json.loads((project.path / FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise TextclfError(
            f"The guidelines of project {project.name} cannot be read ({exc})",
            where=str(project.path / FILE),
            hint="Save the guidelines again on the Label page",
        ) from None
    versions = data.get("versions") if isinstance(data, dict) else None
    return [v for v in versions or [] if isinstance(v, dict)]


def history(project) -> list[Guidelines]:
    """Every saved version, oldest first."""
    return [Guidelines.from_dict(v) for v in _read(project)]


def current(project) -> Guidelines:
    """The latest version (an empty codebook, version 0, when none was saved)."""
    versions = history(project)
    return versions[-1] if versions else Guidelines()


def version(project, number: int) -> Guidelines:
    for guide in history(project):
        if guide.version == int(number):
            return guide
    raise TextclfError(
        f"The guidelines have no version {number}",
        where=project.name,
        hint="See the list of versions on the Label page",
    )


def save(
    project, classes: Mapping[str, ClassGuide | Mapping], *, author: str | None = None, note: str = ""
) -> Guidelines:
    """Save the codebook as a new version (dated, with its author), unless nothing changed.
    ``classes``: class name -> ClassGuide or ``{"description", "examples"}``."""
    from textclf_core.store.runs import now_iso

    guide = Guidelines(classes=dict(classes))
    position = project.change_log().refresh().version
    with project.locked():
        versions = _read(project)
        if versions and Guidelines.from_dict(versions[-1]).classes == guide.classes:
            return Guidelines.from_dict(versions[-1])
        guide.version = len(versions) + 1
        guide.saved_at, guide.author, guide.note = now_iso(), author, str(note or "")
        guide.log_position = position
        atomic_write_json(project.path / FILE, {"versions": versions + [guide.to_dict()]})
    return guide


def changed_classes(before: Guidelines, after: Guidelines) -> list[str]:
    """The classes whose description or examples differ between two versions (added or removed too)."""
    names = sorted(set(before.classes) | set(after.classes))
    return [n for n in names if before.classes.get(n) != after.classes.get(n)]


def labels_before(project, number: int, *, changed_only: bool = False) -> pd.DataFrame:
    """The annotations given before version ``number`` was saved (under an older codebook), still in
    force: DataFrame[row, annotator, label, time]. ``changed_only``: only labels of the classes that
    version changed (the ones worth a second look)."""
    from .team import annotations

    guide = version(project, number)
    frame = annotations(project, with_position=True)
    out = frame[frame["at"] < guide.log_position]
    if changed_only:
        earlier = version(project, number - 1) if number > 1 else Guidelines()
        out = out[out["label"].isin(changed_classes(earlier, guide))]
    return out.drop(columns="at").reset_index(drop=True)
