"""Smaller, faster copies of a fine-tuned transformer run for serving on CPU.

- ``int8``: dynamic int8 quantization of every Linear layer (``torch.ao.quantization.quantize_dynamic``).
  Saved without pickle: the int8 weights and their scales in ``int8.safetensors``, the rest in
  float32; loading rebuilds the model and quantizes it again, which gives back the same int8 values.
- ``onnx``: ``model.onnx`` (TorchScript exporter, dynamic batch and sequence axes) run by
  ONNX Runtime, which needs no PyTorch at serving time.

Each export is a folder with the tokenizer and a ``textclf.json`` (kind ``transformer-int8`` or
``onnx``), so :func:`textclf_core.models.predict.load_predictor` and ``textclf predict FOLDER`` use it
like any run. Only transformer runs (full, partial, LoRA fine-tuning) can be exported this way;
baseline and feature-extraction runs are already small (zip them).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from textclf_core.errors import ModelLoadError, TextclfError
from textclf_core.store import model_folder
from textclf_core.store.model_folder import PredictorBase
from textclf_core.store.runs import resolve_model

FORMATS = ("zip", "onnx", "int8")
ONNX_OPSET = 17


def _transformer_dir(run_or_dir) -> tuple[Path, dict]:
    model_dir, _ = resolve_model(run_or_dir)
    if not model_folder.has_info(model_dir):
        raise ModelLoadError(f"{model_dir} holds no saved model", hint="Train the run again or pick another run")
    info = model_folder.read_info(model_dir).to_dict()
    if info.get("kind") == "ensemble":  # auto: the best fine-tuned transformer member stands in (ensemble.py)
        from .ensemble import hf_member_dir

        member = hf_member_dir(model_dir)
        if member is None:
            raise TextclfError(
                "This auto run's ensemble has no fine-tuned transformer member to export as ONNX or int8",
                hint="Export it as a zip instead (--format zip)",
            )
        model_dir, info = member, model_folder.read_info(member).to_dict()
    if info.get("kind") != "transformer":
        what = {"baseline": "a TF-IDF baseline", "features": "a feature-extraction model"}.get(
            info.get("kind"), info.get("kind")
        )
        raise TextclfError(
            f"Only fine-tuned transformer runs can be exported as ONNX or int8; this run holds {what}",
            hint="Export it as a zip instead (--format zip); it is already small",
        )
    return model_dir, info


def _load_float_model(model_dir: Path):
    from transformers import AutoModelForSequenceClassification

    from textclf_core.store import catalog as models

    with models.quiet_transformers():
        # Eager attention: the plain matrix products export to ONNX and quantize everywhere.
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, use_safetensors=True, attn_implementation="eager"
        )
    return model.eval().float()


def _copy_tokenizer(model_dir: Path, out: Path) -> None:
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(model_dir, use_fast=True).save_pretrained(out)


def _write_info(out: Path, info: dict, kind: str, **extra) -> None:
    model_folder.write_info(out, {**info, "kind": kind, "exported_from": info.get("kind"), **extra})


def _fresh_folder(out) -> Path:
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()):
        if not model_folder.has_info(out):
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


class _Served(PredictorBase):
    """What both exports share: their textclf.json (label space, max length, thresholds)."""

    def _read_info(self, model_dir: str | Path) -> None:
        self.model_dir = Path(model_dir)
        info = model_folder.read_info(self.model_dir)
        self.info = info.to_dict()
        self.label_space = info.label_space
        self.max_length = int(info.max_length or 128)
        self.thresholds = info.thresholds


class Int8Predictor(_Served):
    """Predicts with an int8 export on CPU (kind ``transformer-int8``)."""

    def __init__(self, model_dir: str | Path):
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        self._read_info(model_dir)
        try:
            config = AutoConfig.from_pretrained(self.model_dir)
            config._attn_implementation = "eager"
            model = AutoModelForSequenceClassification.from_config(config)
            stored = load_file(str(self.model_dir / "int8.safetensors"))
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, use_fast=True)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(
                f"The int8 model in {self.model_dir} could not be loaded ({str(exc).splitlines()[0][:200]})",
                hint="Export the run again",
            ) from None
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

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        import torch

        from textclf_core.engine.encoders import pad_batch, sorted_batches, tokenize

        ids = tokenize(self.tokenizer, texts, self.max_length)
        out = np.zeros((len(ids), len(self.classes)), dtype=np.float32)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for batch in sorted_batches([len(s) for s in ids], batch_size):
            inputs = pad_batch([ids[j] for j in batch], self.tokenizer.pad_token_id, left)
            with torch.inference_mode():
                out[batch] = self.model(**inputs).logits.float().numpy()
        return out

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        from textclf_core.engine.losses import probabilities

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
    example = {
        "input_ids": torch.ones((2, 8), dtype=torch.long),
        "attention_mask": torch.ones((2, 8), dtype=torch.long),
    }

    class _Logits(torch.nn.Module):  # a plain (ids, mask) → logits signature for the exporter
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    try:
        with torch.no_grad():
            torch.onnx.export(
                _Logits(model),
                (example["input_ids"], example["attention_mask"]),
                str(out / "model.onnx"),
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                opset_version=ONNX_OPSET,
                dynamo=False,
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "logits": {0: "batch"},
                },
            )
    except Exception as exc:  # noqa: BLE001 - some architectures do not export; say so plainly
        shutil.rmtree(out, ignore_errors=True)
        raise TextclfError(
            f"This model could not be exported to ONNX ({str(exc).splitlines()[0][:200]})",
            hint="Use --format int8 or zip instead",
        ) from None
    _copy_tokenizer(model_dir, out)
    _write_info(out, info, "onnx", onnx_opset=ONNX_OPSET)
    return out


class OnnxPredictor(_Served):
    """Predicts with an ONNX export through ONNX Runtime on CPU (kind ``onnx``)."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelLoadError("ONNX Runtime is not installed", hint="pip install onnxruntime") from None
        from transformers import AutoTokenizer

        self._read_info(model_dir)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(
                str(self.model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, use_fast=True)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(
                f"The ONNX model in {self.model_dir} could not be loaded ({str(exc).splitlines()[0][:200]})",
                hint="Export the run again",
            ) from None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        from scipy.special import expit, softmax

        from textclf_core.engine.encoders import pad_batch, sorted_batches, tokenize

        if len(texts) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        ids = tokenize(self.tokenizer, list(texts), self.max_length)
        out = np.zeros((len(ids), len(self.classes)), dtype=np.float32)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for batch in sorted_batches([len(s) for s in ids], batch_size):
            inputs = {
                k: v.numpy() for k, v in pad_batch([ids[j] for j in batch], self.tokenizer.pad_token_id, left).items()
            }
            out[batch] = self.session.run(["logits"], inputs)[0]
        return (expit(out) if self.label_space.multi_label else softmax(out, axis=1)).astype(np.float32)


# --- one entry point ------------------------------------------------------------------------


def export(run, fmt: str, out) -> Path:
    """Export ``run`` as ``zip`` (the whole run, for `textclf import`), ``onnx`` or ``int8`` (folders)."""
    if fmt not in FORMATS:
        raise TextclfError(f"Unknown export format '{fmt}'", hint=f"Choose one of: {', '.join(FORMATS)}")
    if fmt == "zip":
        from textclf_core.store.runs import RunStore

        return RunStore().export_zip(run if isinstance(run, str) else run.id, out)
    return export_onnx(run, out) if fmt == "onnx" else export_int8(run, out)


def folder_size_mb(path) -> float:
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


# --- built once per run, for the app -----------------------------------------------------------

SERVING_DIR = ".serving"  # inside the run folder; dot folders stay out of run zips (RunStore.export_zip)


def _model_stamp(model_dir: Path) -> str:
    """Changes whenever the run's model is written again (stage_model replaces the folder)."""
    stat = model_folder.info_path(model_dir).stat()
    return f"{stat.st_mtime_ns}-{stat.st_size}"


def cached_export(run, fmt: str) -> Path:
    """The run's ``onnx`` or ``int8`` export folder, built on first use and kept (hidden) in the run folder,
    so asking again is instant; rebuilt when the run's model has changed since."""
    import os
    import uuid

    if fmt not in ("onnx", "int8"):
        raise TextclfError(f"Unknown serving format '{fmt}'", hint="Choose onnx or int8")
    model_dir, _ = _transformer_dir(run)
    stamp = _model_stamp(model_dir)
    root = Path(run.path) / SERVING_DIR
    folder = root / fmt
    try:
        if model_folder.read_info(folder).get("source_stamp") == stamp:
            return folder
    except ModelLoadError:
        pass
    building = root / f".{fmt}-{uuid.uuid4().hex[:8]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        export(run, fmt, building)
        meta = model_folder.read_info(building)
        meta.extra["source_stamp"] = stamp
        model_folder.write_info(building, meta)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(building, folder)  # a half-built export is never mistaken for a finished one
    except OSError as exc:
        raise TextclfError(
            f"The {fmt} export could not be written in {root} ({exc.strerror or exc})",
            hint="Check the free disk space and write permission of the runs folder",
        ) from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder


def export_zip_bytes(folder, name: str | None = None) -> bytes:
    """An export folder as a zip (files under ``name/``), ready to download and unzip on a server."""
    from .export import folder_zip_bytes

    return folder_zip_bytes(folder, name or Path(folder).name)


def compare_export(run, export_dir, n: int = 200, batch_size: int = 32) -> dict:
    """The export next to the run's own model on up to ``n`` texts of the run's test split: label agreement,
    texts/s of each (one pass after a short warm-up, with this process's threads) and size on disk."""
    import time

    import torch

    from textclf_core.evaluation.metrics import read_predictions

    from .predict import load_predictor

    texts = read_predictions(run)["text"].astype(str).tolist()[:n]
    if not texts:
        raise TextclfError(f"Run {run.id} has no test texts to compare on", hint="Train the run with a test share")
    original, exported = load_predictor(run), load_predictor(export_dir)
    if original.kind == "ensemble":  # auto: the export is of one member; compare it with that member
        original = load_predictor(_transformer_dir(run)[0])
    if getattr(original, "thresholds", None) is not None:  # multi-label: the same cut-offs for both
        exported.thresholds = original.thresholds

    def timed(predictor):
        predictor.predict_proba(texts[:8])  # first-call costs (allocations, graph set-up) are not the steady speed
        start = time.perf_counter()
        proba = predictor.predict_proba(texts)
        return proba, len(texts) / max(time.perf_counter() - start, 1e-9)

    proba_a, speed_a = timed(original)
    proba_b, speed_b = timed(exported)
    labels_a = original.frame_from_proba(proba_a)["label"].to_numpy()
    labels_b = exported.frame_from_proba(proba_b)["label"].to_numpy()
    return {
        "n": len(texts),
        "agreement": float((labels_a == labels_b).mean()),
        "max_prob_difference": float(np.abs(np.asarray(proba_a) - np.asarray(proba_b)).max()),
        "original_texts_per_s": round(speed_a, 1),
        "export_texts_per_s": round(speed_b, 1),
        "speedup": round(speed_b / speed_a, 2) if speed_a else None,
        "original_mb": round(folder_size_mb(Path(run.model_dir)), 1),
        "export_mb": round(folder_size_mb(export_dir), 1),
        "threads": torch.get_num_threads(),
    }
