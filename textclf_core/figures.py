"""Plotly figures from plain data (lists, dicts, arrays, DataFrames).

Every function takes data, returns a ``plotly.graph_objects.Figure`` and touches
nothing else, so the pages only place figures and the tests check figure data.
Figures that update live set ``uirevision`` so a person's zoom survives each refresh.
"""

from __future__ import annotations

import collections
import copy
import threading
import time
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "macro_f1": "Macro-F1",
    "val_loss": "Validation loss",
    "weighted_f1": "Weighted F1",
}


def _layout(fig: go.Figure, title: str | None = None, height: int = 360, **extra) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        template="plotly_white",
        **extra,
    )
    return fig


def _empty(message: str, title: str | None = None) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14, color="#666")
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=240)


# --- data ---------------------------------------------------------------------
def class_distribution(counts: Mapping[str, int] | pd.Series, title: str = "Examples per class") -> go.Figure:
    """Bar chart of examples per class, largest first, with counts on the bars."""
    series = pd.Series(counts, dtype="float64") if not isinstance(counts, pd.Series) else counts.astype("float64")
    if series.empty:
        return _empty("No labelled rows yet", title)
    series = series.sort_values(ascending=False)
    total = series.sum()
    labels = [str(k) for k in series.index]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=series.values.astype(int),
            marker_color=PALETTE[0],
            text=[f"{int(v):,}" for v in series.values],
            textposition="outside",
            customdata=(series.values / total * 100).round(1) if total else None,
            hovertemplate="%{x}: %{y:,} rows (%{customdata}%)<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title="class")
    fig.update_yaxes(title="rows")
    return _layout(fig, title)


def text_lengths(
    lengths: Iterable[float], *, max_length: int | None = None, unit: str = "words", title: str = "Text length"
) -> go.Figure:
    """Histogram of text lengths; ``max_length`` draws the truncation limit as a line."""
    values = np.asarray(list(lengths), dtype=float)
    if values.size == 0:
        return _empty("No texts yet", title)
    fig = go.Figure(
        go.Histogram(
            x=values, nbinsx=50, marker_color=PALETTE[0], hovertemplate=f"%{{x}} {unit}: %{{y}} texts<extra></extra>"
        )
    )
    if max_length:
        share = float((values > max_length).mean())
        fig.add_vline(
            x=max_length,
            line_dash="dash",
            line_color=PALETTE[3],
            annotation_text=f"limit {max_length}: {share:.0%} longer",
            annotation_position="top right",
        )
    fig.update_xaxes(title=unit)
    fig.update_yaxes(title="texts")
    return _layout(fig, title, bargap=0.05)


# --- training -----------------------------------------------------------------
_CURVES_LAYOUT: dict | None = None


def _curves_layout() -> dict:
    """The two-panel layout, built and validated by plotly once; each figure gets a copy."""
    global _CURVES_LAYOUT
    if _CURVES_LAYOUT is None:
        fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Validation scores"), horizontal_spacing=0.08)
        fig.update_xaxes(title_text="step")
        fig.update_yaxes(range=[0, 1.02], row=1, col=2)
        _layout(fig, None, height=380, legend=dict(orientation="h", yanchor="bottom", y=-0.3, x=0))
        fig.update_layout(margin_t=60)  # room for the panel titles above the chart's toolbar
        _CURVES_LAYOUT = fig.to_dict()["layout"]
    return copy.deepcopy(_CURVES_LAYOUT)


