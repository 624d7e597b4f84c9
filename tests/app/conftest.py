"""Shared AppTest setup for the page tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def app():
    """A fresh app whose server-wide services (job manager, run store) use this test's TEXTCLF_HOME."""
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    yield at
    from app_ui import job_manager

    job_manager().close()
    st.cache_resource.clear()
