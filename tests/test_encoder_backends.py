"""Encoder backends (features.py): fp32 is the reference; bf16, ONNX Runtime fp32 and per-channel int8 agree
with it; the per-machine choice is measured once, cached on disk and re-used; the developer switch
TEXTCLF_ENCODER_BACKEND forces one; the CUDA path's precision and batch size (no GPU here: mocked)."""

import numpy as np
import pytest

from textclf_core import hardware
from textclf_core.engine import encoders as features
from textclf_core.errors import TextclfError

TEXTS = [
    "great movie, loved it",
    "terrible film, hated it",
    "the team won the match",
    "shares rose as the company reported strong profits",
    "a new phone",
    "这部电影很好看",
    "",
    "a much longer text about a film that goes on and on about the actors and the plot",
]


@pytest.fixture
def model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTCLF_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.delenv(features.BACKEND_ENV, raising=False)
    features.release_encoders()
    yield tmp_path / "models"
    features.release_encoders()


@pytest.mark.parametrize("backend", ["bf16", "onnx", "int8"])
def test_backend_agrees_with_fp32(tiny_bert, model_cache, tmp_path, backend):
    if backend == "bf16" and not hardware.detect("cpu").bf16:
        pytest.skip("this CPU has no native bf16")
    reference = features.embed(TEXTS, str(tiny_bert), backend="fp32", cache_dir=tmp_path / "a")
    other = features.embed(TEXTS, str(tiny_bert), backend=backend, cache_dir=tmp_path / "b")
    assert other.shape == reference.shape and other.dtype == np.float32
    keep = np.linalg.norm(reference, axis=1) > 0
    assert features.mean_cosine(reference[keep], other[keep]) >= features.COSINE_MIN
    if backend in ("onnx", "int8"):  # the ONNX copy is exported once into the model cache
        assert list((model_cache / "onnx-encoders").glob("*/encoder*.onnx"))


def test_forced_backend_env_var(tiny_bert, model_cache, tmp_path, monkeypatch):
    monkeypatch.setenv(features.BACKEND_ENV, "int8")
    assert features.resolve_backend(str(tiny_bert), backend="fp32") == "int8"  # the switch wins
    features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path)
    metas = [p.read_text() for p in tmp_path.glob("*/meta.json")]
    assert len(metas) == 1 and "onnx-int8" in metas[0]
    monkeypatch.setenv(features.BACKEND_ENV, "fast")
    with pytest.raises(TextclfError) as err:
        features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path)
    assert "TEXTCLF_ENCODER_BACKEND" in str(err.value) and "\n" not in str(err.value)


def test_choice_is_measured_once_and_reused(tiny_bert, model_cache, tmp_path, monkeypatch):
    calls = []
    real = features.calibrate_backend
    monkeypatch.setattr(features, "calibrate_backend", lambda *a, **k: calls.append(1) or real(*a, **k))
    many = [f"text number {i} about films" for i in range(features.CALIBRATE_MIN_TEXTS)]
    features.embed(many[:10], str(tiny_bert), cache_dir=tmp_path)
    assert calls == []  # a few texts never pay for the measurement
    features.embed(many, str(tiny_bert), cache_dir=tmp_path)
    assert len(calls) == 1
    record = features.backend_choice(str(tiny_bert), calibrate=False)
    assert record["choice"] in features.BACKENDS and record["measured"]["fp32"]["eligible"]
    assert list((model_cache / "encoder-backends").glob("*.json"))
    features.embed([t + " again" for t in many], str(tiny_bert), cache_dir=tmp_path)
    assert len(calls) == 1  # read from disk, not measured again
    monkeypatch.setattr(features, "machine_key", lambda hw: {"name": "another machine"})
    assert features.backend_choice(str(tiny_bert), calibrate=False) is None  # keyed by machine


class _Noisy:
    """A fast encoder that gets the vectors wrong: the measurement must not choose it."""

    def __init__(self, inner, noise):
        self.inner, self.noise, self.tokenizer = inner, noise, inner.tokenizer
        self.rng = np.random.default_rng(0)

    def __call__(self, inputs, pooling):
        out = self.inner(inputs, pooling)
        return out + self.noise * self.rng.standard_normal(out.shape).astype(np.float32) * np.abs(out).mean()


def test_fast_but_wrong_backend_is_not_chosen(tiny_bert, model_cache, monkeypatch):
    real = features.make_encoder

    def fake(model, fingerprint, device, backend):
        encoder = real(model, fingerprint, device, "fp32")
        return _Noisy(encoder, 3.0) if backend == "int8" else encoder

    monkeypatch.setattr(features, "make_encoder", fake)
    monkeypatch.setattr(features, "backend_candidates", lambda hw: ["fp32", "int8"])
    record = features.calibrate_backend(str(tiny_bert), repeats=1)
    assert record["measured"]["int8"]["cosine"] < features.COSINE_MIN
    assert not record["measured"]["int8"]["eligible"] and record["choice"] == "fp32"


