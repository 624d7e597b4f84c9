"""The "Why this label?" section for one text, used by the Predict and Evaluation pages.

Call :func:`render_explanation(run_id, text)` under a prediction (or a chosen test text).
"""

from __future__ import annotations

import streamlit as st

from textclf_core.errors import TextclfError


@st.cache_resource(show_spinner=False, max_entries=4)
def _predictor(run_id: str):
    from app_ui import run_store
    from textclf_core.models.predict import load_predictor

    return load_predictor(run_store().get(run_id))


@st.cache_data(show_spinner=False, max_entries=64)
def _explain(run_id: str, text: str, target: str | None) -> dict:
    from textclf_core.models.explain import explain

    return explain(_predictor(run_id), text, target=target).to_dict()


def render_explanation(run_id: str, text: str, *, target: str | None = None, key: str = "explain") -> None:
    """Highlight the words that pushed ``text`` towards its label (green) or away from it (red)."""
    import numpy as np

    from textclf_core.figures import attribution_bars
    from textclf_core.models.explain import Explanation, highlight_html

    if not text or not str(text).strip():
        return
    try:
        classes = list(_predictor(run_id).classes)
        if len(classes) > 2:
            choice = st.selectbox("Explain the label", ["(the predicted label)"] + classes, key=f"{key}_target")
            target = None if choice == "(the predicted label)" else choice
        with st.spinner("Finding the words that mattered…"):
            data = _explain(run_id, str(text), target)
    except TextclfError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    e = Explanation(
        data["text"],
        data["words"],
        [tuple(s) for s in data["spans"]],
        np.asarray(data["scores"]),
        data["label"],
        data["probability"],
        data["method"],
        data["probabilities"],
    )
    st.markdown(
        f"**Why *{e.label}*** ({e.probability:.0%}): green words pushed towards this label, red words away from it."
    )
    st.markdown(highlight_html(e), unsafe_allow_html=True)  # the text is escaped by highlight_html
    how = (
        "the model's word weights (exact for this linear model)"
        if e.method == "linear weights"
        else "how much the probability drops when each word is left out"
    )
    with st.expander("Word scores"):
        st.caption(f"Scores come from {how}.")
        st.plotly_chart(attribution_bars(e.words, e.scores, title=None), key=f"{key}_bars")
