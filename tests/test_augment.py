"""Augmentation of scarce classes: EDA and masked-LM variants, only ever added to the training rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers.small_data import small_frame

from textclf_core.cli import main
from textclf_core.config import RunConfig
from textclf_core.errors import TextclfError
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore
from textclf_core.strategies import baseline, fewshot


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory):
    from tiny_models import make_tiny_bert_mlm

    return make_tiny_bert_mlm(tmp_path_factory.mktemp("tiny-mlm"))


def scarce_frame() -> pd.DataFrame:
    """40 'pos' and 10 'neg' reviews: with a limit of 20, only 'neg' is scarce."""
    return pd.concat(
        [small_frame(40, classes=("pos",), seed=1), small_frame(10, classes=("neg",), seed=2)], ignore_index=True
    )


def test_eda_run_adds_rows_only_to_the_training_split_of_scarce_classes(tmp_path, monkeypatch):
    seen = {}
    real = baseline.train_baseline

    def spy(config, train_df, val_df, label_space, emit, **kwargs):
        seen["train"], seen["val"] = train_df.copy(), val_df.copy()
        return real(config, train_df, val_df, label_space, emit, **kwargs)

    monkeypatch.setattr(baseline, "train_baseline", spy)
    config = RunConfig(
        strategy="baseline",
        text_col="review",
        label_col="sentiment",
        augment="eda",
        augment_copies=2,
        augment_max_per_class=20,
        val_size=0.2,
        test_size=0.2,
    )
    run = execute(config, scarce_frame(), store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "finished", run.status()

    split = pd.read_csv(run.path / "split.csv")
    n_train_neg = int(
        ((split["split"] == "train") & (scarce_frame()["sentiment"].to_numpy()[split["row"]] == "neg")).sum()
    )
    ev = run.read_json("eval.json")
    started = next(e for e in run.events() if e["type"] == "started")
    # two variants of every 'neg' training text, none of the plentiful 'pos'
    assert ev["n_augmented"] == started["n_augmented"] == 2 * n_train_neg > 0
    assert ev["augmentation"]["per_class"] == {"neg": 2 * n_train_neg}
    assert ev["n_train"] == int((split["split"] == "train").sum())  # the original rows, as before
    train = seen["train"]
    assert len(train) == ev["n_train"] + ev["n_augmented"]
    assert (train["label"].value_counts()["pos"]) == int(
        ((split["split"] == "train") & (scarce_frame()["sentiment"].to_numpy()[split["row"]] == "pos")).sum()
    )
    # validation and test are the untouched original rows
    assert len(seen["val"]) == ev["n_val"] == int((split["split"] == "validation").sum())
    assert ev["n_test"] == int((split["split"] == "test").sum())
    preds = pd.read_csv(run.path / "predictions.csv")
    assert len(preds) == ev["n_test"]


def test_augmentation_is_off_by_default_and_recorded_as_nothing(tmp_path):
    run = execute(
        RunConfig(strategy="baseline", text_col="review", label_col="sentiment"),
        scarce_frame(),
        store=RunStore(tmp_path / "runs"),
    )
    assert run.read_json("eval.json")["n_augmented"] == 0
    assert RunConfig().augment == "off"


def test_bad_augmentation_setting_is_a_clear_error():
    with pytest.raises(TextclfError, match="augment"):
        RunConfig(augment="paraphrase")
    with pytest.raises(TextclfError, match="augment_copies"):
        RunConfig(augment="eda", augment_copies=0)


def test_mlm_augmentation_changes_some_words_and_keeps_labels(tiny_mlm):
    texts = [
        "great movie loved it wonderful acting superb story",
        "the team won the match with a late goal in the final",
        "shares rose as the company reported strong profits",
    ]
    out, labels = fewshot.augment_mlm(texts, ["pos", "sport", "money"], str(tiny_mlm), copies=2, seed=3)
    assert out[:3] == texts and len(out) == 9
    assert labels == ["pos", "sport", "money"] * 3
    variants = out[3:]
    assert all(v != texts[i % 3] for i, v in enumerate(variants))  # every variant has a replaced piece
    for i, v in enumerate(variants):  # most words stay: a paraphrase, not a new text
        original = texts[i % 3].split()
        same = sum(a == b for a, b in zip(original, v.split()))
        assert same >= len(original) // 2, (texts[i % 3], v)
    assert not any("[MASK]" in v or "[CLS]" in v for v in variants)
    again, _ = fewshot.augment_mlm(texts, ["pos", "sport", "money"], str(tiny_mlm), copies=2, seed=3)
    assert again == out  # seeded


def test_model_without_masked_lm_head_is_refused_plainly(tiny_bert):
    with pytest.raises(TextclfError, match="no masked-language-model head.*eda"):
        fewshot.augment_mlm(["great movie"], ["pos"], str(tiny_bert))


def test_mlm_run_fails_with_the_message_for_a_model_without_head(tiny_bert, tmp_path):
    config = RunConfig(
        strategy="baseline",
        model=str(tiny_bert),
        text_col="review",
        label_col="sentiment",
        augment="mlm",
        augment_max_per_class=20,
    )
    run = execute(config, scarce_frame(), store=RunStore(tmp_path / "runs"))
    status = run.status()
    assert status["state"] == "failed" and "masked-language-model head" in status["message"]


def test_mlm_run_with_a_masked_lm_model(tiny_mlm, tmp_path):
    config = RunConfig(
        strategy="baseline",
        model=str(tiny_mlm),
        text_col="review",
        label_col="sentiment",
        augment="mlm",
        augment_copies=1,
        augment_max_per_class=20,
    )
    run = execute(config, scarce_frame(), store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "finished", run.status()
    ev = run.read_json("eval.json")
    assert ev["augmentation"]["method"] == "mlm" and ev["n_augmented"] == ev["augmentation"]["per_class"]["neg"] > 0


def test_cli_train_with_augment(tmp_path, capsys):
    path = tmp_path / "reviews.csv"
    scarce_frame().to_csv(path, index=False)
    assert (
        main(
            [
                "train",
                "--data",
                str(path),
                "--strategy",
                "baseline",
                "--augment",
                "eda",
                "--augment-copies",
                "3",
                "--augment-max-per-class",
                "20",
                "--no-progress",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "augmented training rows added" in captured.err
    [summary] = RunStore().list()
    run = RunStore().get(summary.id)
    assert json.loads((run.path / "config.json").read_text())["augment"] == "eda"
    ev = run.read_json("eval.json")
    assert ev["augmentation"]["copies"] == 3 and ev["n_augmented"] % 3 == 0 and ev["n_augmented"] > 0
    assert main(["train", "--data", str(path), "--augment", "paraphrase"]) == 2
