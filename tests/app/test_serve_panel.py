"""Predict page, "Call it from another program": the command and curl line shown work as shown."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess

import pytest
from helpers.live_server import live  # the real uvicorn server in a thread
from helpers.small_data import small_frame

from textclf_core.config import RunConfig
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore


def _codes(app) -> list[str]:
    return [c.value for c in app.code]


def test_the_curl_line_on_the_page_calls_the_real_server(app):
    run = execute(RunConfig(strategy="baseline"), small_frame(30), store=RunStore())
    assert run.status()["state"] == "finished"
    app.switch_page("app_pages/predict.py").run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert "Call it from another program" in [h.value for h in app.subheader]
    command = next(c for c in _codes(app) if c.startswith("textclf serve"))
    assert shlex.split(command) == ["textclf", "serve", str(run.path)]

    from textclf_core.rest.server import create_app, open_model

    with live(create_app(open_model(shlex.split(command)[2]))) as url:
        port = int(url.rsplit(":", 1)[1])
        app.number_input(key="serve_port").set_value(port).run()
        app.text_area(key="predict_text").set_value("a wonderful, superb film").run()
        assert not app.exception
        curl = next(c for c in _codes(app) if c.startswith("curl"))
        assert f"127.0.0.1:{port}/v1/predict" in curl and "a wonderful, superb film" in curl
        if shutil.which("curl") is None:
            pytest.skip("curl is not installed")
        reply = subprocess.run(["sh", "-c", curl], capture_output=True, text=True, timeout=60)
    [item] = json.loads(reply.stdout)["predictions"]
    assert item["label"] == load_predictor(run).predict(["a wonderful, superb film"])["label"][0] == "pos"


def test_reachable_from_other_machines_shows_the_key(app):
    run = execute(RunConfig(strategy="baseline"), small_frame(20), store=RunStore())
    app.switch_page("app_pages/predict.py").run()
    app.toggle(key="serve_public").set_value(True).run()
    assert not app.exception
    codes = _codes(app)
    assert any(c.startswith("TEXTCLF_API_KEY=<your key> textclf serve") and "--host 0.0.0.0" in c for c in codes)
    assert any(c.startswith("curl") and "X-API-Key: $TEXTCLF_API_KEY" in c for c in codes)
    assert str(run.path) in " ".join(codes)
