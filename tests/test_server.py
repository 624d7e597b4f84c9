"""`textclf serve`: the real uvicorn server on 127.0.0.1, called over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from helpers.live_server import live
from helpers.small_data import multi_label_frame, small_frame

from textclf_core.cli import commands as cli
from textclf_core.config import RunConfig
from textclf_core.models.export import model_zip_bytes
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline import runner
from textclf_core.rest.server import create_app, curl_example, open_model, serve_command
from textclf_core.store.runs import RunStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return RunStore(tmp_path_factory.mktemp("serve") / "runs")


@pytest.fixture(scope="module")
def single(store):
    run = runner.execute(RunConfig(strategy="baseline"), small_frame(30), store=store)
    assert run.status()["state"] == "finished"
    return run


@pytest.fixture(scope="module")
def multi(store):
    run = runner.execute(RunConfig(strategy="baseline"), multi_label_frame(90), store=store)
    assert run.status()["state"] == "finished"
    return run


@pytest.fixture(scope="module")
def server_url(single):
    with live(create_app(open_model(single), max_texts=8, max_body_bytes=4000)) as url:
        yield url


TEXTS = ["a great wonderful film", "boring awful mess", "the plot", "loved it, superb and fun", "dull"]


def test_predict_round_trip_matches_the_predictor(server_url, single):
    reply = httpx.post(f"{server_url}/v1/predict", json={"texts": TEXTS})
    assert reply.status_code == 200, reply.text
    items = reply.json()["predictions"]
    own = load_predictor(single).predict(TEXTS)
    assert [i["label"] for i in items] == own["label"].tolist()
    np.testing.assert_allclose([i["confidence"] for i in items], own["confidence"], rtol=1e-9)
    for item, (_, row) in zip(items, own.iterrows()):
        assert list(item["probabilities"]) == ["neg", "pos"]
        np.testing.assert_allclose(
            [item["probabilities"]["neg"], item["probabilities"]["pos"]], [row["prob_neg"], row["prob_pos"]], rtol=1e-9
        )


def test_health_model_and_docs(server_url, single):
    assert httpx.get(f"{server_url}/v1/health").json()["status"] == "ok"
    model = httpx.get(f"{server_url}/v1/model").json()
    evaluation = single.read_json("eval.json")
    assert model["run"] == single.id and model["classes"] == ["neg", "pos"] and model["strategy"] == "baseline"
    assert model["test"]["accuracy"] == pytest.approx(evaluation["accuracy"]) and model["multi_label"] is False
    assert model["limits"]["texts_per_request"] == 8
    assert "/v1/predict" in httpx.get(f"{server_url}/openapi.json").json()["paths"]
    assert "swagger" in httpx.get(f"{server_url}/docs").text.lower()


@pytest.mark.parametrize(
    "body, status, words",
    [
        ('{"texts": ["good", }', 422, "not valid JSON"),
        ('["a", "b"]', 422, "JSON object"),
        ('{"text": ["a"]}', 422, 'no "texts"'),
        ('{"texts": []}', 422, "empty"),
        ('{"texts": "one text"}', 422, "valid list"),
        ('{"texts": ["fine", 3]}', 422, "texts[1]"),
        ('{"texts": ["fine", "   "]}', 422, "texts[1] is empty"),
        (json.dumps({"texts": ["t"] * 9}), 413, "the limit is 8"),
        (json.dumps({"texts": ["x" * 5000]}), 413, "larger than"),
    ],
)
def test_bad_requests_get_a_4xx_with_one_line(server_url, body, status, words):
    reply = httpx.post(f"{server_url}/v1/predict", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == status, reply.text
    detail = reply.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and words in detail
    assert httpx.post(f"{server_url}/v1/predict", json={"texts": ["still fine"]}).status_code == 200


def test_a_chunked_body_over_the_limit_is_refused_too(server_url):
    def chunks():  # no Content-Length: the size is only known while reading
        yield b'{"texts": ["'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"]}'

    reply = httpx.post(f"{server_url}/v1/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 413 and "larger than" in reply.json()["detail"]


def test_api_key_is_required_when_set(single):
    with live(create_app(open_model(single), api_key="s3cret-key")) as url:
        body = {"texts": ["great"]}
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": "s3cret-ke"}):
            reply = httpx.post(f"{url}/v1/predict", json=body, headers=headers)
            assert reply.status_code == 401 and "API key" in reply.json()["detail"]
        assert httpx.get(f"{url}/v1/model").status_code == 401
        assert httpx.post(f"{url}/v1/predict", json=body, headers={"X-API-Key": "s3cret-key"}).status_code == 200
        assert httpx.get(f"{url}/v1/health").status_code == 200  # for load balancers; says nothing of the model


def test_concurrent_clients_get_their_own_results(server_url, single):
    rng = np.random.default_rng(0)
    words = "great awful film boring superb dull plot loved mess fun".split()
    requests = [[" ".join(rng.choice(words, 1 + (i + j) % 5)) for j in range(1 + i % 4)] for i in range(64)]
    own = load_predictor(single)
    with httpx.Client() as client, ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda texts: client.post(f"{server_url}/v1/predict", json={"texts": texts}), requests))
    for texts, reply in zip(requests, replies):
        assert reply.status_code == 200, reply.text
        got = np.array([[p["probabilities"][c] for c in own.classes] for p in reply.json()["predictions"]])
        np.testing.assert_allclose(got, own.predict_proba(texts), rtol=1e-9)


class _Gated:
    """A predictor whose first call waits until 6 more requests queue up, so they must share the second call."""

    def __init__(self, predictor):
        self.inner, self.calls, self.batcher = predictor, [], None
        self.entered = threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict_proba(self, texts):
        self.entered.set()
        if not self.calls:
            deadline = time.monotonic() + 20
            while self.batcher.pending < 6 and time.monotonic() < deadline:
                time.sleep(0.01)
        self.calls.append(list(texts))
        return self.inner.predict_proba(texts)


def test_requests_that_wait_together_are_scored_in_one_call(single):
    gated = _Gated(load_predictor(single))
    app = create_app(gated, max_wait_ms=0)
    gated.batcher = app.state.batcher
    texts = [[f"great film {i}", "awful"] for i in range(7)]
    with live(app) as url, httpx.Client() as client, ThreadPoolExecutor(7) as pool:
        first = pool.submit(client.post, f"{url}/v1/predict", json={"texts": texts[0]})
        assert gated.entered.wait(20)  # the first request is in the model before the others are sent
        rest = [pool.submit(client.post, f"{url}/v1/predict", json={"texts": t}) for t in texts[1:]]
        replies = [first.result()] + [f.result() for f in rest]
        stats = client.get(f"{url}/v1/health").json()["batching"]
    assert len(gated.calls) == 2 and len(gated.calls[1]) == 12
    assert stats["requests"] == 7 and stats["batches"] == 2 and stats["largest_batch"] == 12
    for t, reply in zip(texts, replies):
        got = np.array([[p["probabilities"][c] for c in gated.classes] for p in reply.json()["predictions"]])
        np.testing.assert_allclose(got, gated.inner.predict_proba(t), rtol=1e-9)


def test_a_failing_model_is_one_line_and_the_server_lives_on(single):
    class Flaky:
        def __init__(self, inner):
            self.inner, self.fail = inner, True

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def predict_proba(self, texts):
            if self.fail:
                self.fail = False
                raise RuntimeError("boom")
            return self.inner.predict_proba(texts)

    with live(create_app(Flaky(load_predictor(single)))) as url:
        reply = httpx.post(f"{url}/v1/predict", json={"texts": ["great"]})
        assert reply.status_code == 500 and reply.json()["detail"].startswith("Internal error (RuntimeError)")
        assert httpx.post(f"{url}/v1/predict", json={"texts": ["great"]}).status_code == 200


def test_multi_label_gives_lists_with_the_tuned_thresholds(multi):
    own = load_predictor(multi)
    assert own.multi_label and own.thresholds is not None
    texts = ["goal match shares", "phone chip software", "bank profit", "the film"]
    with live(create_app(open_model(multi))) as url:
        reply = httpx.post(f"{url}/v1/predict", json={"texts": texts})
        model = httpx.get(f"{url}/v1/model").json()
    assert reply.status_code == 200, reply.text
    frame = own.predict(texts)
    for item, joined, row in zip(reply.json()["predictions"], frame["label"], own.predict_proba(texts)):
        assert item["label"] == [c for c in joined.split(";") if c]
        assert item["label"] == [c for c, p, t in zip(own.classes, row, own.thresholds) if p >= t]
    assert model["multi_label"] and model["thresholds"] == pytest.approx(own.thresholds)


def test_a_model_zip_and_a_run_zip_are_served_like_the_run(single, tmp_path, store):
    model_zip = tmp_path / "model.zip"
    model_zip.write_bytes(model_zip_bytes(single))
    run_zip = store.export_zip(single.id, tmp_path / "run.zip")
    expected = load_predictor(single).predict_proba(TEXTS)
    for path in (model_zip, run_zip):
        served = open_model(str(path))
        try:
            np.testing.assert_allclose(served.predictor.predict_proba(TEXTS), expected, rtol=1e-9)
        finally:
            served.close()
    assert open_model(str(run_zip)).describe()["test"]["accuracy"] is not None  # the run's scores come along
    bad = tmp_path / "notes.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(Exception, match="holds no textclf model"):
        open_model(str(bad))


def test_binding_beyond_this_machine_needs_a_key(single, capsys, monkeypatch):
    monkeypatch.delenv("TEXTCLF_API_KEY", raising=False)
    assert cli.main(["serve", str(single.path), "--host", "0.0.0.0", "--port", "8765"]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs an API key" in err and "\n" not in err


def test_serve_command_line_from_an_exported_zip(single, tmp_path, store):
    """The real `textclf serve` process, from a run zip, with the key from the environment."""
    run_zip = store.export_zip(single.id, tmp_path / "exported.zip")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TEXTCLF_API_KEY": "k-123", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "textclf_core.cli", "serve", str(run_zip), "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "textclf serve did not come up"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        assert httpx.post(f"{url}/v1/predict", json={"texts": TEXTS}).status_code == 401
        reply = httpx.post(f"{url}/v1/predict", json={"texts": TEXTS}, headers={"X-API-Key": "k-123"})
        assert [p["label"] for p in reply.json()["predictions"]] == load_predictor(single).predict(TEXTS)[
            "label"
        ].tolist()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"on http://127.0.0.1:{port}/v1/predict" in err


def test_transformer_batches_equal_one_text_at_a_time(tiny_bert, tmp_path):
    """Padded, length-sorted batches of a transformer give each text what it gets alone."""
    good = ["great movie loved it", "wonderful acting superb story", "excellent fun happy", "good fine"]
    bad = ["terrible film hated it", "awful boring plot", "bad acting poor dull", "rotten sad"]
    frame = pd.DataFrame({"text": good * 4 + bad * 4, "label": ["pos"] * 16 + ["neg"] * 16})
    config = RunConfig(
        strategy="full",
        model=str(tiny_bert),
        epochs=1,
        batch_size=8,
        max_length=16,
        precision="fp32",
        val_size=0.25,
        test_size=0.25,
    )
    run = runner.execute(config, frame, store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "finished", run.status()
    texts = ["great", "terrible film hated it and the awful boring plot", "fun", "poor dull acting"] * 4
    own = load_predictor(run)
    alone = np.vstack([own.predict_proba([t]) for t in texts])
    with live(create_app(open_model(run))) as url, httpx.Client() as client, ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda t: client.post(f"{url}/v1/predict", json={"texts": [t]}), texts))
    got = np.array([[r.json()["predictions"][0]["probabilities"][c] for c in own.classes] for r in replies])
    np.testing.assert_allclose(got, alone, atol=1e-5)


def test_command_and_curl_lines_for_the_predict_page():
    assert serve_command("run-1") == "textclf serve run-1"
    assert (
        serve_command("run-1", host="0.0.0.0", port=9000)
        == "TEXTCLF_API_KEY=<your key> textclf serve run-1 --host 0.0.0.0 --port 9000"
    )
    line = curl_example(["it's great"], port=9000, api_key=True)
    assert "http://127.0.0.1:9000/v1/predict" in line and "X-API-Key: $TEXTCLF_API_KEY" in line
    # The quoted body survives a POSIX shell unchanged.
    body = subprocess.run(
        ["sh", "-c", "printf '%s' " + line.rsplit("-d ", 1)[1]], capture_output=True, text=True
    ).stdout
    assert json.loads(body) == {"texts": ["it's great"]}


def test_reply_warns_when_texts_are_in_a_language_the_model_never_saw(store, server_url):
    from test_predict import chinese_frame

    english = httpx.post(f"{server_url}/v1/predict", json={"texts": TEXTS}).json()
    assert english["warnings"] == []  # the key is always there; old clients read "predictions" as before
    run = runner.execute(RunConfig(strategy="baseline"), chinese_frame(), store=store)
    with live(create_app(open_model(run))) as url:
        one = httpx.post(f"{url}/v1/predict", json={"texts": ["This phone is great."]}).json()
        assert len(one["predictions"]) == 1
        assert one["warnings"][0].startswith("This text looks like Latin script") and "Chinese" in one["warnings"][0]
        mixed = httpx.post(
            f"{url}/v1/predict", json={"texts": ["手机很好。", "Great phone.", "电池很差。", "服务不错。"]}
        )
        assert "25% of these texts (1 of 4)" in mixed.json()["warnings"][0]
        assert httpx.post(f"{url}/v1/predict", json={"texts": ["手机很好。"]}).json()["warnings"] == []
        assert httpx.get(f"{url}/v1/model").json()["languages"] == {"Chinese": 1.0}
