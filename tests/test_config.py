"""RunConfig: one JSON file repeats a run exactly; bad settings fail at once, in words."""

from __future__ import annotations

import pytest

from textclf_core.config import STRATEGIES, RunConfig
from textclf_core.errors import TextclfError


def test_json_round_trip(tmp_path):
    config = RunConfig(strategy="lora", lr=1e-4, epochs=2, lora_targets=["query", "value"], data_path="x.csv")
    path = tmp_path / "run.json"
    config.to_json(path)
    again = RunConfig.from_json(path)
    assert again == config
    assert RunConfig.from_json(config.to_json()) == config


def test_aliases_and_weighted_loss():
    assert RunConfig(strategy="tfidf").strategy == "baseline"
    assert RunConfig(strategy="FE").strategy == "feature-extraction"
    assert RunConfig(loss="weighted").class_weights is True
    assert set(STRATEGIES) == {"baseline", "feature-extraction", "partial", "full", "lora", "fewshot", "auto"}


def test_unknown_settings_are_kept_not_fatal():
    config = RunConfig.from_dict({"strategy": "full", "future_option": 3})
    assert config.extra == {"future_option": 3}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"strategy": "magic"}, "Setting 'strategy' is 'magic'"),
        ({"epochs": 0}, "'epochs' must be a whole number of at least 1"),
        ({"lr": 0}, "learning rate"),
        ({"val_size": 0.5, "test_size": 0.5}, "leave too little for training"),
        ({"max_length": 100000}, "more than any supported model reads"),
        ({"dropout": 1.5}, "'dropout' must be between 0 and 1"),
        ({"early_stopping_patience": 0}, "early_stopping_patience"),
    ],
)
def test_bad_settings_say_what_is_wrong(kwargs, message):
    with pytest.raises(TextclfError, match=message) as err:
        RunConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_bad_json_files(tmp_path):
    with pytest.raises(TextclfError, match="does not exist"):
        RunConfig.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TextclfError, match="not valid JSON"):
        RunConfig.from_json(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(TextclfError, match="must be a JSON object"):
        RunConfig.from_json(bad)


def test_display_name_and_head_lr():
    assert RunConfig(strategy="baseline").display_name() == "TF-IDF + logreg"
    assert "top 3" in RunConfig(strategy="partial", layers=3).display_name()
    assert RunConfig(strategy="feature-extraction", lr=1e-5).effective_head_lr() == 1e-3
    assert RunConfig(lr=2e-5).effective_head_lr() == pytest.approx(2e-4)
