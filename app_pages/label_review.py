"""Label review: edit labels in a table, fix classes, filter by findings, download the cleaned data.

Edits are a change log over the original rows (``textclf_core.review.ChangeLog``) kept in the
session, so they survive reruns and page changes and can be undone.
"""

import streamlit as st

import app_ui as ui
from app_ui.review_panel import render_suggestions
from textclf_core.data import FINDINGS, neutralize_formulas, prepare, review_page, text_words
from textclf_core.data.paging import LONG, SHORT
from textclf_core.labels import clean_label

PAGE_ROWS = 100  # rows sent to the table: the filter and the page are cut in the core (data.paging)

st.title("Label review")

ds = ui.require_dataset()
changes = ui.change_log()


def batch(note: str, records) -> int:
    """Record one user action that touches many rows as one change-log group, so Undo takes it back at once."""
    count = 0
    with changes.group(note):
        for action, row, old, new in records:
            if action == "drop":
                changes.drop(row, old_label=old, finding=None)
            else:
                changes.relabel(row, new, old_label=old)
            count += 1
    return count


def apply_table_edits() -> None:
    """Turn the table's pending edits into change-log entries, then start a fresh table.

    Read at the top of the run (not in an on_change callback) so edits arriving with any rerun
    are kept; the rows the table showed are remembered under its key.
    """
    key = editor_key()
    state = st.session_state.get(key) or {}
    shown = st.session_state.get("editor_shown", {}).get(key)
    edits = state.get("edited_rows") or {}
    if not edits or not shown:
        return
    rows, labels = shown
    for position, edit in edits.items():
        position = int(position)
        if "label" in edit and 0 <= position < len(rows):
            new, old = clean_label(edit["label"]), labels[position]
            if new != old:
                if new is None:
                    changes.drop(rows[position], old_label=old)
                else:
                    changes.relabel(rows[position], new, old_label=old)
    st.session_state["editor_version"] = st.session_state.get("editor_version", 0) + 1


def editor_key() -> str:
    return f"review_editor_{ds['version']}_{st.session_state.get('editor_version', 0)}"


def _rows_key():
    # A project's log has a growing version; a plain session log does not, so its last edit tells an undo
    # followed by another edit (same length) from the state before.
    last = id(changes.changes[-1]) if len(changes) else None
    return (ds["version"], ds["text_col"], ds["label_col"], len(changes), getattr(changes, "version", None), last)


def working_rows():
    """The rows with the edits applied, computed once per data version: a rerun (a click, a table edit)
    of a 1M-row table would otherwise prepare it again (~1 s)."""
    cache = st.session_state.get("review_rows_cache")
    if cache and cache[0] == _rows_key():
        return cache[1]
    base = prepare(ds["df"], ds["text_col"], ds["label_col"])
    rows = changes.apply(base, label_col="label", row_col="row") if len(changes) else base
    st.session_state["review_rows_cache"] = (_rows_key(), rows)
    return rows


def row_words(rows):
    """Words per row, for the length findings only (1.2 s on 200k rows), once per data version."""
    cache = st.session_state.get("review_words_cache")
    if cache and cache[0] == _rows_key():
        return cache[1]
    words = text_words(rows)
    st.session_state["review_words_cache"] = (_rows_key(), words)
    return words