def training_curves(
    steps: Sequence[Mapping],
    evaluations: Sequence[Mapping],
    *,
    uirevision: str = "training",
    title: str | None = None,
    member_labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Left: training loss per step and validation loss per evaluation. Right: accuracy and macro-F1.

    ``steps`` are ``{"step", "loss"}`` dicts, ``evaluations`` are evaluation events
    (``step``, ``val_loss``, ``accuracy``, ``macro_f1``). Evaluations of an auto run carry ``member``: then each
    member gets its own lines (validation loss, macro-F1), named by ``member_labels`` (key → label) when given.
    """
    traces = []
    steps = [s for s in steps if s.get("loss") is not None]
    if any(e.get("member") for e in evaluations):  # auto: each member counts its own steps from 1
        return _member_curves(steps, list(evaluations), uirevision=uirevision, title=title, member_labels=member_labels)
    if steps:
        traces.append(
            dict(
                type="scatter",
                x=[s.get("step") for s in steps],
                y=[s["loss"] for s in steps],
                mode="lines",
                name="training loss",
                line=dict(color=PALETTE[0], width=1.5),
                xaxis="x",
                yaxis="y",
            )
        )
    evals = list(evaluations)
    x_eval = [e.get("step") if e.get("step") is not None else i + 1 for i, e in enumerate(evals)]
    if any(e.get("val_loss") is not None for e in evals):
        traces.append(
            dict(
                type="scatter",
                x=x_eval,
                y=[e.get("val_loss") for e in evals],
                mode="lines+markers",
                name="validation loss",
                line=dict(color=PALETTE[1]),
                xaxis="x",
                yaxis="y",
            )
        )
    for metric, color in (("accuracy", PALETTE[2]), ("macro_f1", PALETTE[4])):
        if any(e.get(metric) is not None for e in evals):
            traces.append(
                dict(
                    type="scatter",
                    x=x_eval,
                    y=[e.get(metric) for e in evals],
                    mode="lines+markers",
                    name=METRIC_NAMES[metric],
                    line=dict(color=color),
                    xaxis="x2",
                    yaxis="y2",
                )
            )
    layout = _curves_layout()
    waiting = None
    if not traces:
        waiting = dict(text="Waiting for the first training step…", x=0.5)
    elif not evals:
        waiting = dict(text="Scores appear after the first evaluation", x=0.78)
    if waiting:
        layout["annotations"] = list(layout.get("annotations", [])) + [
            dict(
                showarrow=False,
                y=0.5,
                xref="paper",
                yref="paper",
                xanchor="center",
                font=dict(size=13, color="#666"),
                **waiting,
            )
        ]
    if title:
        layout["title"] = dict(text=title)
    # uirevision keeps zoom / legend clicks when the live figure is redrawn with more points
    layout["uirevision"] = uirevision
    # The pages redraw this figure every few seconds while a run trains in the same process; plotly's
    # validation costs ~70 ms a figure and these traces and the layout are known to be valid.
    try:
        return go.Figure(dict(data=traces, layout=layout), _validate=False)
    except TypeError:  # a plotly without the private switch: validate
        return go.Figure(dict(data=traces, layout=layout))


def _member_curves(steps, evals, *, uirevision, title, member_labels) -> go.Figure:
    """One validation-loss and one macro-F1 line per auto member, one colour each: their step counts are their own,
    so joining them into one line would draw a curve no model ever had."""
    labels = dict(member_labels or {})
    order = list(dict.fromkeys(e.get("member") for e in evals if e.get("member")))
    traces = []
    for i, key in enumerate(order):
        mine = [e for e in evals if e.get("member") == key]
        x = [e.get("step") if e.get("step") is not None else j + 1 for j, e in enumerate(mine)]
        name, color = labels.get(key, key), PALETTE[i % len(PALETTE)]
        if any(e.get("val_loss") is not None for e in mine):
            traces.append(
                dict(
                    type="scatter",
                    x=x,
                    y=[e.get("val_loss") for e in mine],
                    mode="lines+markers",
                    name=f"{name}: validation loss",
                    legendgroup=key,
                    line=dict(color=color, dash="dot"),
                    xaxis="x",
                    yaxis="y",
                )
            )
        if any(e.get("macro_f1") is not None for e in mine):
            traces.append(
                dict(
                    type="scatter",
                    x=x,
                    y=[e.get("macro_f1") for e in mine],
                    mode="lines+markers",
                    name=f"{name}: macro-F1",
                    legendgroup=key,
                    line=dict(color=color),
                    xaxis="x2",
                    yaxis="y2",
                )
            )
    layout = _curves_layout()
    # Each member's two legend entries take about a row under the charts: the figure grows by a row per
    # member, so the legend never covers the axes (seen with four members in the auto journey's screenshot).
    rows = max(1, len(order))
    layout["legend"] = dict(layout.get("legend", {}), yanchor="top", y=-0.2)
    layout["margin"] = dict(layout.get("margin", {}), b=50 + 44 * rows)
    layout["height"] = 330 + 44 * rows
    if title:
        layout["title"] = dict(text=title)
    layout["uirevision"] = uirevision
    try:
        return go.Figure(dict(data=traces, layout=layout), _validate=False)
    except TypeError:
        return go.Figure(dict(data=traces, layout=layout))


def member_labels(events: Iterable[Mapping]) -> dict[str, str]:
    """Auto member key → its label, from the leaderboards in a job's events (empty for other runs)."""
    out: dict[str, str] = {}
    for event in events:
        for row in event.get("leaderboard") or ():
            if row.get("key") and row.get("member"):
                out[row["key"]] = row["member"]
    return out


_LIVE_LOCK = threading.Lock()
_LIVE: "collections.OrderedDict[str, dict]" = collections.OrderedDict()
_LIVE_MAX_JOBS = 8


def live_training_figures(snapshot, *, min_interval: float = 2.0) -> tuple[go.Figure, go.Figure | None]:
    """(training curves, confusion matrix at the last evaluation or None) for a job snapshot.

    Building a figure costs far more than sending it, and the pages poll in the process that
    trains, so the figures are built once per job and new data and shared by every session:
    the curves at most every ``min_interval`` seconds while the job is active (always once it
    is done), the confusion matrix once per evaluation. The figures are shared: do not change them.
    """
    now = time.monotonic()
    last = snapshot.last_evaluation or {}
    n_evals = len(snapshot.evaluations)
    with _LIVE_LOCK:
        entry = _LIVE.get(snapshot.job_id)
        if entry is not None:
            _LIVE.move_to_end(snapshot.job_id)
        fresh = entry is not None and (
            entry["version"] == snapshot.version or (snapshot.active and now - entry["built"] < min_interval)
        )
        curves = entry["curves"] if fresh else None
        matrix = entry["matrix"] if entry is not None and entry["n_evals"] == n_evals else None
        matrix_known = entry is not None and entry["n_evals"] == n_evals
    if curves is None:
        # The kept model's evaluation (auto, at the end) is the headline, not a point on a member's curve.
        evaluations = [e for e in snapshot.evaluations if not e.get("kept")]
        labels = member_labels(snapshot.events) if any(e.get("member") for e in evaluations) else None
        curves = training_curves(snapshot.steps, evaluations, uirevision=snapshot.job_id, member_labels=labels)
    if not matrix_known:
        matrix = (
            confusion_matrix(
                last["confusion_matrix"],
                last.get("classes") or [],
                title=matrix_title(last, member_labels(snapshot.events)),
                uirevision=snapshot.job_id,
            )
            if last.get("confusion_matrix")
            else None
        )
    with _LIVE_LOCK:
        old = _LIVE.get(snapshot.job_id)
        if old is None or old["version"] <= snapshot.version:
            _LIVE[snapshot.job_id] = {
                "version": snapshot.version if not fresh else entry["version"],
                "built": now if not fresh else entry["built"],
                "curves": curves,
                "n_evals": n_evals,
                "matrix": matrix,
            }
        while len(_LIVE) > _LIVE_MAX_JOBS:
            _LIVE.popitem(last=False)
    return curves, matrix


def matrix_title(evaluation: Mapping, labels: Mapping | None = None) -> str:
    """The live confusion matrix's title: two short lines (a long one was cut at the figure's right edge), the
    second saying whose matrix it is: auto's kept model, a member at a step, or the model at a step."""
    if evaluation.get("kept"):
        whose = "validation · the model auto kept"
    elif evaluation.get("member"):
        name = (labels or {}).get(evaluation["member"], evaluation["member"])
        whose = f"validation · {name} · step {evaluation.get('step')}"
    else:
        whose = f"validation · step {evaluation.get('step')}"
    return f"Confusion matrix<br><sup>{whose}</sup>"


# --- evaluation ---------------------------------------------------------------
def confusion_matrix(
    matrix: Sequence[Sequence[float]],
    classes: Sequence[str],
    *,
    normalize: bool = False,
    title: str | None = "Confusion matrix",
    uirevision: str | None = None,
) -> go.Figure:
    """Heatmap: rows are the true class, columns the predicted class.

    With ``normalize`` each row is divided by its total (recall on the diagonal).
    Every cell carries ``customdata = [true class, predicted class, count]`` so a click
    tells the page which examples to list.
    """
    counts = np.asarray(matrix, dtype=float)
    classes = [str(c) for c in classes]
    if counts.size == 0 or counts.shape != (len(classes), len(classes)):
        return _empty("No confusion matrix for this run", title)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        text = [[f"{v:.0%}" for v in row] for row in values]
        zmax = 1.0
    else:
        values = counts
        text = [[f"{int(v):,}" for v in row] for row in counts]
        zmax = max(1.0, float(counts.max()))
    custom = [[[gold, pred, int(counts[i, j])] for j, pred in enumerate(classes)] for i, gold in enumerate(classes)]
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=classes,
            y=classes,
            text=text,
            texttemplate="%{text}",
            customdata=custom,
            colorscale="Blues",
            zmin=0,
            zmax=zmax,
            showscale=False,
            hoverinfo="skip",
        )
    )
    # Heatmap cells cannot be selected in plotly, markers can: one invisible marker per cell makes
    # a click on the cell a point selection (Streamlit's on_select) carrying [true, predicted, count].
    cells = [(gold, pred, int(counts[i, j])) for i, gold in enumerate(classes) for j, pred in enumerate(classes)]
    fig.add_trace(
        go.Scatter(
            x=[c[1] for c in cells],
            y=[c[0] for c in cells],
            customdata=[list(c) for c in cells],
            mode="markers",
            marker=dict(size=max(24, 240 // max(1, len(classes))), opacity=0, symbol="square"),
            name="cells",
            showlegend=False,
            hovertemplate="true: %{y}<br>predicted: %{x}<br>%{customdata[2]} examples<extra></extra>",
        )
    )
    # Fixed ranges: the invisible markers must not pad the axes, and a click must not rescale them.
    k = len(classes)
    fig.update_xaxes(title="predicted", type="category", side="bottom", range=[-0.5, k - 0.5])
    fig.update_yaxes(title="true", type="category", range=[k - 0.5, -0.5])
    size = max(320, min(720, 90 + 60 * len(classes)))
    return _layout(fig, title, height=size, uirevision=uirevision)


def per_class_table(per_class) -> pd.DataFrame:
    """A tidy table class → precision, recall, f1, support.

    Accepts a list of ``{"class", "precision", ...}`` records (as in eval.json), a dict of
    dicts keyed by class, or a DataFrame.
    """
    if isinstance(per_class, pd.DataFrame):
        frame = per_class.copy()
    elif isinstance(per_class, (list, tuple)):
        frame = pd.DataFrame(list(per_class))
        if "class" in frame.columns:
            frame = frame.set_index("class")
    else:
        frame = pd.DataFrame(per_class).T
    frame.index = frame.index.map(str)
    frame.index.name = "class"
    columns = [c for c in ("precision", "recall", "f1", "support") if c in frame.columns]
    frame = frame[columns + [c for c in frame.columns if c not in columns]]
    if "support" in frame.columns:
        frame["support"] = pd.to_numeric(frame["support"], errors="coerce").fillna(0).astype(int)
    return frame


def per_class_bars(
    per_class: Mapping[str, Mapping[str, float]] | pd.DataFrame, title: str = "Per-class scores"
) -> go.Figure:
    """Grouped bars of precision, recall and F1 per class."""
    table = per_class_table(per_class)
    if table.empty:
        return _empty("No per-class scores", title)
    fig = go.Figure()
    for metric, color in (("precision", PALETTE[0]), ("recall", PALETTE[1]), ("f1", PALETTE[2])):
        if metric in table.columns:
            fig.add_trace(go.Bar(x=list(table.index), y=table[metric].astype(float), name=metric, marker_color=color))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.05])
    fig.update_xaxes(type="category")
    return _layout(fig, title)


