"""Use a trained run: predict texts or a whole file.

:func:`load_predictor` accepts a :class:`~textclf_core.runs.Run`, a run id, a run
folder or a model folder, and picks the loader from ``model/textclf.json``'s
``kind``: ``baseline`` (TF-IDF, baseline.py), ``transformer`` or ``features``
(inference.py, imported only then, so the baseline works without torch).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .errors import DataError, ModelLoadError, TextclfError
from .labels import LabelSpace, LabelSpaceOwner
from .runs import RUN_ID_RE, Run, RunStore

BATCH = 512


def _texts(texts) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    return ["" if t is None or (isinstance(t, float) and t != t) else str(t) for t in texts]


class Predictor(LabelSpaceOwner):
    """A loaded model with one interface whatever its kind."""

    def __init__(self, model, info: dict, model_dir: Path, thresholds=None):
        self.model = model
        self.info = info
        self.model_dir = Path(model_dir)
        self.kind = info.get("kind")
        self.label_space = LabelSpace.from_dict(info["label_space"])
        self.thresholds = thresholds

    def __repr__(self) -> str:
        return f"Predictor(kind={self.kind!r}, classes={self.classes!r})"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, k) class probabilities."""
        texts = _texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes)))
        return np.asarray(self.model.predict_proba(texts), dtype=float)

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: ``label``, ``confidence``, ``prob_<class>`` for every class.

        Multi-label: ``label`` joins the classes at or above their threshold; the
        confidence is that of the least certain per-class decision.
        """
        return self.frame_from_proba(self.predict_proba(texts))

    def frame_from_proba(self, proba: np.ndarray) -> pd.DataFrame:
        classes = self.classes
        frame = pd.DataFrame({f"prob_{c}": proba[:, j] for j, c in enumerate(classes)})
        if self.multi_label:
            thr = np.asarray(self.thresholds if self.thresholds is not None else [0.5] * len(classes), dtype=float)
            chosen = proba >= thr
            sep = self.label_space.separator or ";"
            frame.insert(0, "label", [sep.join(c for c, on in zip(classes, row) if on) for row in chosen])
            confidence = np.maximum(proba, 1 - proba).min(axis=1) if len(proba) else np.zeros(0)
        else:
            frame.insert(0, "label", [classes[i] for i in proba.argmax(axis=1)] if len(proba) else [])
            confidence = proba.max(axis=1) if len(proba) else np.zeros(0)
        frame.insert(1, "confidence", confidence)
        return frame


def _model_dir(run_or_dir) -> tuple[Path, Run | None]:
    if isinstance(run_or_dir, Run):
        return run_or_dir.model_dir, run_or_dir
    path = Path(str(run_or_dir)).expanduser()
    if path.is_dir():
        if (path / "textclf.json").is_file() or path.name == "model":
            return path, None
        return path / "model", Run(path)
    if isinstance(run_or_dir, str) and RUN_ID_RE.match(run_or_dir):
        run = RunStore().get(run_or_dir)
        return run.model_dir, run
    raise ModelLoadError(f"'{run_or_dir}' is neither a run id nor a model folder",
                         hint="`textclf runs` lists the runs")


def load_predictor(run_or_dir) -> Predictor:
    """Load the model of a run (or a model folder); raises ModelLoadError with advice."""
    model_dir, run = _model_dir(run_or_dir)
    if run is not None:
        run.has_model  # noqa: B018 - puts back a model left aside by a crash mid-save
    meta_path = model_dir / "textclf.json"
    if not meta_path.is_file():
        name = run.id if run is not None else str(model_dir)
        state = run.status().get("state") if run is not None else None
        why = f" (the run is {state})" if state and state != "finished" else ""
        raise ModelLoadError(f"Run {name} has no saved model{why}", hint="Train it again or pick another run")
    try:
        info = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"The model description {meta_path} cannot be read ({exc})") from None
    kind = info.get("kind")
    if kind == "baseline":
        from .baseline import load_baseline

        model = load_baseline(model_dir)
    elif kind in ("transformer", "features"):
        from . import inference

        model = inference.TransformerPredictor(model_dir) if kind == "transformer" \
            else inference.FeaturePredictor(model_dir)
    elif kind == "ensemble":  # auto.py's weighted members (ensemble.py)
        from .ensemble import load_ensemble

        model = load_ensemble(model_dir)
    elif kind in ("onnx", "transformer-int8"):  # exports for serving (serving.py)
        from .serving import load_served

        model = load_served(model_dir)
    else:
        raise ModelLoadError(f"The model in {model_dir} is of an unknown kind '{kind}'",
                             hint="It may come from a newer textclf; update textclf")
    thresholds = info.get("thresholds")
    if thresholds is None and run is not None:  # multi-label thresholds tuned by the runner
        thresholds = (run.read_json("eval.json", default={}) or {}).get("thresholds")
    return Predictor(model, info, model_dir, thresholds=thresholds)


def predict_texts(run_or_dir, texts: Sequence[str]) -> pd.DataFrame:
    """``text`` plus the prediction columns."""
    texts = _texts(texts)
    out = load_predictor(run_or_dir).predict(texts)
    out.insert(0, "text", texts)
    return out


def predict_file(run, path, text_col: str | None = None, out=None, *, sheet=None,
                 progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Predict every row of a file; the original columns come first, then
    ``predicted_label``, ``confidence`` and ``prob_<class>``.

    ``out`` (optional) is written as CSV (UTF-8 with BOM, formulas neutralised) or,
    for a .xlsx name, as Excel. ``progress(done, total)`` is called between batches.
    """
    from .data import guess_columns, neutralize_formulas, read_table, write_csv

    predictor = load_predictor(run)
    frame = read_table(path, sheet=sheet)
    if text_col is None:
        text_col = guess_columns(frame).text_col
        if text_col is None:
            raise DataError("No column with texts was found", where=Path(str(path)).name,
                            hint="Name the text column (--text-col)")
    elif text_col not in frame.columns:
        raise DataError(f"There is no column '{text_col}'", where=Path(str(path)).name,
                        hint=f"Choose one of: {', '.join(map(str, frame.columns[:10]))}")
    texts = _texts(frame[text_col].tolist())
    parts = []
    for start in range(0, len(texts), BATCH):
        parts.append(predictor.predict_proba(texts[start:start + BATCH]))
        if progress is not None:
            progress(min(start + BATCH, len(texts)), len(texts))
    proba = np.vstack(parts) if parts else np.zeros((0, len(predictor.classes)))
    pred = predictor.frame_from_proba(proba).rename(columns={"label": "predicted_label"})
    result = pd.concat([frame.reset_index(drop=True), pred.set_axis(
        [c if c not in frame.columns else f"{c}_predicted" for c in pred.columns], axis=1)], axis=1)
    if out is not None:
        out = Path(out).expanduser()
        try:
            if out.suffix.lower() in (".xlsx", ".xlsm"):
                out.parent.mkdir(parents=True, exist_ok=True)
                neutralize_formulas(result).to_excel(out, index=False)
            else:
                write_csv(result, out, neutralize=True)
        except OSError as exc:
            raise TextclfError(f"Could not write {out} ({exc.strerror or exc})",
                               hint="Check the folder exists and is writable") from None
    return result
