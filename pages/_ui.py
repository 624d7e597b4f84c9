"""What every page shares: the server-wide services, the session's dataset, error guards, the sidebar.

Pages stay short views: they read and write ``st.session_state`` through these helpers and
call ``textclf_core``. The job manager and run store exist once per server
(``st.cache_resource``); a browser session only keeps ids.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pandas as pd
import streamlit as st

from textclf_core.errors import TextclfError

log = logging.getLogger("textclf.app")


def _leave_pages_folder_mode() -> None:
    """Until some session has called st.navigation, Streamlit treats the ``pages/`` folder as a v1
    multipage app: the first request after a server start to a deep link (``/label_review?project=…``)
    runs ``pages/label_review.py`` alone, without app.py: no project from the URL, no sign-in.
    Every page imports this module first, so here we switch that mode off and rerun through app.py.
    (Renaming ``pages/`` to ``app_pages/``, as DESIGN.md suggests, removes the need.)"""
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # a Streamlit without the flag
        return
    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_folder_mode()

PAGES = {
    "upload": "pages/upload.py",
    "label": "pages/label.py",
    "review": "pages/label_review.py",
    "strategy": "pages/strategy.py",
    "training": "pages/training.py",
    "evaluation": "pages/evaluation.py",
    "compare": "pages/compare.py",
    "predict": "pages/predict.py",
}
GENERIC_ERROR = "Something went wrong on this page. Your data and runs are safe; try again, or reload the page."


# --- services, once per server ---------------------------------------------------------
@st.cache_resource(show_spinner=False)
def run_store():
    """The run store; runs left 'running' by a server that died are marked interrupted on startup."""
    from textclf_core.runs import RunStore

    store = RunStore()
    try:
        store.mark_interrupted()
    except TextclfError as exc:  # an unwritable runs folder is reported when a run starts
        log.warning("Could not check earlier runs: %s", exc)
    return store


@st.cache_resource(show_spinner=False)
def project_store():
    from textclf_core.projects import ProjectStore

    return ProjectStore()


@st.cache_resource(show_spinner=False)
def job_manager():
    from textclf_core.jobs import JobManager

    return JobManager(run_store())


@st.cache_resource(show_spinner=False)
def hardware():
    from textclf_core.hardware import detect

    return detect()


# --- errors --------------------------------------------------------------------------------
@contextlib.contextmanager
def guard(what: str | None = None):
    """Show a TextclfError as its message and anything else as a generic message; never a traceback.

    Streamlit's own control flow (st.rerun, st.stop) derives from BaseException and passes through.
    """
    try:
        yield
    except TextclfError as exc:
        st.error(str(exc), icon=":material/error:")
    except Exception:  # noqa: BLE001 - a person must never see a traceback
        log.exception("textclf page error%s", f" in {what}" if what else "")
        st.error(GENERIC_ERROR, icon=":material/error:")


# --- the session's dataset -------------------------------------------------------------
def download_button(label: str, data, *, where=None, **kwargs):
    """``st.download_button`` (in ``where``, e.g. a column) that does not rerun the app when clicked.

    A rerun on click races the download itself, above all when ``data`` is a callable built on click
    (Streamlit's docs name the race; CI's browser test once got no file): no download here needs one.
    """
    kwargs.setdefault("on_click", "ignore")
    kwargs.setdefault("icon", ":material/download:")
    return (where or st).download_button(label, data, **kwargs)


def dataset() -> dict | None:
    """The dataset in use: {name, df, text_col, label_col, split_col, source, project}; None before Upload.

    It is the current project's table (see :func:`activate`), so a reload or restart finds it again.
    """
    return st.session_state.get("dataset")


# --- who is using the app ---------------------------------------------------------------------
def user() -> str | None:
    """The signed-in user when login is configured, else None (one user on localhost)."""
    from textclf_core import auth

    if auth.oidc_configured(_secrets_auth()):
        with contextlib.suppress(Exception):
            if st.user.is_logged_in:
                return str(st.user.get("email") or st.user.get("name") or "user")
        return None
    return st.session_state.get("signed_in")


def _secrets_auth():
    try:
        return dict(st.secrets.get("auth", {}))
    except Exception:  # noqa: BLE001 - no secrets file at all
        return {}


def identity() -> str:
    """Who did it: the signed-in user, else a browser identity kept in the URL (``?who=``) so it
    survives a reload. Written on jobs, runs and change-log lines."""
    signed = user()
    if signed:
        return signed
    who = st.session_state.get("who")
    if not who:
        import re
        import uuid

        wanted = str(st.query_params.get("who") or "")
        who = wanted if re.fullmatch(r"guest-[0-9a-f]{4,12}", wanted) else f"guest-{uuid.uuid4().hex[:6]}"
        st.session_state["who"] = who
    return who


def signed_in_or_open() -> bool:
    """True when no login is configured, or this session has signed in. A broken users file locks
    the app (fail closed) with its message on the sign-in page."""
    from textclf_core import auth

    try:
        if auth.oidc_configured(_secrets_auth()):
            return bool(st.user.is_logged_in)
        return auth.users_file() is None or bool(st.session_state.get("signed_in"))
    except TextclfError:
        return False


def login_gate() -> None:
    """With login configured, nobody reaches a page without signing in (users file or OIDC)."""
    from textclf_core import auth

    if auth.oidc_configured(_secrets_auth()):
        if not st.user.is_logged_in:
            st.title("textclf")
            st.button("Sign in", on_click=st.login, icon=":material/login:")
            st.stop()
        return
    try:
        users = auth.users_file()
    except TextclfError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    if users is None or st.session_state.get("signed_in"):
        return
    st.title("Sign in to textclf")
    with st.form("login"):
        name = st.text_input("User name", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", icon=":material/login:")
    if submitted:
        with guard("sign in"):
            if auth.check_password(name, password, users):
                st.session_state["signed_in"] = name.strip()
                st.rerun()
            st.error("Wrong user name or password.", icon=":material/lock:")
    st.stop()


# --- the session's project -------------------------------------------------------------------
def project():
    """The current project (textclf_core.projects.Project) or None."""
    pid = st.session_state.get("project_id")
    if not pid:
        return None
    try:
        return project_store().get(pid, user=user())
    except TextclfError:
        return None


def activate() -> None:
    """Once per script run: follow the URL's ``?project=`` (reload, restart, shared link), keep it
    in the URL after page changes, and read edits other sessions made since the last run."""
    params = st.query_params
    wanted = params.get("project")
    current = st.session_state.get("project_id")
    # The URL wins when this session did not write it (a reload or a shared link is a new session): a
    # project picked here must not be undone by a rerun that still carries the previous parameter.
    written = st.session_state.setdefault("project_params_written", set())
    if wanted and wanted != current and wanted not in written:
        try:
            open_project(wanted)
        except TextclfError as exc:
            st.session_state["project_problem"] = str(exc)
            del st.query_params["project"]
            if current:
                st.query_params["project"] = current
    elif current and wanted != current:
        st.query_params["project"] = current  # page navigation dropped it, or it lags behind a pick
    if not user() and params.get("who") != identity():
        st.query_params["who"] = identity()
    ds = dataset()
    if ds is not None and ds.get("project"):
        with guard("project"):
            proj = project_store().get(ds["project"], user=user())
            meta = proj.meta
            ds.update(name=meta.get("name") or ds["name"], text_col=meta.get("text_col"),
                      label_col=meta.get("label_col"), split_col=meta.get("split_col"))
            if ds["label_col"] and ds["label_col"] not in ds["df"].columns:
                # Another session gave the project a label column (Label page, texts only): read the table again,
                # or Upload's column picker would not offer it and would reset the choice.
                fresh = proj.frame()
                if ds["label_col"] in fresh.columns:
                    ds["df"] = fresh
                    ds["version"] = st.session_state["dataset_version"] = st.session_state.get("dataset_version", 0) + 1
            change_log().refresh()


def open_project(project_id: str) -> dict:
    """Make a project the one in use (its table, columns and change log)."""
    proj = project_store().get(project_id, user=user())
    meta = proj.meta
    df = proj.frame()
    ds = {"name": meta.get("name") or proj.id, "df": df, "text_col": meta.get("text_col"),
          "label_col": meta.get("label_col"), "split_col": meta.get("split_col"), "source": meta.get("source"),
          "sheet": meta.get("sheet"), "reasons": dict(meta.get("reasons") or {}), "project": proj.id,
          "filename": meta.get("filename"), "version": st.session_state.get("dataset_version", 0) + 1}
    st.session_state["dataset_version"] = ds["version"]
    st.session_state["dataset"] = ds
    st.session_state["project_id"] = proj.id
    st.session_state["changes"] = proj.change_log(by=identity())
    st.session_state.pop("report_cache", None)
    st.session_state.pop("lengths_cache", None)
    st.query_params["project"] = proj.id
    st.session_state.setdefault("project_params_written", set()).add(proj.id)
    return ds


def close_project() -> None:
    for key in ("dataset", "project_id", "changes", "report_cache", "lengths_cache"):
        st.session_state.pop(key, None)
    if "project" in st.query_params:
        del st.query_params["project"]


def set_dataset(df: pd.DataFrame, name: str, *, source: str | None = None, text_col=None, label_col=None,
                split_col=None, sheet=None, raw: bytes | None = None, filename: str | None = None) -> dict:
    """Make ``df`` the dataset in use: a new project keeps the file (``raw``, else ``df`` as CSV),
    its columns (guessed where not given) and, from now on, every label edit."""
    if raw is None:
        raw = df.to_csv(index=False).encode("utf-8")
        filename = filename or f"{name}.csv"
    proj = project_store().create(raw, name=name, filename=filename or name, sheet=sheet, owner=user(),
                                  text_col=text_col, label_col=label_col, split_col=split_col,
                                  source_label=source, frame=df)
    return open_project(proj.id)


def reread_with_header_row(header_row: int) -> dict:
    """Read the current project's original file again with another header row, as a new project;
    the old one is removed when nothing was done in it yet (no edits, no runs)."""
    from textclf_core.data import read_table

    ds = dataset()
    old = project_store().get(ds["project"], user=user())
    meta = old.meta
    raw = old.original_path.read_bytes()
    df = read_table(raw, filename=meta.get("filename"), sheet=meta.get("sheet"), header_row=int(header_row))
    new = set_dataset(df, meta.get("name") or old.id, source=meta.get("source"), sheet=meta.get("sheet"), raw=raw,
                      filename=meta.get("filename"))
    if not len(old.change_log()) and not run_store().list(project=old.id):
        project_store().delete(old.id, user=user())
    return new


def set_columns(text_col, label_col, split_col) -> None:
    """The column choice of the current project (saved with it)."""
    ds = dataset()
    ds.update(text_col=text_col, label_col=label_col, split_col=split_col)
    st.session_state.pop("report_cache", None)
    if ds.get("project"):
        project_store().get(ds["project"], user=user()).set_columns(text_col, label_col, split_col)


def change_log():
    from textclf_core.review import ChangeLog

    if "changes" not in st.session_state:
        st.session_state["changes"] = ChangeLog()
    return st.session_state["changes"]


def _log_version():
    log_ = change_log()
    return (len(log_), getattr(log_, "version", None))


def job_details() -> dict:
    """What a page passes to ``JobManager.submit`` so the run records its project and who started it."""
    ds = dataset() or {}
    return {"started_by": identity(),
            "run_meta": {"project": ds.get("project"), "dataset": ds.get("filename") or ds.get("name")}}


def working_frame() -> pd.DataFrame | None:
    """The dataset with the review edits applied (dropped rows removed); what training uses."""
    ds = dataset()
    if ds is None:
        return None
    log_ = change_log()
    if not len(log_) or not ds.get("label_col"):
        return ds["df"]
    return log_.apply(ds["df"], label_col=ds["label_col"])


def report(max_length: int = 128):
    """The DataReport of the working data, computed once per dataset, column choice and edit."""
    from textclf_core.data import validate

    ds = dataset()
    if ds is None or not ds.get("text_col"):
        return None
    key = (ds["version"], ds["text_col"], ds["label_col"], _log_version(), max_length)
    cache = st.session_state.get("report_cache")
    if cache and cache[0] == key:
        return cache[1]
    rep = validate(working_frame(), ds["text_col"], ds["label_col"], max_length=max_length)
    st.session_state["report_cache"] = (key, rep)
    return rep


def require_dataset(*, labels: bool = True) -> dict:
    """The dataset, or a note saying what to do first (and stop the page)."""
    ds = dataset()
    if ds is None:
        st.info("No data loaded yet. Start on the **Upload** page: drop a file or use a sample dataset.",
                icon=":material/upload_file:")
        st.page_link(PAGES["upload"], label="Go to Upload", icon=":material/upload_file:")
        st.stop()
    if not ds.get("text_col") or (labels and not ds.get("label_col")):
        st.warning("Choose the text and label columns on the Upload page first.", icon=":material/table:")
        st.page_link(PAGES["upload"], label="Go to Upload", icon=":material/upload_file:")
        st.stop()
    return ds


def remember_job(job_id: str) -> None:
    jobs = st.session_state.setdefault("my_jobs", [])
    jobs.append(job_id)


def my_jobs() -> list[str]:
    return list(st.session_state.get("my_jobs", []))


def fmt(value: Any, kind: str = "pct") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if kind == "pct":
        return f"{float(value):.1%}"
    if kind == "f3":
        return f"{float(value):.3f}"
    return str(value)


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
        names = {s.id: project_label(s) for s in ok}
        options = ([None] if current not in ids else []) + ids
        picked = st.selectbox("Project", options, index=options.index(current) if current in options else 0,
                              format_func=lambda i: "(choose a project)" if i is None else names[i],
                              key=f"project_pick_{current}", label_visibility="collapsed")
        if picked and picked != current:
            open_project(picked)
            st.rerun()
        ds = dataset()
        if ds is not None:
            df = working_frame() if ds.get("label_col") else ds["df"]
            st.caption(f"{ds['name']} · {len(df):,} rows  \ntext: `{ds.get('text_col')}` · "
                       f"label: `{ds.get('label_col')}`")
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
        if st.button("Delete project", key=f"project_delete_{pid}", type="primary", disabled=not sure,
                     icon=":material/delete:"):
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


# --- runs ----------------------------------------------------------------------------------
def run_scope(key: str) -> str | None:
    """A toggle "All projects": returns the project whose runs to show (None: every run)."""
    ds = dataset()
    if not ds or not ds.get("project"):
        return None
    everything = st.toggle("Show runs of all projects", key=f"all_projects_{key}",
                           help=f"Off: only the runs of project {ds['name']}")
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
    return (f"These runs were not trained on the same data ({how}: {', '.join(datasets)}); "
            "their scores are not directly comparable.")


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
    table = pd.DataFrame([{"run": s.name, "state": s.state, "macro-F1": s.macro_f1, "dataset": s.dataset or "",
                           "started by": s.started_by or "", "cancelled by": s.cancelled_by or "",
                           "notes": s.notes, "created": s.created, "id": s.id} for s in summaries])
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
    st.info("No finished runs yet. Load data, choose a strategy and train one; the baseline takes seconds.",
            icon=":material/info:")
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


def word_counts():
    """Words per text of the working data, computed once per dataset, column and edit (big files stay quick)."""
    from textclf_core.figures import word_counts as count

    ds = dataset()
    if ds is None or not ds.get("text_col"):
        return None
    key = (ds["version"], ds["text_col"], _log_version())
    cache = st.session_state.get("lengths_cache")
    if cache and cache[0] == key:
        return cache[1]
    lengths = count(working_frame()[ds["text_col"]])
    st.session_state["lengths_cache"] = (key, lengths)
    return lengths


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
                st.progress(0.0, text=f"Waiting for the {snap.device.upper() if snap.device == 'cpu' else 'device'} "
                                      f"(position {snap.queue_position} in the queue)…")
            else:
                st.progress(min(1.0, snap.progress), text=snap.message or working)
            if st.button(f"Cancel {what}", icon=":material/cancel:", disabled=snap.cancel_requested,
                         key=f"cancel_{job_id}"):
                manager.cancel(job_id, by=identity())
                st.rerun(scope="fragment")

    live()
