"""Helpers shared by the browser journeys (import with `from helpers.e2e import ...`): `running_app` (a real
`streamlit run app.py` on a free port) and page helpers (settled, shot, goto, no_exception)."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def settled(page) -> None:
    """Wait until the script run has finished and every chart on the page is drawn (no fixed sleeps)."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(state="attached")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')].every(p => p.querySelector('.main-svg'))"""
    )


def shot(page, name: str) -> None:
    """A full-page screenshot in test-artifacts/ (look at them: a test nobody looked at proves little)."""
    ARTIFACTS.mkdir(exist_ok=True)
    settled(page)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def goto(page, title: str, heading: str | None = None) -> None:
    """Open a page from the sidebar navigation and wait for its heading."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=heading or (title if title != "Compare" else "Compare runs")).first.wait_for()


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, "a traceback reached the page"


# --- the app server ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(home: Path, extra_env: dict | None = None):
    """Yield the URL of `streamlit run app.py` on a free localhost port; stop it afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = dict(
        os.environ,
        TEXTCLF_HOME=str(home),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        **(extra_env or {}),
    )
    log_path = home / f"server-{port}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            # the uploader's own limit follows textclf's, as `make run` sets it
            "--server.maxUploadSize",
            str(math.ceil(float(env.get("TEXTCLF_MAX_UPLOAD_MB") or 200))),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the app did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # our own process group only
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
