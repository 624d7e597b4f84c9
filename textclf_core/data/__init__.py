"""Data intake: read a table, guess its columns, report its problems, split it.

One module per concern; every public name is re-exported here so ``from textclf_core.data import X``
keeps working:

- :mod:`.read`: :func:`read_table` (CSV/TSV sniffed, Excel, JSON, JSON Lines, Parquet), :func:`list_sheets`,
  :func:`read_notes` / :func:`read_warnings`, the upload limit;
- :mod:`.columns`: :func:`guess_columns` → :class:`ColumnGuess`;
- :mod:`.language`: the language of a text, the one owner: words by script (:func:`segment`, jieba for
  Chinese), :func:`word_counts`, :func:`detect` → :class:`LanguageProfile`, token counts by a model's own
  tokenizer, :func:`readability` (does a model read the texts), the unseen-language warning;
- :mod:`.report`: :func:`validate` → :class:`DataReport` of :class:`Finding` (findings as data, plain sentences);
- :mod:`.splits`: :func:`prepare`, :func:`assign_splits` / :func:`assign_splits_with_notes`;
- :mod:`.keys`: the one exact-duplicate key (:func:`duplicate_keys`, :func:`text_key`) and :func:`fingerprint`;
- :mod:`.export`: :func:`neutralize_formulas`, :func:`write_csv`;
- :mod:`.paging`: one page of a big table (:func:`table_page`, :func:`review_page`), filtered in the core;
- :mod:`.cells`: how one cell is read (labels cleaned, texts coerced, split names), shared by the others.

A file that cannot be used raises :class:`~textclf_core.errors.DataError` with one line saying what is
wrong and what to do; any other exception escaping from here is a bug.
"""

from textclf_core.errors import DataError

from . import language
from .cells import SPLIT_VALUES, clean_labels, detect_sep, split_names, text_cells
from .columns import LABEL_NAMES, SPLIT_NAMES, TEXT_NAMES, ColumnGuess, guess_columns
from .export import neutralize_formulas, write_csv
from .keys import duplicate_keys, fingerprint, normalize_keys, text_key
from .language import LanguageProfile, Readability, detect, segment, word_analyzer
from .paging import (
    FINDINGS,
    PLOT_ROWS,
    TablePage,
    length_sample,
    review_filter,
    review_page,
    sample_note,
    sample_positions,
    table_page,
    text_words,
)
from .read import (
    EXCEL_FORMATS,
    JSON_FORMATS,
    JSONL_FORMATS,
    MAX_UPLOAD_MB,
    PARQUET_FORMATS,
    SUPPORTED,
    TEXT_FORMATS,
    list_sheets,
    max_upload_bytes,
    read_csv_chunks,
    read_notes,
    read_table,
    read_warnings,
)
from .report import SEVERITIES, SMALL_CLASS, TOKENS_PER_WORD, DataReport, Finding, validate
from .splits import assign_splits, assign_splits_with_notes, prepare, stratified_sample

__all__ = [
    "language",
    "LanguageProfile",
    "Readability",
    "detect",
    "segment",
    "word_analyzer",
    "DataError",
    "SPLIT_VALUES",
    "clean_labels",
    "detect_sep",
    "split_names",
    "text_cells",
    "LABEL_NAMES",
    "SPLIT_NAMES",
    "TEXT_NAMES",
    "ColumnGuess",
    "guess_columns",
    "neutralize_formulas",
    "write_csv",
    "duplicate_keys",
    "fingerprint",
    "normalize_keys",
    "text_key",
    "EXCEL_FORMATS",
    "JSON_FORMATS",
    "JSONL_FORMATS",
    "MAX_UPLOAD_MB",
    "PARQUET_FORMATS",
    "SUPPORTED",
    "TEXT_FORMATS",
    "list_sheets",
    "max_upload_bytes",
    "read_csv_chunks",
    "read_notes",
    "read_table",
    "read_warnings",
    "FINDINGS",
    "PLOT_ROWS",
    "TablePage",
    "length_sample",
    "review_filter",
    "review_page",
    "sample_note",
    "sample_positions",
    "table_page",
    "text_words",
    "SEVERITIES",
    "SMALL_CLASS",
    "TOKENS_PER_WORD",
    "DataReport",
    "Finding",
    "validate",
    "assign_splits",
    "assign_splits_with_notes",
    "prepare",
    "stratified_sample",
]
