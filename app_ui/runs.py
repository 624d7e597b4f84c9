"""Runs for the pages: pick a run, the runs table, value formatting, the baseline of a run, job polling."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from textclf_core.errors import TextclfError

from .errors import guard
from .services import PAGES, job_manager, project_store, run_store
from .session import dataset, fmt
from .signin import identity


# --- runs ----------------------------------------------------------------------------------
def run_scope(key: str) -> str | None:
    """A toggle "All projects": returns the project whose runs to show (None: every run)."""
    ds = dataset()
    if not ds or not ds.get("project"):
        return None
    everything = st.toggle(
        "Show runs of all projects", key=f"all_projects_{key}", help=f"Off: only the runs of project {ds['name']}"
    )
    return None if everything else ds["project"]


def finished_runs(*, with_model: bool = False, project: str | None = None) -> list:
    """Summaries of runs with results (finished, or cancelled with a kept model), newest first;
    only ``project``'s runs when given."""
    store = run_store()
    out = []
    for summary in store.list(project=project):
        if summary.state == "finished" or (summary.state == "cancelled" and summary.model_mb):
            if with_model and not summary.model_mb:
                continue
            out.append(summary)
    return out


def pick_run(label: str, runs: list, *, key: str, session_key: str = "eval_run"):
    """A selectbox of runs; remembers the choice across pages in ``session_key``. Returns the Run."""
    ids = [r.id for r in runs]
    names = {r.id: f"{r.name} · {fmt(r.macro_f1)} macro-F1 · {r.id}" for r in runs}
    wanted = st.session_state.get(session_key)
    # Default: the newest *finished* run in the list (never a cancelled one).
    finished = [r.id for r in runs if r.state == "finished"]
    index = ids.index(wanted) if wanted in ids else (ids.index(finished[0]) if finished else 0)
    run_id = st.selectbox(label, ids, index=index, format_func=names.get, key=key)
    st.session_state[session_key] = run_id
    chosen = next((r for r in runs if r.id == run_id), None)
    if chosen is not None and (chosen.started_by or chosen.cancelled_by or chosen.notes):
        me = identity()
        bits = []
        if chosen.started_by:
            bits.append(f"started by {'you' if chosen.started_by == me else chosen.started_by}")
        if chosen.cancelled_by:
            bits.append(f"cancelled by {'you' if chosen.cancelled_by == me else chosen.cancelled_by}")
        if chosen.notes:
            bits.append(f"notes: {chosen.notes}")
        text = " · ".join(bits)
        st.caption(text[0].upper() + text[1:])
    return run_store().get(run_id)


def project_name(project_id: str | None) -> str:
    """A project's name for tables ("" for runs made before projects or by the CLI)."""
    if not project_id:
        return ""
    names = st.session_state.setdefault("_project_names", {})
    if project_id not in names:
        try:
            names[project_id] = project_store().get(project_id).name
        except TextclfError:
            names[project_id] = f"{project_id} (deleted)"
    return names[project_id]


def same_data_note(run_ids: list[str]) -> str | None:
    """A sentence when runs being compared were not trained on the same data (None when they were)."""
    rows = {s.id: s for s in run_store().list() if s.id in set(run_ids)}
    if len(set(run_ids)) < 2 or len(rows) < 2:
        return None
    prints = {rows[i].fingerprint for i in rows}
    if len(prints) == 1 and None not in prints:
        return None
    datasets = sorted({rows[i].dataset or "unknown data" for i in rows})
    how = "different files" if len(datasets) > 1 else "different versions of the data (label edits in between)"
    return (
        f"These runs were not trained on the same data ({how}: {', '.join(datasets)}); "
        "their scores are not directly comparable."
    )


def started_by_others(run_ids) -> dict[str, str]:
    """{run id: who} for the runs someone else started."""
    me = identity()
    out = {}
    for s in run_store().list():
        if s.id in set(run_ids) and s.started_by and s.started_by != me:
            out[s.id] = s.started_by
    return out


