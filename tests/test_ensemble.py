"""The ``ensemble`` model kind: saved, loaded by load_predictor, predicts, explains, exports like any run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.small_data import WORDS, small_frame

from textclf_core.config import RunConfig
from textclf_core.evaluation import calibration
from textclf_core.labels import LabelSpace
from textclf_core.models import ensemble
from textclf_core.models.predict import load_predictor
from textclf_core.store.runs import RunStore
from textclf_core.strategies.auto import _Slot


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    """A run whose model is TF-IDF (0.6) + a fine-tuned tiny BERT (0.4), built from the real fit paths."""
    from tiny_models import make_tiny_bert

    from textclf_core.strategies.baseline import train_baseline
    from textclf_core.strategies.transformer import fit

    root = tmp_path_factory.mktemp("ens")
    words = [w for ws in WORDS.values() for w in ws] + ["the"]
    model = make_tiny_bert(root / "bert", extra_texts=[" ".join(words)])
    frame = small_frame(30).rename(columns={"review": "text", "sentiment": "label"})
    train, val = frame.iloc[:45].reset_index(drop=True), frame.iloc[45:].reset_index(drop=True)
    space = LabelSpace.from_labels(train["label"].tolist())
    members = root / "members"
    base = train_baseline(RunConfig(strategy="baseline"), train, val, space)
    base.save(members / "tfidf")
    fit(
        RunConfig(strategy="full", model=str(model), epochs=1, batch_size=8),
        train,
        val,
        space,
        run=_Slot(members / "bert"),
    )
    store = RunStore(root / "runs")
    run = store.create(RunConfig(strategy="auto", budget_s=60))
    with run.stage_model() as folder:
        ensemble.save_ensemble(
            folder,
            [
                {
                    "key": "tfidf",
                    "label": "TF-IDF",
                    "kind": "baseline",
                    "source": members / "tfidf",
                    "weight": 0.6,
                    "temperature": 1.5,
                },
                {
                    "key": "bert",
                    "label": "tiny BERT",
                    "kind": "transformer",
                    "source": members / "bert",
                    "weight": 0.4,
                    "temperature": None,
                },
                {"key": "noise", "label": "unused", "kind": "baseline", "source": members / "none", "weight": 0.0},
            ],
            space,
        )
    run.set_status("finished", "Finished")
    return run, store, val


def test_ensemble_saves_and_loads_through_load_predictor(ensemble_run):
    run, _, val = ensemble_run
    info = json.loads((run.model_dir / "textclf.json").read_text())
    assert info["kind"] == "ensemble" and info["hf_member"] == "bert"
    assert [m["weight"] for m in info["members"]] == [0.6, 0.4]  # weight-0 members are not saved
    predictor = load_predictor(run)
    assert predictor.kind == "ensemble" and predictor.classes == sorted(set(val["label"]))
    proba = predictor.predict_proba(val["text"].tolist())
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    # exactly the weighted, tempered mean of what the members predict on their own
    members = [ensemble.load_member(run.model_dir / "members" / k) for k in ("tfidf", "bert")]
    parts = [
        np.asarray(members[0].predict_proba(val["text"].tolist())),
        np.asarray(members[1].predict_proba(val["text"].tolist())),
    ]
    expected = 0.6 * calibration.apply_temperature(parts[0], 1.5) + 0.4 * parts[1]
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    frame = predictor.predict(["the great wonderful film"])
    assert frame.loc[0, "label"] == "pos"


def test_ensemble_explains_with_word_occlusion(ensemble_run):
    from textclf_core.models.explain import explain

    run, _, _ = ensemble_run
    explanation = explain(run, "the superb wonderful film")
    assert explanation.method == "word occlusion"
    top = [w for w, _ in explanation.top(2, positive=True)]
    assert set(top) & {"superb", "wonderful"}


def test_ensemble_run_exports_and_imports_as_a_zip(ensemble_run, tmp_path):
    run, store, val = ensemble_run
    zipped = store.export_zip(run.id, tmp_path / "run.zip")
    other = RunStore(tmp_path / "elsewhere").import_zip(zipped)
    np.testing.assert_allclose(
        load_predictor(other).predict_proba(val["text"].tolist()),
        load_predictor(run).predict_proba(val["text"].tolist()),
        atol=1e-6,
    )


def test_int8_export_uses_the_best_transformer_member(ensemble_run, tmp_path):
    from textclf_core.models import quantized as serving

    run, _, val = ensemble_run
    out = serving.export(run, "int8", tmp_path / "int8")
    info = json.loads((out / "textclf.json").read_text())
    assert info["kind"] == "transformer-int8"
    served = load_predictor(out)
    bert = ensemble.load_member(run.model_dir / "members" / "bert")
    same = (
        served.predict_proba(val["text"].tolist()).argmax(1)
        == np.asarray(bert.predict_proba(val["text"].tolist())).argmax(1)
    ).mean()
    assert same >= 0.9


def test_an_ensemble_without_transformer_member_says_to_use_a_zip(tmp_path):
    from textclf_core.errors import TextclfError
    from textclf_core.models import quantized as serving
    from textclf_core.strategies.baseline import train_baseline

    frame = small_frame(10).rename(columns={"review": "text", "sentiment": "label"})
    space = LabelSpace.from_labels(frame["label"].tolist())
    train_baseline(RunConfig(strategy="baseline"), frame, frame, space).save(tmp_path / "m")
    ensemble.save_ensemble(
        tmp_path / "ens",
        [{"key": "m", "label": "TF-IDF", "kind": "baseline", "source": tmp_path / "m", "weight": 1.0}],
        space,
    )
    with pytest.raises(TextclfError, match="zip"):
        serving.export(tmp_path / "ens", "int8", tmp_path / "out")
