"""Calibrated confidence: temperature scaling, reliability bins, expected calibration error (ECE).

A model's "confidence 0.95" should mean it is right about 95 times in 100. Temperature scaling
(Guo et al., 2017) divides the model's log-probabilities by one number ``T`` fitted on the
validation split to minimise the log loss: ``p' = softmax(log p / T)``. Working on
log-probabilities (not logits) lets one function serve every model kind — TF-IDF baselines,
feature heads and fine-tuned transformers — since ``log softmax(z) = z - const`` per row, the
result is the same as scaling the logits. ``T > 1`` softens an over-confident model, ``T < 1``
sharpens a timid one; the most probable class never changes, so accuracy and F1 stay the same.

Multi-label models keep their raw probabilities: each class's decision threshold was tuned on
those (evaluation.tune_thresholds), and rescaling them would move every decision.

The run stores ``temperature`` in ``model/textclf.json`` (every predictor applies it, see
:func:`apply_temperature`) and the before/after figures in ``calibration.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

DEFAULT_BINS = 10
MIN_ROWS = 20  # fewer validation rows than this fit a temperature to noise
LOG_T_BOUNDS = (-3.0, 3.0)  # T in [0.05, 20]
EPS = 1e-12
# A file whose median confidence is within this share of the way from "pure guess" (1/k) to
# certainty (1) gets a warning: the 1-epoch model gave 0.50-0.58 on two classes (= 0-0.16).
NEAR_UNIFORM_SHARE = 0.2


# --- scaling --------------------------------------------------------------------------------------
def apply_temperature(proba, temperature, multi_label: bool = False) -> np.ndarray:
    """Probabilities rescaled by ``temperature`` (None or 1 leaves them as they are).

    proba : np.ndarray (N, K). Single-label: rows sum to 1, ``softmax(log p / T)``.
    Multi-label: ``sigmoid(logit p / T)`` per class (``T`` a number or one per class).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if temperature is None or proba.size == 0:
        return proba
    t = np.asarray(temperature, dtype=np.float64)
    if np.all(t == 1.0):
        return proba
    if multi_label:
        p = np.clip(proba, EPS, 1 - EPS)
        return 1.0 / (1.0 + np.exp(-(np.log(p) - np.log1p(-p)) / t))
    z = np.log(np.clip(proba, EPS, 1.0)) / float(t)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def undo_temperature(proba, temperature) -> np.ndarray:
    """The raw probabilities behind single-label calibrated ones (``p ∝ p'^T``): the "before" of a test split."""
    if temperature is None:
        return np.asarray(proba, dtype=np.float64)
    return apply_temperature(proba, 1.0 / float(temperature))


def _ids(y_true, classes: Sequence[str] | None) -> np.ndarray:
    arr = np.asarray(y_true, dtype=object)
    if classes is None or (len(arr) and all(isinstance(v, (int, np.integer)) for v in arr)):
        return arr.astype(np.int64)
    index = {str(c): i for i, c in enumerate(classes)}
    return np.asarray([index.get("" if v is None else str(v), -1) for v in arr], dtype=np.int64)


def fit_temperature(proba, y_true, classes: Sequence[str] | None = None, *, multi_label: bool = False) -> float:
    """The temperature that minimises the log loss of ``proba`` against ``y_true`` (bounded search over log T).

    proba : np.ndarray (N, K). Single-label: y_true holds class ids or names (unknown/missing rows are
    skipped). Multi-label: y_true is the (N, K) 0/1 matrix and one T serves every class (binary cross-entropy
    of :func:`apply_temperature`'s sigmoid). T stays 1 unless scaling really lowers the loss.
    """
    from scipy.optimize import minimize_scalar

    proba = np.asarray(proba, dtype=np.float64)
    if multi_label:
        y = np.asarray(y_true, dtype=np.float64)
        if proba.size == 0:
            return 1.0
        p = np.clip(proba, EPS, 1 - EPS)
        logit = np.log(p) - np.log1p(-p)

        def nll(log_t: float) -> float:
            z = logit / np.exp(log_t)  # -log sigmoid(z) = logaddexp(0, -z)
            return float((y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)).mean())
    else:
        ids = _ids(y_true, classes)
        keep = ids >= 0
        logp = np.log(np.clip(proba[keep], EPS, 1.0))
        ids = ids[keep]
        if len(ids) == 0:
            return 1.0
        rows = np.arange(len(ids))

        def nll(log_t: float) -> float:
            z = logp / np.exp(log_t)
            z -= z.max(axis=1, keepdims=True)
            return float(-(z[rows, ids] - np.log(np.exp(z).sum(axis=1))).mean())

    best = minimize_scalar(nll, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-4})
    # Keep T = 1 unless scaling really lowers the loss (a flat optimum is noise, not calibration).
    return float(np.exp(best.x)) if best.fun < nll(0.0) - 1e-9 else 1.0


