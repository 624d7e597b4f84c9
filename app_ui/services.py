"""The server-wide services (run store, project store, job manager, hardware), created once per server, and the page map."""

from __future__ import annotations

import logging
import threading

import streamlit as st

from textclf_core.errors import TextclfError

log = logging.getLogger("textclf.app")


PAGES = {
    "upload": "app_pages/upload.py",
    "label": "app_pages/label.py",
    "review": "app_pages/label_review.py",
    "team": "app_pages/team.py",
    "strategy": "app_pages/strategy.py",
    "training": "app_pages/training.py",
    "evaluation": "app_pages/evaluation.py",
    "compare": "app_pages/compare.py",
    "predict": "app_pages/predict.py",
}
GENERIC_ERROR = "Something went wrong on this page. Your data and runs are safe; try again, or reload the page."


# --- services, once per server ---------------------------------------------------------
@st.cache_resource(show_spinner=False)
def run_store():
    """The run store; runs left 'running' by a server that died are marked interrupted on startup."""
    from textclf_core.store.runs import RunStore

    store = RunStore()
    try:
        store.mark_interrupted()
    except TextclfError as exc:  # an unwritable runs folder is reported when a run starts
        log.warning("Could not check earlier runs: %s", exc)
    return store


@st.cache_resource(show_spinner=False)
def project_store():
    from textclf_core.store.projects import ProjectStore

    return ProjectStore()


def _import_heavy() -> None:
    """Import torch and transformers' auto classes once, in a thread Streamlit never interrupts. A page's
    script run is stopped by an exception raised wherever it is (the person clicked elsewhere): when that lands
    inside transformers' lazy import, the module is left half-initialised and every later
    ``from transformers import AutoTokenizer`` in this process fails (seen: the Strategy page after Upload)."""
    try:
        import torch  # noqa: F401
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer  # noqa: F401
    except Exception:  # noqa: BLE001 - the pages that need them report their own error
        log.exception("warming up torch/transformers failed")


@st.cache_resource(show_spinner=False)
def warm_imports() -> threading.Thread:
    """Start the heavy imports in the background once per server; pages that need them wait on Python's
    import lock instead of importing them inside an interruptible script run."""
    thread = threading.Thread(target=_import_heavy, name="textclf-warm-imports", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def job_manager():
    from textclf_core.pipeline.jobs import JobManager

    return JobManager(run_store())


@st.cache_resource(show_spinner=False)
def hardware():
    from textclf_core.hardware import detect

    return detect()
