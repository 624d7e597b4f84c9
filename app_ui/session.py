"""The browser session's project and dataset: open, switch, edit, the change log, the data report."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from textclf_core.errors import TextclfError

from .errors import guard
from .services import PAGES, project_store, run_store, warm_imports
from .signin import identity, user


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


# --- the session's project -------------------------------------------------------------------
def project():
    """The current project (textclf_core.store.projects.Project) or None."""
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
            ds.update(
                name=meta.get("name") or ds["name"],
                text_col=meta.get("text_col"),
                label_col=meta.get("label_col"),
                split_col=meta.get("split_col"),
            )
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
    ds = {
        "name": meta.get("name") or proj.id,
        "df": df,
        "text_col": meta.get("text_col"),
        "label_col": meta.get("label_col"),
        "split_col": meta.get("split_col"),
        "source": meta.get("source"),
        "sheet": meta.get("sheet"),
        "reasons": dict(meta.get("reasons") or {}),
        "project": proj.id,
        "filename": meta.get("filename"),
        "version": st.session_state.get("dataset_version", 0) + 1,
    }
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


def set_dataset(
    df: pd.DataFrame,
    name: str,
    *,
    source: str | None = None,
    text_col=None,
    label_col=None,
    split_col=None,
    sheet=None,
    raw: bytes | None = None,
    filename: str | None = None,
) -> dict:
    """Make ``df`` the dataset in use: a new project keeps the file (``raw``, else ``df`` as CSV),
    its columns (guessed where not given) and, from now on, every label edit."""
    if raw is None:
        raw = df.to_csv(index=False).encode("utf-8")
        filename = filename or f"{name}.csv"
    proj = project_store().create(
        raw,
        name=name,
        filename=filename or name,
        sheet=sheet,
        owner=user(),
        text_col=text_col,
        label_col=label_col,
        split_col=split_col,
        source_label=source,
        frame=df,
    )
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
    new = set_dataset(
        df,
        meta.get("name") or old.id,
        source=meta.get("source"),
        sheet=meta.get("sheet"),
        raw=raw,
        filename=meta.get("filename"),
    )
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


def log_version():
    log_ = change_log()
    return (len(log_), getattr(log_, "version", None))


def job_details() -> dict:
    """What a page passes to ``JobManager.submit`` so the run records its project and who started it."""
    ds = dataset() or {}
    return {
        "started_by": identity(),
        "run_meta": {"project": ds.get("project"), "dataset": ds.get("filename") or ds.get("name")},
    }


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
    key = (ds["version"], ds["text_col"], ds["label_col"], log_version(), max_length)
    cache = st.session_state.get("report_cache")
    if cache and cache[0] == key:
        return cache[1]
    rep = validate(working_frame(), ds["text_col"], ds["label_col"], max_length=max_length)
    st.session_state["report_cache"] = (key, rep)
    return rep


def model_fit(model: str | None = None):
    """Whether ``model`` (default: the bundled one) reads the working texts, and their lengths in its own tokens
    (``store.catalog.model_fit``), once per dataset, column, edit and model: loading a tokenizer and counting
    2,000 texts takes a second or two. Upload and Strategy share it."""
    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.store.catalog import model_fit as measure

    ds = dataset()
    if ds is None or not ds.get("text_col"):
        return None
    model = model or DEFAULT_MODEL
    key = (ds["version"], ds["text_col"], log_version(), str(model))
    cache = st.session_state.setdefault("model_fit_cache", {})
    if key not in cache:
        if len(cache) > 8:
            cache.clear()
        with st.spinner("Checking that the model reads your texts…"):
            warm_imports().join(timeout=120)  # transformers imported outside this interruptible run
            cache[key] = measure(working_frame()[ds["text_col"]], model)
    return cache[key]


def require_dataset(*, labels: bool = True) -> dict:
    """The dataset, or a note saying what to do first (and stop the page)."""
    ds = dataset()
    if ds is None:
        st.info(
            "No data loaded yet. Start on the **Upload** page: drop a file or use a sample dataset.",
            icon=":material/upload_file:",
        )
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


def distinct(labels: dict) -> dict:
    """Selectbox labels that name one option each: a label shared by several options gets the option's key.
    The browser sends a selectbox's choice back as its label, so two options shown alike (the same file
    uploaded twice, two runs submitted in the same second) would silently switch to the first of them."""
    seen: dict = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {key: f"{label} · {key}" if seen[label] > 1 else label for key, label in labels.items()}


def fmt(value: Any, kind: str = "pct") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if kind == "pct":
        return f"{float(value):.1%}"
    if kind == "f3":
        return f"{float(value):.3f}"
    return str(value)
