"""The whole review of a prepared frame, its result, and the cache per data version."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from textclf_core.config import DEFAULT_MODEL
from textclf_core.errors import DataError
from textclf_core.labels import LabelSpace, clean_label

from .common import (
    CONFLICT,
    DUPLICATE,
    FINDING_COLUMNS,
    FINDING_TYPES,
    LABEL_NEXT,
    MISLABEL,
    OUTLIER,
    Emit,
    ShouldStop,
    check_stop,
)
from .duplicates import find_conflicts, find_near_duplicates
from .issues import label_quality
from .label_next import what_to_label_next
from .oof import out_of_sample_proba
from .outliers import find_outliers
from .similarity import neighbours
from .thorough import THOROUGH_SETTINGS
from .vectors import as_features, main_features, readable_method, take_rows

# 2: the thorough method; its settings are part of the key. 3: repeated cross-validation.
# 4: exact duplicates keyed by data.duplicate_keys (punctuation and accents count now).
# 5: TF-IDF that reads the language, the encoder's readability checked, the shared-word rule for groups.
_CACHE_VERSION = 5
_MEMORY_CACHE: "OrderedDict[str, ReviewResult]" = OrderedDict()
_MEMORY_CACHE_SIZE = 4


@dataclass
class ReviewResult:
    """Everything one review found, as DataFrames a person can read.

    ``findings`` is the combined ranked list (columns :data:`FINDING_COLUMNS`); the
    other frames hold each kind of finding with its own details. ``quality`` has one
    line per labelled row (label quality, suggestion, ``is_issue``), for custom
    rankings and benchmarks.
    """

    findings: pd.DataFrame
    label_errors: pd.DataFrame
    near_duplicates: pd.DataFrame
    conflicts: pd.DataFrame
    outliers: pd.DataFrame
    label_next: pd.DataFrame
    quality: pd.DataFrame
    summary: dict
    proba: np.ndarray
    classes: list[str]
    fingerprint: str
    from_cache: bool = False

    _FRAMES = ("findings", "label_errors", "near_duplicates", "conflicts", "outliers", "label_next", "quality")

    def __post_init__(self) -> None:
        for name in self._FRAMES:  # one convention for missing labels: None
            setattr(self, name, _none_for_missing_text(getattr(self, name).reset_index(drop=True)))

    def summary_lines(self) -> list[str]:
        """Plain-language lines for the CLI and the page."""
        s = self.summary
        took = "reused from the cache" if self.from_cache else f"{s['seconds']:.1f} s"
        lines = [
            f"Reviewed {s['labelled_rows']:,} labelled rows ({s['method']}, {s['folds']}-fold cross-validation, "
            f"{took})."
        ]
        if s.get("reads_note"):  # the encoder could not read the texts: say so, and what was used instead
            lines.insert(0, s["reads_note"])
        lines.append(f"Likely mislabels: {s['likely_mislabels']} (about {s['estimated_noise_share']:.1%} of labels).")
        lines.append(
            f"Conflicting duplicates: {_n(s['conflict_groups'], 'group')} ({_n(s['conflict_rows'], 'row')}); "
            f"other near duplicates: {_n(s['duplicate_groups'], 'group')} ({_n(s['duplicate_rows'], 'row')})."
        )
        lines.append(f"Outliers shown: {s['outliers']}.")
        if s["unlabelled_rows"]:
            lines.append(f"Unlabelled rows ranked for labelling next: {s['unlabelled_rows']}.")
        return lines

    # --- disk cache -----------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder = Path(folder)
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in self._FRAMES:
            getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
        np.save(tmp / "proba.npy", self.proba)
        meta = {
            "version": _CACHE_VERSION,
            "summary": self.summary,
            "classes": self.classes,
            "fingerprint": self.fingerprint,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, default=_json_default), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)  # readers never see half a cache entry

    @classmethod
    def load(cls, folder: Path) -> "ReviewResult":
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("version") != _CACHE_VERSION:
            raise ValueError("old cache version")
        frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in cls._FRAMES}
        return cls(
            **frames,
            summary=meta["summary"],
            proba=np.load(folder / "proba.npy"),
            classes=list(meta["classes"]),
            fingerprint=meta["fingerprint"],
            from_cache=True,
        )


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _none_for_missing_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns back as Python objects with None for missing, as they were before saving."""
    for col in frame.columns:
        if not (pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col])):
            values = frame[col].astype(object)
            frame[col] = values.where(values.notna(), None)
    return frame


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)


