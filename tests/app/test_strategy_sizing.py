"""Strategy page: the estimate comes from sizing, and a strategy that would take hours says so plainly and
offers to train on a stratified sample (measured speeds slowed down here so that small data 'takes hours')."""

from __future__ import annotations

from helpers.app_pages import no_trouble, strategy_page

from textclf_core.strategies import sizing


def test_hours_warning_and_sample_offer(app, monkeypatch):
    # 80 rows at 0.01 rows/s: hours; a sample of at least 10 rows is worth offering
    monkeypatch.setitem(sizing.SPEEDS, "full", sizing.Speed(0.01, "test", "slowed down for the test"))
    monkeypatch.setattr(sizing, "MIN_SAMPLE", 10)
    monkeypatch.setattr(sizing, "SAMPLE_TARGET_S", 1500.0)
    radio = strategy_page(app, 40)
    radio.set_value("full").run()
    no_trouble(app)
    warning = " ".join(w.value for w in app.warning)
    assert "Full fine-tuning on 80 rows would take about" in warning and " hours on " in warning
    assert "Train on a stratified sample of" in warning and "TF-IDF baseline trains on all 80 rows" in warning
    offer = next(t for t in app.toggle if t.label.startswith("Train on a sample of"))
    offer.set_value(True).run()
    no_trouble(app)
    assert any("This run trains on" in c.value and "of your 80 labelled rows" in c.value for c in app.caption)


def test_quick_strategies_get_no_warning(app):
    radio = strategy_page(app, 40)
    radio.set_value("baseline").run()
    no_trouble(app)
    assert not [w for w in app.warning if "would take" in w.value]
    assert not [t for t in app.toggle if t.label.startswith("Train on a sample of")]
    assert any("a few seconds on" in m.value for m in app.markdown)
