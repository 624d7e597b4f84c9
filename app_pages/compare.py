"""Compare: every run in one sortable table, validation curves overlaid, two confusion matrices side by side."""

import pandas as pd
import streamlit as st

import app_ui as ui
from textclf_core import figures
from textclf_core.errors import TextclfError
from textclf_core.evaluation.compare import compare_runs, describe_model
from textclf_core.strategy_registry import get_strategy

st.title("Compare runs")

with st.expander("Import a run made elsewhere", icon=":material/upload:"):
    # Runs trained on another machine (e.g. with accelerate on a GPU server) join the table like any other.
    with ui.guard("import"):
        st.caption("A zip made by `textclf export RUN --out run.zip`, or the path of a run folder on a shared disk.")
        uploaded = st.file_uploader("Run zip", type=["zip"], key="import_run_zip")
        folder = st.text_input(
            "…or a run folder", key="import_run_folder", placeholder="/shared/runs/20250101-120000-full-ab12"
        ).strip()
        if st.button("Import", icon=":material/upload:", disabled=not (uploaded or folder)):
            import tempfile
            from pathlib import Path

            if uploaded is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    zip_path = Path(tmp) / Path(uploaded.name).name
                    zip_path.write_bytes(uploaded.getvalue())
                    imported = ui.run_store().import_zip(zip_path)
            else:
                imported = ui.run_store().import_folder(folder)
            st.success(f"Imported as run {imported.id}", icon=":material/check:")


def _uses_model(strategy: str) -> bool:
    try:
        return get_strategy(strategy).uses_model
    except Exception:  # noqa: BLE001 - a run from a newer textclf with a strategy this one does not know
        return True


def _trains_epochs(strategy: str) -> bool:
    try:
        info = get_strategy(strategy)
    except Exception:  # noqa: BLE001 - as above
        return True
    return info.uses_model and not info.budgeted  # TF-IDF has no epochs; auto picks them per member


def render_run_vs_run(store, done) -> None:
    """Run A vs run B on the same test texts: the 2x2 table, McNemar's sentence, per-class differences
    and the texts they label differently (all from textclf_core.evaluation.compare)."""
    st.subheader("Run A vs run B, text by text")
    ids = [s.id for s in done]
    names = {s.id: f"{s.name} · {ui.fmt(s.macro_f1)} macro-F1 · {s.id}" for s in done}
    c1, c2 = st.columns(2)
    # Newest two by default, older one as A: "did my latest change help?"
    id_a = c1.selectbox("Run A", ids, index=1, format_func=names.get, key="vs_a")
    id_b = c2.selectbox("Run B", ids, index=0, format_func=names.get, key="vs_b")
    try:
        result = compare_runs(store.get(id_a), store.get(id_b))
    except TextclfError as exc:
        st.warning(str(exc), icon=":material/compare_arrows:")
        return
    m1, m2, m3 = st.columns(3)
    m1.metric("Accuracy A", ui.fmt(result.accuracy_a))
    m2.metric(
        "Accuracy B",
        ui.fmt(result.accuracy_b),
        delta=None if result.accuracy_a is None else f"{(result.accuracy_b - result.accuracy_a) * 100:+.1f} pts",
    )
    m3.metric(
        "McNemar p-value",
        f"{result.p_value:.3f}" if result.p_value >= 0.001 else "< 0.001",
        help="Exact McNemar test on the texts where exactly one run is right: the chance of a split this "
        "uneven if both runs were equally good.",
    )
    (st.success if result.p_value < 0.05 else st.info)(result.sentence, icon=":material/balance:")
    left, right = st.columns([2, 3])
    with left:
        st.caption(f"{result.n:,} test texts")
        st.dataframe(result.table, width="stretch")
    with right:
        st.plotly_chart(figures.class_differences(result.per_class, title=None), key="vs_class_diff")
    st.dataframe(
        result.per_class,
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in ("recall A", "recall B", "recall B − A", "F1 A", "F1 B", "F1 B − A")
        },
    )
    st.markdown(f"**Texts A and B label differently** ({len(result.disagreements):,})")
    classes = sorted(set(result.per_class["class"].astype(str)))
    cls = st.selectbox(
        "Class", [None] + classes, key="vs_class", format_func=lambda c: "every class" if c is None else c
    )
    shown = result.filter_disagreements(cls)
    st.caption(
        f"{len(shown):,} texts{'' if cls is None else f' with {cls} as the true or a predicted label'}; "
        "those only one run gets right first."
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        height=320,
        key="vs_disagreements",
        column_config={
            "confidence A": st.column_config.NumberColumn(format="%.2f"),
            "confidence B": st.column_config.NumberColumn(format="%.2f"),
        },
    )


