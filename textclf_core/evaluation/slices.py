"""Slice analysis: how well a run does on each group of another column of the data.

A model with 90% accuracy overall can be at 70% on one source, product or month.
:func:`evaluate_by` scores the run's test predictions (``predictions.csv``) per group of
any column of the original table and flags the groups that do clearly worse.

Columns are grouped so that every group is worth reading:

- dates (a datetime column, or text that parses as dates) → one group per month (``2024-03``);
- numbers with many distinct values → quantile bins (``[10, 25)``);
- text with many distinct values → the 20 most frequent values and ``other``;
- missing values → ``(missing)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import TextclfError
from textclf_core.labels import split_cell

MISSING = "(missing)"
OTHER = "other"
TOP_GROUPS = 20
QUANTILES = 4
MIN_FLAG_N = 20
FLAG_MARGIN = 0.05  # accuracy this far (5 points) below overall flags a group
COLUMNS = ["group", "n", "accuracy", "macro_f1", "accuracy_gap", "flagged", "confusion_matrix"]


# --- grouping a column --------------------------------------------------------------------------


def _looks_like_dates(values: pd.Series) -> pd.Series | None:
    """Parsed datetimes when at least 90% of the non-missing values are dates, else None."""
    present = values.dropna().astype(str).str.strip()
    present = present[present != ""]
    if present.empty or present.str.fullmatch(r"[+-]?\d+([.,]\d+)?").mean() > 0.5:
        return None  # plain numbers are not dates, even where a parser would accept them
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(values.where(values.astype(str).str.strip() != ""), errors="coerce", format="mixed")
    if parsed.notna().sum() < 0.9 * len(present):
        return None
    return parsed


def group_values(values: Sequence, *, top: int = TOP_GROUPS, quantiles: int = QUANTILES) -> tuple[pd.Series, str]:
    """Group labels (strings) for ``values`` and a short description of how they were grouped."""
    series = pd.Series(list(values) if not isinstance(values, pd.Series) else values.reset_index(drop=True))
    if pd.api.types.is_bool_dtype(series):
        return series.map(lambda v: MISSING if pd.isna(v) else str(bool(v))), "values"
    dates = series if pd.api.types.is_datetime64_any_dtype(series) else None
    if dates is None and (series.dtype == object or pd.api.types.is_string_dtype(series)):
        dates = _looks_like_dates(series)
    if dates is not None:
        dates = pd.to_datetime(dates, errors="coerce")
        if getattr(dates.dt, "tz", None) is not None:
            dates = dates.dt.tz_localize(None)
        out = dates.dt.strftime("%Y-%m").where(dates.notna(), MISSING)
        return out.astype(object), "month"
    numeric = pd.to_numeric(series, errors="coerce") if not pd.api.types.is_numeric_dtype(series) else series
    is_numeric = pd.api.types.is_numeric_dtype(series) or (
        numeric.notna().sum() > 0 and numeric.notna().sum() >= 0.95 * series.notna().sum()
    )
    if is_numeric and numeric.nunique() > max(quantiles * 2, 10):
        bins = pd.qcut(numeric.astype(float), q=quantiles, duplicates="drop")
        labels = bins.map(lambda iv: f"[{_num(iv.left)}, {_num(iv.right)}]" if pd.notna(iv) else MISSING)
        return pd.Series(labels, dtype=object).fillna(MISSING), f"{len(bins.cat.categories)} quantile bins"
    text = series.map(lambda v: MISSING if _missing(v) else _label(v))
    counts = text.value_counts()
    if len(counts) > top:
        keep = set(counts.index[:top])
        return text.where(text.isin(keep), OTHER), f"top {top} values + other"
    return text.astype(object), "values"


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value)) or (isinstance(value, str) and not value.strip())
    except (TypeError, ValueError):
        return False


def _label(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _num(x: float) -> str:
    return f"{x:.4g}"


# --- scoring ------------------------------------------------------------------------------------


def _scores(gold: pd.Series, pred: pd.Series, classes: list[str], multi_label: bool, sep: str) -> dict:
    from sklearn import metrics as skm

    if multi_label:

        def binar(values):
            return np.array([[c in parts for c in classes] for parts in (set(split_cell(v, sep)) for v in values)], int)

        g, p = binar(gold), binar(pred)
        return {
            "accuracy": float((g == p).all(axis=1).mean()),
            "macro_f1": float(skm.f1_score(g, p, average="macro", zero_division=0)),
            "confusion_matrix": None,
        }
    labels = classes or sorted(set(gold) | set(pred))
    present = sorted(set(gold) | set(pred), key=lambda c: labels.index(c) if c in labels else len(labels))
    return {
        "accuracy": float((gold.to_numpy() == pred.to_numpy()).mean()),
        # macro F1 over the classes that occur in this group: absent classes would count as 0
        "macro_f1": float(skm.f1_score(gold, pred, labels=present, average="macro", zero_division=0)),
        "confusion_matrix": skm.confusion_matrix(gold, pred, labels=labels).tolist(),
    }


def slice_metrics(
    pred_df: pd.DataFrame,
    groups: Sequence,
    *,
    classes: Sequence[str] | None = None,
    multi_label: bool = False,
    separator: str = ";",
    min_n: int = MIN_FLAG_N,
    margin: float = FLAG_MARGIN,
) -> pd.DataFrame:
    """Per group: n, accuracy, macro_f1, accuracy_gap (vs overall), flagged, confusion_matrix.

    ``pred_df`` has ``gold`` and ``predicted`` (as in predictions.csv); ``groups`` one label per
    row. Rows without a gold label are left out. A group is flagged when it has at least
    ``min_n`` rows and its accuracy is more than ``margin`` below the overall accuracy.
    ``frame.attrs`` holds ``overall`` (n, accuracy, macro_f1) and ``classes``.
    """
    frame = pd.DataFrame(
        {
            "gold": pred_df["gold"].astype(str).to_numpy(),
            "predicted": pred_df["predicted"].astype(str).to_numpy(),
            "group": pd.Series(list(groups), dtype=object).to_numpy(),
        }
    )
    frame["gold"] = frame["gold"].replace({"nan": ""})
    frame = frame[frame["gold"].str.strip() != ""]
    if classes is None:
        classes = (
            sorted(set(frame["gold"]) | set(frame["predicted"]))
            if not multi_label
            else sorted({c for v in frame["gold"] for c in split_cell(v, separator)})
        )
    classes = [str(c) for c in classes]
    if frame.empty:
        out = pd.DataFrame(columns=COLUMNS)
        out.attrs.update(overall={"n": 0, "accuracy": None, "macro_f1": None}, classes=classes)
        return out
    overall = _scores(frame["gold"], frame["predicted"], classes, multi_label, separator)
    rows = []
    for group, part in frame.groupby("group", sort=False):
        s = _scores(part["gold"], part["predicted"], classes, multi_label, separator)
        gap = s["accuracy"] - overall["accuracy"]
        rows.append(
            {
                "group": str(group),
                "n": int(len(part)),
                "accuracy": s["accuracy"],
                "macro_f1": s["macro_f1"],
                "accuracy_gap": gap,
                "flagged": bool(len(part) >= min_n and gap < -margin),
                "confusion_matrix": s["confusion_matrix"],
            }
        )
    out = pd.DataFrame(rows, columns=COLUMNS)
    # Natural order for months and bins, largest first for plain values; "other"/missing last.
    special = out["group"].isin([OTHER, MISSING])
    out = pd.concat(
        [
            out[~special].sort_values(["n", "group"], ascending=[False, True], kind="stable"),
            out[special].sort_values("group"),
        ]
    ).reset_index(drop=True)
    out.attrs.update(
        overall={
            "n": int(len(frame)),
            "accuracy": overall["accuracy"],
            "macro_f1": overall["macro_f1"],
            "confusion_matrix": overall["confusion_matrix"],
        },
        classes=classes,
        min_n=min_n,
        margin=margin,
    )
    return out


# --- from a run ---------------------------------------------------------------------------------


def read_run_predictions(run) -> pd.DataFrame:
    """The run's predictions.csv (:func:`textclf_core.evaluation.metrics.read_predictions`)."""
    from .metrics import read_predictions

    return read_predictions(run)