def confidence_histogram(
    confidence: Iterable[float], correct: Iterable[bool] | None = None, title: str = "Confidence of predictions"
) -> go.Figure:
    """Overlaid histograms of the model's confidence for right and wrong predictions."""
    conf = np.asarray(list(confidence), dtype=float)
    if conf.size == 0:
        return _empty("No predictions", title)
    fig = go.Figure()
    bins = dict(start=0.0, end=1.0001, size=0.05)
    if correct is None:
        fig.add_trace(go.Histogram(x=conf, xbins=bins, name="all", marker_color=PALETTE[0]))
    else:
        ok = np.asarray(list(correct), dtype=bool)
        fig.add_trace(go.Histogram(x=conf[ok], xbins=bins, name="correct", marker_color=PALETTE[2], opacity=0.75))
        fig.add_trace(go.Histogram(x=conf[~ok], xbins=bins, name="wrong", marker_color=PALETTE[3], opacity=0.75))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="confidence", range=[0, 1])
    fig.update_yaxes(title="examples")
    return _layout(fig, title)


def roc_curve(
    y_true: Iterable, scores: Iterable[float], *, positive: str | None = None, title: str = "ROC curve"
) -> go.Figure:
    """ROC curve of a binary task; ``y_true`` holds 0/1 or class names (``positive`` names the 1)."""
    from sklearn.metrics import auc
    from sklearn.metrics import roc_curve as _roc

    y, s = _binary(y_true, scores, positive)
    if y is None:
        return _empty("ROC needs both classes in the test set", title)
    fpr, tpr, _ = _roc(y, s)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(dash="dash", color="#aaa")))
    fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"AUC {auc(fpr, tpr):.3f}", line=dict(color=PALETTE[0])))
    fig.update_xaxes(title="false positive rate", range=[0, 1])
    fig.update_yaxes(title="true positive rate", range=[0, 1.02])
    return _layout(fig, title)


