"""One page of a big table for the app: filter, then slice, in the core, so a page sends ``page_size``
rows to the browser whatever the file's size (a 1M-row table in ``st.data_editor`` would be ~200 MB
of JSON and freeze the tab).

:func:`table_page` pages any frame; :func:`review_filter` is the Label review table's filter (label,
finding, text search, edited rows) as one boolean mask; :func:`review_page` is both. Pages are
numbered from 1; a page past the end is clamped to the last one, so a filter that shrinks the table
never shows an empty page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from .language import word_counts
from .report import TOKENS_PER_WORD, WORD_EXACT_ROWS, WORD_SAMPLE, DataReport

ALL_ROWS = "All rows"
ALL_LABELS = "All labels"
UNLABELLED = "Unlabelled"
EXACT = "Exact duplicates"
CONFLICTING = "Conflicting duplicates"
SHORT = "Very short (≤ 3 words)"
LONG = "Long (may be truncated)"
EDITED = "Edited"
FINDINGS = (ALL_ROWS, UNLABELLED, EXACT, CONFLICTING, SHORT, LONG, EDITED)
SHORT_WORDS = 3


@dataclass
class TablePage:
    """Rows of one page (a copy with a fresh 0..n-1 index) and where it sits in the filtered table."""

    rows: pd.DataFrame
    page: int  # 1-based, after clamping
    pages: int  # at least 1
    total: int  # rows matching the filter
    page_size: int

    @property
    def first(self) -> int:
        """0-based position of the page's first row in the filtered table."""
        return (self.page - 1) * self.page_size

    def caption(self, noun: str = "rows") -> str:
        """'rows 101–200 of 1,000,000' (or 'no rows')."""
        if not self.total:
            return f"no {noun}"
        return f"{noun} {self.first + 1:,}–{self.first + len(self.rows):,} of {self.total:,}"


def page_count(total: int, page_size: int) -> int:
    return max(1, -(-int(total) // int(page_size)))


def table_page(
    frame: pd.DataFrame, page: int = 1, page_size: int = 100, *, mask=None, columns: Iterable[str] | None = None
) -> TablePage:
    """Page ``page`` (1-based, clamped) of ``frame``, or of the rows where ``mask`` is true, with only
    ``columns`` when given. Only the page's rows are copied."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    if mask is None:
        total = len(frame)
        positions = None
    else:
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        total = len(positions)
    pages = page_count(total, page_size)
    page = min(max(1, int(page)), pages)
    start, stop = (page - 1) * page_size, page * page_size
    take = np.arange(start, min(stop, total)) if positions is None else positions[start:stop]
    rows = frame.iloc[take]
    if columns is not None:
        rows = rows[list(columns)]
    return TablePage(rows=rows.reset_index(drop=True), page=page, pages=pages, total=total, page_size=page_size)


def review_filter(
    frame: pd.DataFrame,
    *,
    label: str | None = None,
    finding: str = ALL_ROWS,
    search: str | None = None,
    report: DataReport | None = None,
    edited_rows: Iterable[int] = (),
    words: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask over ``frame`` (columns ``row``, ``text``, ``label``, as ``prepare`` makes them):
    rows with ``label`` (None or "All labels": any), the ``finding`` (one of :data:`FINDINGS`; duplicate
    findings come from ``report``), and ``search`` in the text (case ignored, plain text).
    ``words`` (words per row, :func:`text_words`) may be passed to skip counting them again."""
    mask = np.ones(len(frame), dtype=bool)
    if label is not None and label != ALL_LABELS:
        mask &= (frame["label"] == label).to_numpy(dtype=bool, na_value=False)
    if finding not in (None, ALL_ROWS):
        if finding not in FINDINGS:
            raise ValueError(f"unknown finding {finding!r}; one of {FINDINGS}")
        rows = frame["row"].to_numpy()
        if finding == UNLABELLED:
            mask &= frame["label"].isna().to_numpy()
        elif finding in (EXACT, CONFLICTING):
            groups = (report.exact_duplicates if finding == EXACT else report.conflicting_duplicates) if report else []
            wanted = np.fromiter((r for group in groups for r in group), dtype=np.int64)
            mask &= np.isin(rows, wanted)
        elif finding == EDITED:
            mask &= np.isin(rows, np.fromiter(edited_rows, dtype=np.int64))
        else:
            counts = text_words(frame) if words is None else words
            if finding == SHORT:
                mask &= counts <= SHORT_WORDS
            else:
                # A filter per row, so no tokenizer pass over the whole table: segmented words (right for
                # every script) times this data's tokens per word, as the report counted them on a sample.
                max_length = report.max_length if report is not None else 128
                rate = report.tokens_per_word if report is not None else TOKENS_PER_WORD
                mask &= counts * rate > max_length
    if search:
        mask &= frame["text"].str.contains(search, case=False, regex=False, na=False).to_numpy(dtype=bool)
    return mask


def text_words(frame: pd.DataFrame) -> np.ndarray:
    """Words per row of ``frame['text']`` (the report's count: words by script, see data.language)."""
    return word_counts(pa.array(frame["text"].fillna("").to_numpy(dtype=object), type=pa.large_string()))


def review_page(
    frame: pd.DataFrame,
    page: int = 1,
    page_size: int = 100,
    *,
    label: str | None = None,
    finding: str = ALL_ROWS,
    search: str | None = None,
    report: DataReport | None = None,
    edited_rows: Iterable[int] = (),
    words: np.ndarray | None = None,
    columns: Iterable[str] = ("row", "text", "label"),
) -> TablePage:
    """One page of the Label review table: :func:`review_filter`, then :func:`table_page`."""
    mask = review_filter(
        frame, label=label, finding=finding, search=search, report=report, edited_rows=edited_rows, words=words
    )
    return table_page(frame, page, page_size, mask=mask, columns=columns)


PLOT_ROWS = 50_000  # a histogram of 50k values is ~1 MB to the browser; of 1M values ~20 MB


def sample_positions(n: int, limit: int = PLOT_ROWS, seed: int = 0) -> np.ndarray:
    """Sorted positions of a seeded random sample of at most ``limit`` of ``n`` rows (all when fewer)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def length_sample(texts: pd.Series, limit: int = PLOT_ROWS, seed: int = 0) -> tuple[np.ndarray, int]:
    """Words per text (by script: :mod:`.language`) of a sample of at most ``limit`` texts (``WORD_SAMPLE``
    when many need a segmenter), for a length histogram, and the number of texts it was drawn from."""
    positions = sample_positions(len(texts), limit, seed)
    wide = texts.iloc[positions].map(lambda t: isinstance(t, str) and not t.isascii())
    if int(wide.sum()) > WORD_EXACT_ROWS:  # segmenting 50k Chinese texts takes most of a minute
        positions = positions[sample_positions(len(positions), WORD_SAMPLE, seed)]
    picked = texts.iloc[positions]
    values = pd.Series(picked.to_numpy(dtype=object), dtype=object).where(picked.notna().to_numpy(), "")
    counts = word_counts(pa.array(values.astype(str).to_numpy(dtype=object), type=pa.large_string()))
    return counts, len(texts)


def sample_note(shown: int, total: int) -> str | None:
    """'Drawn from 50,000 of 1,000,000 rows…' under a plot that samples; None when it shows every row."""
    if shown >= total:
        return None
    return f"Drawn from {shown:,} of {total:,} rows (a random sample); the figures in the report above count every row."
