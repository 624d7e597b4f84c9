"""Run-vs-run comparison: McNemar's exact test on a case with a known answer, and runs that cannot be compared."""

from __future__ import annotations

from math import comb

import pandas as pd
import pytest
from helpers.small_data import small_frame

from textclf_core.cli import main
from textclf_core.config import RunConfig
from textclf_core.errors import TextclfError
from textclf_core.evaluation.compare import compare_predictions, compare_runs, mcnemar_exact
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore


def frames(both_right=40, only_a=12, only_b=31, both_wrong=7):
    """Two prediction frames of the same texts with the given 2x2 table (two classes)."""
    rows_a, rows_b = [], []
    cases = (
        [("x", "x", "x")] * both_right
        + [("x", "x", "y")] * only_a
        + [("x", "y", "x")] * only_b
        + [("x", "y", "y")] * both_wrong
    )
    for i, (gold, a, b) in enumerate(cases):
        gold, a, b = (gold, a, b) if i % 2 else tuple({"x": "y", "y": "x"}[v] for v in (gold, a, b))
        rows_a.append({"row": i, "text": f"text {i}", "gold": gold, "predicted": a, "confidence": 0.9})
        rows_b.append({"row": i, "text": f"text {i}", "gold": gold, "predicted": b, "confidence": 0.6})
    return pd.DataFrame(rows_a), pd.DataFrame(rows_b).sample(frac=1.0, random_state=0)  # B in another order


def test_mcnemar_matches_the_binomial_by_hand():
    # two-sided exact test of 12 vs 31: 2 * P(X <= 12), X ~ Binomial(43, 1/2)
    expected = 2 * sum(comb(43, i) for i in range(13)) / 2**43
    assert mcnemar_exact(12, 31) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.0054, abs=1e-4)
    assert mcnemar_exact(31, 12) == mcnemar_exact(12, 31)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0


def test_the_table_the_sentence_and_the_disagreements():
    a, b = frames()
    result = compare_predictions(a, b)
    assert result.table.to_numpy().tolist() == [[40, 12], [31, 7]]
    assert (result.n, result.only_a, result.only_b) == (90, 12, 31)
    assert result.sentence.startswith(
        "B is better on 31 texts and worse on 12; a difference this large happens by chance with probability 0.005"
    )
    assert result.accuracy_b - result.accuracy_a == pytest.approx((31 - 12) / 90)
    dis = result.disagreements
    assert len(dis) == 12 + 31  # both-wrong texts here have the same wrong label in each run
    assert set(dis["right"]) == {"only A", "only B"} and dis["right"].iloc[0] == "only B"
    assert {"predicted A", "confidence A", "predicted B", "confidence B", "text", "gold"} <= set(dis.columns)
    only_x = result.filter_disagreements("x")
    assert (
        len(only_x)
        and ((only_x["gold"] == "x") | (only_x["predicted A"] == "x") | (only_x["predicted B"] == "x")).all()
    )
    per = result.per_class.set_index("class")
    assert per["only B right"].sum() == 31 and per["texts"].sum() == 90


def test_an_even_split_is_not_called_a_win():
    a, b = frames(only_a=10, only_b=12)
    result = compare_predictions(a, b)
    assert result.p_value > 0.5 and "luck" in result.sentence


def _run(**kw):
    config = RunConfig(strategy="baseline", seed=kw.pop("seed", 0), **kw)
    run = execute(config, small_frame(40), store=RunStore())
    assert run.status()["state"] == "finished"
    return run


def test_two_runs_on_the_same_rows_compare_and_the_cli_prints_it(capsys):
    a, b = _run(baseline_model="logreg"), _run(baseline_model="nb")
    result = compare_runs(a, b)
    assert result.n == len(pd.read_csv(a.path / "predictions.csv"))
    assert result.both_right + result.only_a + result.only_b + result.both_wrong == result.n
    assert main(["compare", a.id, b.id]) == 0
    out = capsys.readouterr().out
    assert "McNemar exact p =" in out and "A right" in out and "per class" in out


def test_runs_on_different_test_rows_get_a_clear_reason(capsys):
    a, b = _run(seed=0), _run(seed=1)
    with pytest.raises(TextclfError, match="tested on different rows") as err:
        compare_runs(a, b)
    assert "same seed" in str(err.value)
    assert main(["compare", a.id, b.id]) == 2
    assert "different rows" in capsys.readouterr().err
    with pytest.raises(TextclfError, match="same run"):
        compare_runs(a, a)
    other = execute(RunConfig(strategy="baseline", seed=0), small_frame(40, seed=5), store=RunStore())
    with pytest.raises(TextclfError, match="different data"):
        compare_runs(a, other)


def test_a_runs_model_is_described_as_it_was_kept(tmp_path):
    """One model is one model; an auto run's model is its members, not the encoder its settings name."""
    from textclf_core.evaluation.compare import describe_model
    from textclf_core.labels import LabelSpace
    from textclf_core.store import model_folder

    class Folder:
        def __init__(self, path, config):
            self.model_dir, self._config = path, config

        def read_json(self, name, default=None):
            return self._config

    space = LabelSpace.from_labels(["a", "b"])
    one = tmp_path / "one"
    for name in ("one", "two", "base"):
        (tmp_path / name).mkdir()
    model_folder.write_info(
        one,
        model_folder.ModelInfo(
            "ensemble",
            space,
            128,
            extra={
                "members": [
                    {"key": "tfidf-logreg", "label": "TF-IDF + logistic regression", "weight": 1.0},
                    {"key": "embeddings-minilm", "label": "MiniLM embeddings", "weight": 0.0},
                ]
            },
        ),
    )
    auto_config = {"strategy": "auto", "model": "all-MiniLM-L6-v2", "max_length": 128}
    assert describe_model(Folder(one, auto_config)) == "TF-IDF + logistic regression (auto kept one model)"
    two = tmp_path / "two"
    model_folder.write_info(
        two,
        model_folder.ModelInfo(
            "ensemble",
            space,
            128,
            extra={
                "members": [
                    {"key": "tfidf-logreg", "label": "TF-IDF + logistic regression", "weight": 0.3},
                    {"key": "embeddings-minilm", "label": "MiniLM embeddings", "weight": 0.7},
                ]
            },
        ),
    )
    assert (
        describe_model(Folder(two, auto_config))
        == "Ensemble of MiniLM embeddings (0.70) and TF-IDF + logistic regression (0.30)"
    )
    base = tmp_path / "base"
    model_folder.write_info(base, model_folder.ModelInfo("baseline", space, 128))
    assert describe_model(Folder(base, {"strategy": "baseline", "baseline_model": "svm"})) == "TF-IDF + linear SVM"
