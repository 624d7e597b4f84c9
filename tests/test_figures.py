"""Figures show the data they were given (checked on the figure data, not pixels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from textclf_core import figures


def test_class_distribution_bars_largest_first():
    fig = figures.class_distribution({"rotten": 3, "fresh": 7})
    bar = fig.data[0]
    assert list(bar.x) == ["fresh", "rotten"]
    assert list(bar.y) == [7, 3]
    assert list(bar.text) == ["7", "3"]


def test_empty_inputs_give_a_message_not_an_error():
    for fig in (
        figures.class_distribution({}),
        figures.text_lengths([]),
        figures.confidence_histogram([]),
        figures.confusion_matrix([], []),
        figures.compare_curves({}),
        figures.probability_bar({}),
    ):
        assert fig.layout.annotations, "an empty figure explains itself"


def test_text_lengths_marks_the_limit_and_the_truncated_share():
    fig = figures.text_lengths([10, 20, 300, 400], max_length=128, unit="tokens")
    assert list(fig.data[0].x) == [10, 20, 300, 400]
    assert any("50% longer" in a.text for a in fig.layout.annotations)


def test_training_curves_have_loss_and_scores_and_keep_zoom():
    steps = [{"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.7}, {"step": 3, "loss": 0.5}]
    evals = [
        {"step": 2, "val_loss": 0.6, "accuracy": 0.7, "macro_f1": 0.65},
        {"step": 3, "val_loss": 0.55, "accuracy": 0.8, "macro_f1": 0.78},
    ]
    fig = figures.training_curves(steps, evals, uirevision="job-1")
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["training loss"].y) == [0.9, 0.7, 0.5]
    assert list(by_name["validation loss"].x) == [2, 3]
    assert list(by_name["Macro-F1"].y) == [0.65, 0.78]
    assert list(by_name["Accuracy"].y) == [0.7, 0.8]
    assert fig.layout.uirevision == "job-1"


def test_training_curves_before_the_first_step():
    fig = figures.training_curves([], [])
    assert not fig.data and fig.layout.annotations


def test_confusion_matrix_counts_normalised_and_clickable():
    matrix = [[8, 2], [1, 9]]
    fig = figures.confusion_matrix(matrix, ["neg", "pos"])
    heat = fig.data[0]
    assert np.array_equal(np.asarray(heat.z), np.array(matrix))
    assert heat.text[0][1] == "2"
    assert list(heat.customdata[0][1]) == ["neg", "pos", 2]  # true neg predicted pos
    cells = fig.data[1]  # invisible markers that make a click on a cell selectable
    assert [list(c) for c in cells.customdata][1] == ["neg", "pos", 2]
    assert (cells.x[1], cells.y[1]) == ("pos", "neg")
    norm = figures.confusion_matrix(matrix, ["neg", "pos"], normalize=True).data[0]
    assert np.allclose(np.asarray(norm.z), [[0.8, 0.2], [0.1, 0.9]])
    assert norm.text[1][1] == "90%"


def test_confusion_matrix_row_without_examples_is_zero_not_nan():
    norm = figures.confusion_matrix([[0, 0], [1, 3]], ["a", "b"], normalize=True).data[0]
    assert np.allclose(np.asarray(norm.z), [[0, 0], [0.25, 0.75]])


def test_per_class_table_and_bars():
    per_class = {
        "a": {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 3.0},
        "b": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 4},
    }
    table = figures.per_class_table(per_class)
    assert list(table.index) == ["a", "b"]
    assert list(table.columns[:4]) == ["precision", "recall", "f1", "support"]
    assert table.loc["b", "support"] == 4
    fig = figures.per_class_bars(per_class)
    assert [t.name for t in fig.data] == ["precision", "recall", "f1"]
    assert list(fig.data[1].y) == [1.0, 0.5]


def test_confidence_histogram_splits_right_and_wrong():
    fig = figures.confidence_histogram([0.9, 0.6, 0.55, 0.99], [True, False, False, True])
    by_name = {t.name: t for t in fig.data}
    assert sorted(by_name["correct"].x) == [0.9, 0.99]
    assert sorted(by_name["wrong"].x) == [0.55, 0.6]


def test_roc_and_pr_curves_for_a_binary_task():
    gold = ["pos", "neg", "pos", "neg", "pos"]
    scores = [0.9, 0.2, 0.8, 0.4, 0.3]
    roc = figures.roc_curve(gold, scores, positive="pos")
    assert roc.data[1].name.startswith("AUC 0.833")
    pr = figures.pr_curve(gold, scores, positive="pos")
    assert pr.data[0].name.startswith("AP ")
    one_class = figures.roc_curve(["pos", "pos"], [0.9, 0.8], positive="pos")
    assert one_class.layout.annotations


def test_probability_bar_puts_the_winner_on_top():
    fig = figures.probability_bar({"sport": 0.7, "tech": 0.2, "business": 0.1})
    assert list(fig.data[0].y) == ["business", "tech", "sport"]
    assert fig.data[0].text[-1] == "70%"


def test_compare_curves_one_line_per_run():
    curves = {
        "baseline": [{"epoch": 1, "macro_f1": 0.7}],
        "lora": [{"epoch": 1, "macro_f1": 0.75}, {"epoch": 2, "macro_f1": 0.82}],
        "empty": [],
    }
    fig = figures.compare_curves(curves)
    assert [t.name for t in fig.data] == ["baseline", "lora"]
    assert list(fig.data[1].y) == [0.75, 0.82]


def test_class_distribution_accepts_a_series():
    fig = figures.class_distribution(pd.Series({"x": 2, "y": 5}))
    assert list(fig.data[0].x) == ["y", "x"]


def test_per_class_table_reads_eval_json_records():
    table = figures.per_class_table([{"class": "a", "precision": 1.0, "recall": 0.5, "f1": 0.67, "support": 2}])
    assert list(table.index) == ["a"] and table.loc["a", "recall"] == 0.5


def test_word_counts_come_from_the_language_owner():
    """Words are counted by data.language (segmented where the script has no spaces), never by spaces here."""
    from textclf_core.data import language

    assert not hasattr(figures, "word_counts")
    assert list(language.word_counts(["a b c", "", "我喜欢这部电影"]))[:2] == [3, 0]
    assert language.word_counts(["我喜欢这部电影"])[0] >= 3


def test_insight_figures_show_their_data():
    rel = {
        "ece": 0.1,
        "bins": [
            {"low": 0.5, "high": 0.6, "count": 3, "confidence": 0.55, "accuracy": 0.4},
            {"low": 0.9, "high": 1.0, "count": 0, "confidence": None, "accuracy": None},
        ],
    }
    fig = figures.reliability_diagram(rel, rel)
    assert len(fig.data) == 3 and list(fig.data[1].x) == [0.55] and "ECE 0.100" in fig.data[1].name
    assert figures.reliability_diagram(None).layout.annotations
    points = pd.DataFrame({"member": "TF-IDF", "n_train": [10, 20, 40], "macro_f1": [0.5, 0.6, 0.7]})
    fig = figures.learning_curve(points, {"TF-IDF": {"per_doubling": 0.1, "intercept": 0.17}})
    assert list(fig.data[0].y) == [0.5, 0.6, 0.7] and list(fig.data[1].x) == [10, 80]
    assert figures.learning_curve(points.iloc[:0]).layout.annotations
    per = pd.DataFrame({"class": ["a", "b"], "F1 B − A": [0.05, -0.02]})
    assert list(figures.class_differences(per).data[0].text) == ["+5.0", "-2.0"]


def test_labelling_curve_shows_one_estimate_with_its_interval_and_whole_label_counts():
    """After the first retrain there is one estimate: its interval is an error bar (a band needs two points, and
    without it the page showed two unexplained dots), and the axis counts whole labels (no "19.5")."""
    from textclf_core.figures import labelling_curve

    one = labelling_curve([{"n_labels": 20, "accuracy": 1.0, "low": 0.84, "high": 1.0}])
    (estimate,) = one.data
    assert list(estimate.error_y.arrayminus) == [pytest.approx(0.16)] and one.layout.xaxis.tickformat == ",d"
    two = labelling_curve(
        [
            {"n_labels": 20, "accuracy": 1.0, "low": 0.84, "high": 1.0},
            {"n_labels": 40, "accuracy": 0.9, "low": 0.8, "high": 0.95},
        ]
    )
    assert len(two.data) == 2 and two.data[0].fill == "toself"  # the band, then the line
    assert two.data[0].mode == "lines"  # no dots on the band's corners
