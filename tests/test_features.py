"""Embeddings: shape, pooling, disk cache reuse (also for partly overlapping text sets), cancel."""

import numpy as np
import pytest

from textclf_core import hardware
from textclf_core.engine import encoders as features
from textclf_core.errors import CancelledError

TEXTS = [
    "great movie loved it",
    "terrible film hated it",
    "the team won the match",
    "shares rose as the company reported strong profits",
    "a new phone",
    "",
]


def test_embed_shape_and_dtype(tiny_bert):
    vectors = features.embed(TEXTS, str(tiny_bert), batch_size=4)
    assert vectors.shape == (len(TEXTS), 32)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()


def test_embedding_does_not_depend_on_batch_companions(tiny_bert, tmp_path):
    """Dynamic padding and sorting must not change a text's vector."""
    alone = features.embed(TEXTS[:1], str(tiny_bert), cache_dir=tmp_path / "a", precision="fp32")
    together = features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path / "b", batch_size=8, precision="fp32")
    np.testing.assert_allclose(alone[0], together[0], atol=1e-5)


def test_cls_pooling_differs_from_mean(tiny_bert):
    mean = features.embed(TEXTS, str(tiny_bert), pooling="mean")
    cls = features.embed(TEXTS, str(tiny_bert), pooling="cls")
    assert not np.allclose(mean, cls)


def test_cache_reuses_vectors_and_computes_only_new_texts(tiny_bert, tmp_path, monkeypatch):
    first = features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path)
    seen = []
    real_tokenize = features.tokenize
    monkeypatch.setattr(features, "tokenize", lambda tok, texts, n: seen.extend(texts) or real_tokenize(tok, texts, n))
    again = features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path)
    assert seen == []  # everything came from the cache
    np.testing.assert_array_equal(first, again)
    mixed = features.embed(TEXTS[:3] + ["a brand new sentence"], str(tiny_bert), cache_dir=tmp_path)
    assert seen == ["a brand new sentence"]
    np.testing.assert_array_equal(mixed[:3], first[:3])


def test_cache_key_includes_max_length_and_pooling(tiny_bert, tmp_path):
    features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path, max_length=16)
    features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path, max_length=32)
    features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path, pooling="cls")
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 3


def test_many_shards_are_merged(tiny_bert, tmp_path):
    for i in range(12):
        features.embed([f"text number {i}"], str(tiny_bert), cache_dir=tmp_path)
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(list(folder.glob("shard-*.npz"))) <= 8
    out = features.embed([f"text number {i}" for i in range(12)], str(tiny_bert), cache_dir=tmp_path)
    assert out.shape == (12, 32)


def test_cancel_keeps_computed_vectors(tiny_bert, tmp_path):
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 1  # let one batch through

    with pytest.raises(CancelledError):
        features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path, batch_size=2, should_stop=stop)
    cache_files = list(tmp_path.rglob("shard-*.npz"))
    assert cache_files


def test_progress_events(tiny_bert, tmp_path):
    events = []
    features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path, emit=events.append)
    assert events and events[-1]["done"] == len(TEXTS) and events[-1]["stage"] == "embedding"


def test_hardware_detect_and_threads():
    hw = hardware.detect()
    assert hw.device in ("cpu", "cuda", "mps") and hw.cpu_cores >= 1
    assert hw.describe()
    import torch

    before = torch.get_num_threads()
    try:
        assert hardware.configure_threads() == max(1, hw.cpu_cores - 1)
        assert hardware.configure_threads(1) == 1
    finally:
        torch.set_num_threads(before)
    assert hardware.autocast_dtype("cpu", "fp32") is None


def test_token_budget_batches_cover_every_text_once_and_fill_short_ones():
    from textclf_core.engine.encoders import sorted_batches

    lengths = [120] * 70 + [10] * 300 + [40] * 50
    batches = sorted_batches(lengths, 32, max_tokens=32 * 64)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) == 32 or len(batch) * longest <= 32 * 64 or batch is batches[-1]
        assert len(batch) <= 4 * 32
    assert max(len(b) for b in batches) == 128  # the 10-token texts: 4x the batch size
    assert len(batches[0]) == 32 and all(lengths[i] == 120 for i in batches[0])  # longest first
