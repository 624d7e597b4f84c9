"""The model download: a zip of the run's model folder that transformers.pipeline loads."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest

from textclf_core.config import RunConfig
from textclf_core.errors import RunStoreError
from textclf_core.models.export import model_kind, model_zip_bytes
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore


def _frame():
    good = ["great film loved it", "wonderful moving story", "a joy to watch", "brilliant and funny"]
    bad = ["terrible plot hated it", "boring and slow", "awful acting", "a waste of time"]
    return pd.DataFrame({"text": good * 4 + bad * 4, "label": ["pos"] * 16 + ["neg"] * 16})


def test_transformer_model_zip_loads_in_a_pipeline(tmp_path, tiny_bert):
    import transformers

    store = RunStore(tmp_path / "runs")
    config = RunConfig(
        strategy="full",
        model=str(tiny_bert),
        epochs=1,
        batch_size=8,
        max_length=16,
        text_col="text",
        label_col="label",
        val_size=0.25,
        test_size=0.25,
    )
    run = execute(config, _frame(), store=store)
    assert run.status()["state"] == "finished", run.status()
    assert model_kind(run) == "transformer"
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(io.BytesIO(model_zip_bytes(run))) as archive:
        names = archive.namelist()
        assert "config.json" in names and not any(n.startswith(("/", "..")) for n in names)
        archive.extractall(folder)
    classify = transformers.pipeline("text-classification", model=str(folder))
    assert classify("a wonderful film")[0]["label"] in ("pos", "neg")


def test_a_run_without_a_model_is_a_clear_error(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create(RunConfig(strategy="baseline"))
    assert model_kind(run) is None
    with pytest.raises(RunStoreError, match="no saved model"):
        model_zip_bytes(run)