with ui.guard("compare"):
    store = ui.run_store()
    summaries = store.list(project=ui.run_scope("compare"))  # this project's runs unless "all" is on
    if not summaries:
        ui.no_runs_yet()

    rows = []
    for s in summaries:
        found = store.get(s.id)
        config = found.read_json("config.json", default={}) or {}
        strategy = s.strategy
        auto_run = strategy == "auto"  # its model is what it kept (its members), not the default encoder it names
        if strategy == "partial":
            strategy += f" (top {config.get('layers')})"
        rows.append(
            {
                "run": s.name,
                "state": s.state,
                "dataset": s.dataset or "",
                "project": ui.project_name(s.project),
                "model": describe_model(found) or s.model,
                "strategy": strategy,
                # settings that do not apply to the strategy (epochs of TF-IDF) stay blank
                "epochs": config.get("epochs") if _trains_epochs(s.strategy) else None,
                "lr": config.get("lr") if _trains_epochs(s.strategy) else None,
                "max length": config.get("max_length") if _uses_model(s.strategy) and not auto_run else None,
                "accuracy": s.accuracy,
                "macro-F1": s.macro_f1,
                "train time (s)": s.train_seconds,
                "size (MB)": s.model_mb,
                "created": s.created,
                "id": s.id,
            }
        )
    table = pd.DataFrame(rows)
    numeric = ["epochs", "lr", "max length", "accuracy", "macro-F1", "train time (s)", "size (MB)"]
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")  # blanks, not 'None'
    table["created"] = pd.to_datetime(table["created"], errors="coerce", utc=True).dt.tz_localize(None)
    # Settings that do not apply are text cells left empty: Streamlit draws a missing number as "None".
    for column, fmt in (("epochs", "{:.0f}"), ("lr", "{:.0e}"), ("max length", "{:.0f}")):
        table[column] = [fmt.format(v) if v == v else "" for v in table[column]]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "accuracy": st.column_config.NumberColumn(format="%.3f"),
            "macro-F1": st.column_config.NumberColumn(format="%.3f"),
            "train time (s)": st.column_config.NumberColumn(format="%.1f"),
            "size (MB)": st.column_config.NumberColumn(format="%.1f"),
            "created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
        },
    )
    st.caption("Click a column header to sort.")

    done = [s for s in summaries if s.state in ("finished", "cancelled")]
    if len(done) >= 2:
        render_run_vs_run(store, done)
    if done:
        st.subheader("Validation curves")
        metric = st.radio(
            "Score",
            ["macro_f1", "accuracy", "val_loss"],
            horizontal=True,
            key="compare_metric",
            format_func=figures.METRIC_NAMES.get,
        )
        chosen = st.multiselect(
            "Runs",
            [s.id for s in done],
            default=[s.id for s in done[:5]],
            format_func={s.id: f"{s.name} · {s.id}" for s in done}.get,
            key="compare_runs",
        )
        curves = {f"{s.name} · {s.id[-4:]}": store.get(s.id).events(("evaluation",)) for s in done if s.id in chosen}
        st.plotly_chart(figures.compare_curves(curves, metric=metric), key="compare_curves")
        st.caption("The baseline trains in one go, so it shows a single point.")

        st.subheader("Confusion matrices side by side")
        ids = [s.id for s in done]
        names = {s.id: f"{s.name} · {s.id}" for s in done}
        c1, c2 = st.columns(2)
        picked_pair = []
        for column, index, key in ((c1, 0, "cmp_left"), (c2, min(1, len(ids) - 1), "cmp_right")):
            with column:
                run_id = st.selectbox("Run", ids, index=index, format_func=names.get, key=key)
                picked_pair.append(run_id)
                ev = store.get(run_id).read_json("eval.json", default={}) or {}
                if ev.get("confusion_matrix"):
                    st.plotly_chart(
                        figures.confusion_matrix(
                            ev["confusion_matrix"], ev.get("classes") or [], normalize=True, title=None
                        ),
                        key=f"{key}_fig",
                    )
                else:
                    st.caption("No confusion matrix for this run.")
        note = ui.same_data_note(picked_pair)
        if note:
            st.info(note, icon=":material/info:")

    with st.expander("Delete runs"):
        v = st.session_state.get("delete_version", 0)  # a new key clears the choice after deleting
        doomed = st.multiselect(
            "Runs to delete",
            [s.id for s in summaries if s.state != "running"],
            format_func={s.id: f"{s.name} · {s.id}" for s in summaries}.get,
            key=f"delete_runs_{v}",
        )
        sure = st.checkbox("Yes, delete these runs and their models for good", key=f"delete_sure_{v}")
        others = ui.started_by_others(doomed)
        if others:  # someone else's work: say whose, and ask once more
            st.warning(
                f"{len(others)} of these runs were started by someone else ({', '.join(sorted(set(others.values())))}).",
                icon=":material/warning:",
            )
            sure = st.checkbox("Yes, delete their runs too", key=f"delete_others_{v}") and sure
        if st.button("Delete", type="primary", disabled=not (doomed and sure), icon=":material/delete:"):
            for run_id in doomed:
                store.delete(run_id)
            st.session_state["delete_version"] = v + 1
            st.toast(f"Deleted {len(doomed)} run(s)")
            st.rerun()
