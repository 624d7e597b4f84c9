"""The model folder: one owner for ``textclf.json``, for finding a run's model and for loading it.

A model folder is whatever a kind saves (Hugging Face weights, TF-IDF arrays, an ONNX graph...) plus
``textclf.json``, written last, whose presence marks a complete folder. This module:

- reads and writes ``textclf.json`` (:class:`ModelInfo`, :func:`read_info`, :func:`write_info`);
- resolves a run, a run id, a run folder or a model folder to the model folder (:func:`resolve`);
- keeps the loader of each kind (:func:`register_kind`, :func:`load_model`). Loaders are named as
  ``"module:attribute"`` and imported only when a folder of that kind is loaded, so reading a
  baseline never imports torch, and this module sits below every kind (no import cycle);
- defines what every loaded model offers (:class:`Predictor`, with :class:`PredictorBase` giving
  ``predict`` from ``predict_proba``) and the one step from probabilities to labels
  (:func:`decide`, :func:`proba_frame`).

Adding a kind is one call: ``register_kind("ensemble", "textclf_core.models.ensemble:load_ensemble")``.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from textclf_core.errors import ModelLoadError
from textclf_core.fs import atomic_write_json
from textclf_core.labels import LabelSpace, LabelSpaceOwner

INFO_NAME = "textclf.json"
_FIELDS = ("kind", "label_space", "max_length", "thresholds")


# --- textclf.json ---------------------------------------------------------------------------


@dataclass
class ModelInfo:
    """What ``textclf.json`` says. ``extra`` keeps every other key (encoder, head, link, config...) as written."""

    kind: str
    label_space: LabelSpace
    max_length: int | None = None
    thresholds: list[float] | None = None  # multi-label cut-offs tuned on validation; None: 0.5 each
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict, where: str | Path | None = None) -> ModelInfo:
        where = f" in {where}" if where is not None else ""
        if not isinstance(data, dict) or not data.get("kind"):
            raise ModelLoadError(
                f"The model description{where} names no model kind", hint="Train the run again or re-import its zip"
            )
        try:
            space = LabelSpace.from_dict(data["label_space"])
        except (KeyError, TypeError, ValueError):
            raise ModelLoadError(
                f"The model description{where} has no valid list of classes",
                hint="Train the run again or re-import its zip",
            ) from None
        max_length = data.get("max_length")
        thresholds = data.get("thresholds")
        return cls(
            kind=str(data["kind"]),
            label_space=space,
            max_length=int(max_length) if max_length is not None else None,
            thresholds=[float(t) for t in thresholds] if thresholds is not None else None,
            extra={k: v for k, v in data.items() if k not in _FIELDS},
        )

    def to_dict(self) -> dict:
        out = {
            **self.extra,
            "kind": self.kind,
            "label_space": self.label_space.to_dict(),
            "max_length": self.max_length,
        }
        if self.thresholds is not None:
            out["thresholds"] = list(self.thresholds)
        return out

    def get(self, key: str, default=None):
        """A key of the file as written (``extra`` included), like ``dict.get``."""
        return self.to_dict().get(key, default)


def info_path(folder: str | Path) -> Path:
    return Path(folder) / INFO_NAME


def has_info(folder: str | Path) -> bool:
    """True when ``folder`` is a complete model folder (``textclf.json`` is written last)."""
    return info_path(folder).is_file()


def read_info(folder: str | Path) -> ModelInfo:
    """``textclf.json`` of ``folder``; a missing or unreadable file is a ModelLoadError."""
    path = info_path(folder)
    if not path.is_file():
        raise ModelLoadError(
            f"{folder} is not a textclf model folder ({INFO_NAME} is missing)",
            hint="Pick a run's model folder, or train the run again",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(
            f"The model description {path} cannot be read ({exc})", hint="Train the run again or re-import its zip"
        ) from None
    return ModelInfo.from_dict(data, where=folder)


def write_info(folder: str | Path, info: ModelInfo | dict) -> Path:
    """Write ``textclf.json`` atomically; call it after every other file of the folder is written."""
    data = info.to_dict() if isinstance(info, ModelInfo) else dict(info)
    return atomic_write_json(info_path(folder), data, sort_keys=True)


def update_info(folder: str | Path, **fields) -> ModelInfo:
    """Set ``fields`` in an existing ``textclf.json`` (atomically, every other key kept); the new info."""
    data = {**read_info(folder).to_dict(), **fields}
    write_info(folder, data)
    return ModelInfo.from_dict(data, where=folder)


def record_language(folder: str | Path, texts) -> dict | None:
    """Add the training texts' language profile (``data.language.detect``) to ``textclf.json`` as
    ``language``, for the warning on Predict and in the REST API when texts come in a language the model
    never saw. A folder without ``textclf.json`` is left alone (None)."""
    from textclf_core.data import language

    if not has_info(folder):
        return None
    profile = language.detect(list(texts)).to_dict()
    update_info(folder, language=profile)
    return profile


# --- what every kind offers ------------------------------------------------------------------


@runtime_checkable
class Predictor(Protocol):
    """Every loaded model, whatever its kind."""

    @property
    def classes(self) -> list[str]: ...

    @property
    def multi_label(self) -> bool: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, k) probabilities: rows sum to 1 unless multi-label (one independent probability per class)."""
        ...

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: ``label``, ``confidence``, ``prob_<class>`` (see :func:`proba_frame`)."""
        ...


class PredictorBase(LabelSpaceOwner):
    """``predict`` and ``frame_from_proba`` from a kind's ``predict_proba``, ``label_space`` and ``thresholds``."""

    thresholds: list[float] | None = None

    def predict(self, texts: Sequence[str], **options) -> pd.DataFrame:
        return self.frame_from_proba(self.predict_proba(texts, **options))

    def frame_from_proba(self, proba: np.ndarray) -> pd.DataFrame:
        return proba_frame(
            proba,
            self.classes,
            multi_label=self.multi_label,
            thresholds=self.thresholds,
            separator=self.label_space.separator or ";",
        )


