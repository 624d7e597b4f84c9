"""The label space: which classes exist, single- or multi-label, and their encoding.

Class names are kept exactly as the user wrote them after trimming whitespace;
spelling variants (" Positive" / "positive") are reported by the data report,
not silently merged here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import DataError

MULTI_LABEL_SEPARATORS = (";", "|")


def is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    try:
        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        pass
    return str(value).strip() == ""


def clean_label(value) -> str | None:
    """A label cell as text, trimmed; None when missing. 1.0 becomes '1'."""
    if is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def detect_separator(labels: Iterable) -> str | None:
    """The multi-label separator if at least 5% of non-empty cells contain one."""
    cells = [c for c in (clean_label(v) for v in labels) if c]
    if not cells:
        return None
    for sep in MULTI_LABEL_SEPARATORS:
        share = sum(sep in c for c in cells) / len(cells)
        if share >= 0.05:
            return sep
    return None


def split_cell(value, separator: str | None = ";") -> list[str]:
    """The classes in one label cell, in the cell's order: each trimmed, empty parts and repeats dropped
    (``"a; b;;a"`` → ``["a", "b"]``); a missing cell → ``[]``; ``separator`` None: the whole cell is one class.
    The one multi-label cell split: every reader of a multi-label cell calls it."""
    text = clean_label(value)
    if text is None:
        return []
    if not separator:
        return [text]
    return list(dict.fromkeys(p.strip() for p in text.split(separator) if p.strip()))


def split_multi(cell, sep: str) -> list[str]:
    """The classes of a multi-label cell as a sorted set (:func:`split_cell`, sorted)."""
    return sorted(split_cell(cell, sep))


@dataclass
class LabelSpace:
    """Classes and their integer ids, ordered by name for reproducibility."""

    classes: list[str]
    multi_label: bool = False
    separator: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.classes = [str(c) for c in self.classes]
        if len(set(self.classes)) != len(self.classes):
            raise DataError("The same class name appears twice in the label space")

    # --- construction -----------------------------------------------------
    @classmethod
    def from_labels(
        cls, labels: Sequence, multi_label: bool | None = None, separator: str | None = None
    ) -> "LabelSpace":
        """Build from a label column. Missing cells are ignored (unlabelled rows)."""
        if multi_label is None:
            separator = separator or detect_separator(labels)
            multi_label = separator is not None
        if multi_label:
            separator = separator or detect_separator(labels) or ";"
            names = sorted({p for cell in labels for p in split_multi(cell, separator)})
        else:
            names = sorted({c for c in (clean_label(v) for v in labels) if c is not None}, key=_natural_key)
        if len(names) < 2:
            found = f"only '{names[0]}'" if names else "none"
            raise DataError(
                f"Training needs at least two different labels, found {found}",
                hint="Check that the right label column is chosen, or add examples of another class",
            )
        return cls(classes=names, multi_label=bool(multi_label), separator=separator if multi_label else None)

    # --- encoding ---------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.classes))

    @property
    def label2id(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def encode(self, labels: Sequence) -> np.ndarray:
        """Single-label: int ids (-1 for missing/unknown). Multi-label: 0/1 matrix (n, k) float32."""
        index = self.label2id
        if self.multi_label:
            out = np.zeros((len(labels), self.num_classes), dtype=np.float32)
            for row, cell in enumerate(labels):
                for part in split_multi(cell, self.separator or ";"):
                    if part in index:
                        out[row, index[part]] = 1.0
            return out
        return np.array(
            [index.get(clean_label(v), -1) if clean_label(v) is not None else -1 for v in labels], dtype=np.int64
        )

    def decode(self, ids_or_matrix) -> list[str]:
        """Inverse of encode: ids → names; multi-label 0/1 rows → 'a;b'."""
        if self.multi_label:
            sep = self.separator or ";"
            return [sep.join(self.classes[j] for j in np.flatnonzero(np.asarray(row) > 0.5)) for row in ids_or_matrix]
        return [self.classes[int(i)] if int(i) >= 0 else "" for i in ids_or_matrix]

    # --- serialisation ----------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "classes": list(self.classes),
            "multi_label": self.multi_label,
            "separator": self.separator,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LabelSpace":
        return cls(
            classes=list(data["classes"]),
            multi_label=bool(data.get("multi_label", False)),
            separator=data.get("separator"),
            extra=dict(data.get("extra") or {}),
        )


class LabelSpaceOwner:
    """Mixin for every predictor: its class names and kind come from ``self.label_space``."""

    label_space: LabelSpace

    @property
    def classes(self) -> list[str]:
        return list(self.label_space.classes)

    @property
    def multi_label(self) -> bool:
        return self.label_space.multi_label


def _natural_key(name: str):
    """'2' < '10' for numeric labels, else alphabetical (case-insensitive)."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, name.lower(), name)
