"""Figures for the advanced sections (slices, explanations): plain data in, plotly figure out."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

FLAG_COLOR = "#d62728"
OK_COLOR = "#1f77b4"


def slice_accuracy(table: pd.DataFrame, title: str | None = "Accuracy per group") -> go.Figure:
    """Bars of accuracy per group (flagged groups in red) with the overall accuracy as a line.

    ``table`` is :func:`textclf_core.slices.evaluate_by`'s result.
    """
    fig = go.Figure()
    if table is None or len(table) == 0:
        fig.add_annotation(text="No groups to show", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(title=title, height=300, xaxis_visible=False, yaxis_visible=False)
        return fig
    groups = table["group"].astype(str).tolist()
    colors = [FLAG_COLOR if f else OK_COLOR for f in table["flagged"]]
    fig.add_bar(x=groups, y=table["accuracy"], marker_color=colors,
                customdata=table[["n", "macro_f1"]].to_numpy(),
                hovertemplate="%{x}<br>accuracy %{y:.1%}<br>macro-F1 %{customdata[1]:.3f}<br>"
                              "%{customdata[0]} texts<extra></extra>", name="accuracy")
    overall = (table.attrs.get("overall") or {}).get("accuracy")
    if overall is not None:
        fig.add_hline(y=overall, line_dash="dash", line_color="gray",
                      annotation_text=f"overall {overall:.1%}", annotation_position="top left")
    fig.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      yaxis=dict(range=[0, 1.05], tickformat=".0%", title="accuracy"),
                      xaxis=dict(title=table.attrs.get("column") or "group", type="category"),
                      showlegend=False)
    return fig


def attribution_bars(words, scores, top: int = 15, title: str | None = "Words that mattered most") -> go.Figure:
    """Horizontal bars of the words with the largest attributions (green towards the label, red against)."""
    pairs = sorted(zip(words, scores), key=lambda p: abs(p[1]), reverse=True)[:top][::-1]
    fig = go.Figure(go.Bar(x=[s for _, s in pairs], y=[f"{w} " for w, _ in pairs], orientation="h",
                           marker_color=["#2ca02c" if s > 0 else FLAG_COLOR for _, s in pairs],
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=max(220, 22 * len(pairs) + 60), margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title="pushes towards the label →")
    return fig
