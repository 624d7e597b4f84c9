"""Strategy page: auto is recommended, with few-shot among its candidates and as the single-strategy advice only for
tiny classes; few-shot is offered; switching applies a strategy's defaults."""

from __future__ import annotations

import pytest
from helpers.app_pages import no_trouble, strategy_page

from textclf_core.strategies import advice as strategies


def number(app, label: str):
    return next(n for n in app.number_input if n.label == label).value


def test_fewshot_is_recommended_for_a_tiny_class(app):
    if strategies.FEWSHOT_MAX_SMALLEST_CLASS < 6:
        pytest.skip("the measurement set few-shot's recommendation below 6 examples")
    radio = strategy_page(app, 6)
    assert "fewshot" in radio.options or "Few-shot" in radio.options
    assert radio.value == "auto"  # auto is recommended for every dataset; its plan includes few-shot here
    assert "MiniLM few-shot" in set(app.dataframe[0].value["candidate"])
    advice = next(i.value for i in app.info if "Recommended" in i.value)
    assert "Recommended: Auto" in advice and "few-shot tuning is one of the candidates" in advice
    assert "If you want one strategy: Few-shot" in advice and "Only 6 examples in the smallest class" in advice
    radio.set_value("fewshot").run()
    no_trouble(app)
    assert number(app, "Contrastive pairs (at most)") == strategies.STRATEGY_DEFAULTS["fewshot"]["fewshot_max_pairs"]


def test_fewshot_is_offered_but_not_recommended_with_enough_examples(app):
    per_class = max(strategies.FEWSHOT_MAX_SMALLEST_CLASS + 1, 40)
    radio = strategy_page(app, per_class)
    assert "fewshot" in radio.options or "Few-shot" in radio.options
    assert radio.value == "auto"
    advice = next(i.value for i in app.info if "Recommended" in i.value)
    assert "few-shot" not in advice.lower() and "If you want one strategy: Feature extraction" in advice


def test_switching_strategy_applies_its_defaults(app):
    radio = strategy_page(app, 40)
    radio.set_value("full").run()
    no_trouble(app)
    assert number(app, "Epochs") == strategies.STRATEGY_DEFAULTS["full"]["epochs"]
    radio = next(r for r in app.radio if r.label == "How to train")
    radio.set_value("fewshot").run()
    no_trouble(app)
    defaults = strategies.STRATEGY_DEFAULTS["fewshot"]
    assert number(app, "Epochs") == defaults["epochs"] and number(app, "Batch size") == defaults["batch_size"]
    assert number(app, "Learning rate") == pytest.approx(defaults["lr"])
    assert number(app, "Contrastive pairs (at most)") == defaults["fewshot_max_pairs"]
