"""The automatic label-error detection section of the Label review page.

A view over :func:`textclf_core.review.review`, which runs as a background job in the
server's :class:`textclf_core.pipeline.jobs.JobManager` (never in this script's thread): the button
submits it, a fragment polls the job's snapshot (progress bar, Cancel), and the finished
review is read from the review cache by its data version (:func:`textclf_core.review.review_key`).
The session keeps only the job id and that key, so a rerun, another page or a reload finds
the review again. A ranked table lists likely mislabels, conflicting and near duplicates,
outliers and rows to label next; ticked rows are accepted / kept / dropped through the
session's :class:`textclf_core.review.ChangeLog`, one group per click (one Undo).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import app_ui as ui
from textclf_core import review as R
from textclf_core.config import DEFAULT_MODEL
from textclf_core.data import table_page

STATE = "review_panel"  # session key of the last review: {"job_id", "key", "version", "changes_at"}
PAGE_ROWS = 200
POLL_SECONDS = 2.0  # like the Training page: each poll is a script run (and a full GC) in the server process
METHOD_LABELS = {
    "combined": f"Meaning + words ({DEFAULT_MODEL} and TF-IDF), most accurate",
    "embeddings": f"Meaning only ({DEFAULT_MODEL})",
    "tfidf": "Words only (TF-IDF), fastest, no model",
    "thorough": "Thorough: also fine-tunes the model on each fold (minutes on a CPU), "
    "finds more errors in subtle texts",
}
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
    st.caption(
        "A model trained on the other rows reads every text and points at the rows whose label "
        "it disputes, with a suggested fix. Nothing changes until you accept."
    )
    saved = st.session_state.get(STATE)
    if saved and saved.get("version") != _version(dataset):
        saved = None  # another dataset or column choice: the old review does not apply
        st.session_state.pop(STATE, None)

    c1, c2, c3 = st.columns([3, 1, 2])
    method = c1.radio(
        "Review model", list(METHOD_LABELS), format_func=METHOD_LABELS.get, horizontal=True, key="review_method"
    )
    folds = c2.number_input(
        "Folds",
        3,
        10,
        5,
        key="review_folds",
        help="Cross-validation folds: every row is judged by a model that never saw it",
    )
    settings = {"method": method, "folds": int(folds), "model": DEFAULT_MODEL}
    key = _review_key(frame, changes, dataset, settings)
    manager = ui.job_manager()
    c3.write("")
    if c3.button("Find likely label errors", type="primary", icon=":material/search:"):
        if R.cached_review(key) is None:
            job_id = manager.submit_review(frame, key=key, name=f"Label review · {method}", **settings)
        else:
            job_id = None  # this data version was reviewed before: shown straight from the cache
        saved = {"job_id": job_id, "key": key, "version": _version(dataset), "changes_at": len(changes)}
        st.session_state[STATE] = saved

    # This data version's review: finished (cache), or a job in progress (found by its key after a reload).
    job = manager.find_review(key)
    if job is not None and job.active:
        _watch(manager, job.job_id)
        return
    result = R.cached_review(key)
    if result is None and job is not None and job.state == "finished":
        result = manager.result(job.job_id)  # the disk cache could not be written
    if result is not None:
        if not saved or saved.get("key") != key:
            saved = {
                "job_id": job.job_id if job else None,
                "key": key,
                "version": _version(dataset),
                "changes_at": len(changes),
            }
            st.session_state[STATE] = saved
    elif job is not None and saved and saved.get("key") == key:
        _ended(job)  # failed or cancelled: say so once, until another review starts
        return
    elif saved:
        # Labels were edited since: keep showing the last review of this dataset (rows handled are hidden).
        result = R.cached_review(saved["key"])
        if result is None and saved.get("job_id"):
            result = manager.result(saved["job_id"])
    if result is None:
        return
    _show(result, saved, changes)


def _review_key(frame: pd.DataFrame, changes, dataset: dict, settings: dict) -> str:
    """The review's data version, hashed once per dataset, edit and settings: the hash over the rows
    costs 2.8 s on 200k rows, which every rerun (a click, a table edit, a page turn) would pay again."""
    marker = (
        _version(dataset),
        len(changes),
        getattr(changes, "version", None),
        id(changes.changes[-1]) if len(changes) else None,
        tuple(sorted(settings.items())),
        len(frame),
    )
    cache = st.session_state.get("review_key_cache")
    if cache and cache[0] == marker:
        return cache[1]
    key = R.review_key(frame, **settings)
    st.session_state["review_key_cache"] = (marker, key)
    return key


def _version(dataset: dict):
    return (dataset.get("version"), dataset.get("name"), dataset.get("text_col"), dataset.get("label_col"))


def _watch(manager, job_id: str) -> None:
    ui.watch_job(manager, job_id, what="the review", working="Reviewing the labels…", poll_seconds=POLL_SECONDS)


def _ended(job) -> None:
    if job.state == "cancelled":
        st.info("The review was cancelled. Nothing was changed.", icon=":material/cancel:")
    elif job.state == "failed":
        st.error(job.message or "The review stopped; try again", icon=":material/error:")


def _show(result: R.ReviewResult, saved: dict | None, changes) -> None:
    s = result.summary
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Likely mislabels", f"{s['likely_mislabels']:,}", help=HELP[R.MISLABEL])
    m2.metric("Conflicting duplicates", f"{s['conflict_rows']:,}", help=HELP[R.CONFLICT])
    m3.metric("Near duplicates", f"{s['duplicate_rows']:,}", help=HELP[R.DUPLICATE])
    m4.metric("Outliers", f"{s['outliers']:,}", help=HELP[R.OUTLIER])
    reads_note = (getattr(result, "summary", None) or {}).get("reads_note")
    if reads_note:  # the chosen encoder cannot read these texts: the review used TF-IDF instead
        st.warning(reads_note, icon=":material/translate:")
    st.caption(" ".join(line for line in result.summary_lines() if line != reads_note))
    if saved and len(changes) != saved.get("changes_at", len(changes)):
        st.info(
            "Labels were edited since this review. Rows you already handled are hidden; "
            "run the review again to judge the edited data.",
            icon=":material/info:",
        )

    findings = result.findings
    kinds = [k for k in R.FINDING_TYPES if (findings["finding"] == k).any()]
    if not kinds:
        st.success("No likely label errors, duplicates or outliers found.", icon=":material/check_circle:")
        return
    f1, f2 = st.columns([4, 1])
    chosen = f1.multiselect(
        "Show",
        kinds,
        default=[k for k in kinds if k != R.LABEL_NEXT] or kinds,
        key="review_kinds",
        help="; ".join(f"{k}: {HELP[k]}" for k in kinds),
    )
    hide_done = f2.toggle(
        "Hide handled", value=True, key="review_hide_done", help="Hide rows you already accepted, kept or dropped"
    )
    view = findings[findings["finding"].isin(chosen)]
    done = changes.current()
    if hide_done and done:
        view = view[~view["row"].isin(done.keys())]
    if view.empty:
        st.success("Every finding shown here has been handled.", icon=":material/check_circle:")
        _review_counts(changes)
        return

    wanted = st.session_state.get("review_findings_page", 1)
    found = table_page(view, wanted, PAGE_ROWS)  # only this page's rows go to the table
    if found.page != wanted:
        st.session_state["review_findings_page"] = found.page
    page = st.number_input(
        f"{found.total:,} findings · page (of {found.pages:,})", 1, found.pages, key="review_findings_page"
    )
    shown = found.rows
    table = shown[["row", "finding", "text", "given_label", "suggested_label", "score", "detail"]].copy()
    table.insert(0, "pick", bool(st.session_state.get("review_pick_all", False)))
    edited = st.data_editor(
        table,
        key=f"review_findings_{result.fingerprint}_{page}_{len(changes)}",
        hide_index=True,
        width="stretch",
        height=420,
        num_rows="fixed",
        disabled=[c for c in table.columns if c != "pick"],
        column_config={
            "pick": st.column_config.CheckboxColumn("✓", help="Tick the rows to accept, keep or drop", width="small"),
            "row": st.column_config.NumberColumn("Row", help="Row number in your file (from 0)", width="small"),
            "finding": st.column_config.TextColumn("Finding", width="small"),
            "text": st.column_config.TextColumn("Text", width="large"),
            "given_label": st.column_config.TextColumn("Label"),
            "suggested_label": st.column_config.TextColumn("Suggested"),
            "score": st.column_config.ProgressColumn(
                "Score", min_value=0.0, max_value=1.0, format="%.2f", help="How strongly the data points at a problem"
            ),
            "detail": st.column_config.TextColumn("Why"),
        },
    )
    picked = shown[edited["pick"].to_numpy()]

    b0, b1, b2, b3 = st.columns(4)
    b0.checkbox("Tick all on this page", key="review_pick_all")
    label = f" ({len(picked)})" if len(picked) else ""
    # Callbacks run before the next rerun, where changing the tick-all state is allowed.
    b1.button(
        f"Accept suggestion{label}",
        disabled=picked.empty,
        icon=":material/check:",
        on_click=_bulk,
        args=(changes, picked, "accept"),
    )
    b2.button(
        f"Keep as is{label}",
        disabled=picked.empty,
        icon=":material/done_all:",
        on_click=_bulk,
        args=(changes, picked, "keep"),
    )
    b3.button(
        f"Drop{label}", disabled=picked.empty, icon=":material/delete:", on_click=_bulk, args=(changes, picked, "drop")
    )
    _review_counts(changes)


def _bulk(changes, rows: pd.DataFrame, action: str) -> None:
    """One user action over many rows; one change-log group, so the page's Undo takes it back at once."""
    rows = rows.drop_duplicates("row")
    skipped = 0
    if action == "accept":
        has = rows["suggested_label"].notna() & (rows["suggested_label"].astype(str) != "")
        skipped = int((~has).sum())
        rows = rows[has]
    count = changes.record_many(rows, action, note=f"review {action}")  # one group: one Undo
    recorded = changes.changes[len(changes) - count :] if count else []
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
    st.caption(
        f"From the review so far: {accepted:,} relabelled, {kept:,} kept, {dropped:,} dropped. "
        "Undo and the change log download are at the top of the page."
    )
