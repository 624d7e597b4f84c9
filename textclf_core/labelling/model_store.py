"""The Label page's fast model, kept with the labels so a reload does not send the queue back to random.

Saved as what the queue and the suggestions need, without pickle: the probabilities for every row
(``<name>.npz``, float32) and a JSON side file (classes, version, labels it learnt from, estimate,
disputed rows, the texts' fingerprint). The fitted estimators are not kept: the next retrain fits
new ones from the labels, which are the source of truth. A saved model that does not match the
texts (another table, another row count) or that learnt from labels since taken back is ignored.

Plain fields in and out: :func:`textclf_core.labelling.fast_model.fast_model_from_fields` builds the ``FastModel`` (this
module does not import it, so the import graph keeps one direction).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from textclf_core.fs import atomic_write_bytes, atomic_write_json

log = logging.getLogger(__name__)

DEFAULT_NAME = "fast_model"
SUBFOLDER = "labelling_models"


def _paths(folder, name: str) -> tuple[Path, Path]:
    base = Path(folder) / SUBFOLDER
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name)) or DEFAULT_NAME
    return base / f"{safe}.json", base / f"{safe}.npz"


def save(folder, name: str, fields: Mapping, proba: np.ndarray) -> Path | None:
    """Write the model (``fields`` JSON-able, ``proba`` (n, k)); the arrays first, the JSON last."""
    if folder is None:
        return None
    meta_path, array_path = _paths(folder, name)
    buf = io.BytesIO()
    np.savez_compressed(buf, proba=np.asarray(proba, dtype=np.float32))
    atomic_write_bytes(array_path, buf.getvalue())
    atomic_write_json(meta_path, dict(fields))
    return meta_path


def load(
    folder, name: str, *, fingerprint: str, n_rows: int, labels: Mapping[int, str]
) -> tuple[dict, np.ndarray] | None:
    """(fields, proba) of the saved model, or None when there is none or it no longer fits the data."""
    if folder is None:
        return None
    meta_path, array_path = _paths(folder, name)
    try:
        fields = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(array_path) as data:
            proba = np.asarray(data["proba"], dtype=np.float64)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as exc:  # a damaged file only costs the restored order
        log.warning("saved fast model %s unreadable: %s", meta_path, exc)
        return None
    if fields.get("fingerprint") != fingerprint or proba.shape[0] != n_rows:
        return None
    if proba.ndim != 2 or proba.shape[1] != len(fields.get("classes") or []):
        return None
    if any(int(r) not in labels for r in fields.get("labelled_rows") or []):
        return None  # it learnt from a label since taken back: retrain instead
    return fields, proba
