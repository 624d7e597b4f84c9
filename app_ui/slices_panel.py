"""The "By group" section of the Evaluation page: scores per group of another column.

The Evaluation page calls :func:`render_slices_panel(run)` once, after the per-class section.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from textclf_core.errors import TextclfError


def _session_data(run) -> pd.DataFrame | None:
    """The session's dataset when it is the table the run was trained on (same fingerprint)."""
    ds = st.session_state.get("dataset")
    if not ds or ds.get("df") is None:
        return None
    info = run.read_json("data.json", default={}) or {}
    try:
        from textclf_core.data import fingerprint

        frames = [ds["df"]]
        try:
            from app_ui import working_frame

            edited = working_frame()
            if edited is not None and edited is not ds["df"]:
                frames.append(edited)
        except Exception:  # noqa: BLE001 - the unedited table is still worth trying
            pass
        for frame in frames:
            if fingerprint(frame) == info.get("fingerprint"):
                return frame
    except Exception:  # noqa: BLE001
        return None
    return None


def render_slices_panel(run, data: pd.DataFrame | None = None) -> None:
    """Choose a column of the run's data; show accuracy, macro-F1 and a confusion matrix per group."""
    from textclf_core import figures
    from textclf_core.evaluation import slices

    st.subheader("By group")
    st.caption(
        "Does the model do as well on every source, product, language or month? Choose a column of your "
        "data; groups more than 5 points below the overall accuracy (with at least 20 texts) are flagged."
    )
    if data is None:
        data = _session_data(run)
    try:
        if data is None:
            data = slices.run_data(run)
    except TextclfError:
        data = None
    columns = slices.available_columns(run, data) if data is not None else []
    if not columns:
        st.info(
            "The table this run was trained on is not loaded, or it has no other columns. Load the same file "
            "on the Upload page to analyse by group.",
            icon=":material/info:",
        )
        return
    column = st.selectbox("Column", columns, index=None, placeholder="Choose a column", key=f"slice_col_{run.id}")
    if column is None:
        return
    try:
        table = slices.evaluate_by(run, column, data=data)
    except TextclfError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.caption(f"Grouped by {table.attrs.get('grouping', 'values')}.")
    for line in slices.summary_lines(table):
        st.warning(line, icon=":material/warning:")
    st.plotly_chart(figures.slice_accuracy(table, title=None), key=f"slice_fig_{run.id}_{column}")
    shown = table[["group", "n", "accuracy", "macro_f1", "accuracy_gap", "flagged"]].copy()
    shown["accuracy_gap"] = shown["accuracy_gap"] * 100
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "accuracy": st.column_config.NumberColumn(format="%.3f"),
            "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f"),
            "accuracy_gap": st.column_config.NumberColumn("vs overall (points)", format="%+.1f"),
            "flagged": st.column_config.CheckboxColumn("weak"),
        },
    )
    with_cm = table[table["confusion_matrix"].notna()]
    if len(with_cm):
        group = st.selectbox("Confusion matrix of group", with_cm["group"].tolist(), key=f"slice_grp_{run.id}")
        matrix = with_cm.set_index("group").loc[group, "confusion_matrix"]
        st.plotly_chart(
            figures.confusion_matrix(matrix, table.attrs.get("classes", []), title=None),
            key=f"slice_cm_{run.id}_{column}",
        )