def pr_curve(
    y_true: Iterable, scores: Iterable[float], *, positive: str | None = None, title: str = "Precision–recall curve"
) -> go.Figure:
    """Precision-recall curve of a binary task, with average precision in the legend."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y, s = _binary(y_true, scores, positive)
    if y is None:
        return _empty("Precision–recall needs both classes in the test set", title)
    precision, recall, _ = precision_recall_curve(y, s)
    fig = go.Figure(
        go.Scatter(
            x=recall,
            y=precision,
            mode="lines",
            name=f"AP {average_precision_score(y, s):.3f}",
            line=dict(color=PALETTE[1]),
        )
    )
    fig.add_hline(y=float(np.mean(y)), line_dash="dash", line_color="#aaa")
    fig.update_xaxes(title="recall", range=[0, 1])
    fig.update_yaxes(title="precision", range=[0, 1.02])
    fig.update_layout(showlegend=True)
    return _layout(fig, title)


def _binary(y_true, scores, positive):
    y = list(y_true)
    s = np.asarray(list(scores), dtype=float)
    if positive is not None:
        y = [1 if str(v) == str(positive) else 0 for v in y]
    y = np.asarray(y, dtype=int)
    if y.size == 0 or len(set(y.tolist())) < 2 or y.size != s.size:
        return None, None
    return y, s


def probability_bar(probabilities: Mapping[str, float], title: str | None = None) -> go.Figure:
    """Horizontal bars of class probabilities for one text, most likely on top."""
    items = sorted(((str(k), float(v)) for k, v in probabilities.items()), key=lambda kv: kv[1])
    if not items:
        return _empty("No prediction", title)
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in items],
            y=[k for k, _ in items],
            orientation="h",
            marker_color=[PALETTE[2] if i == len(items) - 1 else PALETTE[0] for i in range(len(items))],
            text=[f"{v:.0%}" for _, v in items],
            textposition="auto",
        )
    )
    fig.update_xaxes(range=[0, 1], title="probability", tickformat=".0%")
    fig.update_yaxes(type="category")
    return _layout(fig, title, height=max(160, 60 + 34 * len(items)))


# --- comparison ---------------------------------------------------------------
def compare_curves(
    curves: Mapping[str, Sequence[Mapping]], metric: str = "macro_f1", title: str | None = None
) -> go.Figure:
    """One line per run: ``metric`` at each evaluation. ``curves`` maps run name → evaluation events.

    The x axis is the epoch when the events have one (runs with different batch sizes line up),
    else the evaluation number.
    """
    label = METRIC_NAMES.get(metric, metric)
    fig = go.Figure()
    for i, (name, evals) in enumerate(curves.items()):
        points = [e for e in evals if e.get(metric) is not None]
        if not points:
            continue
        x = [e.get("epoch") if e.get("epoch") is not None else k + 1 for k, e in enumerate(points)]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[e[metric] for e in points],
                mode="lines+markers",
                name=str(name),
                line=dict(color=PALETTE[i % len(PALETTE)]),
            )
        )
    if not fig.data:
        return _empty("No validation curves to compare yet", title or label)
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title=label)
    return _layout(
        fig,
        title or f"{label} during training",
        uirevision="compare",
        legend=dict(orientation="h", yanchor="bottom", y=-0.35, x=0),
    )


# --- insight: calibration, learning curve, run vs run ---------------------------
def reliability_diagram(
    before: Mapping | None,
    after: Mapping | None = None,
    title: str | None = "Reliability: stated confidence vs how often it is right",
) -> go.Figure:
    """Accuracy against mean confidence per bin (``calibration.reliability`` output), before and after
    temperature scaling; the diagonal is perfect calibration. Marker size follows the texts in the bin."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfectly calibrated",
            line=dict(color="#999", dash="dash"),
            hoverinfo="skip",
        )
    )
    for i, (name, rel) in enumerate((("before", before), ("after calibration", after))):
        bins = [b for b in (rel or {}).get("bins", []) if b.get("count")]
        if not bins:
            continue
        total = sum(b["count"] for b in bins)
        ece = (rel or {}).get("ece")
        fig.add_trace(
            go.Scatter(
                x=[b["confidence"] for b in bins],
                y=[b["accuracy"] for b in bins],
                mode="lines+markers",
                name=f"{name} (ECE {ece:.3f})" if ece is not None else name,
                line=dict(color=PALETTE[1 if i == 0 else 2]),
                marker=dict(size=[8 + 22 * (b["count"] / total) ** 0.5 for b in bins]),
                customdata=[[b["count"], b["low"], b["high"]] for b in bins],
                hovertemplate="confidence %{customdata[1]:.1f}–%{customdata[2]:.1f}: said %{x:.0%}, right %{y:.0%}"
                " of %{customdata[0]} <extra></extra>",
            )
        )
    if len(fig.data) == 1:
        return _empty("No confidences to check yet", title)
    fig.update_xaxes(title="stated confidence", range=[0, 1.02], tickformat=".0%")
    fig.update_yaxes(title="share right", range=[0, 1.02], tickformat=".0%")
    return _layout(fig, title, height=380, legend=dict(orientation="h", yanchor="bottom", y=-0.4, x=0))


