"""Column guessing: which column holds the texts, which the labels and which (optional) the split."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from textclf_core.labels import detect_separator, is_missing, split_multi

from .cells import SPLIT_VALUES, is_number

TEXT_NAMES = (
    "text",
    "texts",
    "review",
    "reviews",
    "sentence",
    "content",
    "body",
    "message",
    "comment",
    "comments",
    "description",
    "tweet",
    "document",
    "utterance",
    "question",
    "abstract",
    "title",
)


LABEL_NAMES = (
    "label",
    "labels",
    "class",
    "classes",
    "category",
    "categories",
    "sentiment",
    "target",
    "tag",
    "tags",
    "topic",
    "topics",
    "intent",
    "y",
    "gold",
    "annotation",
    "rating",
    "emotion",
    "genre",
)


SPLIT_NAMES = ("split", "set", "subset", "fold", "partition", "dataset")


@dataclass
class ColumnGuess:
    """Best guesses for the text, label and split columns, with a reason for each."""

    text_col: str | None
    label_col: str | None
    split_col: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _values(series: pd.Series, limit: int = 20000) -> list[str]:
    """Non-missing cells as trimmed strings (a deterministic sample for big tables)."""
    s = series if len(series) <= limit else series.iloc[np.linspace(0, len(series) - 1, limit).astype(int)]
    return [str(v).strip() for v in s if not is_missing(v)]


def _name_key(name) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")


def _name_matches(name, vocabulary: Iterable[str]) -> bool:
    key = _name_key(name)
    parts = key.split("_")
    return key in vocabulary or any(p in vocabulary for p in parts if p)


def _split_kind(values: list[str]) -> bool:
    if not values:
        return False
    mapped = [SPLIT_VALUES.get(v.lower()) for v in values]
    return sum(m is not None for m in mapped) / len(values) >= 0.95 and "train" in mapped


def guess_columns(df: pd.DataFrame) -> ColumnGuess:
    """Guess which column holds the texts, which the labels and which (optional) the split."""
    reasons: dict[str, str] = {}
    stats = _column_stats(df)
    split_col = _guess_split(stats, reasons)
    text_col = _guess_text(stats, split_col, reasons)
    label_col = _guess_label(df, stats, text_col, split_col, reasons)
    return ColumnGuess(text_col=text_col, label_col=label_col, split_col=split_col, reasons=reasons)


def _column_stats(df: pd.DataFrame) -> dict:
    """Per column: None when empty, else counts, lengths and the trimmed values themselves."""
    stats = {}
    for col in df.columns:
        vals = _values(df[col])
        if not vals:
            stats[col] = None
            continue
        n = len(vals)
        numeric = sum(is_number(v) for v in vals) / n >= 0.95
        stats[col] = {
            "n": n,
            "unique": len(set(vals)),
            "avg_chars": sum(len(v) for v in vals) / n,
            "avg_words": sum(len(v.split()) for v in vals) / n,
            "spaced": sum(" " in v for v in vals) / n,
            "numeric": numeric,
            "vals": vals,
        }

    return stats


def _guess_split(stats: dict, reasons: dict) -> str | None:
    """The column of train/validation/test values (one named like a split column wins)."""
    split_col = None
    for col, st in stats.items():
        if st and _split_kind(st["vals"]):
            if split_col is None or (_name_matches(col, SPLIT_NAMES) and not _name_matches(split_col, SPLIT_NAMES)):
                split_col = col
    if split_col is not None:
        counts = Counter(SPLIT_VALUES.get(v.lower()) for v in stats[split_col]["vals"])
        reasons["split"] = (
            f"'{split_col}' holds train/validation/test values "
            f"({', '.join(f'{k} {v:,}' for k, v in counts.items() if k)})"
        )

    return split_col


def _guess_text(stats: dict, split_col, reasons: dict) -> str | None:
    """The column of the longest, most varied, spaced texts; an empty column named 'text' is said so."""
    text_col, best = None, None
    for col, st in stats.items():
        if st is None or col == split_col or st["numeric"]:
            continue
        uniq = st["unique"] / st["n"]
        score = st["avg_chars"] * (0.5 + 0.5 * uniq)
        if st["spaced"] < 0.1:  # identifiers, codes, URLs and single-word labels are not free text
            score *= 0.3
        if _name_matches(col, TEXT_NAMES):
            score *= 1.5
        if _name_matches(col, LABEL_NAMES) and not _name_matches(col, TEXT_NAMES):
            score *= 0.5
        if best is None or score > best:
            text_col, best = col, score
    if text_col is not None:
        st = stats[text_col]
        looks_like_text = st["avg_words"] >= 2 or st["unique"] / st["n"] > 0.5 or _name_matches(text_col, TEXT_NAMES)
        if looks_like_text:
            reasons["text"] = (
                f"'{text_col}' has the longest texts (about {st['avg_words']:.0f} words on average, "
                f"{st['unique']:,} different values)"
            )
        else:
            text_col = None
    named_empty = [c for c, st in stats.items() if st is None and _name_key(c) in TEXT_NAMES]
    named_filled = [c for c, st in stats.items() if st is not None and _name_matches(c, TEXT_NAMES)]
    if named_empty and not named_filled:  # an empty 'text' column: say so instead of picking another column
        text_col = named_empty[0]
        reasons["text"] = f"'{text_col}' is named like a text column (it is empty)"
    if text_col is None:
        reasons["text"] = "No column looks like free text (all columns are empty, numbers or short codes)"

    return text_col


def _guess_label(df: pd.DataFrame, stats: dict, text_col, split_col, reasons: dict) -> str | None:
    """The low-cardinality (or label-named) column; several classes per row beat one class per row."""
    label_col, best = None, None
    candidates: list[tuple] = []
    for col in df.columns:
        if col in (text_col, split_col):
            continue
        st = stats[col]
        named = _name_matches(col, LABEL_NAMES)
        if st is None:
            if named and (label_col is None or best < 100):  # an empty 'label' column: still the label column
                label_col, best = col, 100
            continue
        sep = detect_separator(st["vals"])
        classes = {p for v in st["vals"] for p in split_multi(v, sep)} if sep else set(st["vals"])
        k = len(classes)
        low_card = 2 <= k <= max(2, min(100, int(0.5 * st["n"]))) or (k <= 2 and st["n"] <= 4)
        if not (low_card or named):
            continue
        if st["avg_words"] > 6 and not named:
            continue
        # Several classes per row (';' or '|') beat a one-class-per-row column, even one named 'label':
        # such data is multi-label, and the single column is usually a coarser or derived summary.
        multi = bool(sep) and low_card
        score = (
            (1000 if named else 0)
            + (1200 if multi else 0)
            + (200 if low_card else 0)
            + 100 * st["n"] / max(1, len(df))
            - k / 10
        )
        candidates.append((col, multi))
        if best is None or score > best:
            label_col, best = col, score
    if label_col is not None:
        st = stats[label_col]
        if st is None:
            reasons["label"] = f"'{label_col}' is named like a label column (it is empty)"
        else:
            sep = detect_separator(st["vals"])
            classes = {p for v in st["vals"] for p in split_multi(v, sep)} if sep else set(st["vals"])
            why = "is named like a label column and " if _name_matches(label_col, LABEL_NAMES) else ""
            reasons["label"] = f"'{label_col}' {why}has {len(classes)} different value(s)"
            if sep:
                reasons["label"] += f", several per row separated by '{sep}'"
                passed = [c for c, multi in candidates if not multi and c != label_col]
                if passed:
                    reasons["label"] += (
                        f" (preferred over '{passed[0]}', which has one class per row: rows with "
                        "several classes make this a multi-label task)"
                    )
    else:
        reasons["label"] = (
            "No column looks like labels (few repeated values); the data can still be used for predictions"
        )
    return label_col
