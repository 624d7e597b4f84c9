"""No network: an unknown hub model fails fast with advice, and training from local or bundled
models never opens a connection, even with the offline switches off."""

from __future__ import annotations

import errno
import socket
import time

import pytest
from helpers.reliability import baseline_config, reviews, tiny_config
from helpers.small_data import small_frame

from textclf_core.errors import ModelLoadError
from textclf_core.labels import LabelSpace
from textclf_core.pipeline.runner import execute
from textclf_core.store import catalog as models
from textclf_core.store.runs import RunStore


@pytest.fixture()
def no_network(monkeypatch):
    """A machine without a network: every outside connection is refused (and recorded)."""
    attempts: list = []
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if host not in ("127.0.0.1", "::1", "localhost"):
                attempts.append(address)
                raise OSError(errno.ENETUNREACH, "Network is unreachable")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, a: connect(self, a) or 0)
    return attempts


def _online_mode(monkeypatch):
    """Turn the offline switches off, as on a machine where nobody set them."""
    import huggingface_hub.constants as hub_constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)


@pytest.mark.timeout(120)
def test_unknown_hub_model_offline_fails_fast_with_advice():
    space = LabelSpace.from_labels(["a", "b"])
    started = time.monotonic()
    with pytest.raises(ModelLoadError) as err:
        models.load_for_classification("acme-research/no-such-model-xyz", space)
    elapsed = time.monotonic() - started
    message = str(err.value)
    assert "offline" in message or "not downloaded" in message
    assert models.BUNDLED_KEY in message  # what to do instead
    assert "\n" not in message
    print(f"\nunknown hub model, offline switches on: ModelLoadError after {elapsed:.2f} s")


def test_training_from_local_and_bundled_models_opens_no_connection(monkeypatch, no_network, tiny_bert, tmp_path):
    _online_mode(monkeypatch)
    store = RunStore(tmp_path / "runs")
    assert execute(baseline_config(), small_frame(20), store=store).status()["state"] == "finished"
    run = execute(tiny_config(tiny_bert), reviews(2), store=store)
    assert run.status()["state"] == "finished", run.status()
    models.load_tokenizer(models.BUNDLED_KEY)  # the bundled model resolves to its installed folder
    models.load_config(models.BUNDLED_KEY)
    assert no_network == []
