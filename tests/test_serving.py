"""Exports for serving: ONNX (run by ONNX Runtime) and int8-quantized PyTorch agree with the run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import small_frame, tiny_full_config

from textclf_core.cli import commands as cli
from textclf_core.config import RunConfig
from textclf_core.errors import TextclfError
from textclf_core.models import quantized as serving
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore


@pytest.fixture(scope="module")
def tiny_run(tiny_bert, tmp_path_factory):
    home = tmp_path_factory.mktemp("serving-home")
    config = tiny_full_config(tiny_bert, epochs=6, test_size=0.3)
    run = execute(config, small_frame(40), store=RunStore(home / "runs"))
    assert run.status()["state"] == "finished", run.status()
    return run


def _test_split(run) -> pd.DataFrame:
    return pd.read_csv(run.path / "predictions.csv", encoding="utf-8-sig", keep_default_na=False)


@pytest.mark.parametrize("fmt", ["onnx", "int8"])
def test_export_gives_the_same_labels_on_the_test_split(tiny_run, tmp_path, fmt):
    folder = serving.export(tiny_run, fmt, tmp_path / fmt)
    exported = load_predictor(folder)
    assert exported.kind == {"onnx": "onnx", "int8": "transformer-int8"}[fmt]
    test = _test_split(tiny_run)
    labels = exported.predict(test["text"].tolist())["label"]
    agreement = float((labels.to_numpy() == test["predicted"].astype(str).to_numpy()).mean())
    assert len(test) >= 20 and agreement >= 0.99
    assert tiny_run.read_json("eval.json")["accuracy"] >= 0.8  # a model that learnt, not a constant guess
    original = load_predictor(tiny_run).predict_proba(test["text"].tolist())
    tolerance = 1e-3 if fmt == "onnx" else 0.05  # int8 rounds weights; ONNX runs the same float graph
    assert np.abs(exported.predict_proba(test["text"].tolist()) - original).max() < tolerance


def test_int8_export_is_smaller_and_holds_no_pickle(tiny_run, tmp_path):
    folder = serving.export(tiny_run, "int8", tmp_path / "int8")
    files = {p.name for p in folder.iterdir()}
    assert "int8.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    assert serving.folder_size_mb(folder / "int8.safetensors") < serving.folder_size_mb(
        tiny_run.model_dir / "model.safetensors"
    )


def test_cli_export_and_predict_with_the_export(tiny_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TEXTCLF_HOME", str(tiny_run.path.parent.parent))
    out = tmp_path / "served"
    assert cli.main(["export", tiny_run.id, "--format", "onnx", "--out", str(out)]) == 0
    assert (out / "model.onnx").is_file() and "MB" in capsys.readouterr().out
    assert cli.main(["predict", str(out), "--text", "great wonderful film"]) == 0
    assert capsys.readouterr().out.split("\t")[0] in ("pos", "neg")
    # exporting again over the earlier export replaces it
    assert cli.main(["export", tiny_run.id, "--format", "onnx", "--out", str(out)]) == 0


def test_baseline_runs_say_to_use_a_zip(tmp_path):
    run = execute(
        RunConfig(strategy="baseline", text_col="review", label_col="sentiment"),
        small_frame(20),
        store=RunStore(tmp_path / "runs"),
    )
    with pytest.raises(TextclfError, match="zip"):
        serving.export(run, "onnx", tmp_path / "x")
    with pytest.raises(TextclfError, match="Unknown export format"):
        serving.export(run, "tflite", tmp_path / "x")


def test_export_will_not_overwrite_an_unrelated_folder(tiny_run, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(TextclfError, match="not an earlier export"):
        serving.export(tiny_run, "int8", tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
