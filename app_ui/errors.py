"""The page error guard: a TextclfError shows its one line; anything else a generic message and the log."""

from __future__ import annotations

import contextlib
import logging

import streamlit as st

from textclf_core.errors import TextclfError

from .services import GENERIC_ERROR

log = logging.getLogger("textclf.app")


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