def cache_root() -> Path:
    """``$TEXTCLF_HOME/cache/review`` (``./.textclf_cache/review`` when TEXTCLF_HOME is unset)."""
    home = os.environ.get("TEXTCLF_HOME")
    return (Path(home) / "cache" if home else Path(".textclf_cache")) / "review"


def review_fingerprint(texts: Iterable, labels: Iterable, rows: Iterable, settings: dict) -> str:
    """Version of the data + settings: any change of a text, a label, a row or a setting changes it."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for t, lab, r in zip(texts, labels, rows):
        h.update(
            b"\x1e"
            + str(r).encode()
            + b"\x1f"
            + str(t).encode("utf-8", "replace")
            + b"\x1f"
            + str(lab if lab is not None else "\x00").encode("utf-8", "replace")
        )
    return h.hexdigest()[:32]


def _coerce_frame(frame: pd.DataFrame, text_col: str, label_col: str, row_col: str | None) -> pd.DataFrame:
    for col in (text_col, label_col):
        if col not in frame.columns:
            raise DataError(
                f"Column {col!r} is not in the data", hint=f"Columns are: {', '.join(map(str, frame.columns))}"
            )
    rows = frame[row_col].tolist() if row_col and row_col in frame.columns else list(range(len(frame)))
    texts = frame[text_col].map(lambda t: "" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t))
    return pd.DataFrame({"row": rows, "text": texts.tolist(), "label": [clean_label(v) for v in frame[label_col]]})


def _settings(
    *,
    model,
    method,
    folds,
    repeats,
    seed,
    multi_label,
    duplicate_threshold,
    outlier_share,
    label_next_top,
    max_length,
    embeddings,
    thorough,
) -> dict:
    """Every setting that changes a review's result: with the data, its cache key."""
    settings = {
        "model": model if method != "tfidf" else None,
        "method": method,
        "folds": int(folds),
        "repeats": max(1, int(repeats)),
        "seed": int(seed),
        "multi_label": multi_label,
        "duplicate_threshold": float(duplicate_threshold),
        "outlier_share": float(outlier_share),
        "label_next_top": int(label_next_top),
        "max_length": int(max_length),
        "v": _CACHE_VERSION,
    }
    if method == "thorough":  # its fine-tuning settings change the result: part of the data version
        settings["thorough"] = {**THOROUGH_SETTINGS, **(thorough or {})}
    if embeddings is not None:  # given vectors replace the model: they are part of the data version
        settings["embeddings"] = hashlib.sha256(
            np.ascontiguousarray(embeddings, dtype=np.float32).tobytes()
        ).hexdigest()
    return settings


def review_key(
    frame: pd.DataFrame,
    *,
    model: str = DEFAULT_MODEL,
    method: str = "combined",
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
    text_col: str = "text",
    label_col: str = "label",
    row_col: str | None = "row",
    multi_label: bool | None = None,
    duplicate_threshold: float = 0.95,
    outlier_share: float = 0.01,
    label_next_top: int = 200,
    max_length: int = 128,
    embeddings: np.ndarray | None = None,
    thorough: dict | None = None,
    **_ignored,
) -> str:
    """The cache key (:attr:`ReviewResult.fingerprint`) :func:`review` would give this frame and settings.

    Cheap (one hash over the texts): a page computes it on every rerun to find a finished
    review in the cache, or the running job of this data version. Takes :func:`review`'s
    keyword arguments; those that do not change the result (``cache``, ``emit``, ...) are ignored.
    """
    data = _coerce_frame(frame, text_col, label_col, row_col)
    settings = _settings(
        model=model,
        method=method,
        folds=folds,
        repeats=repeats,
        seed=seed,
        multi_label=multi_label,
        duplicate_threshold=duplicate_threshold,
        outlier_share=outlier_share,
        label_next_top=label_next_top,
        max_length=max_length,
        embeddings=embeddings,
        thorough=thorough,
    )
    return review_fingerprint(data["text"], data["label"], data["row"], settings)


