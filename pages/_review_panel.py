"""The automatic label-error detection section of the Label review page.

A view over :func:`textclf_core.review.review`: a button runs the review (with
progress), a ranked table lists likely mislabels, conflicting and near duplicates,
outliers and rows to label next; ticked rows are accepted / kept / dropped through the
session's :class:`textclf_core.review.ChangeLog`. Results are kept in session state per
dataset version; the core caches them per data version on disk too.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from textclf_core import review as R
from textclf_core.config import DEFAULT_MODEL

STATE = "review_panel"  # session key of the last review: {"result", "version", "settings", "changes_at"}
PAGE_ROWS = 200
METHOD_LABELS = {"combined": f"Meaning + words ({DEFAULT_MODEL} and TF-IDF), most accurate",
                 "embeddings": f"Meaning only ({DEFAULT_MODEL})",
                 "tfidf": "Words only (TF-IDF), fastest, no model",
                 "thorough": "Thorough: also fine-tunes the model on each fold (minutes on a CPU), "
                             "finds more errors in subtle texts"}
HELP = {
    R.MISLABEL: "the model, trained on the other rows, is confident the label is wrong",
    R.CONFLICT: "the same or almost the same text appears with different labels",
    R.DUPLICATE: "the same or almost the same text appears more than once",
    R.OUTLIER: "a text unlike the others (another language, noise, an empty cell…)",
    R.LABEL_NEXT: "unlabelled rows the model is least sure about: label these first",
}


def render_suggestions(frame: pd.DataFrame, changes, dataset: dict) -> None:
    """Find label problems in ``frame`` (row, text, label; edits applied) and record fixes in ``changes``."""
    st.subheader("Likely label errors")
    st.caption("A model trained on the other rows reads every text and points at the rows whose label "
               "it disputes, with a suggested fix. Nothing changes until you accept.")
    saved = st.session_state.get(STATE)
    if saved and saved.get("version") != _version(dataset):
        saved = None  # another dataset or column choice: the old review does not apply
        st.session_state.pop(STATE, None)

    c1, c2, c3 = st.columns([3, 1, 2])
    method = c1.radio("Review model", list(METHOD_LABELS), format_func=METHOD_LABELS.get, horizontal=True,
                      key="review_method")
    folds = c2.number_input("Folds", 3, 10, 5, key="review_folds",
                            help="Cross-validation folds: every row is judged by a model that never saw it")
    c3.write("")
    run = c3.button("Find likely label errors", type="primary", icon=":material/search:")
    if run:
        saved = _run_review(frame, dataset, changes, method=method, folds=int(folds))
    if not saved:
        return
    _show(saved, changes)


def _version(dataset: dict):
    return (dataset.get("version"), dataset.get("name"), dataset.get("text_col"), dataset.get("label_col"))


def _run_review(frame: pd.DataFrame, dataset: dict, changes, *, method: str, folds: int) -> dict:
    bar = st.progress(0.0, text="Starting the review…")

    def on_event(event: dict) -> None:
        if event.get("type") == "progress" and event.get("total"):
            share = event["done"] / event["total"]
            bar.progress(min(0.5 * share, 0.5), text=f"Reading the texts: {event['done']:,} of {event['total']:,}")
        elif event.get("type") == "review_stage":
            bar.progress(min(float(event.get("progress", 0)), 1.0), text=f"Review: {event['stage']}…")

    with st.spinner("Reviewing the labels…"):
        result = R.review(frame, method=method, folds=folds, model=DEFAULT_MODEL, emit=on_event)
    bar.empty()
    saved = {"result": result, "version": _version(dataset), "settings": {"method": method, "folds": folds},
             "changes_at": len(changes)}
    st.session_state[STATE] = saved
    return saved


def _show(saved: dict, changes) -> None:
    result: R.ReviewResult = saved["result"]
    s = result.summary
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Likely mislabels", f"{s['likely_mislabels']:,}", help=HELP[R.MISLABEL])
    m2.metric("Conflicting duplicates", f"{s['conflict_rows']:,}", help=HELP[R.CONFLICT])
    m3.metric("Near duplicates", f"{s['duplicate_rows']:,}", help=HELP[R.DUPLICATE])
    m4.metric("Outliers", f"{s['outliers']:,}", help=HELP[R.OUTLIER])
    st.caption(" ".join(result.summary_lines()))
    if len(changes) != saved["changes_at"]:
        st.info("Labels were edited since this review. Rows you already handled are hidden; "
                "run the review again to judge the edited data.", icon=":material/info:")

    findings = result.findings
    kinds = [k for k in R.FINDING_TYPES if (findings["finding"] == k).any()]
    if not kinds:
        st.success("No likely label errors, duplicates or outliers found.", icon=":material/check_circle:")
        return
    f1, f2 = st.columns([4, 1])
    chosen = f1.multiselect("Show", kinds, default=[k for k in kinds if k != R.LABEL_NEXT] or kinds,
                            key="review_kinds", help="; ".join(f"{k}: {HELP[k]}" for k in kinds))
    hide_done = f2.toggle("Hide handled", value=True, key="review_hide_done",
                          help="Hide rows you already accepted, kept or dropped")
    view = findings[findings["finding"].isin(chosen)]
    done = changes.current()
    if hide_done and done:
        view = view[~view["row"].isin(done.keys())]
    if view.empty:
        st.success("Every finding shown here has been handled.", icon=":material/check_circle:")
        _review_counts(changes)
        return

    pages = max(1, -(-len(view) // PAGE_ROWS))
    page = st.number_input(f"{len(view):,} findings · page (of {pages:,})", 1, pages, 1, key="review_findings_page")
    shown = view.iloc[(int(page) - 1) * PAGE_ROWS:int(page) * PAGE_ROWS].reset_index(drop=True)
    table = shown[["row", "finding", "text", "given_label", "suggested_label", "score", "detail"]].copy()
    table.insert(0, "pick", bool(st.session_state.get("review_pick_all", False)))
    edited = st.data_editor(
        table, key=f"review_findings_{result.fingerprint}_{page}_{len(changes)}", hide_index=True,
        width="stretch", height=420, num_rows="fixed",
        disabled=[c for c in table.columns if c != "pick"],
        column_config={
            "pick": st.column_config.CheckboxColumn("✓", help="Tick the rows to accept, keep or drop", width="small"),
            "row": st.column_config.NumberColumn("Row", help="Row number in your file (from 0)", width="small"),
            "finding": st.column_config.TextColumn("Finding", width="small"),
            "text": st.column_config.TextColumn("Text", width="large"),
            "given_label": st.column_config.TextColumn("Label"),
            "suggested_label": st.column_config.TextColumn("Suggested"),
            "score": st.column_config.ProgressColumn("Score", min_value=0.0, max_value=1.0, format="%.2f",
                                                     help="How strongly the data points at a problem"),
            "detail": st.column_config.TextColumn("Why"),
        })
    picked = shown[edited["pick"].to_numpy()]

    b0, b1, b2, b3 = st.columns(4)
    b0.checkbox("Tick all on this page", key="review_pick_all")
    label = f" ({len(picked)})" if len(picked) else ""
    # Callbacks run before the next rerun, where changing the tick-all state is allowed.
    b1.button(f"Accept suggestion{label}", disabled=picked.empty, icon=":material/check:",
              on_click=_bulk, args=(changes, picked, "accept"))
    b2.button(f"Keep as is{label}", disabled=picked.empty, icon=":material/done_all:",
              on_click=_bulk, args=(changes, picked, "keep"))
    b3.button(f"Drop{label}", disabled=picked.empty, icon=":material/delete:",
              on_click=_bulk, args=(changes, picked, "drop"))
    _review_counts(changes)


def _bulk(changes, rows: pd.DataFrame, action: str) -> None:
    """One user action over many rows; one note, so the page's Undo takes it back at once."""
    rows = rows.drop_duplicates("row")
    skipped = 0
    if action == "accept":
        has = rows["suggested_label"].notna() & (rows["suggested_label"].astype(str) != "")
        skipped = int((~has).sum())
        rows = rows[has]
    note = f"batch:{len(changes)}:review {action}"
    count = changes.record_many(rows, action)
    for change in changes.changes[len(changes) - count:]:
        change.note = note
    recorded = changes.changes[len(changes) - count:] if count else []
    relabelled = sum(c.action == "accept" for c in recorded)
    if action == "accept":
        message = f"{_rows(relabelled)} relabelled with the suggestion"
        if count - relabelled:
            message += f"; {count - relabelled:,} already had it"
        if skipped:
            message += f"; {skipped:,} had no suggestion"
    else:
        message = f"{_rows(count)} " + ("kept as they are" if action == "keep" else "dropped")
    st.toast(message)
    st.session_state["review_pick_all"] = False


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def _review_counts(changes) -> None:
    from_review = [c for c in changes.current().values() if c.finding]
    if not from_review:
        return
    accepted = sum(c.action in ("accept", "relabel") for c in from_review)
    kept = sum(c.action == "keep" for c in from_review)
    dropped = sum(c.action == "drop" for c in from_review)
    st.caption(f"From the review so far: {accepted:,} relabelled, {kept:,} kept, {dropped:,} dropped. "
               "Undo and the change log download are at the top of the page.")
