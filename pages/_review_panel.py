"""The automatic label-error detection section of the Label review page.

OWNED BY THE REVIEW ENGINEER: this is the slot where ``textclf_core.review`` results
(likely label errors, near-duplicates, conflicts, outliers, what to label next) are shown
and accepted into the change log. The Label review page calls :func:`render_suggestions`
once, below the editable table.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st


def render_suggestions(frame: pd.DataFrame, changes, dataset: dict) -> None:
    """Show suggested label fixes for ``frame`` and record accepted ones in ``changes``.

    ``frame`` has columns ``row`` (original 0-based row), ``text`` and ``label`` with the
    current edits applied; ``changes`` is the session's :class:`textclf_core.review.ChangeLog`
    (record with ``changes.relabel(row, label, old_label=..., finding=...)`` / ``.drop`` and
    then call ``st.rerun()``); ``dataset`` is the session's dataset dict (name, df, columns).
    """
    st.subheader("Likely label errors")
    st.caption("Automatic label-error detection runs here.")
