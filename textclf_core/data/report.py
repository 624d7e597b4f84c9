"""The validation report: :func:`validate` returns a :class:`DataReport`, findings as data (row numbers,
groups, counts) with a severity each, plus plain sentences for the app."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from textclf_core.labels import split_multi

from . import language
from .cells import detect_sep, is_number, plural
from .columns import LABEL_NAMES, TEXT_NAMES
from .keys import normalize_keys
from .read import read_notes, read_warnings
from .splits import prepare

SMALL_CLASS = 10  # fewer examples than this: warn (as managed services do)


# Rough subword tokens per English word. Kept for callers that filter rows by length without a
# tokenizer; every length the report states is counted (language.token_counts), never estimated.
TOKENS_PER_WORD = 1.3
NO_WORDS_BLOCKS = 0.9  # a column where 9 texts in 10 hold no word is not a text column: training is blocked
NO_WORDS_WARNS = 0.2
# Words are counted on every row unless more than this many rows hold characters beyond ASCII (Python
# segmentation; jieba segments ~1,200 Chinese reviews a second on a loaded 2-core machine, ~3x that
# quiet); then on a seeded sample of WORD_SAMPLE rows (a median and a 95th percentile within a few %).
WORD_EXACT_ROWS = 10_000
WORD_SAMPLE = 10_000


SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    """One thing the report found. ``rows`` are 0-based row positions (as ``prepare()['row']``)."""

    code: str
    severity: str  # error (blocks training) | warning | info
    message: str  # a plain sentence for a non-programmer: what, how many, what happens
    count: int = 0
    rows: list[int] = field(default_factory=list)


@dataclass
class DataReport:
    """Findings about a table as data; ``summary_lines()`` says them in plain language."""

    n_rows: int = 0
    text_col: str | None = None
    label_col: str | None = None
    n_labelled: int = 0
    n_unlabelled: int = 0
    empty_texts: list[int] = field(default_factory=list)
    missing_labels: list[int] = field(default_factory=list)
    exact_duplicates: list[list[int]] = field(default_factory=list)
    conflicting_duplicates: list[list[int]] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    small_classes: dict[str, int] = field(default_factory=dict)
    unsplittable_classes: dict[str, int] = field(default_factory=dict)
    label_variants: list[dict] = field(default_factory=list)
    multi_label: bool = False
    separator: str | None = None
    numeric_labels: bool = False
    imbalance_ratio: float | None = None
    char_lengths: dict[str, float] = field(default_factory=dict)
    word_lengths: dict[str, float] = field(default_factory=dict)
    token_lengths: dict[str, float] = field(default_factory=dict)  # by the model's tokenizer, on a sample
    tokens_estimated: bool = True  # True: no tokenizer was given, so no token figures (never estimated)
    words_sampled: int = 0  # word figures from a sample of this many texts (0: every text)
    language: dict = field(default_factory=dict)  # language.LanguageProfile.to_dict()
    max_length: int = 128
    n_long: int = 0
    long_share: float = 0.0
    read_notes: list[str] = field(default_factory=list)
    read_warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> list[str]:
        """Messages of the problems that stop training (empty list: training can start)."""
        return [f.message for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.blocking

    @property
    def tokens_per_word(self) -> float:
        """This data's tokens per word (segmented by script), from the report's own counts: the model's tokenizer
        on a sample over the words. The English rate :data:`TOKENS_PER_WORD` only when no tokenizer was given."""
        tokens, words = self.token_lengths.get("mean"), self.word_lengths.get("mean")
        return float(tokens) / float(words) if tokens and words else TOKENS_PER_WORD

    @property
    def language_profile(self) -> "language.LanguageProfile | None":
        return language.LanguageProfile.from_dict(self.language)

    def finding(self, code: str) -> Finding | None:
        return next((f for f in self.findings if f.code == code), None)

    def summary_lines(self) -> list[str]:
        """Plain sentences, most serious first."""
        order = {s: i for i, s in enumerate(SEVERITIES)}
        return [f.message for f in sorted(self.findings, key=lambda f: order.get(f.severity, 9))]

    def to_dict(self) -> dict:
        return _jsonable(asdict(self) | {"blocking": self.blocking})


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, float) and np.isnan(obj):
        return None
    return obj


def _rows_text(rows: Sequence[int], limit: int = 5) -> str:
    """'rows 3, 8 and 2 more' with 1-based numbers (row 1 = first row under the header)."""
    shown = ", ".join(str(r + 1) for r in rows[:limit])
    more = f" and {len(rows) - limit:,} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _stats(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    return {
        "min": float(np.min(values)),
        "median": float(np.median(values)),
        "mean": float(np.mean(values)),
        "p95": float(np.percentile(values, 95)),
        "max": float(np.max(values)),
    }


def word_counts(texts, chunk_bytes: int = 1 << 24) -> np.ndarray:
    """Words per text: :func:`textclf_core.data.language.word_counts` (the one owner; kept here by name)."""
    return language.word_counts(texts, chunk_bytes)


def validate(
    df: pd.DataFrame,
    text_col: str | None,
    label_col: str | None,
    max_length: int = 128,
    tokenizer=None,
    *,
    multi_label: bool | None = None,
) -> DataReport:
    """Check a table for everything that affects training; never raises for problems in the data.

    ``tokenizer`` (the chosen model's): token lengths and the share of texts longer than ``max_length``
    are counted with it on a sample; without one the report gives words and characters only."""
    rep = DataReport(
        n_rows=int(len(df)),
        text_col=text_col,
        label_col=label_col,
        max_length=int(max_length),
        read_notes=read_notes(df),
        read_warnings=read_warnings(df),
    )
    add = rep.findings.append
    for warning in rep.read_warnings:
        add(Finding("read_warning", "warning", warning))
    for note in rep.read_notes:
        add(Finding("read_note", "info", note))
    if not _columns_found(rep, df, text_col, label_col):
        return rep

    frame = prepare(df, text_col, label_col)
    rows = frame["row"].to_numpy()
    labels = frame["label"]
    # Arrow compute keeps a million-row table to seconds (pandas' object string methods loop in Python).
    texts = pa.array(frame["text"].to_numpy(dtype=object), type=pa.large_string())
    stripped = pc.utf8_trim_whitespace(texts)
    empty = _check_texts(rep, texts, stripped, rows, tokenizer)
    if label_col is None:
        rep.n_unlabelled = rep.n_rows
        rep.missing_labels = rows.tolist()
        add(
            Finding(
                "no_label_column",
                "error",
                "No label column is chosen. Training needs a column with the "
                "class of each text; without it the file can only be used for predictions.",
            )
        )
        return rep
    missing = _check_missing_labels(rep, labels, rows)
    if rep.n_labelled == 0:
        return rep
    counts = _check_classes(rep, df, labels, missing, rows, multi_label)
    _check_label_variants(rep, df, label_col)
    _check_numeric_labels(rep, counts)
    _check_duplicates(rep, texts, stripped, empty, missing, labels, rows)
    add(
        Finding(
            "rows",
            "info",
            f"{plural(rep.n_rows, 'row', 'rows')}: {rep.n_labelled:,} labelled in {plural(len(counts), 'class', 'classes')}"
            + (f", {rep.n_unlabelled:,} without a label." if rep.n_unlabelled else "."),
        )
    )
    return rep


def _columns_found(rep: DataReport, df: pd.DataFrame, text_col, label_col) -> bool:
    """False (with the error) when the text or label column is not in the table."""
    if text_col is None or text_col not in df.columns:
        what = f"There is no column '{text_col}'" if text_col is not None else "No text column is chosen"
        rep.findings.append(
            Finding(
                "no_text_column",
                "error",
                f"{what}. Choose the column that holds the texts (columns: {', '.join(map(str, df.columns[:10]))}).",
            )
        )
        return False
    if label_col is not None and label_col not in df.columns:
        rep.findings.append(
            Finding(
                "no_label_column",
                "error",
                f"There is no column '{label_col}'. Choose the column that holds the labels.",
            )
        )
        return False
    return True


def _check_texts(rep: DataReport, texts: pa.Array, stripped: pa.Array, rows: np.ndarray, tokenizer) -> np.ndarray:
    """Empty texts, the language, texts without words, lengths; returns the empty-text mask."""
    add = rep.findings.append
    empty = pc.equal(pc.utf8_length(stripped), 0).to_numpy(zero_copy_only=False).astype(bool)
    rep.empty_texts = rows[empty].tolist()
    if len(rep.empty_texts) == len(rows):
        add(
            Finding(
                "all_texts_empty",
                "error",
                f"Every text in column '{rep.text_col}' is empty. Choose the column that holds the texts.",
                len(rows),
            )
        )
    elif rep.empty_texts:
        add(
            Finding(
                "empty_texts",
                "warning",
                f"{plural(len(rep.empty_texts), 'row has', 'rows have')} an empty text "
                f"({_rows_text(rep.empty_texts)}). They will be left out of training and evaluation.",
                len(rep.empty_texts),
                rep.empty_texts,
            )
        )
    if empty.all():
        return empty
    non_empty = texts.filter(pa.array(~empty))
    _check_language(rep, non_empty)
    _check_lengths(rep, non_empty, tokenizer)
    return empty


def _check_language(rep: DataReport, texts: pa.Array) -> None:
    """The languages with their shares; a column without words (numbers, codes, IDs) blocks training."""
    profile = language.detect(texts, sample=language.DETECT_SAMPLE)
    rep.language = profile.to_dict()
    share = profile.no_words_share
    if share >= NO_WORDS_BLOCKS:
        rep.findings.append(
            Finding(
                "no_words",
                "error",
                f"Column '{rep.text_col}' holds no words: {share:.0%} of its texts are only numbers, "
                "codes or IDs (e.g. '" + _example_without_words(texts) + "'). A model learns from words: choose the "
                "column that holds the texts.",
                int(round(share * len(texts))),
            )
        )
    elif share >= NO_WORDS_WARNS:
        rep.findings.append(
            Finding(
                "few_words",
                "warning",
                f"{share:.0%} of the texts hold no words, only numbers, codes or IDs (e.g. '"
                + _example_without_words(texts)
                + "'). A model cannot learn much from them; check the column.",
                int(round(share * len(texts))),
            )
        )
    if profile.languages:
        rep.findings.append(Finding("language", "info", profile.sentence()))


def _example_without_words(texts: pa.Array, look: int = 2000) -> str:
    for text in texts.slice(0, look).to_pylist():
        if text and text.strip() and not language.has_words(text):
            return text.strip() if len(text.strip()) <= 40 else text.strip()[:37] + "..."
    return ""


def _check_lengths(rep: DataReport, texts: pa.Array, tokenizer) -> None:
    """Characters and words (segmented by script) per text; tokens by ``tokenizer`` on a sample, and the
    share of texts longer than the maximum length."""
    chars = language.char_counts(texts)
    wide = int(np.count_nonzero(pc.binary_length(texts).to_numpy(zero_copy_only=False) != chars))
    if wide > WORD_EXACT_ROWS:  # segmenting a million Chinese texts takes minutes: a seeded sample
        positions = language.sample_positions(len(texts), WORD_SAMPLE)
        words = language.word_counts(texts.take(pa.array(positions)))
        rep.words_sampled = len(positions)
    else:
        words = language.word_counts(texts)
    rep.char_lengths, rep.word_lengths = _stats(chars), _stats(words)
    sampled = f", counted on a sample of {rep.words_sampled:,} texts" if rep.words_sampled else ""
    line = (
        f"Texts are {int(words.min()):,} to {int(words.max()):,} words long (median {int(np.median(words)):,} "
        f"words, {int(np.median(chars)):,} characters{sampled})."
    )
    rep.tokens_estimated = tokenizer is None
    if tokenizer is not None:
        tokens = language.token_counts(tokenizer, texts, sample=language.TOKEN_SAMPLE)
        rep.token_lengths = _stats(tokens)
        share = float(np.mean(tokens > rep.max_length)) if len(tokens) else 0.0
        rep.long_share, rep.n_long = share, int(round(share * len(texts)))
        line = line[:-2] + f", {int(np.median(tokens)):,} tokens for the model)."
    else:  # every word is at least one token: texts with more words than the limit are surely longer
        share = float(np.mean(words > rep.max_length)) if len(words) else 0.0
        rep.long_share, rep.n_long = share, int(round(share * len(texts)))
    rep.findings.append(Finding("lengths", "info", line))
    if rep.long_share > 0:
        sev = "warning" if rep.long_share >= 0.2 else "info"
        how = (
            "counted with the model's tokenizer"
            if tokenizer is not None
            else "at least: each word is one token or more, and a model's own tokenizer often counts several"
        )
        rep.findings.append(
            Finding(
                "long_texts",
                sev,
                f"{rep.long_share:.0%} of texts are longer than the maximum length of {rep.max_length} "
                f"tokens ({how}); only their first {rep.max_length} tokens are used. A "
                "larger maximum length reads more of each text but trains more slowly.",
                rep.n_long,
            )
        )


def _check_missing_labels(rep: DataReport, labels: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Rows without a label (kept as unlabelled); every label missing blocks training."""
    missing = labels.isna().to_numpy(dtype=bool)
    rep.missing_labels = rows[missing].tolist()
    rep.n_unlabelled = len(rep.missing_labels)
    rep.n_labelled = rep.n_rows - rep.n_unlabelled
    if rep.n_labelled == 0:
        rep.findings.append(
            Finding(
                "all_labels_missing",
                "error",
                f"Every row has an empty label in column '{rep.label_col}'. "
                "Choose the column that holds the labels, or label some rows first.",
                rep.n_rows,
                rep.missing_labels,
            )
        )
    elif rep.missing_labels:
        rep.findings.append(
            Finding(
                "missing_labels",
                "warning",
                f"{plural(rep.n_unlabelled, 'row has', 'rows have')} no label "
                f"({_rows_text(rep.missing_labels)}). They are kept as unlabelled rows: not used for training, "
                "but you can label them in Label review or predict them.",
                rep.n_unlabelled,
                rep.missing_labels,
            )
        )
    return missing


def _check_classes(
    rep: DataReport,
    df: pd.DataFrame,
    labels: pd.Series,
    missing: np.ndarray,
    rows: np.ndarray,
    multi_label: bool | None,
) -> Counter:
    """Class counts (multi-label detected), one class only, tiny classes, imbalance; returns the counts."""
    add = rep.findings.append
    labelled = labels[~missing].astype(str)
    sep = detect_sep(labelled)
    if multi_label is not None and multi_label and sep is None:
        sep = ";"
    rep.multi_label = bool(sep) if multi_label is None else bool(multi_label)
    rep.separator = sep if rep.multi_label else None
    if rep.multi_label:
        per_row = [split_multi(lab, rep.separator) for lab in labelled]
        counts = Counter(p for parts in per_row for p in parts)
        avg = float(np.mean([len(p) for p in per_row])) if per_row else 0.0
        add(
            Finding(
                "multi_label",
                "info",
                f"Labels hold several classes per row separated by '{rep.separator}' "
                f"(about {avg:.1f} per row): this is a multi-label task, each text can get several of the "
                f"{len(counts)} classes.",
            )
        )
    else:
        counts = Counter({str(k): int(v) for k, v in labelled.value_counts().items()})
    rep.class_counts = {k: int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
    _header_word_classes(rep, df, labels, rows, add)

    if len(counts) < 2:
        only = f"'{next(iter(counts))}'" if counts else "none"
        add(
            Finding(
                "one_class",
                "error",
                f"Only one class is present ({only}). Training needs at least two "
                "different labels: check the label column or add examples of another class.",
                len(counts),
            )
        )
    rep.unsplittable_classes = {k: v for k, v in rep.class_counts.items() if v < 2}
    rep.small_classes = {k: v for k, v in rep.class_counts.items() if v < SMALL_CLASS}
    if rep.unsplittable_classes and len(counts) >= 2:
        names = ", ".join(f"'{k}'" for k in list(rep.unsplittable_classes)[:5])
        add(
            Finding(
                "unsplittable_classes",
                "warning",
                f"{plural(len(rep.unsplittable_classes), 'class has', 'classes have')} "
                f"a single example ({names}). Such a class goes to training only and cannot be tested; add more examples.",
                len(rep.unsplittable_classes),
            )
        )
    small = {k: v for k, v in rep.small_classes.items() if k not in rep.unsplittable_classes}
    if small and len(counts) >= 2:
        names = ", ".join(f"'{k}' ({v})" for k, v in list(small.items())[:5])
        add(
            Finding(
                "small_classes",
                "warning",
                f"{plural(len(small), 'class has', 'classes have')} fewer than {SMALL_CLASS} "
                f"examples: "
                f"{names}. A model rarely learns a class from so few; add examples if you can.",
                len(small),
            )
        )
    if len(counts) >= 2:
        ratio = max(counts.values()) / max(1, min(counts.values()))
        rep.imbalance_ratio = float(ratio)
        if ratio >= 10:
            big, little = max(counts, key=counts.get), min(counts, key=counts.get)
            add(
                Finding(
                    "imbalance",
                    "warning",
                    f"Classes are very unbalanced: '{big}' has {ratio:.0f} times as many "
                    f"examples as '{little}'. Weighting classes in the loss helps the small ones.",
                )
            )
    return counts


def _check_label_variants(rep: DataReport, df: pd.DataFrame, label_col: str) -> None:
    """Spelling variants: raw cells that differ only by case or spaces (counted over distinct cells: fast)."""
    add = rep.findings.append
    raw_counts = df[label_col].dropna().astype(str).value_counts()
    cell_counts: Counter = Counter()
    for cell, n in raw_counts.items():
        for part in cell.split(rep.separator) if rep.multi_label else [cell]:
            cell_counts[part] += int(n)
    variants: dict[str, Counter] = defaultdict(Counter)
    for cell, n in cell_counts.items():
        variants[re.sub(r"\s+", " ", cell).strip().casefold()][cell] += n
    for key, spellings in variants.items():
        if len(spellings) > 1 and key:
            stripped_names = {re.sub(r"\s+", " ", s).strip() for s in spellings}
            rep.label_variants.append(
                {"spellings": sorted(spellings), "counts": dict(spellings), "merged": len(stripped_names) == 1}
            )
    if rep.label_variants:
        merged = [v for v in rep.label_variants if v["merged"]]
        separate = [v for v in rep.label_variants if not v["merged"]]
        if separate:
            shown = "; ".join(" / ".join(f"'{s}'" for s in v["spellings"]) for v in separate[:3])
            add(
                Finding(
                    "label_variants",
                    "warning",
                    f"Some labels differ only in capital letters or spaces ({shown}). "
                    "They count as different classes; make the spelling the same if they mean the same thing.",
                    len(separate),
                )
            )
        if merged:
            shown = "; ".join(" / ".join(repr(s) for s in v["spellings"]) for v in merged[:3])
            add(
                Finding(
                    "label_spaces",
                    "info",
                    f"Some labels have extra spaces ({shown}); the spaces are removed so they count as one class.",
                    len(merged),
                )
            )


def _check_numeric_labels(rep: DataReport, counts: Counter) -> None:
    classes = list(counts)
    if classes and all(is_number(str(c)) for c in classes):
        rep.numeric_labels = True
        shown = ", ".join(sorted(classes, key=lambda c: float(c.replace(",", "")))[:6])
        rep.findings.append(
            Finding(
                "numeric_labels",
                "info",
                f"Labels are numbers ({shown}). Each number is treated as the name of a class, not as an amount.",
            )
        )


def _check_duplicates(rep: DataReport, texts, stripped, empty, missing, labels, rows) -> None:
    """Exact and conflicting duplicates: codes from Arrow's hash table (first-appearance order), groups
    without a per-group loop."""
    add = rep.findings.append
    usable = ~empty & ~missing
    mask = pa.array(usable)
    key_codes = _codes(normalize_keys(texts.filter(mask)))
    repeated = np.bincount(key_codes)[key_codes] > 1 if len(key_codes) else np.zeros(0, dtype=bool)
    rep.conflicting_duplicates, conflict_labels, conflict_texts, rep.exact_duplicates = _duplicate_groups(
        key_codes[repeated],
        labels.to_numpy(dtype=object)[usable][repeated],
        stripped.filter(mask).filter(pa.array(repeated)),
        rows[usable][repeated],
    )
    if rep.exact_duplicates:
        n = sum(len(g) for g in rep.exact_duplicates)
        add(
            Finding(
                "exact_duplicates",
                "warning",
                f"{plural(len(rep.exact_duplicates), 'text appears', 'texts appear')} more than once "
                f"with the same label ({n:,} rows). Training keeps the copies of a text in one split, so they "
                "cannot flatter the test score, but they count several times; remove them if they are mistakes.",
                len(rep.exact_duplicates),
                sorted(r for g in rep.exact_duplicates for r in g),
            )
        )
    if rep.conflicting_duplicates:
        n = sum(len(g) for g in rep.conflicting_duplicates)
        example = conflict_texts[0] if len(conflict_texts[0]) <= 60 else conflict_texts[0][:57] + "..."
        add(
            Finding(
                "conflicting_duplicates",
                "warning",
                f"{plural(len(rep.conflicting_duplicates), 'text appears', 'texts appear')} with "
                f"different labels ({n:,} rows), e.g. '{example}' is labelled "
                f"{' and '.join(repr(x) for x in conflict_labels[0])}. "
                "A model cannot learn both; check them in Label review.",
                len(rep.conflicting_duplicates),
                sorted(r for g in rep.conflicting_duplicates for r in g),
            )
        )


def _groups_in_order(codes: np.ndarray, rows: np.ndarray, keep: np.ndarray) -> list[list[int]]:
    """Rows grouped by ``codes`` (first-appearance numbering), groups in code order, rows in file order;
    only groups whose code is set in ``keep``."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    take = keep[sorted_codes]
    order, sorted_codes = order[take], sorted_codes[take]
    if len(order) == 0:
        return []
    cuts = np.flatnonzero(np.diff(sorted_codes)) + 1
    return [part.tolist() for part in np.split(rows[order].astype(np.int64), cuts)]


def _codes(values) -> np.ndarray:
    """Integer codes of an Arrow array's values, numbered by first appearance (like ``pd.factorize``,
    without turning a million strings into Python objects)."""
    return pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _duplicate_groups(key_codes: np.ndarray, labels: np.ndarray, texts: pa.Array, rows: np.ndarray):
    """Rows whose normalised text repeats, grouped without a Python loop per group (a 1M-row file has
    ~100k such groups: the pandas groupby loop over them took minutes).

    ``key_codes``: duplicate-key codes (first-appearance order) of the rows; ``labels``: their labels;
    ``texts``: their trimmed texts (Arrow); ``rows``: their row numbers. Returns ``(conflicting groups, their
    sorted labels, their first texts, exact-duplicate groups)``: a key with several labels is one
    conflicting group; otherwise rows with the same trimmed text (case and spacing kept) form an
    exact-duplicate group. Groups come in order of first appearance, rows in file order."""
    if len(key_codes) == 0:
        return [], [], [], []
    key_codes, _ = pd.factorize(key_codes)  # renumbered 0..n-1, order kept
    label_codes, label_names = pd.factorize(labels)
    n_keys = int(key_codes.max()) + 1
    pairs = pd.DataFrame({"k": key_codes, "l": label_codes}).drop_duplicates()
    conflicting = np.bincount(pairs["k"].to_numpy(), minlength=n_keys) > 1
    conflict_groups = _groups_in_order(key_codes, rows, conflicting)
    _, first_pos = np.unique(key_codes, return_index=True)  # first row of each key
    conflict_keys = np.flatnonzero(conflicting)
    conflict_texts = [texts[int(first_pos[k])].as_py() for k in conflict_keys[:1]]  # the message shows one
    conflict_labels = []
    if len(conflict_keys):
        names = np.asarray(label_names, dtype=object)
        per_key = pairs[conflicting[pairs["k"].to_numpy()]].groupby("k", sort=True)["l"].agg(list)
        conflict_labels = [sorted(str(names[i]) for i in per_key[k]) for k in conflict_keys]
    # Exact duplicates: within a key without conflict, the same trimmed text. Numbering (key, text) pairs by
    # first appearance keeps the old order: keys by first appearance, texts by first appearance inside a key.
    text_codes = _codes(texts)
    pair_codes, _ = pd.factorize(key_codes.astype(np.int64) * (int(text_codes.max()) + 1) + text_codes)
    pair_key = key_codes[np.unique(pair_codes, return_index=True)[1]]
    keep = (np.bincount(pair_codes) > 1) & ~conflicting[pair_key]
    rank = np.lexsort((np.arange(len(pair_key)), pair_key))  # pairs by (key, first appearance)
    renumber = np.empty_like(rank)
    renumber[rank] = np.arange(len(rank))
    exact_groups = _groups_in_order(renumber[pair_codes], rows, keep[rank])
    return conflict_groups, conflict_labels, conflict_texts, exact_groups


HEADER_WORD_MAX_ROWS = 2  # a header read as data shows up once (twice for a repeated header block)


def _header_word_classes(rep: DataReport, df: pd.DataFrame, labels: pd.Series, rows, add) -> None:
    """A class that is a header word ('label', 'category', a column's own name) with one or two rows
    is almost always a header row read as data (a title row above the header): block training,
    so the page never says "Ready to train" while it is counted as a class."""
    words = {str(c).strip().lower() for c in df.columns} | set(LABEL_NAMES) | set(TEXT_NAMES)
    suspects = [k for k, v in rep.class_counts.items() if k.strip().lower() in words and v <= HEADER_WORD_MAX_ROWS]
    if not suspects:
        return
    values = labels.astype(object).where(labels.notna(), None).tolist()
    where = [int(r) for r, v in zip(rows, values) if v is not None and str(v).strip() in suspects]
    names = ", ".join(f"'{k}'" for k in suspects)
    add(
        Finding(
            "header_word_class",
            "error",
            f"{names} {'is' if len(suspects) == 1 else 'are'} counted as a class "
            f"but looks like a column heading ({_rows_text(where)}): the header row is probably wrong, e.g. a "
            "title row above the real header. Choose the header row (on Upload, or `--header-row N` in the "
            "CLI), or drop those rows in Label review.",
            len(where),
            where,
        )
    )
