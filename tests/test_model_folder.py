"""The model folder owner: textclf.json, resolving runs, the loader registry, one Predictor
interface for every kind and one rule from probabilities to labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import small_frame

from textclf_core.config import RunConfig
from textclf_core.errors import ModelLoadError
from textclf_core.evaluation.metrics import predictions_frame
from textclf_core.labels import LabelSpace
from textclf_core.models.predict import load_predictor
from textclf_core.pipeline import runner
from textclf_core.store import model_folder as mf
from textclf_core.store.runs import RunStore, resolve_model

TEXTS = ["a great wonderful film", "boring awful mess", ""]
SPACE = LabelSpace(["neg", "pos"])


def _transformer_folder(tiny_bert, dest):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).save_pretrained(dest)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(dest)
    mf.write_info(dest, mf.ModelInfo("transformer", SPACE, max_length=32))
    return dest


def _features_folder(tiny_bert, dest):
    from safetensors.numpy import save_file
    from transformers import AutoConfig

    hidden = AutoConfig.from_pretrained(tiny_bert).hidden_size
    rng = np.random.default_rng(0)
    dest.mkdir(parents=True)
    save_file(
        {"weight": rng.normal(size=(2, hidden)).astype(np.float32), "bias": np.zeros(2, np.float32)},
        str(dest / "head.safetensors"),
    )
    mf.write_info(
        dest,
        mf.ModelInfo(
            "features",
            SPACE,
            max_length=32,
            extra={"encoder": str(tiny_bert), "pooling": "mean", "head": {"type": "linear"}},
        ),
    )
    return dest


@pytest.fixture(scope="module")
def folders(tiny_bert, tmp_path_factory):
    """One model folder of every kind textclf writes."""
    from textclf_core.models import quantized as serving

    root = tmp_path_factory.mktemp("kinds")
    run = runner.execute(RunConfig(strategy="baseline"), small_frame(20), store=RunStore(root / "runs"))
    transformer = _transformer_folder(tiny_bert, root / "transformer")
    out = {
        "baseline": run.model_dir,
        "transformer": transformer,
        "features": _features_folder(tiny_bert, root / "features"),
        "transformer-int8": serving.export_int8(transformer, root / "int8"),
    }
    pytest.importorskip("onnxruntime")
    out["onnx"] = serving.export_onnx(transformer, root / "onnx")
    return out


def test_every_kind_satisfies_the_predictor_protocol(folders):
    assert set(folders) <= set(mf.kinds())
    for kind, folder in folders.items():
        assert mf.read_info(folder).kind == kind
        for predictor in (mf.load_model(folder), load_predictor(folder)):
            assert isinstance(predictor, mf.Predictor), kind
            assert predictor.classes == ["neg", "pos"] and predictor.multi_label is False
            proba = predictor.predict_proba(TEXTS)
            assert proba.shape == (3, 2)
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
            out = predictor.predict(TEXTS)
            assert list(out.columns) == ["label", "confidence", "prob_neg", "prob_pos"], kind
            assert set(out["label"]) <= {"neg", "pos"}
            np.testing.assert_allclose(out["confidence"], proba.max(axis=1), atol=1e-6)


def test_model_info_round_trip_keeps_every_key(tmp_path):
    info = mf.ModelInfo(
        "features",
        LabelSpace(["a", "b", "c"], multi_label=True, separator="|"),
        max_length=64,
        thresholds=[0.3, 0.5, 0.7],
        extra={"encoder": "enc", "head": {"type": "mlp"}},
    )
    mf.write_info(tmp_path, info)
    back = mf.read_info(tmp_path)
    assert back == info and back.get("head") == {"type": "mlp"}
    assert json.loads((tmp_path / "textclf.json").read_text())["encoder"] == "enc"
    assert [p.name for p in tmp_path.iterdir()] == ["textclf.json"]  # no temporary file left behind


def test_update_info_sets_a_key_and_keeps_the_others(tmp_path):
    mf.write_info(tmp_path, mf.ModelInfo("baseline", SPACE, max_length=32, extra={"config": {"seed": 1}}))
    back = mf.update_info(tmp_path, temperature=1.7)
    assert back.get("temperature") == 1.7 and mf.read_info(tmp_path) == back
    assert back.get("config") == {"seed": 1} and back.max_length == 32 and back.label_space.classes == ["neg", "pos"]
    with pytest.raises(ModelLoadError, match="missing"):
        mf.update_info(tmp_path / "nowhere", temperature=2.0)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot be read"),
        ('{"label_space": {}}', "no model kind"),
        ('{"kind": "baseline"}', "no valid list of classes"),
    ],
)
def test_a_broken_textclf_json_is_a_model_load_error(tmp_path, content, message):
    (tmp_path / "textclf.json").write_text(content)
    with pytest.raises(ModelLoadError, match=message):
        mf.read_info(tmp_path)
    with pytest.raises(ModelLoadError, match="is not a textclf model folder"):
        mf.read_info(tmp_path / "elsewhere")


def test_resolve_a_run_its_id_its_folder_or_its_model_folder(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    run = store.create(RunConfig(strategy="baseline"))
    monkeypatch.setenv("TEXTCLF_HOME", str(tmp_path))
    assert resolve_model(run) == (run.model_dir, run)
    assert resolve_model(run.id)[0] == run.model_dir
    assert resolve_model(str(run.path))[0] == run.model_dir and resolve_model(run.path)[1].id == run.id
    run.model_dir.mkdir()
    assert resolve_model(run.model_dir) == (run.model_dir, None)
    with pytest.raises(ModelLoadError, match="neither a run id nor a model folder"):
        resolve_model(str(tmp_path / "no such" / "place"))


class ConstantPredictor(mf.PredictorBase):
    """A kind for the registry test: the same probabilities for every text."""

    def __init__(self, model_dir, **options):
        info = mf.read_info(model_dir)
        self.label_space, self.thresholds, self.options = info.label_space, info.thresholds, options

    def predict_proba(self, texts):
        return np.tile([0.2, 0.8], (len(texts), 1))


def test_a_registered_kind_loads_like_the_built_in_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(mf, "_KINDS", dict(mf._KINDS))  # this test's kinds do not leak into others
    mf.register_kind("constant", ConstantPredictor)
    mf.register_kind("constant-by-name", f"{__name__}:ConstantPredictor")  # imported on first use
    for kind in ("constant", "constant-by-name"):
        folder = tmp_path / kind
        folder.mkdir()
        mf.write_info(folder, mf.ModelInfo(kind, SPACE))
        assert mf.load_model(folder, device="cpu").options == {"device": "cpu"}
        out = load_predictor(folder).predict(["x", None])
        assert out["label"].tolist() == ["pos", "pos"] and out["confidence"].tolist() == [0.8, 0.8]
    assert {"constant", "constant-by-name", "baseline", "transformer", "features"} <= set(mf.kinds())
    mf.register_kind("constant", ConstantPredictor)  # the same loader again is fine
    with pytest.raises(ValueError, match="already registered"):
        mf.register_kind("constant", lambda model_dir: None)
    mf.register_kind("constant", lambda model_dir: ConstantPredictor(model_dir), replace=True)
    with pytest.raises(ValueError, match="callable or a 'module:attribute'"):
        mf.register_kind("broken", "no colon here")
    mf.write_info(tmp_path, mf.ModelInfo("quantum", SPACE))
    with pytest.raises(ModelLoadError, match="unknown kind 'quantum'"):
        mf.load_model(tmp_path)


def test_multi_label_confidence_is_the_probability_of_the_decision_taken():
    proba = np.array([[0.4, 0.9], [0.2, 0.45], [0.6, 0.55]])
    out = mf.proba_frame(proba, ["a", "b"], multi_label=True, thresholds=[0.3, 0.5], separator="|")
    assert out["label"].tolist() == ["a|b", "", "a|b"]
    # row 1: 'a' is chosen at 0.4 (cut-off 0.3): the model rates that decision 0.4, not max(0.4, 0.6) = 0.6
    # row 2: nothing chosen: 1 - 0.45 is the least certain decision; row 3: both chosen, 0.55 the closer call
    assert out["confidence"].tolist() == pytest.approx([0.4, 0.55, 0.55])
    assert out.columns.tolist() == ["label", "confidence", "prob_a", "prob_b"]
    # At the default 0.5 cut-offs the rule is the familiar max(p, 1 - p) of the closest call.
    default = mf.proba_frame(proba, ["a", "b"], multi_label=True)
    assert default["label"].tolist() == ["b", "", "a;b"]
    assert default["confidence"].tolist() == pytest.approx(np.maximum(proba, 1 - proba).min(axis=1))


def test_the_evaluation_frame_and_the_predictor_frame_agree():
    rng = np.random.default_rng(1)
    proba = rng.uniform(size=(50, 3))
    thresholds = [0.2, 0.5, 0.8]
    pred = predictions_frame(["t"] * 50, None, proba, ["x", "y", "z"], multi_label=True, thresholds=thresholds)
    frame = mf.proba_frame(proba, ["x", "y", "z"], multi_label=True, thresholds=thresholds)
    assert pred["predicted"].tolist() == frame["label"].tolist()
    np.testing.assert_allclose(pred["confidence"], frame["confidence"])
    single = proba / proba.sum(axis=1, keepdims=True)
    pred = predictions_frame(["t"] * 50, None, single, ["x", "y", "z"])
    frame = mf.proba_frame(single, ["x", "y", "z"])
    assert pred["predicted"].tolist() == frame["label"].tolist()
    np.testing.assert_allclose(pred["confidence"], frame["confidence"])


def test_empty_input_gives_an_empty_frame_with_every_column():
    for multi in (False, True):
        out = mf.proba_frame(np.zeros((0, 2)), ["a", "b"], multi_label=multi)
        assert out.columns.tolist() == ["label", "confidence", "prob_a", "prob_b"] and len(out) == 0
    assert isinstance(mf.proba_frame([], ["a", "b"]), pd.DataFrame)
