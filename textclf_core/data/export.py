"""Safe export for people: CSV files with spreadsheet formulas neutralised (CSV injection)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from textclf_core.fs import atomic_open

_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?%?$")


def _neutralize_cell(value):
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        if value[0] in "+-" and _NUMBER.match(value.strip()):
            return value  # a signed number, not a formula
        return "'" + value
    return value


def neutralize_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy safe to open in a spreadsheet: text cells (and headers) starting with = + - @ tab or CR get a
    leading ' so they are not run as formulas (CSV injection). Signed numbers are left alone."""
    out = df.copy()
    out.columns = [_neutralize_cell(c) if isinstance(c, str) else c for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(_neutralize_cell).astype(object)
    return out


def write_csv(df: pd.DataFrame, path: str | Path, *, neutralize: bool = True) -> Path:
    """Write a CSV for people (UTF-8 with BOM so Excel shows accents) atomically, formulas neutralised."""
    frame = neutralize_formulas(df) if neutralize else df
    with atomic_open(path, "w", encoding="utf-8-sig", newline="") as fh:
        frame.to_csv(fh, index=False)
    return Path(path)
