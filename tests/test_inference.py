"""Predictors: batch order does not matter, predict() frame, wrong folder is a clear error."""

import numpy as np
import pandas as pd
import pytest

from textclf_core.config import RunConfig
from textclf_core.errors import ModelLoadError
from textclf_core.labels import LabelSpace
from textclf_core.models.predictors import FeaturePredictor, TransformerPredictor
from textclf_core.store.model_folder import load_model
from textclf_core.strategies import transformer as training

TEXTS = ["great movie loved it", "terrible film hated it awful", "fun", "boring plot bad acting dull sad"] * 6


@pytest.fixture(scope="module")
def saved(tiny_bert, tmp_path_factory):
    df = pd.DataFrame({"text": TEXTS, "label": ["pos", "neg", "pos", "neg"] * 6})
    space = LabelSpace.from_labels(df["label"])
    config = RunConfig(model=str(tiny_bert), strategy="full", epochs=1, batch_size=4, precision="fp32")
    return training.fit(config, df[:16], df[16:], space).model_dir


def test_predictions_do_not_depend_on_batching(saved):
    predictor = TransformerPredictor(saved, precision="fp32")
    one = np.vstack([predictor.predict_proba([t]) for t in TEXTS[:4]])
    many = predictor.predict_proba(TEXTS[:4], batch_size=3)
    np.testing.assert_allclose(one, many, atol=1e-5)


def test_bf16_agrees_with_fp32(saved):
    fp32 = TransformerPredictor(saved, precision="fp32").predict_proba(TEXTS)
    auto = TransformerPredictor(saved).predict_proba(TEXTS)
    assert np.abs(fp32 - auto).max() < 0.05


def test_predict_frame(saved):
    out = load_model(saved).predict(["great movie", "awful"])
    assert list(out.columns[:2]) == ["label", "confidence"]
    assert set(out["label"]) <= {"neg", "pos"}
    assert {"prob_neg", "prob_pos"} <= set(out.columns)


def test_empty_input(saved):
    assert load_model(saved).predict_proba([]).shape == (0, 2)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="textclf.json"):
        FeaturePredictor(tmp_path)
