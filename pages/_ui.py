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
    """The dataset in use: {name, df, text_col, label_col, split_col, source}; None before Upload."""
    return st.session_state.get("dataset")


def set_dataset(df: pd.DataFrame, name: str, *, source: str | None = None, text_col=None, label_col=None,
                split_col=None, sheet=None) -> dict:
    """Make ``df`` the dataset in use: guess columns where not given, start a fresh change log."""
    from textclf_core.data import guess_columns
    from textclf_core.review import ChangeLog

    if text_col is None and label_col is None:
        guess = guess_columns(df)
        text_col, label_col, split_col = guess.text_col, guess.label_col, guess.split_col
        reasons = dict(guess.reasons or {})
    else:
        reasons = {}
    ds = {"name": name, "df": df, "text_col": text_col, "label_col": label_col, "split_col": split_col,
          "source": source, "sheet": sheet, "reasons": reasons,
          "version": st.session_state.get("dataset_version", 0) + 1}
    st.session_state["dataset_version"] = ds["version"]
    st.session_state["dataset"] = ds
    st.session_state["changes"] = ChangeLog()
    st.session_state.pop("report_cache", None)
    return ds


def change_log():
    from textclf_core.review import ChangeLog

    if "changes" not in st.session_state:
        st.session_state["changes"] = ChangeLog()
    return st.session_state["changes"]


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
    key = (ds["version"], ds["text_col"], ds["label_col"], len(change_log()), max_length)
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
    """Dataset in use, hardware, and the running job (polled only while one is active)."""
    with st.sidebar:
        ds = dataset()
        st.markdown("**Dataset**")
        if ds is None:
            st.caption("None loaded yet")
        else:
            df = working_frame() if ds.get("label_col") else ds["df"]
            st.caption(f"{ds['name']} · {len(df):,} rows  \ntext: `{ds.get('text_col')}` · "
                       f"label: `{ds.get('label_col')}`")
        st.markdown("**Hardware**")
        with guard("hardware"):
            st.caption(hardware().describe())
        st.markdown("**Training**")
        with guard("sidebar jobs"):
            _sidebar_jobs()


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
def finished_runs(*, with_model: bool = False) -> list:
    """Summaries of runs with results (finished, or cancelled with a kept model), newest first."""
    store = run_store()
    out = []
    for summary in store.list():
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
    index = ids.index(wanted) if wanted in ids else 0
    run_id = st.selectbox(label, ids, index=index, format_func=names.get, key=key)
    st.session_state[session_key] = run_id
    return run_store().get(run_id)


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
    if not fp:
        return None
    store = run_store()
    for summary in finished_runs():
        if summary.strategy == "baseline" and summary.id != run.id:
            other = store.get(summary.id)
            if (other.read_json("data.json", default={}) or {}).get("fingerprint") == fp:
                return other
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
    key = (ds["version"], ds["text_col"], len(change_log()))
    cache = st.session_state.get("lengths_cache")
    if cache and cache[0] == key:
        return cache[1]
    lengths = count(working_frame()[ds["text_col"]])
    st.session_state["lengths_cache"] = (key, lengths)
    return lengths
