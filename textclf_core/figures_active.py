"""Figures of the Label page: plain data in, plotly figure out."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

LINE = "#1f77b4"
BAND = "rgba(31, 119, 180, 0.18)"


def learning_curve(curve: Sequence, title: str | None = "Estimated accuracy as you label") -> go.Figure:
    """Cross-validated accuracy against labels made, with its 95% interval as a band.

    ``curve`` holds :class:`textclf_core.active.Estimate` objects (or dicts with
    ``n_labels, accuracy, low, high``), oldest first.
    """
    points = [p if isinstance(p, dict) else p.to_dict() for p in curve]
    fig = go.Figure()
    if not points:
        fig.add_annotation(text="The curve starts after the first retrain", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
        fig.update_layout(title=title, height=280, xaxis_visible=False, yaxis_visible=False,
                          template="plotly_white", margin=dict(l=40, r=20, t=50, b=40))
        return fig
    x = [p["n_labels"] for p in points]
    fig.add_scatter(x=x + x[::-1], y=[p["high"] for p in points] + [p["low"] for p in points][::-1],
                    fill="toself", fillcolor=BAND, line=dict(width=0), hoverinfo="skip", name="95% interval")
    fig.add_scatter(x=x, y=[p["accuracy"] for p in points], mode="lines+markers", line=dict(color=LINE),
                    name="estimate", customdata=[[p["low"], p["high"]] for p in points],
                    hovertemplate="%{x} labels: %{y:.1%} (%{customdata[0]:.1%}–%{customdata[1]:.1%})<extra></extra>")
    fig.update_layout(title=title, height=280, template="plotly_white", showlegend=False,
                      margin=dict(l=40, r=20, t=50, b=40), xaxis_title="labels made",
                      yaxis=dict(title="accuracy", tickformat=".0%", range=[0, 1.02]))
    return fig