current = None
with ui.guard("label review"):
    apply_table_edits()
    current = working_rows()
    report = ui.report()
    classes = sorted({c for c in current["label"].dropna().unique()}, key=str)
    classes = sorted(set(classes) | set(st.session_state.get("extra_classes", [])), key=str)

    counts = changes.counts()
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Rows in use", f"{len(current):,}")
    m2.metric("Relabelled", counts["relabelled"])
    m3.metric("Dropped", counts["dropped"])
    m4.metric("Unlabelled", int(current["label"].isna().sum()))

    u1, u2, _ = st.columns([1, 1, 3])
    if u1.button("Undo last change", disabled=not len(changes), icon=":material/undo:"):
        changes.undo()  # the last action: a whole rename or bulk accept is one group
        st.rerun()
    if u2.button("Undo all changes", disabled=not len(changes), icon=":material/restart_alt:"):
        changes.undo_all()
        st.rerun()

    # --- filters ---------------------------------------------------------------------------
    f1, f2, f3 = st.columns([2, 2, 3])
    label_filter = f1.selectbox("Label", ["All labels"] + classes, key="review_label_filter")
    finding = f2.selectbox("Finding", FINDINGS, key="review_finding")
    search = f3.text_input("Text contains", key="review_search")
    wanted = st.session_state.get("review_page", 1)
    table = review_page(
        current,
        wanted,
        PAGE_ROWS,
        label=label_filter,
        finding=finding,
        search=search,
        report=report,
        edited_rows=changes.current().keys(),
        words=row_words(current) if finding in (SHORT, LONG) else None,
    )
    if table.page != wanted:  # the filter shrank the table: show its last page
        st.session_state["review_page"] = table.page
    st.number_input(
        f"{table.total:,} rows match · page (of {table.pages:,})",
        1,
        table.pages,
        key="review_page",
        help=f"{PAGE_ROWS} rows a page; the table holds only the page's rows",
    )
    shown = table.rows
    key = editor_key()
    st.session_state["editor_shown"] = {key: (shown["row"].tolist(), shown["label"].tolist())}
    st.data_editor(
        shown,
        key=key,
        hide_index=True,
        width="stretch",
        height=420,
        num_rows="fixed",
        disabled=["row", "text"],
        column_config={
            "row": st.column_config.NumberColumn("Row", help="Row number in your file (from 0)", width="small"),
            "text": st.column_config.TextColumn("Text", width="large"),
            "label": st.column_config.SelectboxColumn(
                "Label", options=classes, required=False, help="Pick a label; clear it to drop the row"
            ),
        },
    )

    # --- classes -------------------------------------------------------------------------------
    with st.expander("Rename, merge or drop classes; add a class"):
        c1, c2, c3 = st.columns([2, 2, 1])
        source = c1.selectbox("Class", classes, key="class_source")
        target = c2.text_input("New name (an existing name merges the two)", key="class_target")
        c3.write("")
        if c3.button("Rename / merge", disabled=not source or not clean_label(target)):
            target = clean_label(target)
            rows = current[current["label"] == source]
            n = batch(f"rename {source} → {target}", [("relabel", r, source, target) for r in rows["row"]])
            st.toast(f"{n:,} rows moved from '{source}' to '{target}'")
            st.rerun()
        d1, d2 = st.columns([4, 1])
        d1.caption("Dropping a class leaves its rows out of training (they stay in your file).")
        if d2.button("Drop class", disabled=not source):
            rows = current[current["label"] == source]
            n = batch(f"drop {source}", [("drop", r, source, None) for r in rows["row"]])
            st.toast(f"{n:,} rows of '{source}' dropped")
            st.rerun()
        a1, a2 = st.columns([4, 1])
        new_class = a1.text_input("Add a class to the label list (to label unlabelled rows with it)", key="new_class")
        if a2.button("Add class", disabled=not clean_label(new_class)):
            extra = st.session_state.setdefault("extra_classes", [])
            if clean_label(new_class) not in extra:
                extra.append(clean_label(new_class))
            st.rerun()

    # --- downloads --------------------------------------------------------------------------------
    stem = str(ds["name"]).rsplit(".", 1)[0]
    d1, d2 = st.columns(2)

    def cleaned_csv() -> bytes:
        cleaned = changes.apply(ds["df"], label_col=ds["label_col"]) if len(changes) else ds["df"]
        return neutralize_formulas(cleaned).to_csv(index=False).encode("utf-8-sig")

    # Built only when clicked: a large table is not edited and turned into CSV on every rerun.
    ui.download_button("Download cleaned CSV", cleaned_csv, where=d1, file_name=f"{stem}.cleaned.csv", mime="text/csv")
    log_frame = changes.to_frame()
    ui.download_button(
        "Download change log",
        lambda: neutralize_formulas(log_frame).to_csv(index=False).encode("utf-8-sig"),
        where=d2,
        file_name=f"{stem}.changes.csv",
        mime="text/csv",
        icon=":material/history:",
        disabled=not len(changes),
    )

st.divider()
with ui.guard("label suggestions"):
    if current is not None:
        render_suggestions(current, changes, ds)
