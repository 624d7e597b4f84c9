"""Preparation and splits: :func:`prepare` (a clean text/label frame) and :func:`assign_splits`
(stratified, seeded, group-aware train/validation/test)."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import DataError
from textclf_core.labels import split_multi

from .cells import clean_labels, detect_sep, split_names, text_cells


def prepare(df: pd.DataFrame, text_col: str, label_col: str | None, *, split_col: str | None = None) -> pd.DataFrame:
    """A clean frame: ``row`` (original 0-based position), ``text`` (str, missing → ""),
    ``label`` (trimmed text, None when unlabelled) and ``split_value`` when ``split_col`` is given."""
    for role, col in (("text", text_col), ("label", label_col), ("split", split_col)):
        if col is not None and col not in df.columns:
            raise DataError(
                f"There is no {role} column '{col}'", hint=f"Choose one of: {', '.join(map(str, df.columns[:10]))}"
            )
    if text_col is None:
        raise DataError("No text column is chosen", hint="Choose the column that holds the texts")
    labels = clean_labels(df[label_col]) if label_col is not None else np.full(len(df), None, dtype=object)
    out = pd.DataFrame(
        {
            "row": np.arange(len(df), dtype=np.int64),
            "text": pd.Series(text_cells(df[text_col]), dtype=object),
            "label": pd.Series(labels, dtype=object),
        }
    )
    if split_col is not None:
        out["split_value"] = pd.Series(split_names(df[split_col]), dtype=object)  # None, not NaN
    return out


def assign_splits(labels: Sequence, **options) -> np.ndarray:
    """'train' / 'validation' / 'test' / 'unlabelled' for each row: :func:`assign_splits_with_notes` without the
    notes (same keyword options and defaults)."""
    return assign_splits_with_notes(labels, **options)[0]


def assign_splits_with_notes(
    labels: Sequence,
    *,
    val_size: float = 0.1,
    test_size: float = 0.1,
    seed: int = 42,
    split_values: Sequence | None = None,
    multi_label: bool = False,
    groups: Sequence | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Stratified, seeded split of labelled rows; unlabelled rows get 'unlabelled'.

    - ``split_values`` (a split column) is honoured where a row has a recognised value
      (train/validation/test and synonyms); missing splits are carved out of train.
    - ``groups`` (e.g. normalised texts) keeps rows of one group in the same split.
    - Classes too small to stratify (1 example) go to train, with a note.
    - Multi-label rows are stratified on their rarest label.
    """
    clean = clean_labels(labels)
    n = len(clean)
    notes: list[str] = []
    out = np.full(n, "unlabelled", dtype=object)
    has_label = np.array([c is not None for c in clean], dtype=bool)
    labelled = np.flatnonzero(has_label)
    if len(labelled) == 0:
        return out.astype(str), ["No row has a label"]
    if groups is not None:
        groups = list(groups)
        if len(groups) != n:
            raise DataError("The groups have a different number of rows than the labels")

    # Stratum of each labelled row: its label, or (multi-label) its rarest label.
    strata = np.full(n, "", dtype=object)
    if multi_label:
        sep = detect_sep(pd.Series(clean[labelled], dtype=object)) or ";"
        parts = {int(i): split_multi(clean[i], sep) for i in labelled}
        freq = Counter(p for ps in parts.values() for p in ps)
        for i, ps in parts.items():
            strata[i] = min(ps, key=lambda p: (freq[p], p)) if ps else ""
    else:
        strata[labelled] = clean[labelled]

    pool = labelled
    if split_values is not None:
        names = split_names(split_values)
        if len(names) != n:
            raise DataError("The split column has a different number of rows than the labels")
        fixed = labelled[np.array([names[i] is not None for i in labelled], dtype=bool)]
        if len(fixed):
            present = {names[i] for i in fixed}
            notes.append(f"The split column's values were used for {len(fixed):,} labelled rows")
            unknown = len(labelled) - len(fixed)
            if unknown:
                notes.append(f"{unknown:,} labelled rows had no recognised split value and were split at random")
            if "validation" not in present and val_size > 0:
                notes.append("The split column has no validation rows; some training rows are used for validation")
            if "test" not in present and test_size > 0:
                notes.append("The split column has no test rows; some training rows are used for the final test")
            val_size = 0.0 if "validation" in present else val_size
            test_size = 0.0 if "test" in present else test_size
            for i in fixed:
                out[i] = names[i]
            # Missing parts are carved out of the rows the column put in train, plus the unassigned ones.
            pool = labelled[np.array([names[i] in (None, "train") for i in labelled], dtype=bool)]
    _stratified(pool, strata, groups, val_size, test_size, seed, out, notes)
    return out.astype(str), notes