def learning_curve(
    points: pd.DataFrame, trends: Mapping[str, Mapping] | None = None, title: str | None = "Will more labels help?"
) -> go.Figure:
    """Validation macro-F1 against labelled training rows (log scale), one line per member, with
    each member's fitted log-linear trend extended to twice the rows as a dotted line."""
    if points is None or len(points) == 0:
        return _empty("No learning curve yet", title)
    fig = go.Figure()
    for i, (member, part) in enumerate(points.groupby("member", sort=False)):
        part = part.sort_values("n_train")
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=part["n_train"],
                y=part["macro_f1"],
                mode="lines+markers",
                name=str(member),
                line=dict(color=color),
                hovertemplate="%{x:,} labelled rows: macro-F1 %{y:.3f}<extra>" + str(member) + "</extra>",
            )
        )
        trend = (trends or {}).get(member)
        if trend:
            x = np.array([part["n_train"].min(), part["n_train"].max() * 2], dtype=float)
            y = trend["intercept"] + trend["per_doubling"] * np.log2(x)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    name=f"{member} trend ({trend['per_doubling'] * 100:+.1f} pts per doubling)",
                    line=dict(color=color, dash="dot"),
                    hoverinfo="skip",
                )
            )
    fig.update_xaxes(title="labelled training rows", type="log")
    fig.update_yaxes(title="validation macro-F1")
    return _layout(fig, title, legend=dict(orientation="h", yanchor="bottom", y=-0.45, x=0))


