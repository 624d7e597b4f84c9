"""Smaller, faster copies of a fine-tuned transformer run for serving on CPU.

- ``int8``: dynamic int8 quantization of every Linear layer (``torch.ao.quantization.quantize_dynamic``).
  Saved without pickle: the int8 weights and their scales in ``int8.safetensors``, the rest in
  float32; loading rebuilds the model and quantizes it again, which gives back the same int8 values.
- ``onnx``: ``model.onnx`` (TorchScript exporter, dynamic batch and sequence axes) run by
  ONNX Runtime, which needs no PyTorch at serving time.

Each export is a folder with the tokenizer and a ``textclf.json`` (kind ``transformer-int8`` or
``onnx``), so :func:`textclf_core.predict.load_predictor` and ``textclf predict FOLDER`` use it
like any run. Only transformer runs (full, partial, LoRA fine-tuning) can be exported this way;
baseline and feature-extraction runs are already small (zip them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ModelLoadError, TextclfError
from .labels import LabelSpace

FORMATS = ("zip", "onnx", "int8")
ONNX_OPSET = 17


def _transformer_dir(run_or_dir) -> tuple[Path, dict]:
    from .predict import _model_dir

    model_dir, _ = _model_dir(run_or_dir)
    info_path = model_dir / "textclf.json"
    if not info_path.is_file():
        raise ModelLoadError(f"{model_dir} holds no saved model", hint="Train the run again or pick another run")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    if info.get("kind") != "transformer":
        what = {"baseline": "a TF-IDF baseline", "features": "a feature-extraction model"}.get(info.get("kind"),
                                                                                             info.get("kind"))
        raise TextclfError(f"Only fine-tuned transformer runs can be exported as ONNX or int8; this run holds {what}",
                           hint="Export it as a zip instead (--format zip); it is already small")
    return model_dir, info


def _load_float_model(model_dir: Path):
    from transformers import AutoModelForSequenceClassification

    from . import models

    with models.quiet_transformers():
        # Eager attention: the plain matrix products export to ONNX and quantize everywhere.
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, use_safetensors=True,
                                                                   attn_implementation="eager")
    return model.eval().float()


def _copy_tokenizer(model_dir: Path, out: Path) -> None:
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(model_dir, use_fast=True).save_pretrained(out)


def _write_info(out: Path, info: dict, kind: str, **extra) -> None:
    meta = {**info, "kind": kind, "exported_from": info.get("kind"), **extra}
    (out / "textclf.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _fresh_folder(out) -> Path:
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()):
        if not (out / "textclf.json").is_file():
            raise TextclfError(f"{out} exists and is not an earlier export", hint="Choose an empty or new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


# --- int8 -----------------------------------------------------------------------------------

def export_int8(run_or_dir, out) -> Path:
    """Write a dynamically int8-quantized copy of a transformer run into folder ``out``."""
    import torch
    from safetensors.torch import save_file

    model_dir, info = _transformer_dir(run_or_dir)
    model = _load_float_model(model_dir)
    out = _fresh_folder(out)
    linear = {name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    tensors: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        module, _, leaf = key.rpartition(".")
        if module in linear and leaf == "weight":
            # Symmetric per-tensor int8, what quantize_dynamic's default weight observer picks.
            scale = value.abs().max().clamp(min=1e-12) / 127.0
            tensors[f"{key}.int8"] = torch.clamp(torch.round(value / scale), -127, 127).to(torch.int8).contiguous()
            tensors[f"{key}.scale"] = scale.reshape(1).float()
        else:
            tensors[key] = value.detach().float().contiguous().clone()
    save_file(tensors, str(out / "int8.safetensors"))
    model.config.save_pretrained(out)
    _copy_tokenizer(model_dir, out)
    _write_info(out, info, "transformer-int8", quantization="dynamic int8 (Linear layers)")
    return out


def quantize(model):
    """Dynamic int8 Linear layers (weights int8, activations quantized per batch) for CPU."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao; it still works
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class Int8Predictor:
    """Predicts with an int8 export on CPU (kind ``transformer-int8``)."""

    def __init__(self, model_dir: str | Path):
        import torch
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        self.model_dir = Path(model_dir)
        self.info = json.loads((self.model_dir / "textclf.json").read_text(encoding="utf-8"))
        self.label_space = LabelSpace.from_dict(self.info["label_space"])
        self.max_length = int(self.info.get("max_length") or 128)
        try:
            config = AutoConfig.from_pretrained(self.model_dir)
            config._attn_implementation = "eager"
            model = AutoModelForSequenceClassification.from_config(config)
            stored = load_file(str(self.model_dir / "int8.safetensors"))
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, use_fast=True)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"The int8 model in {self.model_dir} could not be loaded "
                                 f"({str(exc).splitlines()[0][:200]})", hint="Export the run again") from None
        state = {}
        for key, value in stored.items():
            if key.endswith(".int8"):
                base = key[: -len(".int8")]
                state[base] = value.float() * stored[f"{base}.scale"]
            elif not key.endswith(".scale"):
                state[key] = value
        model.load_state_dict(state, strict=False)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = quantize(model.eval())

    @property
    def classes(self) -> list[str]:
        return list(self.label_space.classes)

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        import torch

        from .features import pad_batch, sorted_batches, tokenize

        ids = tokenize(self.tokenizer, texts, self.max_length)
        out = np.zeros((len(ids), len(self.classes)), dtype=np.float32)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for batch in sorted_batches([len(s) for s in ids], batch_size):
            inputs = pad_batch([ids[j] for j in batch], self.tokenizer.pad_token_id, left)
            with torch.inference_mode():
                out[batch] = self.model(**inputs).logits.float().numpy()
        return out

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        from .losses import probabilities

        if len(texts) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return probabilities(self.logits(list(texts), batch_size), self.label_space.multi_label)


