"""The sidebar every page shows: project picker, project settings, the jobs of this session."""

from __future__ import annotations

import streamlit as st

from .errors import guard
from .services import PAGES, hardware, job_manager, project_store, run_store
from .session import close_project, dataset, distinct, fmt, open_project, working_frame
from .signin import identity, user


# --- sidebar -------------------------------------------------------------------------------
def sidebar() -> None:
    """The project in use (pick, rename, delete), hardware, and the running job (polled only while active)."""
    with st.sidebar:
        with guard("projects"):
            _sidebar_projects()
        st.markdown("**Hardware**")
        with guard("hardware"):
            st.caption(hardware().describe())
        st.markdown("**Training**")
        with guard("sidebar jobs"):
            _sidebar_jobs()
        signed = user()
        st.caption(f"Signed in as **{signed}**" if signed else f"You are `{identity()}` on this server")
        if signed and st.session_state.get("signed_in") and st.button("Sign out", key="sign_out"):
            st.session_state.pop("signed_in", None)
            close_project()
            st.rerun()


def project_label(summary) -> str:
    if summary.damaged:
        return f"⚠ {summary.id} (damaged)"
    bits = [summary.name]
    if summary.rows is not None:
        bits.append(f"{summary.rows:,} rows")
    if summary.classes:
        bits.append(f"{summary.classes} classes")
    if summary.best_macro_f1 is not None:
        bits.append(f"best {fmt(summary.best_macro_f1)}")
    if summary.last_activity:
        bits.append(str(summary.last_activity)[:16].replace("T", " "))
    return " · ".join(bits)


def _open_picked(key: str) -> None:
    """The person picked a project in the sidebar: open it (a callback, so the rerun shows it)."""
    picked = st.session_state.get(key)
    if picked and picked != st.session_state.get("project_id"):
        with guard("open project"):
            open_project(picked)


def _sidebar_projects() -> None:
    st.markdown("**Project**")
    problem = st.session_state.pop("project_problem", None)
    if problem:
        st.error(problem, icon=":material/error:")
    summaries = project_store().list(user=user(), runs=run_store())
    ok = [s for s in summaries if not s.damaged]
    current = st.session_state.get("project_id")
    if not ok:
        st.caption("None loaded yet")
    else:
        ids = [s.id for s in ok]
        names = distinct({s.id: project_label(s) for s in ok})
        options = ([None] if current not in ids else []) + ids
        # The picker shows this session's project, set before the widget is drawn; only the person's own pick
        # (on_change) opens another. When another session creates a project the options change, and the widget
        # alone could land on that project and open it here (seen in the two-sessions test).
        key = f"project_pick_{current}"
        st.session_state[key] = current if current in options else None
        st.selectbox(
            "Project",
            options,
            format_func=lambda i: "(choose a project)" if i is None else names[i],
            key=key,
            on_change=_open_picked,
            args=(key,),
            label_visibility="collapsed",
        )
        ds = dataset()
        if ds is not None:
            df = working_frame() if ds.get("label_col") else ds["df"]
            st.caption(
                f"{ds['name']} · {len(df):,} rows  \ntext: `{ds.get('text_col')}` · label: `{ds.get('label_col')}`"
            )
            _manage_project(ds)
    st.page_link(PAGES["upload"], label="New project from a file or sample", icon=":material/add:")
    for s in summaries:
        if s.damaged:
            st.caption(f"⚠ {s.message}")


def _manage_project(ds: dict) -> None:
    with st.expander("Rename or delete this project"):
        pid = ds["project"]
        name = st.text_input("Name", value=ds["name"], key=f"project_name_{pid}")
        if st.button("Rename", key=f"project_rename_{pid}", disabled=name.strip() in ("", ds["name"])):
            project_store().get(pid, user=user()).rename(name)
            ds["name"] = name.strip()
            st.rerun()
        sure = st.checkbox("Yes, delete this project (its runs stay)", key=f"project_delete_sure_{pid}")
        if st.button(
            "Delete project", key=f"project_delete_{pid}", type="primary", disabled=not sure, icon=":material/delete:"
        ):
            project_store().delete(pid, user=user())
            close_project()
            st.toast("Project deleted")
            st.rerun()


def _sidebar_jobs() -> None:
    manager = job_manager()
    if not manager.active():
        st.caption("Nothing running")
        return

    @st.fragment(run_every=2)
    def live():
        with guard("sidebar progress"):  # a fragment rerun runs only this function: guard it too
            active = manager.active()
            if not active:
                st.rerun()  # the job ended: one full rerun shows its result and stops this polling
            snap = active[0]
            st.progress(min(1.0, snap.progress), text=f"{snap.name}: {snap.message or snap.state}")
            queued = len(active) - 1
            if queued:
                st.caption(f"{queued} more queued")

    live()
