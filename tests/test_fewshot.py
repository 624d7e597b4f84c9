"""Few-shot (SetFit-style) pairs and training, and text augmentation."""

from __future__ import annotations

import numpy as np
from helpers.small_data import small_frame

from textclf_core.strategies import fewshot


def test_pairs_are_bounded_and_balanced():
    labels = ["a"] * 8 + ["b"] * 8 + ["c"] * 8
    pairs = fewshot.contrastive_pairs(labels, pairs_per_example=20, max_pairs=100, seed=0)
    assert len(pairs) == 100
    same = [p for p in pairs if p[2] == 1.0]
    assert len(same) == 50 and all(labels[i] == labels[j] and i != j for i, j, _ in same)
    assert all(labels[i] != labels[j] for i, j, t in pairs if t == 0.0)
    assert fewshot.contrastive_pairs(labels, seed=1) != fewshot.contrastive_pairs(labels, seed=2)


def test_augment_keeps_labels_and_words():
    texts = ["the film was a great and moving story", "dull plot and poor acting throughout the film"]
    aug_texts, aug_labels = fewshot.augment(texts, ["pos", "neg"], copies=2, seed=0)
    assert len(aug_texts) == 6 and aug_labels == ["pos", "neg"] * 3
    assert aug_texts[:2] == texts
    for variant, original in zip(aug_texts[2:], texts * 2):
        assert set(variant.split()) <= set(original.split())
    assert aug_texts[2:] != texts * 2
    assert fewshot.augment_text("hi", np.random.default_rng(0)) == "hi"


def test_fewshot_trains_on_a_tiny_model(tiny_bert):
    import torch

    torch.set_num_threads(1)
    frame = small_frame(8)
    model = fewshot.train_fewshot(
        frame["review"], frame["sentiment"], model=str(tiny_bert), max_pairs=64, batch_size=16, lr=1e-3, max_length=32
    )
    proba = model.predict_proba(["great wonderful superb", "awful boring dull"])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(1), 1)
    assert set(model.predict(frame["review"])) <= {"pos", "neg"}
    assert model.classes == ["neg", "pos"]
