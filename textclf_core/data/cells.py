"""What one cell means: labels cleaned to trimmed text, texts coerced to str, split names recognised.

Shared by the report (:mod:`.report`) and the split (:mod:`.splits`) so both read a cell the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from textclf_core.labels import MULTI_LABEL_SEPARATORS, clean_label, is_missing

SPLIT_VALUES = {
    "train": "train",
    "training": "train",
    "trn": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "development": "validation",
    "eval": "validation",
    "test": "test",
    "testing": "test",
    "tst": "test",
    "holdout": "test",
}


def is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def plural(count: int, one: str, many: str) -> str:
    """'1 row has' / '3 rows have': plain English for the report."""
    return f"{count:,} {one if count == 1 else many}"


def clean_scalar(value):
    """clean_label for one cell, with fast paths for the common types."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float):
        if value != value:
            return None
        return str(int(value)) if value.is_integer() else str(value)
    return clean_label(value)


def clean_labels(values) -> np.ndarray:
    """clean_label over a column, vectorised: object array of trimmed str or None."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if s.dtype != object and pd.api.types.is_string_dtype(s.dtype):
        t = s.str.strip()
        return t.mask(t == "").to_numpy(dtype=object, na_value=None)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        arr = s.to_numpy(dtype=float, na_value=np.nan)
        out = np.full(len(arr), None, dtype=object)
        ok = ~np.isnan(arr)
        whole = ok & (arr == np.round(arr))
        out[whole] = arr[whole].astype(np.int64).astype(str).tolist()
        other = ok & ~whole
        out[other] = [str(v) for v in arr[other]]
        return out
    return np.fromiter((clean_scalar(v) for v in s.to_numpy(dtype=object)), dtype=object, count=len(s))


def text_scalar(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if value != value:
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    return "" if is_missing(value) else str(value)


def text_cells(series: pd.Series) -> np.ndarray:
    if series.dtype != object and pd.api.types.is_string_dtype(series.dtype):
        return series.fillna("").to_numpy(dtype=object)
    return np.fromiter((text_scalar(v) for v in series.to_numpy(dtype=object)), dtype=object, count=len(series))


def detect_sep(labelled: pd.Series) -> str | None:
    """detect_separator on already-clean labels, vectorised (same 5% rule)."""
    if len(labelled) == 0:
        return None
    for sep in MULTI_LABEL_SEPARATORS:
        if labelled.str.contains(sep, regex=False).mean() >= 0.05:
            return sep
    return None


def split_names(values) -> np.ndarray:
    """'train' / 'validation' / 'test' or None for each cell of a split column."""
    return np.array([None if v is None else SPLIT_VALUES.get(v.lower()) for v in clean_labels(values)], dtype=object)
