"""The planner knows the size: estimates from rows and measured speeds, plain advice when a strategy takes
hours (a stratified sample, a GPU elsewhere), the sample honoured by the training setup, the CLI flag."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from textclf_core.cli.commands import build_parser, config_from_args
from textclf_core.config import RunConfig
from textclf_core.data import stratified_sample
from textclf_core.errors import DataError, TextclfError
from textclf_core.hardware import Hardware
from textclf_core.pipeline.setup import prepare_training
from textclf_core.strategies import advice as strategies
from textclf_core.strategies import sizing

CPU = Hardware("cpu", "test CPU", 2, False)
GPU = Hardware("cuda", "test GPU", 8, True, 40.0)


@pytest.mark.parametrize("strategy", ["baseline", "feature-extraction", "partial", "full", "lora", "fewshot"])
def test_estimates_grow_with_rows(strategy):
    seconds = [sizing.estimate(strategy, n, 30, CPU) for n in (1_000, 10_000, 100_000, 1_000_000)]
    assert all(a < b for a, b in zip(seconds, seconds[1:])), seconds
    assert sizing.estimate(strategy, 10_000, 200, CPU) > sizing.estimate(strategy, 10_000, 30, CPU)


def test_more_cores_and_a_gpu_are_faster_for_transformers_only():
    eight = Hardware("cpu", "test CPU", 8, False)
    assert sizing.estimate("full", 50_000, 30, eight) < sizing.estimate("full", 50_000, 30, CPU)
    assert sizing.estimate("full", 50_000, 30, GPU) < sizing.estimate("full", 50_000, 30, eight)
    assert sizing.estimate("baseline", 50_000, 30, GPU) == sizing.estimate("baseline", 50_000, 30, CPU)


def test_the_baseline_estimate_knows_its_large_path():
    below = sizing.estimate("baseline", sizing.LARGE_ROWS - 1, 30, CPU)
    above = sizing.estimate("baseline", sizing.LARGE_ROWS, 30, CPU)
    assert above < below  # the hashed path is the faster one from the threshold on
    assert sizing.estimate("baseline", 1_000_000, 30, CPU) < 600


def test_full_fine_tuning_of_a_million_rows_on_a_cpu_says_hours_and_offers_the_ways_out():
    advice = sizing.advice("full", 1_000_000, 30, CPU, data_name="tickets.csv")
    assert advice.hours and advice.seconds > 3 * 3600
    assert " hours on CPU (test CPU, 2 cores)" in advice.message
    assert 2000 <= advice.sample_rows < 1_000_000
    assert sizing.estimate("full", advice.sample_rows, 30, CPU) <= sizing.SAMPLE_TARGET_S
    assert f"sample of {advice.sample_rows:,} rows" in advice.message
    assert advice.sample_cost_points > 0 and "macro-F1 points" in advice.message
    assert advice.gpu_seconds < advice.seconds and "accelerate launch" in advice.gpu_command
    assert "--data tickets.csv" in advice.gpu_command and advice.gpu_command in advice.message
    assert "TF-IDF baseline trains on all 1,000,000 rows" in advice.message


def test_small_data_gets_no_warning():
    advice = sizing.advice("full", 2_000, 30, CPU)
    assert not advice.hours and advice.message == "" and advice.sample_rows is None


def test_the_sample_cost_comes_from_this_datas_learning_curve_when_given():
    default = sizing.advice("full", 1_000_000, 30, CPU)
    flat = sizing.advice("full", 1_000_000, 30, CPU, curve={"per_doubling": 0.005})
    assert flat.sample_rows == default.sample_rows
    assert flat.sample_cost_points < default.sample_cost_points
    assert "this data's learning curve" in flat.message


def test_recommendation_says_hours_plainly_on_huge_data():
    _, reason = strategies.recommend({"a": 1_500_000, "b": 1_500_000}, 30, 3_000_000, CPU)
    single, why = strategies.recommend_single({"a": 1_500_000, "b": 1_500_000}, 30, 3_000_000, CPU)
    assert single.strategy == "baseline"
    assert " hours on CPU" in why and "sample of" in why and why in reason
    # ordinary sizes keep their advice unchanged
    single, why = strategies.recommend_single({"a": 500, "b": 500}, 30, 1_000, CPU)
    assert single.strategy == "full" and "hours" not in why


def test_sizing_imports_no_torch():
    code = (
        "import sys; import textclf_core.strategies.sizing, textclf_core.strategies; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the stratified sample ----------------------------------------------------------------------------


def test_stratified_sample_keeps_every_class_and_the_requested_size():
    labels = ["big"] * 9_000 + ["mid"] * 990 + ["rare"] * 10 + [None] * 50
    picked = stratified_sample(labels, 1_000, seed=1)
    assert len(picked) == 1_000 and len(set(picked)) == 1_000
    chosen = pd.Series([labels[i] for i in picked]).value_counts()
    assert set(chosen.index) == {"big", "mid", "rare"}  # no unlabelled row, no class lost
    assert chosen["rare"] >= 3 and abs(chosen["big"] - 900) <= 3 and abs(chosen["mid"] - 99) <= 3
    assert np.array_equal(picked, stratified_sample(labels, 1_000, seed=1))  # seeded
    assert not np.array_equal(picked, stratified_sample(labels, 1_000, seed=2))
    assert len(stratified_sample(labels, 50_000)) == 10_000  # more than there are: all labelled rows
    with pytest.raises(DataError):
        stratified_sample(["a"] * 10 + ["b"] * 10 + ["c"] * 10, 5)


def test_training_setup_honours_sample_rows_before_the_split():
    rng = np.random.default_rng(0)
    labels = rng.choice(["pos", "neg", "meh"], size=3_000, p=[0.6, 0.35, 0.05])
    frame = pd.DataFrame({"text": [f"text {i} {lab}" for i, lab in enumerate(labels)], "label": labels})
    config = RunConfig(strategy="baseline", text_col="text", label_col="label", sample_rows=600)
    setup = prepare_training(config, frame)
    used = setup.prepared[setup.prepared["split"].isin(["train", "validation", "test"])]
    assert len(used) == 600
    assert (setup.prepared["split"] == "excluded").sum() == 2_400
    for part in (setup.train, setup.validation, setup.test):
        assert set(part["label"]) == {"pos", "neg", "meh"}
    assert len(setup.test) == pytest.approx(60, abs=3)
    full = prepare_training(config.replace(sample_rows=None), frame)
    assert len(full.train) > 2_000


def test_sample_rows_is_validated():
    with pytest.raises(TextclfError, match="sample_rows"):
        RunConfig(sample_rows=5)
    assert RunConfig.from_dict(RunConfig(sample_rows=20_000).to_dict()).sample_rows == 20_000


def test_cli_flag_sets_sample_rows():
    args = build_parser().parse_args(["train", "--data", "x.csv", "--strategy", "full", "--sample-rows", "20000"])
    config, _ = config_from_args(args)
    assert config.sample_rows == 20_000 and config.strategy == "full"


# --- issue 25: this machine's measured speeds ------------------------------------------------------------
def test_measured_speeds_are_kept_per_model_and_machine(tmp_path):
    from textclf_core.hardware import Hardware

    here = Hardware("cpu", "Test CPU", 2, True)
    store = sizing.SpeedStore(tmp_path / "speeds.json", here)
    calls = []
    assert store.encoder_speed("m", 128) is None  # nothing measured, nothing to measure with
    assert store.encoder_speed("m", 128, lambda: calls.append(1) or 5000.0) == 5000.0
    assert store.encoder_speed("m", 128, lambda: calls.append(1) or 1.0) == 5000.0 and calls == [1]  # from disk
    assert store.encoder_speed("m", 256) is None  # another window length: another speed
    other = sizing.SpeedStore(tmp_path / "speeds.json", Hardware("cpu", "Other CPU", 8, False))
    assert other.encoder_speed("m", 128) is None  # another machine measures its own
    seconds, measured = store.tfidf_seconds("tfidf-logreg", 1_000_000)
    assert not measured
    store.record_tfidf("tfidf-logreg", 1_000_000, 4.0)
    assert store.tfidf_seconds("tfidf-logreg", 2_000_000) == (pytest.approx(8.5), True)
    assert store.record_correction("full", "m", 30.0, 10.0) == pytest.approx(3.0)
    assert store.correction("full", "m") == pytest.approx(3.0)
    # a later run moves it half way (log terms): one run on a busy machine does not decide alone
    assert store.record_correction("full", "m", 40.0, 10.0) == pytest.approx(3.0 * 2.0)
    (tmp_path / "speeds.json").write_text("{broken")
    assert store.encoder_speed("m", 128) is None  # unreadable: measured again, not an error


def test_fine_tuning_costs_more_than_embeddings_at_the_same_speed():
    kw = dict(n_train=1000, n_val=200, embed_tokens=100.0, train_tokens=100.0)
    fe = sizing.transformer_seconds("feature-extraction", 10_000, **kw)
    partial = sizing.transformer_seconds("partial", 10_000, epochs=3, **kw)
    full = sizing.transformer_seconds("full", 10_000, epochs=3, **kw)
    assert fe == pytest.approx(12.0) and fe < partial < full
    assert sizing.transformer_seconds("feature-extraction", 20_000, **kw) == pytest.approx(fe / 2)


def test_tokens_are_counted_by_the_tokenizer_given():
    class Chars:  # a tokenizer that reads one token per character, as many do for Chinese
        def __call__(self, texts, **kwargs):
            return {"input_ids": [[0] + [1] * len(t) + [0] for t in texts]}

    counts = sizing.count_tokens(["这部电影很好看", "ab"], Chars())
    assert list(counts) == [9, 4]
    assert len(sizing.count_tokens(["x"] * 1000, Chars(), sample=50)) == 50