def cached_review(key: str) -> ReviewResult | None:
    """The finished review with this key (memory, then disk cache), or None.

    A review still in memory is returned as it was made (``from_cache`` False when it was
    computed in this process), so a page polling its job shows how long it took.
    """
    if key in _MEMORY_CACHE:
        _MEMORY_CACHE.move_to_end(key)
        return _MEMORY_CACHE[key]
    return _cache_get(key)


def _labelled_rows(data: pd.DataFrame, multi_label: bool | None) -> tuple[np.ndarray, LabelSpace]:
    """Which rows are labelled (a boolean mask) and the label space of their labels; a DataError with fewer
    than 4 labelled rows."""
    labelled = data["label"].notna().to_numpy()
    n_labelled = int(labelled.sum())
    if n_labelled < 4:
        raise DataError(
            f"Label review needs at least 4 labelled rows, found {n_labelled}",
            hint="Choose the column that holds the labels",
        )
    space = LabelSpace.from_labels(data.loc[labelled, "label"].tolist(), multi_label=multi_label)
    return labelled, space


def _neighbourhood(x, data: pd.DataFrame, texts: list, settings: dict, progress):
    """Near-duplicates (cosine from ``settings["duplicate_threshold"]``), the conflicts among them (same text,
    different labels) and outliers, on the main features ``x``; returns ``(dups, conflicts, outliers)``."""
    progress("duplicates", 0.8)
    similar = main_features(x)
    pairs, distance = neighbours(similar, settings["duplicate_threshold"])
    dups = find_near_duplicates(
        similar,
        settings["duplicate_threshold"],
        texts=texts,
        labels=data["label"].tolist(),
        rows=data["row"].tolist(),
        pairs=pairs,
    )
    conflicts = find_conflicts(dups)
    progress("outliers", 0.9)
    outliers = find_outliers(
        similar,
        texts=texts,
        labels=data["label"].tolist(),
        rows=data["row"].tolist(),
        share=settings["outlier_share"],
        distance=distance,
    )
    return dups, conflicts, outliers


def _label_next(x, x_lab, lab: pd.DataFrame, data: pd.DataFrame, unl_idx, space: LabelSpace, top: int):
    """The unlabelled rows (``unl_idx``) most worth labelling next, at most ``top`` (:func:`what_to_label_next`)."""
    return what_to_label_next(
        x_lab,
        lab["label"].tolist(),
        take_rows(x, unl_idx),
        texts=data["text"].iloc[unl_idx].tolist(),
        rows=data["row"].iloc[unl_idx].tolist(),
        multi_label=space.multi_label,
        classes=space.classes,
        top=top,
    )