def runs_table(scope: str | None) -> None:
    """The runs saved in this project (or all), with who started them; rename a run and add notes."""
    store = run_store()
    summaries = store.list(project=scope)
    st.subheader("Runs in this project" if scope else "All runs")
    if not summaries:
        st.caption("No saved runs yet.")
        return
    table = pd.DataFrame(
        [
            {
                "run": s.name,
                "state": s.state,
                "macro-F1": s.macro_f1,
                "dataset": s.dataset or "",
                "started by": s.started_by or "",
                "cancelled by": s.cancelled_by or "",
                "notes": s.notes,
                "created": s.created,
                "id": s.id,
            }
            for s in summaries
        ]
    )
    # Text, so a run without a score shows a blank cell rather than "None".
    table["macro-F1"] = [f"{v:.3f}" if isinstance(v, (int, float)) and v == v else "" for v in table["macro-F1"]]
    st.dataframe(table, hide_index=True, width="stretch")
    with st.expander("Rename a run or add notes", icon=":material/edit:"):
        names = {s.id: f"{s.name} · {s.id}" for s in summaries}
        run_id = st.selectbox("Run", list(names), format_func=names.get, key="meta_run")
        chosen = next(s for s in summaries if s.id == run_id)
        name = st.text_input("Name", value=chosen.name, key=f"meta_name_{run_id}")
        notes = st.text_area("Notes", value=chosen.notes, key=f"meta_notes_{run_id}", height=80)
        if st.button("Save", key=f"meta_save_{run_id}", icon=":material/save:"):
            run = store.get(run_id)
            if name.strip() != chosen.name:
                run.rename(name)
            if notes != chosen.notes:
                run.set_notes(notes)
            st.toast("Saved")
            st.rerun()


def no_runs_yet() -> None:
    st.info(
        "No finished runs yet. Load data, choose a strategy and train one; the baseline takes seconds.",
        icon=":material/info:",
    )
    st.page_link(PAGES["strategy"], label="Go to Strategy", icon=":material/tune:")
    if job_manager().active():
        st.page_link(PAGES["training"], label="Watch the run in progress", icon=":material/monitoring:")
    st.stop()


def baseline_for(run):
    """The newest finished baseline run on the same data as ``run`` (None when there is none)."""
    data = run.read_json("data.json", default={}) or {}
    fp = data.get("fingerprint")
    project = run.meta().get("project")
    if not fp and not project:
        return None
    store = run_store()
    baselines = [s for s in finished_runs() if s.strategy == "baseline" and s.id != run.id]
    for summary in baselines:
        if fp and summary.fingerprint == fp:
            return store.get(summary.id)
    # Same project, data changed by label edits since: still the baseline to beat.
    for summary in baselines:
        if project and summary.project == project:
            return store.get(summary.id)
    return None


def worst_confusion(matrix, classes: list[str]) -> tuple[str, str]:
    """The (true, predicted) pair with the most mistakes; the first class's hits when there are none."""
    best, pair = 0, (classes[0], classes[0])
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if i != j and count > best:
                best, pair = count, (classes[i], classes[j])
    return pair


def watch_job(manager, job_id: str, *, what: str, working: str, poll_seconds: float = 2.0) -> None:
    """Progress and Cancel of a running background job (label review, learning curve), polled in a
    fragment without rerunning the page; one full rerun when it ends shows its result.
    ``what`` names it on the Cancel button ("the review"), ``working`` is the default progress text."""

    @st.fragment(run_every=poll_seconds)
    def live():
        with guard(f"{what} progress"):
            snap = manager.get(job_id)
            if snap is None or not snap.active:
                st.rerun()  # done: one full rerun shows the result and stops this polling
            if snap.state == "queued":
                st.progress(
                    0.0,
                    text=f"Waiting for the {snap.device.upper() if snap.device == 'cpu' else 'device'} "
                    f"(position {snap.queue_position} in the queue)…",
                )
            else:
                st.progress(min(1.0, snap.progress), text=snap.message or working)
            if st.button(
                f"Cancel {what}", icon=":material/cancel:", disabled=snap.cancel_requested, key=f"cancel_{job_id}"
            ):
                manager.cancel(job_id, by=identity())
                st.rerun(scope="fragment")

    live()
