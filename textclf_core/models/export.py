"""Hand a trained model to someone else: the run's ``model/`` folder as a zip.

For transformer runs the zip unpacks to a Hugging Face folder that
``transformers.pipeline("text-classification", model=folder)`` loads; baseline and
feature-extraction models are read back with ``textclf_core.models.predict.load_predictor``.
"""

from __future__ import annotations

import io
import zipfile

from textclf_core.errors import ModelLoadError, RunStoreError
from textclf_core.store.model_folder import read_info


def model_kind(run) -> str | None:
    """'transformer', 'features', 'baseline' (a kind of :mod:`.model_folder`) or None when the run kept no model."""
    if not run.has_model:  # also puts back a model a crash left aside
        return None
    try:
        return read_info(run.model_dir).kind
    except ModelLoadError:
        return None


def folder_zip_bytes(folder, prefix: str = "") -> bytes:
    """The files under ``folder`` zipped with paths relative to it, under ``prefix/`` when given (links left out)."""
    from pathlib import Path

    folder = Path(folder)
    lead = f"{prefix.strip('/')}/" if prefix else ""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, lead + path.relative_to(folder).as_posix())
    return buffer.getvalue()


def model_zip_bytes(run) -> bytes:
    """The files of ``run.model_dir`` zipped with paths relative to it (no run folder around them)."""
    if not run.model_dir.is_dir():
        raise RunStoreError(f"Run {run.id} has no saved model", hint="Train it again or pick another run")
    return folder_zip_bytes(run.model_dir)