def _review_labelled(
    data: pd.DataFrame,
    settings: dict,
    fp: str,
    started: float,
    progress,
    *,
    model: str,
    embeddings,
    emit,
    should_stop,
) -> ReviewResult:
    """The review's stages once the data and settings are known (the labelled rows, features, cross-validated probabilities of
    the labelled rows, label errors, duplicates and conflicts, outliers, what to label next), reported through
    ``progress(stage, share)``; returns the :class:`ReviewResult` (not cached here)."""
    labelled, space = _labelled_rows(data, settings["multi_label"])
    reading = _reading_progress(emit)
    progress("features", 0.0)
    texts = data["text"].tolist()
    used, reads_note = readable_method(texts, settings["method"], model, embeddings=embeddings)
    x = as_features(
        texts,
        used,
        model,
        max_length=settings["max_length"],
        embeddings=embeddings,
        emit=reading,
        should_stop=should_stop,
    )
    progress("cross-validation", 0.5)
    lab_idx = np.flatnonzero(labelled)
    lab = data.iloc[lab_idx]
    x_lab = take_rows(x, lab_idx)
    proba, classes = out_of_sample_proba(
        lab["text"].tolist(),
        lab["label"].tolist(),
        method=used,
        folds=settings["folds"],
        repeats=settings["repeats"],
        seed=settings["seed"],
        multi_label=space.multi_label,
        classes=space.classes,
        features=x_lab,
        model=model,
        max_length=settings["max_length"],
        thorough=settings.get("thorough"),
        should_stop=should_stop,
        emit=(lambda e: emit(e) if emit and e.get("type") == "review_stage" else None),
    )
    progress("label errors", 0.7)
    quality, errors = _label_errors(lab, proba, classes, space)
    dups, conflicts, outliers = _neighbourhood(x, data, texts, settings, progress)
    unl_idx = np.flatnonzero(~labelled)
    label_next = _label_next(x, x_lab, lab, data, unl_idx, space, settings["label_next_top"])

    findings = combine_findings(errors, conflicts, dups, outliers, label_next)
    summary = _summary(
        data,
        int(labelled.sum()),
        unl_idx,
        classes,
        space,
        settings,
        errors,
        conflicts,
        findings,
        outliers,
        label_next,
        started,
        fp,
    )
    summary.update(
        method=used,
        requested_method=settings["method"],
        reads_note=reads_note,
        links_refused=int(dups.attrs.get("links_refused", 0)),
    )
    return ReviewResult(
        findings=findings,
        label_errors=errors,
        near_duplicates=dups,
        conflicts=conflicts,
        outliers=outliers,
        label_next=label_next,
        quality=quality,
        summary=summary,
        proba=proba,
        classes=list(classes),
        fingerprint=fp,
    )


def review(
    frame: pd.DataFrame,
    *,
    model: str = DEFAULT_MODEL,
    method: str = "combined",
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
    text_col: str = "text",
    label_col: str = "label",
    row_col: str | None = "row",
    multi_label: bool | None = None,
    duplicate_threshold: float = 0.95,
    outlier_share: float = 0.01,
    label_next_top: int = 200,
    max_length: int = 128,
    cache: bool = True,
    embeddings: np.ndarray | None = None,
    emit: Emit | None = None,
    thorough: dict | None = None,
    should_stop: ShouldStop | None = None,
) -> ReviewResult:
    """Review the labels of a table: likely mislabels, duplicates, conflicts, outliers, what to label next.

    Parameters
    ----------
    frame : pd.DataFrame
      Usually ``data.prepare(...)``'s result (``row``, ``text``, ``label``; unlabelled
      rows have ``label`` None). Other column names through ``text_col`` /
      ``label_col`` / ``row_col``; without a row column, row ids are positions.
    model, method, folds, repeats, seed
      See :func:`out_of_sample_proba`.
    duplicate_threshold : float
      Cosine similarity from which two texts are near-duplicates.
    cache : bool
      Reuse an earlier review of exactly the same data and settings (memory, then
      ``$TEXTCLF_HOME/cache/review``) and store this one.
    embeddings : np.ndarray, optional
      Precomputed embeddings of all rows of ``frame`` (skips the encoder).
    emit : callable, optional
      Receives progress events (``{"type": "review_stage", "stage": ..., "progress": 0..1}``).
    thorough : dict, optional
      Overrides of :data:`THOROUGH_SETTINGS` for ``method="thorough"``.
    should_stop : callable, optional
      Checked at every stage, fold and fine-tuning step; when it returns True the review
      raises :class:`~textclf_core.errors.CancelledError` (nothing is cached).

    Returns
    -------
    ReviewResult
    """
    started = time.perf_counter()
    data = _coerce_frame(frame, text_col, label_col, row_col)
    if data.empty:
        raise DataError("The table has no rows to review")
    settings = _settings(
        model=model,
        method=method,
        folds=folds,
        repeats=repeats,
        seed=seed,
        multi_label=multi_label,
        duplicate_threshold=duplicate_threshold,
        outlier_share=outlier_share,
        label_next_top=label_next_top,
        max_length=max_length,
        embeddings=embeddings,
        thorough=thorough,
    )
    fp = review_fingerprint(data["text"], data["label"], data["row"], settings)

    def progress(stage: str, value: float) -> None:
        if stage != "done":  # a finished review is kept, even when Cancel came in its last moment
            check_stop(should_stop)
        if emit:
            emit({"type": "review_stage", "stage": stage, "progress": value})

    if cache:
        hit = _cache_get(fp)
        if hit is not None:
            progress("done", 1.0)
            return hit

    result = _review_labelled(
        data, settings, fp, started, progress, model=model, embeddings=embeddings, emit=emit, should_stop=should_stop
    )
    if cache:
        _cache_put(fp, result)
    progress("done", 1.0)
    return result