def _stratified(
    indices: np.ndarray,
    strata: np.ndarray,
    groups,
    val_size: float,
    test_size: float,
    seed: int,
    out: np.ndarray,
    notes: list[str],
) -> None:
    """Assign train/validation/test to ``indices`` class by class; rows of one group stay together."""
    if len(indices) == 0:
        return
    rng = np.random.default_rng(seed)
    if groups is None:
        unit_of = np.arange(len(indices))
    else:
        codes, _ = pd.factorize(pd.Series([groups[i] for i in indices], dtype=object), use_na_sentinel=True)
        alone = codes < 0  # rows without a group are units of their own
        codes[alone] = codes.max(initial=-1) + 1 + np.arange(int(alone.sum()))
        unit_of, _ = pd.factorize(codes)
    n_units = int(unit_of.max()) + 1
    first_member = np.full(n_units, -1, dtype=np.int64)
    first_member[unit_of[::-1]] = np.arange(len(indices))[::-1]  # first row of each unit
    unit_strata = strata[indices[first_member]]
    unit_split = np.full(n_units, "train", dtype=object)
    too_small = []
    for cls in sorted(set(unit_strata.tolist()), key=str):
        members = np.flatnonzero(unit_strata == cls)
        k = len(members)
        n_test = int(round(k * test_size))
        n_val = int(round(k * val_size))
        if k >= 3:
            n_test = max(n_test, 1 if test_size > 0 else 0)
            n_val = max(n_val, 1 if val_size > 0 else 0)
        elif k == 2:
            n_test, n_val = (1, 0) if test_size > 0 else (0, 1 if val_size > 0 else 0)
        else:
            n_test = n_val = 0
            too_small.append(cls)
        while n_test + n_val >= k and k > 1:  # always keep at least one unit for training
            if n_val > 0:
                n_val -= 1
            else:
                n_test -= 1
        order = members[rng.permutation(k)]
        unit_split[order[:n_test]] = "test"
        unit_split[order[n_test : n_test + n_val]] = "validation"
    out[indices] = unit_split[unit_of]
    if too_small:
        shown = ", ".join(f"'{c}'" for c in too_small[:5])
        notes.append(f"{len(too_small)} class(es) have a single example ({shown}) and were put in training only")


def stratified_sample(
    labels: Sequence, n: int, *, seed: int = 42, multi_label: bool = False, min_per_class: int = 3
) -> np.ndarray:
    """Sorted positions of a stratified random sample of ``n`` labelled rows (all of them when there are fewer).

    Each class (multi-label: each row's rarest label, as :func:`assign_splits` stratifies) keeps its share of
    the rows, rounded by largest remainder so the total is exactly ``n``, and at least ``min_per_class`` rows
    (or all it has) so that no class disappears and every class can still reach train, validation and test.
    Unlabelled rows are never drawn. Seeded: the same labels, size and seed give the same rows.

    ``RunConfig.sample_rows`` draws it before the split (``training_setup.prepare_splits``), not from the
    training rows only: on a file too big to train on, every part of the run (training, each validation
    pass, the test scoring) is what takes hours, so all of it shrinks with the sample; validation and test
    keep their shares of the sample, which at tens of thousands of rows still scores to a fraction of a point.
    The rows left out are marked "excluded" in the run's split.csv.
    """
    clean = clean_labels(labels)
    labelled = np.flatnonzero(np.array([c is not None for c in clean], dtype=bool))
    n = int(n)
    if n >= len(labelled):
        return labelled
    if multi_label:
        sep = detect_sep(pd.Series(clean[labelled], dtype=object)) or ";"
        parts = [split_multi(clean[i], sep) for i in labelled]
        freq = Counter(p for ps in parts for p in ps)
        strata = np.array([min(ps, key=lambda p: (freq[p], p)) if ps else "" for ps in parts], dtype=object)
    else:
        strata = clean[labelled]
    classes, codes = np.unique(strata.astype(str), return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes))
    floor = np.minimum(counts, min_per_class)
    if floor.sum() > n:
        raise DataError(
            f"A sample of {n:,} rows cannot keep {min_per_class} rows of each of the {len(classes)} classes",
            hint=f"Ask for at least {int(floor.sum()):,} rows",
        )
    exact = counts * n / counts.sum()
    quota = np.minimum(np.maximum(floor, np.floor(exact).astype(np.int64)), counts)
    # largest remainder: hand out (or take back) the rows left by rounding, largest shortfall first
    while quota.sum() != n:
        if quota.sum() < n:
            room = np.flatnonzero(quota < counts)
            quota[room[np.argmax((exact - quota)[room])]] += 1
        else:
            room = np.flatnonzero(quota > floor)
            quota[room[np.argmin((exact - quota)[room])]] -= 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(codes == c), size=int(q), replace=False) for c, q in enumerate(quota) if q]
    return np.sort(labelled[np.concatenate(picked)])
