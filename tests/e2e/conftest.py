"""Shared fixtures of the browser journeys: a real `streamlit run app.py` and Debian's Chromium.

`app_server(extra_env=None, home=None)` starts another app server (own port, own TEXTCLF_HOME
unless one is given) and stops it at the end of the test module; `server` is the default one.
Helpers for pages (settled, shot, goto, no_exception) are in e2e_helpers.py.
"""

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
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(home: Path, extra_env: dict | None = None):
    """Yield the URL of `streamlit run app.py` on a free localhost port; stop it afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = dict(os.environ, TEXTCLF_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", **(extra_env or {}))
    log_path = home / f"server-{port}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1",
                             # the uploader's own limit follows textclf's, as `make run` sets it
                             "--server.maxUploadSize", str(math.ceil(float(env.get("TEXTCLF_MAX_UPLOAD_MB") or 200)))],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
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
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()