# --- probabilities to labels ------------------------------------------------------------------


def _matrix(proba, k: int) -> np.ndarray:
    proba = np.asarray(proba, dtype=float)
    return proba.reshape(0, k) if proba.size == 0 else proba


def threshold_vector(thresholds, k: int) -> np.ndarray:
    """Per-class cut-offs: None → 0.5 each, one number → that for all, else one per class."""
    if thresholds is None:
        return np.full(k, 0.5)
    t = np.asarray(thresholds, dtype=float)
    return np.full(k, float(t)) if t.ndim == 0 else t


def decide(proba, *, multi_label: bool = False, thresholds=None) -> tuple[np.ndarray, np.ndarray]:
    """The decision and its confidence for each row of ``proba`` (n, k).

    Single-label: ``(class index (n,), probability of that class (n,))``.

    Multi-label: ``(chosen (n, k) bool, confidence (n,))``; class j is chosen when ``p_j >= threshold_j``.
    The confidence is the probability the model gives to the decision it took on its least certain
    class: ``p_j`` for a chosen class, ``1 - p_j`` for one left out, the minimum over classes. With
    tuned thresholds this can be below 0.5 (p = 0.4 chosen under a 0.3 cut-off gives 0.4), which is
    the honest figure: ``max(p, 1 - p)`` would report 0.6 for a decision the model rates at 0.4.
    """
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2:
        proba = proba.reshape(len(proba), -1) if proba.size else proba.reshape(0, 0)
    n, k = proba.shape
    if multi_label:
        chosen = proba >= threshold_vector(thresholds, k)
        confidence = np.where(chosen, proba, 1 - proba).min(axis=1) if k else np.ones(n)
        return chosen, confidence
    if k == 0:
        return np.zeros(n, dtype=int), np.zeros(n)
    picked = proba.argmax(axis=1)
    return picked, proba[np.arange(len(proba)), picked]


def proba_frame(
    proba, classes: Sequence[str], *, multi_label: bool = False, thresholds=None, separator: str = ";"
) -> pd.DataFrame:
    """``label``, ``confidence`` and ``prob_<class>`` per row of ``proba`` (n, k); see :func:`decide`.

    Multi-label ``label`` joins the chosen classes with ``separator`` ("" when none is chosen).
    """
    classes = [str(c) for c in classes]
    proba = _matrix(proba, len(classes))
    picked, confidence = decide(proba, multi_label=multi_label, thresholds=thresholds)
    if multi_label:
        labels = [separator.join(c for c, on in zip(classes, row) if on) for row in picked]
    else:
        labels = [classes[i] for i in picked]
    frame = pd.DataFrame({"label": pd.Series(labels, dtype=object), "confidence": confidence})
    for j, c in enumerate(classes):
        frame[f"prob_{c}"] = proba[:, j]
    return frame


# --- loaders by kind --------------------------------------------------------------------------

Loader = Callable[..., Predictor]

_KINDS: dict[str, Loader | str] = {
    "baseline": "textclf_core.strategies.baseline:load_baseline",
    "transformer": "textclf_core.models.predictors:TransformerPredictor",
    "features": "textclf_core.models.predictors:FeaturePredictor",
    "ensemble": "textclf_core.models.ensemble:load_ensemble",  # auto's weighted members, each a model folder inside
    "onnx": "textclf_core.models.quantized:OnnxPredictor",  # exports for serving
    "transformer-int8": "textclf_core.models.quantized:Int8Predictor",
}


def register_kind(kind: str, loader: Loader | str, *, replace: bool = False) -> None:
    """Teach :func:`load_model` a kind: ``loader(model_dir, **options)`` returns a :class:`Predictor`.

    ``loader`` may be ``"module:attribute"``, imported on first use (keeps torch out until needed).
    """
    if not kind or not isinstance(kind, str):
        raise ValueError("A model kind is a non-empty string")
    if kind in _KINDS and not replace and _KINDS[kind] != loader:
        raise ValueError(f"The model kind '{kind}' is already registered (pass replace=True to change it)")
    if not callable(loader) and not (isinstance(loader, str) and ":" in loader):
        raise ValueError("A loader is a callable or a 'module:attribute' string")
    _KINDS[kind] = loader


def kinds() -> list[str]:
    """The kinds :func:`load_model` can read."""
    return sorted(_KINDS)


def loader_for(kind: str | None, where: str | Path | None = None) -> Loader:
    entry = _KINDS.get(kind) if kind else None
    if entry is None:
        place = f" in {where}" if where is not None else ""
        raise ModelLoadError(
            f"The model{place} is of an unknown kind '{kind}'", hint="It may come from a newer textclf; update textclf"
        )
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module), attribute)
    return entry


def load_model(model_dir: str | Path, **options) -> Predictor:
    """The kind's own predictor for a model folder (``options``, e.g. device/precision, go to its loader).

    :func:`textclf_core.models.predict.load_predictor` adds what a run knows (thresholds from eval.json) on top.
    """
    info = read_info(model_dir)
    return loader_for(info.kind, model_dir)(Path(model_dir), **options)