# --- measuring ------------------------------------------------------------------------------------
def reliability(
    proba, y_true, classes: Sequence[str] | None = None, *, multi_label: bool = False, bins: int = DEFAULT_BINS
) -> dict:
    """Reliability-diagram bins and the expected calibration error (ECE).

    Single-label: each text's top confidence against whether the top class is right.
    Multi-label: every (text, class) probability against whether the text has that class.
    ECE = Σ (bin count / N) · |accuracy in bin − mean confidence in bin|, equal-width bins.
    Returns ``{"ece", "n", "bins": [{"low", "high", "count", "confidence", "accuracy"}]}``.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if multi_label:
        y = np.asarray(y_true, dtype=np.float64)
        conf, hit = proba.ravel(), (y.ravel() > 0.5).astype(float)
    else:
        ids = _ids(y_true, classes)
        keep = ids >= 0
        proba, ids = proba[keep], ids[keep]
        conf = proba.max(axis=1) if len(ids) else np.zeros(0)
        hit = (proba.argmax(axis=1) == ids).astype(float) if len(ids) else np.zeros(0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    out_bins, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        mean_conf = float(conf[mask].mean()) if count else None
        acc = float(hit[mask].mean()) if count else None
        if count:
            ece += count / len(conf) * abs(acc - mean_conf)
        out_bins.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "confidence": mean_conf,
                "accuracy": acc,
            }
        )
    return {"ece": float(ece) if len(conf) else None, "n": int(len(conf)), "bins": out_bins}


def expected_calibration_error(
    proba, y_true, classes: Sequence[str] | None = None, *, multi_label: bool = False, bins: int = DEFAULT_BINS
) -> float | None:
    """ECE of ``proba`` (see :func:`reliability`); 0 is perfectly calibrated."""
    return reliability(proba, y_true, classes, multi_label=multi_label, bins=bins)["ece"]


def near_uniform(proba, multi_label: bool = False, share: float = NEAR_UNIFORM_SHARE) -> str | None:
    """A warning when the model's confidences on a file are close to a pure guess, else None.

    proba : np.ndarray (N, K). Looks at the median over texts of how far the top probability is
    from 1/K towards 1 (multi-label: how far each class's probability is from 0.5).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.size == 0 or proba.shape[1] < 1:
        return None
    if multi_label:
        margin = float(np.median(np.abs(proba - 0.5).min(axis=1) * 2))
        guess = "0.5 for every class"
    else:
        k = proba.shape[1]
        if k < 2:
            return None
        margin = float(np.median((proba.max(axis=1) - 1 / k) / (1 - 1 / k)))
        guess = f"{1 / k:.2f}, a pure guess between {k} classes"
    if margin >= share:
        return None
    conf = np.abs(proba - 0.5).min(axis=1) + 0.5 if multi_label else proba.max(axis=1)
    low, high = np.percentile(conf, [5, 95])
    return (
        f"The model is barely more sure than chance on these texts: confidences mostly between "
        f"{low:.2f} and {high:.2f}, close to {guess}. Its labels here are little better than guesses; "
        f"train longer or on more data, or check that the texts look like the training data."
    )


def near_uniform_file(frame, classes: Sequence[str], multi_label: bool = False) -> str | None:
    """:func:`near_uniform` of a predicted file (``prob_<class>`` columns, as predict_file writes them)."""
    cols = [f"prob_{c}" for c in classes]
    if any(c not in frame.columns for c in cols):
        return None
    return near_uniform(frame[cols].astype(float).to_numpy(), multi_label)


# --- the run's calibration ------------------------------------------------------------------------
@dataclass
class Calibration:
    """A fitted temperature (None when skipped, with ``reason``) and validation ECE before/after."""

    temperature: float | None
    reason: str | None = None
    before: dict | None = None
    after: dict | None = None
    extra: dict = field(default_factory=dict)

    def apply(self, proba) -> np.ndarray:
        return apply_temperature(proba, self.temperature)

    def to_dict(self) -> dict:
        return {
            "temperature": self.temperature,
            "reason": self.reason,
            "fitted_on": "validation",
            "validation": {"before": self.before, "after": self.after},
            **self.extra,
        }


def calibrate(
    val_proba,
    y_val,
    classes: Sequence[str],
    *,
    multi_label: bool = False,
    bins: int = DEFAULT_BINS,
    separator: str = ";",
) -> Calibration:
    """Fit a temperature on the validation split (or say why not)."""
    if val_proba is None or len(val_proba) == 0:
        return Calibration(None, "There are no validation rows to fit a temperature on.")
    if multi_label:
        y = _matrix(y_val, classes, separator)
        return Calibration(
            None,
            "Multi-label models keep their raw probabilities: each class's threshold was "
            "tuned on them, and rescaling would move every decision.",
            before=reliability(val_proba, y, classes, multi_label=True, bins=bins),
        )
    before = reliability(val_proba, y_val, classes, bins=bins)
    if before["n"] < MIN_ROWS:
        return Calibration(
            None,
            f"Only {before['n']} labelled validation rows: too few to fit a temperature (at least {MIN_ROWS}).",
            before=before,
        )
    t = fit_temperature(val_proba, y_val, classes)
    after = reliability(apply_temperature(val_proba, t), y_val, classes, bins=bins)
    return Calibration(round(t, 6), None, before=before, after=after)


def _matrix(y, classes, separator: str = ";"):
    from .metrics import label_matrix

    return label_matrix(y, classes, separator)


class CalibratedPredictor:
    """A predictor whose ``predict_proba`` applies the temperature; everything else passes through."""

    def __init__(self, predictor, temperature: float):
        self._predictor = predictor
        self.temperature = temperature

    def __getattr__(self, name):
        return getattr(self._predictor, name)

    def predict_proba(self, texts, *args, **kwargs):
        return apply_temperature(self._predictor.predict_proba(texts, *args, **kwargs), self.temperature)


def calibrate_run(run, predictor, y_val, val_proba, label_space):
    """Runner hook: fit on validation, save ``temperature`` into ``model/textclf.json`` and
    ``calibration.json``; returns the predictor the test split is scored with (calibrated) and the
    calibrated validation probabilities (what predictions.csv holds when there is no test split)."""
    from textclf_core.store import model_folder

    cal = calibrate(
        val_proba,
        y_val,
        label_space.classes,
        multi_label=label_space.multi_label,
        separator=label_space.separator or ";",
    )
    run.write_json("calibration.json", cal.to_dict())
    if cal.temperature is None or cal.temperature == 1.0:
        return predictor, val_proba
    if not model_folder.has_info(run.model_dir):  # no saved model to carry the temperature: score as saved
        return predictor, val_proba
    model_folder.update_info(run.model_dir, temperature=cal.temperature)
    return CalibratedPredictor(predictor, cal.temperature), cal.apply(val_proba)


def run_report(run, bins: int = DEFAULT_BINS) -> dict:
    """What the Evaluation page shows: the temperature (or why none), and ECE with reliability bins
    before/after on the run's test predictions (the raw probabilities are recovered exactly from the
    calibrated ones), plus the validation figures from ``calibration.json``."""
    from .slices import read_run_predictions

    saved = run.read_json("calibration.json", default=None) or {}
    ev = run.read_json("eval.json", default={}) or {}
    classes = [str(c) for c in ev.get("classes") or []]
    t = saved.get("temperature")
    out = {
        "temperature": t,
        "reason": saved.get("reason"),
        "validation": saved.get("validation"),
        "test": None,
        "split": ev.get("split") or "test",
        "multi_label": bool(ev.get("multi_label")),
    }
    if not saved:
        out["reason"] = "This run was trained before calibration was added; train it again to calibrate it."
    try:
        preds = read_run_predictions(run)
    except Exception:  # noqa: BLE001 - no predictions: only the validation figures
        return out
    cols = [f"prob_{c}" for c in classes]
    if not classes or any(c not in preds.columns for c in cols):
        return out
    labelled = preds[preds["gold"].astype(str) != ""]
    proba = labelled[cols].astype(float).to_numpy()
    if out["multi_label"]:
        separator = (run.read_json("labels.json", default={}) or {}).get("separator") or ";"
        y = _matrix(labelled["gold"].astype(str).tolist(), classes, separator)
        out["test"] = {"before": reliability(proba, y, classes, multi_label=True, bins=bins), "after": None}
        return out
    gold = labelled["gold"].astype(str).tolist()
    after = reliability(proba, gold, classes, bins=bins)
    before = reliability(undo_temperature(proba, t), gold, classes, bins=bins) if t else after
    out["test"] = {"before": before, "after": after if t else None}
    return out
