"""Metrics against values worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from textclf_core.evaluation.metrics import (
    compute_metrics,
    metrics_by_group,
    misclassified,
    predictions_frame,
    tune_thresholds,
)

# Four reviews, two classes; the third is wrong (true a, predicted b).
CLASSES = ["a", "b"]
GOLD = ["a", "b", "a", "b"]
PROBA = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])


def test_binary_metrics_match_hand_computation():
    m = compute_metrics(GOLD, PROBA, CLASSES)
    assert m["n"] == 4
    assert m["accuracy"] == pytest.approx(0.75)
    # class a: precision 1/1, recall 1/2, F1 2/3; class b: precision 2/3, recall 1, F1 0.8
    a, b = m["per_class"]
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == pytest.approx((1.0, 0.5, 2 / 3, 2))
    assert (b["precision"], b["recall"], b["f1"], b["support"]) == pytest.approx((2 / 3, 1.0, 0.8, 2))
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["weighted_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["macro_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["confusion_matrix"] == [[1, 1], [0, 2]]
    assert m["confusion_matrix_normalized"] == [[0.5, 0.5], [0.0, 1.0]]
    # positives (b) score 0.6, 0.8; negatives 0.1, 0.7: 3 of 4 pairs ordered right
    assert m["roc_auc"] == pytest.approx(0.75)
    # ranking by p(b): 0.8 (b), 0.7 (a), 0.6 (b) → AP = (1/1 + 2/3) / 2
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["loss"] == pytest.approx(-(math.log(0.9) + math.log(0.6) + math.log(0.3) + math.log(0.8)) / 4)
    assert m["positive_class"] == "b"
    assert m["roc_curve"]["x"][0] == 0.0 and m["roc_curve"]["y"][-1] == 1.0


def test_ids_and_names_give_the_same_scores_and_missing_gold_is_skipped():
    by_name = compute_metrics(GOLD, PROBA, CLASSES)
    by_id = compute_metrics(np.array([0, 1, 0, 1]), PROBA, CLASSES)
    assert by_name["accuracy"] == by_id["accuracy"] and by_name["loss"] == by_id["loss"]
    with_missing = compute_metrics(GOLD + [None], np.vstack([PROBA, [[0.5, 0.5]]]), CLASSES)
    assert with_missing["n"] == 4 and with_missing["accuracy"] == pytest.approx(0.75)


def test_three_classes_with_an_unpredicted_class():
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    m = compute_metrics(["x", "y", "z", "y"], proba, ["x", "y", "z"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["per_class"][2] == {"class": "z", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 2, 0], [1, 0, 0]]
    assert m["roc_auc"] is not None and m["pr_auc"] is None  # PR-AUC is reported for two classes only


def test_output_is_plain_json():
    for m in (
        compute_metrics(GOLD, PROBA, CLASSES),
        compute_metrics(["a", "a"], PROBA[:2], CLASSES),  # one class present: no AUC, still valid
        compute_metrics([], np.zeros((0, 2)), CLASSES),
    ):
        json.dumps(m, allow_nan=False)
    assert compute_metrics(["a", "a"], PROBA[:2], CLASSES)["roc_auc"] is None


def test_multi_label_metrics_with_per_class_thresholds():
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    proba = np.array([[0.9, 0.2], [0.6, 0.35], [0.2, 0.4], [0.1, 0.1]])
    default = compute_metrics(y, proba, ["p", "q"], multi_label=True)
    # at 0.5, q is never predicted: rows 2 and 3 are wrong → subset accuracy 2/4, 2 wrong cells of 8
    assert default["subset_accuracy"] == pytest.approx(0.5)
    assert default["hamming_loss"] == pytest.approx(2 / 8)
    tuned = compute_metrics(y, proba, ["p", "q"], multi_label=True, thresholds=[0.5, 0.3])
    assert tuned["subset_accuracy"] == 1.0 and tuned["micro_f1"] == 1.0 and tuned["macro_f1"] == 1.0
    assert [c["threshold"] for c in tuned["per_class"]] == [0.5, 0.3]
    assert tuned["per_class_confusion"][1] == [[2, 0], [0, 2]]
    cells = compute_metrics(["p", "p;q", "q", ""], proba, ["p", "q"], multi_label=True, thresholds=[0.5, 0.3])
    assert cells["subset_accuracy"] == 1.0
    json.dumps(tuned, allow_nan=False)


def test_tune_thresholds_finds_the_separating_cut():
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    proba = np.array([[0.9, 0.2], [0.6, 0.35], [0.2, 0.4], [0.1, 0.1]])
    p, q = tune_thresholds(y, proba, ["p", "q"])
    assert 0.2 < p <= 0.6 and 0.2 < q <= 0.35


def test_predictions_frame_and_misclassified():
    frame = predictions_frame(
        ["t1", "t2", "t3", "t4", "t5"],
        GOLD + [None],
        np.vstack([PROBA, [[0.45, 0.55]]]),
        CLASSES,
        rows=[10, 11, 12, 13, 14],
    )
    assert list(frame.columns) == ["row", "text", "gold", "predicted", "confidence", "prob_a", "prob_b", "correct"]
    assert frame["predicted"].tolist() == ["a", "b", "b", "b", "b"]
    assert frame["confidence"].tolist() == pytest.approx([0.9, 0.6, 0.7, 0.8, 0.55])
    assert frame["correct"].tolist()[:4] == [True, True, False, True]
    assert frame["gold"].iloc[4] == "" and frame["correct"].isna().iloc[4]
    wrong = misclassified(frame)
    assert wrong["text"].tolist() == ["t3"]


def test_misclassified_most_confident_first():
    proba = np.array([[0.6, 0.4], [0.95, 0.05], [0.2, 0.8]])
    frame = predictions_frame(["x", "y", "z"], ["b", "b", "a"], proba, CLASSES)
    assert misclassified(frame)["text"].tolist() == ["y", "z", "x"]


def test_multi_label_predictions_frame():
    frame = predictions_frame(
        ["u", "v"],
        ["p;q", "p"],
        np.array([[0.9, 0.7], [0.8, 0.6]]),
        ["p", "q"],
        multi_label=True,
        thresholds=[0.5, 0.65],
    )
    assert frame["predicted"].tolist() == ["p;q", "p"]
    assert frame["correct"].tolist() == [True, True]
    # v leaves q out (0.6 < its 0.65 cut-off): the model rates that decision 1 - 0.6 = 0.4, not max(p, 1-p) = 0.6
    assert frame["confidence"].tolist() == pytest.approx([0.7, 0.4])


def test_metrics_by_group():
    frame = predictions_frame(["t1", "t2", "t3", "t4"], GOLD, PROBA, CLASSES)
    table = metrics_by_group(frame, ["web", "web", "mail", "web"])
    assert table["group"].tolist() == ["web", "mail"]
    assert table["n"].tolist() == [3, 1]
    assert table["accuracy"].tolist() == pytest.approx([1.0, 0.0])
