"""Evaluation (score intervals, calibration, learning curve), Compare (run A vs run B) and Predict
(near-uniform warning) through AppTest, on runs trained in the test's own TEXTCLF_HOME."""

from __future__ import annotations

import json

from helpers.small_data import small_frame

from textclf_core.config import RunConfig
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore

SENTENCES = ("**Doubling your labels", "**The TF-IDF curve is flat", "**The TF-IDF scores did not grow")


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _runs(tmp_path):
    frame = small_frame(50, classes=("pos", "neg", "neutral"), seed=4)
    # Every third text mixes in the words of another text: the two models split those differently.
    mixed = frame["review"].iloc[::-1].to_numpy()
    frame.loc[::3, "review"] = frame.loc[::3, "review"] + " " + mixed[::3][: len(frame.loc[::3])]
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    store = RunStore()
    a = execute(RunConfig(strategy="baseline", baseline_model="logreg", data_path=str(path), seed=0), None, store=store)
    b = execute(RunConfig(strategy="baseline", baseline_model="nb", data_path=str(path), seed=0), None, store=store)
    assert a.status()["state"] == b.status()["state"] == "finished"
    return a, b, path


def test_evaluation_shows_intervals_calibration_and_the_learning_curve(app, tmp_path):
    import threading

    from textclf_core.pipeline import curve

    a, b, _ = _runs(tmp_path)
    app.switch_page("app_pages/evaluation.py").run()
    _ok(app)
    captions = [c.value for c in app.caption]
    assert sum("95% interval" in c for c in captions) == 2  # accuracy and macro-F1
    assert any("test texts" in w.value and "interval" in w.value for w in app.warning)  # 45 texts: the caution
    headings = [h.value for h in app.subheader]
    assert "How far to trust a confidence" in headings and "Will more labels help?" in headings
    metrics = {m.label: m.value for m in app.metric}
    assert "Temperature" in metrics and "Calibration error before" in metrics
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    reliability = [c for c in charts if "Reliability" in json.dumps(c.get("layout", {}).get("title", ""))]
    assert reliability and reliability[0]["data"][1]["name"].startswith("before")

    from app_ui import job_manager

    shown = app.selectbox(key="eval_pick").value  # the run the page shows
    next(bt for bt in app.button if bt.label == "Compute the learning curve").click().run()
    _ok(app)
    job = job_manager().find_curve(shown)
    assert job is not None, "the button should start a background curve job"
    assert job_manager().wait(job.job_id, timeout=120).state == "finished"
    app.run()  # as the polling fragment does once the job is done
    _ok(app)
    assert any(m.value.startswith(SENTENCES) for m in app.markdown)
    assert (RunStore().get(shown).path / "curve.json").is_file()
    assert any(bt.label == "Compute it again" for bt in app.button)
    first = curve.saved_curve(RunStore().get(shown)).sentence
    job_manager()._curver = held_curve(shown_at := threading.Event(), threading.Event())
    next(bt for bt in app.button if bt.label == "Compute it again").click().run()
    assert shown_at.wait(60)
    app.run()
    _ok(app)  # while the new curve is computed, the kept one stays on the page
    assert app.get("progress") and any(m.value == f"**{first}**" for m in app.markdown)
    job_manager()._curver.release()
    assert job_manager().wait(job_manager().find_curve(shown).job_id, timeout=60).state == "finished"


def held_curve(entered, gate):
    """The real curve, held after its first size until the test lets it go (``.release()``)."""
    from textclf_core.pipeline import curve

    def slow_curve(run, **kwargs):
        emit = kwargs.pop("emit")

        def listen(event):
            emit(event)
            if event["done"] == 1:
                entered.set()
                assert gate.wait(60)

        return curve.run_curve(run, recompute=True, emit=listen, **kwargs)

    slow_curve.release = gate.set
    return slow_curve


def test_the_learning_curve_runs_as_a_job_with_progress_and_cancel(app, tmp_path):
    import threading

    from app_ui import job_manager
    from textclf_core.pipeline import curve

    a, b, _ = _runs(tmp_path)
    manager = job_manager()
    entered, gate = threading.Event(), threading.Event()
    manager._curver = held_curve(entered, gate)
    app.switch_page("app_pages/evaluation.py").run()
    shown = app.selectbox(key="eval_pick").value
    next(bt for bt in app.button if bt.label == "Compute the learning curve").click().run()
    assert entered.wait(60)
    app.run()  # a rerun (or a reload: the job is found by the run id) shows the job, not a second one
    _ok(app)
    bar = app.get("progress")
    assert bar and "scored 1 of 4 sizes" in bar[0].proto.text
    assert not any(bt.label.startswith("Compute") for bt in app.button)
    next(bt for bt in app.button if bt.label == "Cancel the learning curve").click().run()
    gate.set()
    done = manager.wait(manager.find_curve(shown).job_id, timeout=60)
    assert done.state == "cancelled" and done.cancelled_by
    app.run()
    _ok(app)
    assert any("learning curve was cancelled" in i.value for i in app.info)
    assert curve.saved_curve(RunStore().get(shown)) is None  # no half curve kept
    assert any(bt.label == "Compute the learning curve" for bt in app.button)


def test_compare_page_puts_run_a_against_run_b_and_filters_disagreements(app, tmp_path):
    a, b, path = _runs(tmp_path)
    app.switch_page("app_pages/compare.py").run()
    _ok(app)
    assert "Run A vs run B, text by text" in [h.value for h in app.subheader]
    sentence = [
        s.value
        for s in list(app.success) + list(app.info)
        if "by chance with probability" in s.value or "exactly the same texts" in s.value or "a tie" in s.value
    ]
    assert sentence, "no McNemar sentence"
    assert {"Accuracy A", "Accuracy B", "McNemar p-value"} <= {m.label for m in app.metric}
    table = next(d.value for d in app.dataframe if "B right" in d.value.columns)
    assert int(table.to_numpy().sum()) == a.read_json("eval.json")["n"]  # every test text in one cell

    def disagreements_table():
        return next(d.value for d in app.dataframe if "predicted A" in d.value.columns)

    disagreements = disagreements_table()
    assert len(disagreements), "the two runs should disagree somewhere on noisy data"
    app.selectbox(key="vs_class").set_value("neutral").run()
    _ok(app)
    filtered = disagreements_table()
    assert len(filtered) <= len(disagreements)
    assert (
        (filtered["gold"] == "neutral")
        | (filtered["predicted A"] == "neutral")
        | (filtered["predicted B"] == "neutral")
    ).all()

    other = execute(RunConfig(strategy="baseline", data_path=str(path), seed=7), None, store=RunStore())
    app.run()
    app.selectbox(key="vs_b").set_value(other.id).run()
    _ok(app)
    assert any("tested on different rows" in w.value for w in app.warning)


def test_predict_warns_when_confidences_are_close_to_a_guess(app, tmp_path):
    a, _, path = _runs(tmp_path)
    meta_path = a.model_dir / "textclf.json"
    meta = json.loads(meta_path.read_text())
    meta["temperature"] = 200.0  # a model that hardly prefers any class (like the 1-epoch model)
    meta_path.write_text(json.dumps(meta))
    app.switch_page("app_pages/predict.py").run()
    app.selectbox(key="predict_pick").set_value(a.id).run()
    app.file_uploader(key="predict_upload").set_value(("new.csv", path.read_bytes(), "text/csv")).run()
    next(bt for bt in app.button if bt.label == "Predict every row").click().run()
    _ok(app)
    assert any("barely more sure than chance" in w.value for w in app.warning)
