"""Strategy page: the augmentation option reaches the run (off unless chosen)."""

from __future__ import annotations

from helpers.small_data import small_frame

from textclf_core.store.runs import RunStore


def test_augmentation_chosen_on_the_strategy_page_reaches_the_run(app):
    app.switch_page("app_pages/upload.py").run()
    app.file_uploader(key="uploader").set_value(
        ("reviews.csv", small_frame(20).to_csv(index=False).encode(), "text/csv")
    ).run()
    app.switch_page("app_pages/strategy.py").run()
    next(r for r in app.radio if r.label == "How to train").set_value("baseline").run()
    option = next(s for s in app.selectbox if s.label == "Augment scarce classes")
    assert option.value == "off"  # off by default
    option.set_value("eda").run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    next(b for b in app.button if b.label == "Start training").click().run()
    from app_ui import job_manager

    snap = job_manager().wait(app.session_state["training_job"], timeout=120)
    assert snap.state == "finished", snap.message
    run = RunStore().get(snap.run_id)
    assert run.config.augment == "eda"
    assert run.read_json("eval.json")["n_augmented"] > 0  # every class is under 64 training rows here
