"""Losses behave as defined: class weights, focal loss, multi-label thresholds."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from textclf_core.config import RunConfig
from textclf_core.engine import losses
from textclf_core.labels import LabelSpace


def test_class_weights_are_inverse_frequency_normalised():
    w = losses.class_weights([90, 10])
    np.testing.assert_allclose(w.numpy(), [100 / (2 * 90), 100 / (2 * 10)], rtol=1e-6)
    counts = np.array([90, 10])
    assert (w.numpy() * counts).sum() / counts.sum() == pytest.approx(1.0)


def test_weighted_ce_matches_formula():
    space = LabelSpace(["a", "b"])
    y = np.array([0] * 9 + [1])
    fn = losses.make_loss(RunConfig(loss="weighted"), space, y)
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([0, 1])
    w = torch.tensor([10 / 18, 10 / 2])
    expected = F.cross_entropy(logits, target, weight=w)
    torch.testing.assert_close(losses.compute_loss(fn, logits, target), expected)


def test_focal_loss_matches_formula_and_reduces_to_ce():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    target = torch.tensor([0, 2])
    p_t = torch.softmax(logits, -1)[torch.arange(2), target]
    expected = (-((1 - p_t) ** 2) * torch.log(p_t)).mean()
    torch.testing.assert_close(losses.FocalLoss(2.0)(logits, target), expected)
    torch.testing.assert_close(losses.FocalLoss(0.0)(logits, target), F.cross_entropy(logits, target))


def test_bce_for_multi_label_and_thresholds():
    space = LabelSpace(["x", "y"], multi_label=True, separator=";")
    y = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    fn = losses.make_loss(RunConfig(loss="bce"), space, y)
    assert isinstance(fn, torch.nn.BCEWithLogitsLoss)
    proba = np.array([[0.3, 0.1], [0.1, 0.9], [0.35, 0.8], [0.05, 0.2]])
    truth = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    thr = losses.tune_thresholds(proba, truth)
    assert thr[0] <= 0.3 and 0.2 < thr[1] <= 0.8