def _reading_progress(emit: Emit | None):
    """The encoder's progress events as review stages: reading the texts is the first half of the review."""

    def reading(event: dict) -> None:
        if emit and event.get("type") == "progress" and event.get("total"):
            done, total = int(event.get("done") or 0), int(event["total"])
            eta = event.get("eta_s")
            left = f", about {_duration(eta)} left" if eta and done < total else ""
            emit(
                {
                    "type": "review_stage",
                    "stage": f"reading the texts ({done:,} of {total:,}{left})",
                    "progress": 0.5 * min(1.0, done / total),
                    "done": done,
                    "total": total,
                    "eta_s": eta,
                }
            )

    return reading


def _label_errors(
    lab: pd.DataFrame, proba: np.ndarray, classes, space: LabelSpace
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(quality of every labelled row, the likely mislabels ranked by score)."""
    quality = label_quality(
        lab["label"].tolist(), proba, classes, multi_label=space.multi_label, separator=space.separator or ";"
    )
    quality.insert(0, "row", lab["row"].tolist())
    quality.insert(1, "text", lab["text"].tolist())
    errors = quality[quality["is_issue"] & (quality["given_label"] != quality["suggested_label"])].copy()
    errors["score"] = np.round(1 - errors["quality"], 4)
    errors["finding"] = MISLABEL
    errors = errors.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    return quality, errors[["row", "text", "given_label", "suggested_label", "confidence", "score", "finding"]]


def _summary(
    data, n_labelled, unl_idx, classes, space, settings, errors, conflicts, findings, outliers, label_next, started, fp
) -> dict:
    return {
        "rows": len(data),
        "labelled_rows": n_labelled,
        "unlabelled_rows": int(len(unl_idx)),
        "classes": list(classes),
        "multi_label": space.multi_label,
        "method": settings["method"],
        "model": settings["model"],
        "folds": settings["folds"],
        "repeats": settings["repeats"],
        "likely_mislabels": int(len(errors)),
        "estimated_noise_share": float(len(errors) / max(n_labelled, 1)),
        "conflict_groups": int(conflicts["group"].nunique()) if len(conflicts) else 0,
        "conflict_rows": int(len(conflicts)),
        # Duplicates without a label conflict (conflicts are counted above).
        "duplicate_groups": int(findings.loc[findings["finding"] == DUPLICATE, "group"].nunique()),
        "duplicate_rows": int((findings["finding"] == DUPLICATE).sum()),
        "outliers": int(len(outliers)),
        "label_next": int(len(label_next)),
        "seconds": round(time.perf_counter() - started, 2),
        "fingerprint": fp,
    }


def combine_findings(
    errors: pd.DataFrame,
    conflicts: pd.DataFrame,
    duplicates: pd.DataFrame,
    outliers: pd.DataFrame,
    label_next: pd.DataFrame,
) -> pd.DataFrame:
    """One ranked list of all findings (columns :data:`FINDING_COLUMNS`).

    Ordered by finding type (mislabels, conflicts, duplicates, outliers, label next),
    then by ``score`` (higher = look at it first). A row in a conflicting group is
    listed as a conflict, not again as a plain duplicate.
    """
    parts = []
    if len(errors):
        e = errors.copy()
        e["group"] = None
        e["detail"] = [
            f"model says '{s}' with {c:.0%} confidence" for s, c in zip(e["suggested_label"], e["confidence"])
        ]
        parts.append(e)
    if len(conflicts):
        c = conflicts.copy()
        c["score"] = c["similarity"]
        c["finding"] = CONFLICT
        c["detail"] = [
            f"group {g} of {n} similar texts: {labels}"
            for g, n, labels in zip(c["group"], c["group_size"], c["labels_in_group"])
        ]
        c["group"] = ["conflict " + str(g) for g in c["group"]]
        parts.append(c)
    if len(duplicates):
        in_conflict = set(conflicts["row"]) if len(conflicts) else set()
        d = duplicates[~duplicates["row"].isin(in_conflict)].copy()
        if len(d):
            d["group"] = pd.factorize(d["group"])[0] + 1
            d["suggested_label"] = None
            d["score"] = d["similarity"]
            d["finding"] = DUPLICATE
            d["detail"] = [
                f"group {g} of {n} similar texts with the same label" for g, n in zip(d["group"], d["group_size"])
            ]
            d["group"] = ["duplicate " + str(g) for g in d["group"]]
            parts.append(d)
    if len(outliers):
        o = outliers.copy()
        o["suggested_label"] = None
        o["finding"] = OUTLIER
        o["group"] = None
        o["detail"] = "unlike the other texts"
        parts.append(o)
    if len(label_next):
        ln = label_next.copy()
        ln["given_label"] = None
        ln["finding"] = LABEL_NEXT
        ln["group"] = None
        ln["detail"] = [
            f"model unsure: best guess '{s}' at {c:.0%}" for s, c in zip(ln["suggested_label"], ln["confidence"])
        ]
        parts.append(ln)
    if not parts:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    out = pd.concat([p[FINDING_COLUMNS].astype(object) for p in parts], ignore_index=True)
    out["score"] = pd.to_numeric(out["score"]).astype(float)
    order = {name: i for i, name in enumerate(FINDING_TYPES)}
    out["_type"] = out["finding"].map(order)
    # Groups stay together: sort groups by their best score, then members by score.
    out["_group_score"] = out.groupby(out["group"].fillna(out.index.to_series().astype(str)))["score"].transform("max")
    out = out.sort_values(
        ["_type", "_group_score", "group", "score"],
        ascending=[True, False, True, False],
        kind="stable",
        na_position="last",
    )
    return out.drop(columns=["_type", "_group_score"]).reset_index(drop=True)


def _cache_get(fp: str) -> ReviewResult | None:
    if fp in _MEMORY_CACHE:
        _MEMORY_CACHE.move_to_end(fp)
        hit = _MEMORY_CACHE[fp]
        hit.from_cache = True
        return hit
    folder = cache_root() / fp
    if (folder / "meta.json").is_file():
        try:
            hit = ReviewResult.load(folder)
        except Exception:  # a damaged or outdated cache entry is recomputed, never fatal
            return None
        _remember(fp, hit)
        return hit
    return None


def _cache_put(fp: str, result: ReviewResult) -> None:
    _remember(fp, result)
    try:
        result.save(cache_root() / fp)
    except OSError:  # a read-only or full disk only costs the warm start
        pass


def _remember(fp: str, result: ReviewResult) -> None:
    _MEMORY_CACHE[fp] = result
    _MEMORY_CACHE.move_to_end(fp)
    while len(_MEMORY_CACHE) > _MEMORY_CACHE_SIZE:
        _MEMORY_CACHE.popitem(last=False)


def clear_memory_cache() -> None:
    """Forget reviews kept in memory (the disk cache stays)."""
    _MEMORY_CACHE.clear()
