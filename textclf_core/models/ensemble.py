"""The ``ensemble`` model kind: several trained models whose probabilities are averaged with weights.

An ensemble model folder holds its members' own model folders, each exactly as its strategy
saved it, and the weights in ``textclf.json``::

    model/
      textclf.json          {"kind": "ensemble", "members": [{"key", "label", "kind", "dir", "weight",
                                                              "temperature"}, ...], "thresholds", ...}
      members/<key>/...     a baseline, features or transformer model folder

Prediction: each member's probabilities, sharpened or softened by its temperature (fitted on the
validation split by auto.py; the scaling is :mod:`textclf_core.evaluation.calibration`'s), times its weight, summed. Members with weight 0 are not saved.
Where one Hugging Face folder is needed (ONNX/int8 exports), :func:`hf_member_dir` names the
transformer member with the largest weight.

:func:`combine` is the one place the weighted average is computed: auto.py's selection and
prediction use the same function, so what was chosen on validation is what predicts.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from textclf_core.errors import ModelLoadError
from textclf_core.evaluation.calibration import (
    apply_temperature,  # the one temperature scaling (auto.py imports it from here until it switches)
)
from textclf_core.labels import LabelSpace
from textclf_core.store import model_folder
from textclf_core.store.model_folder import PredictorBase

KIND = "ensemble"
_EPS = 1e-7


# --- the arithmetic, shared with auto.py's selection --------------------------------------------
def combine(
    probas: Sequence[np.ndarray],
    weights: Sequence[float],
    temperatures: Sequence[float | None] | None,
    multi_label: bool,
) -> np.ndarray:
    """Σ weight × tempered probabilities, weights normalised to sum 1 (members of weight 0 are not read)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.sum() <= 0:
        raise ValueError("an ensemble needs at least one member with a weight above 0")
    weights = weights / weights.sum()
    temperatures = list(temperatures) if temperatures is not None else [None] * len(weights)
    out = None
    for proba, w, t in zip(probas, weights, temperatures):
        if w <= 0:
            continue
        part = w * apply_temperature(proba, t, multi_label=multi_label)
        out = part if out is None else out + part
    return out


def log_loss(proba: np.ndarray, y: np.ndarray, multi_label: bool) -> float:
    """Mean negative log-likelihood (cross-entropy; binary cross-entropy per class for multi-label)."""
    p = np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1 - _EPS)
    if multi_label:
        y = np.asarray(y, dtype=np.float64)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    y = np.asarray(y, dtype=np.int64)
    return float(-np.log(p[np.arange(len(y)), y]).mean())


# --- the model ------------------------------------------------------------------------------------
MEMBER_KINDS = ("baseline", "transformer", "features")  # kinds an ensemble can hold (not another ensemble)


def load_member(folder: str | Path):
    """A member's predictor from its own model folder (its ``kind`` decides the loader)."""
    folder = Path(folder)
    kind = model_folder.read_info(folder).kind
    if kind in MEMBER_KINDS:
        return model_folder.load_model(folder)
    raise ModelLoadError(f"The ensemble member in {folder} is of kind '{kind}', which an ensemble cannot hold")


class EnsembleModel(PredictorBase):
    """Weighted average of member probabilities; loads members on first use of each."""

    kind = KIND

    def __init__(self, model_dir: str | Path, info: dict, members: dict | None = None):
        self.model_dir = Path(model_dir)
        self.info = info
        self.label_space = LabelSpace.from_dict(info["label_space"])
        self.members = [m for m in info.get("members", []) if float(m.get("weight", 0)) > 0]
        if not self.members:
            raise ModelLoadError(
                f"The ensemble in {self.model_dir} has no member with a weight above 0", hint="Train the run again"
            )
        self.thresholds = info.get("thresholds")
        self.max_length = None
        self._loaded = dict(members or {})

    def member(self, key: str):
        if key not in self._loaded:
            entry = next(m for m in self.members if m["key"] == key)
            self._loaded[key] = load_member(self.model_dir / entry["dir"])
        return self._loaded[key]

    def member_probas(self, texts: Sequence[str], batch_size: int = 64) -> list[np.ndarray]:
        texts = ["" if t is None else str(t) for t in texts]
        out = []
        for entry in self.members:
            model = self.member(entry["key"])
            try:
                proba = model.predict_proba(texts, batch_size=batch_size)
            except TypeError:  # the baseline takes no batch size
                proba = model.predict_proba(texts)
            out.append(np.asarray(proba, dtype=np.float64))
        return out

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.label_space.num_classes))
        return combine(
            self.member_probas(texts, batch_size),
            [m["weight"] for m in self.members],
            [m.get("temperature") for m in self.members],
            self.multi_label,
        )


def load_ensemble(model_dir: str | Path) -> EnsembleModel:
    model_dir = Path(model_dir)
    info = model_folder.read_info(model_dir).to_dict()
    if info.get("kind") != KIND:
        raise ModelLoadError(f"{model_dir} holds a '{info.get('kind')}' model, not an ensemble")
    return EnsembleModel(model_dir, info)


def save_ensemble(
    folder: str | Path, members: list[dict], label_space: LabelSpace, *, thresholds=None, extra: dict | None = None
) -> Path:
    """Move each member of weight > 0 (``source``: its trained model folder) to ``folder/members/<key>`` and write
    ``textclf.json`` (last, so its presence marks a complete folder). ``members``: dicts with key, label, kind,
    source, weight, temperature."""
    folder = Path(folder)
    (folder / "members").mkdir(parents=True, exist_ok=True)
    entries = []
    for m in members:
        if float(m.get("weight", 0)) <= 0:
            continue
        target = folder / "members" / m["key"]
        shutil.move(str(m["source"]), str(target))
        entries.append(
            {
                "key": m["key"],
                "label": m.get("label", m["key"]),
                "kind": m.get("kind"),
                "dir": f"members/{m['key']}",
                "weight": round(float(m["weight"]), 6),
                "temperature": None if m.get("temperature") is None else float(m["temperature"]),
            }
        )
    hf = max((e for e in entries if e["kind"] == "transformer"), key=lambda e: e["weight"], default=None)
    info = {
        "kind": KIND,
        "format_version": 1,
        "label_space": label_space.to_dict(),
        "max_length": None,
        "members": entries,
        "thresholds": thresholds,
        "hf_member": hf["key"] if hf else None,
        **(extra or {}),
    }
    model_folder.write_info(folder, info)
    return folder


def hf_member_dir(model_dir: str | Path) -> Path | None:
    """The Hugging Face folder standing in for the ensemble where one is needed (its transformer member
    with the largest weight), or None when no member is a fine-tuned transformer."""
    model_dir = Path(model_dir)
    try:
        info = model_folder.read_info(model_dir).to_dict()
    except ModelLoadError:
        return None
    key = info.get("hf_member")
    entry = next((m for m in info.get("members", []) if m["key"] == key), None)
    return model_dir / entry["dir"] if entry else None


def describe(info: dict) -> str:
    """One line naming the members and weights, e.g. 'TF-IDF + logreg (0.70) and MiniLM embeddings (0.30)'."""
    members = sorted(info.get("members", []), key=lambda m: -float(m.get("weight", 0)))
    parts = [f"{m.get('label', m['key'])} ({float(m['weight']):.2f})" for m in members]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
