"""Shared fixtures of the browser journeys: a real `streamlit run app.py` and Debian's Chromium.

`app_server(extra_env=None, home=None)` starts another app server (own port, own TEXTCLF_HOME
unless one is given) and stops it at the end of the test module; `server` is the default one.
Helpers for pages (settled, shot, goto, no_exception) and `running_app` are in tests/helpers/e2e.py.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from helpers.e2e import running_app

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """Factory: `url = app_server(extra_env={...}, home=path)`; every server stops with the module."""
    with contextlib.ExitStack() as stack:

        def start(extra_env: dict | None = None, home: Path | None = None) -> str:
            return stack.enter_context(running_app(home or tmp_path_factory.mktemp("e2e-home"), extra_env))

        yield start


@pytest.fixture(scope="module")
def server(app_server):
    """The default app server of a test module, with its own TEXTCLF_HOME."""
    return app_server()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (run `make browser`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()