def _fake_gpu(monkeypatch, bf16: bool):
    import torch

    gpu = hardware.Hardware("cuda", "Fake GPU", 16, bf16, 80.0)
    monkeypatch.setattr(hardware, "detect", lambda device="auto": gpu)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    return gpu


def test_cuda_path_picks_autocast_precision(tiny_bert, model_cache, monkeypatch):
    _fake_gpu(monkeypatch, bf16=True)
    assert features.resolve_backend(str(tiny_bert)) == "bf16"
    assert features.resolve_backend(str(tiny_bert), precision="fp16") == "fp16"
    monkeypatch.setenv(features.BACKEND_ENV, "fp32")
    assert features.resolve_backend(str(tiny_bert)) == "fp32"
    monkeypatch.delenv(features.BACKEND_ENV)
    _fake_gpu(monkeypatch, bf16=False)  # an older GPU: fp16 autocast, never an ONNX/int8 measurement
    assert features.resolve_backend(str(tiny_bert)) == "fp16"
    assert features.backend_candidates(hardware.detect()) == ["fp32"]


def test_cuda_batch_size_grows_with_memory():
    cpu = hardware.Hardware("cpu", "CPU", 2, True, None)
    assert features.encoder_batch_size(cpu, 64, 128, 384) == 64
    big = hardware.Hardware("cuda", "H100", 16, True, 80.0)
    small = hardware.Hardware("cuda", "T4", 8, False, 4.0)
    assert features.encoder_batch_size(big, 64, 128, 384) == 1024  # capped
    assert 64 <= features.encoder_batch_size(small, 64, 512, 768) < 1024
    assert features.encoder_batch_size(small, 64, 512, 768) > features.encoder_batch_size(small, 64, 512, 1024) >= 64


def test_torch_encoder_pins_memory_only_on_cuda(tiny_bert):
    encoder = features.TorchEncoder(str(tiny_bert), "cpu", "fp32")
    assert encoder.pin is False and encoder.amp is None


@pytest.mark.integration
def test_minilm_measured_choice_keeps_labels(model_cache):
    """The bundled MiniLM on this machine: whatever is chosen keeps fp32's labels and vectors."""
    from textclf_core.store import catalog as models

    record = features.calibrate_backend(models.BUNDLED_KEY, repeats=1)
    chosen = record["measured"][record["choice"]]
    assert record["labels_checked"]
    assert chosen["cosine"] >= features.COSINE_MIN and chosen["agreement"] >= features.AGREEMENT_MIN
    assert record["measured"]["int8"]["cosine"] >= 0.98  # per-channel int8 stays close (per-tensor: 0.957)


class _FakeTensor:
    """Records how a batch tensor is moved (no GPU here)."""

    def __init__(self, log):
        self.log = log

    def pin_memory(self):
        self.log.append("pin")
        return self

    def to(self, device, non_blocking=False):
        self.log.append(("to", device, non_blocking))
        return self


def test_batches_reach_a_cuda_gpu_through_pinned_memory():
    log = []
    moved = features.to_device({"input_ids": _FakeTensor(log)}, "cuda")
    assert log == ["pin", ("to", "cuda", True)] and set(moved) == {"input_ids"}
    log.clear()
    features.to_device({"input_ids": _FakeTensor(log)}, "mps")
    assert log == [("to", "mps", False)]
    cpu = {"input_ids": _FakeTensor(log)}
    assert features.to_device(cpu, "cpu") is cpu


@pytest.mark.parametrize("backend,windows", [("int8", 1), ("fp32", 3)])
def test_vectors_from_other_processes_are_cached_where_embed_looks(
    tiny_bert, model_cache, tmp_path, monkeypatch, backend, windows
):
    """After a launched run, the main process caches the vectors the other processes computed; a later run
    (launched or not) with the same backend and windows reads them instead of embedding again."""
    from textclf_core.engine import parallel

    monkeypatch.setenv(features.BACKEND_ENV, backend)
    settings = dict(max_length=16, windows=windows, cache_dir=tmp_path)
    vectors = features.embed(TEXTS, str(tiny_bert), use_cache=False, **settings)
    world = 2
    parallel._cache_others(TEXTS, vectors, str(tiny_bert), world, settings)
    computed = []
    real = features._get_encoder
    monkeypatch.setattr(features, "_get_encoder", lambda *a, **k: computed.append(a) or real(*a, **k))
    again = features.embed(TEXTS[1::world], str(tiny_bert), **settings)  # the other process's share only
    assert not computed, "the other process's vectors were not found in the cache"
    assert np.allclose(again, vectors[1::world], atol=1e-5)