# --- ONNX -----------------------------------------------------------------------------------

def export_onnx(run_or_dir, out) -> Path:
    """Write ``model.onnx`` (+ tokenizer, textclf.json) for ONNX Runtime into folder ``out``."""
    import torch

    model_dir, info = _transformer_dir(run_or_dir)
    model = _load_float_model(model_dir)
    model.config.return_dict = False
    out = _fresh_folder(out)
    example = {"input_ids": torch.ones((2, 8), dtype=torch.long),
               "attention_mask": torch.ones((2, 8), dtype=torch.long)}

    class _Logits(torch.nn.Module):  # a plain (ids, mask) → logits signature for the exporter
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    try:
        with torch.no_grad():
            torch.onnx.export(_Logits(model), (example["input_ids"], example["attention_mask"]),
                              str(out / "model.onnx"), input_names=["input_ids", "attention_mask"],
                              output_names=["logits"], opset_version=ONNX_OPSET, dynamo=False,
                              dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                            "attention_mask": {0: "batch", 1: "sequence"},
                                            "logits": {0: "batch"}})
    except Exception as exc:  # noqa: BLE001 - some architectures do not export; say so plainly
        shutil.rmtree(out, ignore_errors=True)
        raise TextclfError(f"This model could not be exported to ONNX ({str(exc).splitlines()[0][:200]})",
                           hint="Use --format int8 or zip instead") from None
    _copy_tokenizer(model_dir, out)
    _write_info(out, info, "onnx", onnx_opset=ONNX_OPSET)
    return out


class OnnxPredictor:
    """Predicts with an ONNX export through ONNX Runtime on CPU (kind ``onnx``)."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelLoadError("ONNX Runtime is not installed", hint="pip install onnxruntime") from None
        from transformers import AutoTokenizer

        self.model_dir = Path(model_dir)
        self.info = json.loads((self.model_dir / "textclf.json").read_text(encoding="utf-8"))
        self.label_space = LabelSpace.from_dict(self.info["label_space"])
        self.max_length = int(self.info.get("max_length") or 128)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(self.model_dir / "model.onnx"), options,
                                                providers=["CPUExecutionProvider"])
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, use_fast=True)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"The ONNX model in {self.model_dir} could not be loaded "
                                 f"({str(exc).splitlines()[0][:200]})", hint="Export the run again") from None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @property
    def classes(self) -> list[str]:
        return list(self.label_space.classes)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        from scipy.special import expit, softmax

        from .features import pad_batch, sorted_batches, tokenize

        if len(texts) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        ids = tokenize(self.tokenizer, list(texts), self.max_length)
        out = np.zeros((len(ids), len(self.classes)), dtype=np.float32)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for batch in sorted_batches([len(s) for s in ids], batch_size):
            inputs = {k: v.numpy() for k, v in pad_batch([ids[j] for j in batch], self.tokenizer.pad_token_id,
                                                          left).items()}
            out[batch] = self.session.run(["logits"], inputs)[0]
        return (expit(out) if self.label_space.multi_label else softmax(out, axis=1)).astype(np.float32)


def load_served(model_dir: str | Path):
    """The predictor of an export folder (kind ``onnx`` or ``transformer-int8``)."""
    kind = json.loads((Path(model_dir) / "textclf.json").read_text(encoding="utf-8")).get("kind")
    if kind == "onnx":
        return OnnxPredictor(model_dir)
    if kind == "transformer-int8":
        return Int8Predictor(model_dir)
    raise ModelLoadError(f"{model_dir} is not an ONNX or int8 export")


# --- one entry point ------------------------------------------------------------------------

def export(run, fmt: str, out) -> Path:
    """Export ``run`` as ``zip`` (the whole run, for `textclf import`), ``onnx`` or ``int8`` (folders)."""
    if fmt not in FORMATS:
        raise TextclfError(f"Unknown export format '{fmt}'", hint=f"Choose one of: {', '.join(FORMATS)}")
    if fmt == "zip":
        from .runs import RunStore

        return RunStore().export_zip(run if isinstance(run, str) else run.id, out)
    return export_onnx(run, out) if fmt == "onnx" else export_int8(run, out)


def folder_size_mb(path) -> float:
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6