def run_data(run) -> pd.DataFrame | None:
    """The table the run was trained on, when its file (data.json ``path``) is still readable."""
    from textclf_core.data import read_table

    info = run.read_json("data.json", default={}) or {}
    path = info.get("path")
    if not path or not Path(path).expanduser().is_file():
        return None
    frame = read_table(Path(path).expanduser())
    if info.get("rows") is not None and int(info["rows"]) != len(frame):
        return None  # the file changed since training: row numbers would point at other rows
    return frame


def available_columns(run, data: pd.DataFrame | None = None) -> list[str]:
    """Columns one can slice by: the data's columns other than the text and label, else none."""
    info = run.read_json("data.json", default={}) or {}
    frame = data if data is not None else run_data(run)
    if frame is None:
        return []
    skip = {info.get("text_col"), info.get("label_col")}
    return [str(c) for c in frame.columns if c not in skip]


def evaluate_by(
    run,
    column: str,
    data: pd.DataFrame | None = None,
    *,
    min_n: int = MIN_FLAG_N,
    margin: float = FLAG_MARGIN,
    top: int = TOP_GROUPS,
) -> pd.DataFrame:
    """Scores of ``run``'s test predictions per group of ``column`` (see :func:`slice_metrics`).

    ``column`` is a column of the original table (found through the run's ``data.json``,
    or given as ``data``, the same table the run was trained on) or of predictions.csv
    (``gold``, ``predicted``). ``frame.attrs["grouping"]`` says how values were grouped.
    """
    preds = read_run_predictions(run)
    labels = run.read_json("labels.json", default={}) or {}
    classes = labels.get("classes")
    multi = bool(labels.get("multi_label"))
    sep = labels.get("separator") or ";"
    if column in ("gold", "predicted") and (data is None or column not in data.columns):
        values = preds[column]
    else:
        frame = data if data is not None else run_data(run)
        if frame is None:
            raise TextclfError(
                f"The data of run {run.id} is not available to find the column '{column}'",
                hint="Load the same data file again (or pass it with data=)",
            )
        if column not in frame.columns:
            raise TextclfError(
                f"There is no column '{column}' in the run's data",
                hint=f"Choose one of: {', '.join(map(str, list(frame.columns)[:10]))}",
            )
        if "row" not in preds.columns:
            raise TextclfError(f"Run {run.id} did not record row numbers", hint="Train the run again")
        rows = pd.to_numeric(preds["row"], errors="coerce")
        if rows.isna().any() or rows.max() >= len(frame) or rows.min() < 0:
            raise TextclfError(
                f"The data given does not match run {run.id} (row numbers out of range)",
                hint="Use the same table the run was trained on",
            )
        values = frame[column].reset_index(drop=True).iloc[rows.astype(int).to_numpy()].reset_index(drop=True)
    groups, how = group_values(values, top=top)
    out = slice_metrics(preds, groups, classes=classes, multi_label=multi, separator=sep, min_n=min_n, margin=margin)
    out.attrs.update(column=column, grouping=how)
    return out


def summary_lines(table: pd.DataFrame) -> list[str]:
    """Plain sentences about the flagged groups (empty when none is flagged)."""
    overall = table.attrs.get("overall", {})
    lines = []
    for _, r in table[table["flagged"]].iterrows():
        lines.append(
            f"'{r['group']}' ({r['n']} texts): accuracy {r['accuracy']:.1%}, "
            f"{-r['accuracy_gap'] * 100:.1f} points below the overall {overall.get('accuracy', 0):.1%}"
        )
    return lines