def class_differences(per_class: pd.DataFrame, title: str | None = "F1 per class: B minus A") -> go.Figure:
    """Bars of each class's F1 difference (B − A, from ``compare.Comparison.per_class``): green where B
    is better, red where it is worse."""
    if per_class is None or len(per_class) == 0:
        return _empty("No classes to compare", title)
    diff = per_class["F1 B − A"].astype(float).to_numpy()
    fig = go.Figure(
        go.Bar(
            x=per_class["class"].astype(str),
            y=diff * 100,
            marker_color=[PALETTE[2] if d >= 0 else PALETTE[3] for d in diff],
            text=[f"{d * 100:+.1f}" for d in diff],
            textposition="outside",
            hovertemplate="%{x}: %{y:+.1f} F1 points<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title="class")
    fig.update_yaxes(title="F1 points (B − A)", zeroline=True)
    return _layout(fig, title, height=320)


# --- Label page ---------------------------------------------------------------------------------------
LABEL_LINE = "#1f77b4"
LABEL_BAND = "rgba(31, 119, 180, 0.18)"


def labelling_curve(curve: Sequence, title: str | None = "Estimated accuracy as you label") -> go.Figure:
    """Cross-validated accuracy against labels made, with its 95% interval as a band.

    ``curve`` holds :class:`textclf_core.labelling.active.Estimate` objects (or dicts with
    ``n_labels, accuracy, low, high``), oldest first.
    """
    points = [p if isinstance(p, dict) else p.to_dict() for p in curve]
    fig = go.Figure()
    if not points:
        fig.add_annotation(
            text="The curve starts after the first retrain", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
        fig.update_layout(
            title=title,
            height=280,
            xaxis_visible=False,
            yaxis_visible=False,
            template="plotly_white",
            margin=dict(l=40, r=20, t=50, b=40),
        )
        return fig
    x = [p["n_labels"] for p in points]
    single = len(points) == 1  # a band needs two points: one estimate shows its interval as an error bar
    if not single:
        fig.add_scatter(
            x=x + x[::-1],
            y=[p["high"] for p in points] + [p["low"] for p in points][::-1],
            fill="toself",
            fillcolor=LABEL_BAND,
            mode="lines",  # no markers on the band's corners (they read as more estimates)
            line=dict(width=0),
            hoverinfo="skip",
            name="95% interval",
        )
    fig.add_scatter(
        x=x,
        y=[p["accuracy"] for p in points],
        mode="lines+markers",
        line=dict(color=LABEL_LINE),
        name="estimate",
        customdata=[[p["low"], p["high"]] for p in points],
        hovertemplate="%{x} labels: %{y:.1%} (%{customdata[0]:.1%}–%{customdata[1]:.1%})<extra></extra>",
        error_y=dict(
            type="data",
            symmetric=False,
            array=[p["high"] - p["accuracy"] for p in points],
            arrayminus=[p["accuracy"] - p["low"] for p in points],
            color=LABEL_LINE,
        )
        if single
        else None,
    )
    fig.update_layout(
        title=title,
        height=280,
        template="plotly_white",
        showlegend=False,
        margin=dict(l=40, r=20, t=50, b=40),
        xaxis=dict(title="labels made", tickformat=",d", dtick=None if not single else 1),
        yaxis=dict(title="accuracy", tickformat=".0%", range=[0, 1.02]),
    )
    return fig


# --- advanced panels (slices, explanations) -------------------------------------------------------
FLAG_COLOR = "#d62728"
OK_COLOR = "#1f77b4"


def slice_accuracy(table: pd.DataFrame, title: str | None = "Accuracy per group") -> go.Figure:
    """Bars of accuracy per group (flagged groups in red) with the overall accuracy as a line.

    ``table`` is :func:`textclf_core.evaluation.slices.evaluate_by`'s result.
    """
    fig = go.Figure()
    if table is None or len(table) == 0:
        fig.add_annotation(text="No groups to show", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(title=title, height=300, xaxis_visible=False, yaxis_visible=False)
        return fig
    groups = table["group"].astype(str).tolist()
    colors = [FLAG_COLOR if f else OK_COLOR for f in table["flagged"]]
    fig.add_bar(
        x=groups,
        y=table["accuracy"],
        marker_color=colors,
        customdata=table[["n", "macro_f1"]].to_numpy(),
        hovertemplate="%{x}<br>accuracy %{y:.1%}<br>macro-F1 %{customdata[1]:.3f}<br>"
        "%{customdata[0]} texts<extra></extra>",
        name="accuracy",
    )
    overall = (table.attrs.get("overall") or {}).get("accuracy")
    if overall is not None:
        fig.add_hline(
            y=overall,
            line_dash="dash",
            line_color="gray",
            annotation_text=f"overall {overall:.1%}",
            annotation_position="top left",
        )
    fig.update_layout(
        title=title,
        height=360,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        yaxis=dict(range=[0, 1.05], tickformat=".0%", title="accuracy"),
        xaxis=dict(title=table.attrs.get("column") or "group", type="category"),
        showlegend=False,
    )
    return fig


def attribution_bars(words, scores, top: int = 15, title: str | None = "Words that mattered most") -> go.Figure:
    """Horizontal bars of the words with the largest attributions (green towards the label, red against)."""
    pairs = sorted(zip(words, scores), key=lambda p: abs(p[1]), reverse=True)[:top][::-1]
    fig = go.Figure(
        go.Bar(
            x=[s for _, s in pairs],
            y=[f"{w} " for w, _ in pairs],
            orientation="h",
            marker_color=["#2ca02c" if s > 0 else FLAG_COLOR for _, s in pairs],
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        height=max(220, 22 * len(pairs) + 60),
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="pushes towards the label →",
    )
    return fig
