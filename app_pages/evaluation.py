"""Evaluation: a finished run's scores on its test split, the confusion matrix (click a cell to see
those examples), per-class scores, confidence, ROC/PR for binary tasks and the misclassified texts."""

import streamlit as st

import app_ui as ui
from app_ui.explain_panel import render_explanation
from app_ui.leaderboard_panel import render_for_run
from app_ui.serving_panel import render_serving_panel
from app_ui.slices_panel import render_slices_panel
from textclf_core import figures
from textclf_core.evaluation import calibration
from textclf_core.evaluation import metrics as evaluation
from textclf_core.evaluation.compare import describe_model
from textclf_core.pipeline import curve
from textclf_core.store import model_folder
from textclf_core.strategy_registry import get_strategy

CURVE_POLL_SECONDS = 2.0  # as the review panel: each poll is a fragment run in the server process


def render_curve(run) -> None:
    """The run's learning curve: a background job (``JobManager.submit_curve``) polled here, found again by
    the run id after a rerun or a reload; the finished curve is read from the run's ``curve.json``."""
    manager = ui.job_manager()
    job = manager.find_curve(run.id)
    result = curve.saved_curve(run)
    if job is not None and job.active:
        _watch_curve(manager, job.job_id)
        if result is not None:
            st.caption("The curve computed earlier, until the new one is done:")
            _show_curve(run, result)
        return
    if job is not None and job.state == "cancelled":
        st.info(
            "The learning curve was cancelled" + ("; the one below is from earlier." if result else "."),
            icon=":material/cancel:",
        )
    elif job is not None and job.state == "failed":
        st.error(job.message or "The learning curve stopped; try again", icon=":material/error:")
    if st.button(
        "Compute the learning curve" if result is None else "Compute it again",
        icon=":material/trending_up:",
        key=f"curve_button_{run.id}",
    ):
        manager.submit_curve(run, frame=ui.working_frame(), started_by=ui.identity())
        st.rerun()  # the next run finds the job and polls it
    if result is not None:
        _show_curve(run, result)


def _show_curve(run, result) -> None:
    st.markdown(f"**{result.sentence}**")
    st.plotly_chart(figures.learning_curve(result.points, result.trends, title=None), key=f"curve_{run.id}")
    for member, why in result.skipped.items():
        st.caption(f"{member} left out: {why}.")


def _watch_curve(manager, job_id: str) -> None:
    ui.watch_job(
        manager,
        job_id,
        what="the learning curve",
        working="Computing the learning curve…",
        poll_seconds=CURVE_POLL_SECONDS,
    )


st.title("Evaluation")

runs = ui.finished_runs(project=ui.run_scope("evaluation"))  # this project's runs unless "all" is on
if not runs:
    ui.no_runs_yet()

run, preds = None, None
with ui.guard("evaluation"):
    run = ui.pick_run("Run", runs, key="eval_pick")
    ev = run.read_json("eval.json", default=None)
    if not ev:
        st.warning("This run has no evaluation (it stopped before testing).")
        st.stop()
    split = ev.get("split") or "test"
    st.markdown(f"**Model:** {describe_model(run)}")  # what was kept (auto: its members), not the settings' encoder
    st.caption(
        f"Scores on the {split} split ({ev.get('n') or ev.get('n_test') or '?'} texts) that the model "
        f"never saw in training · trained in {ev.get('train_seconds') or 0:.1f} s on {ev.get('n_train', '?')} texts"
    )

    base = ui.baseline_for(run) if run.config.uses_transformer else None
    base_ev = base.read_json("eval.json", default={}) if base is not None else {}

    def delta(key):
        if base_ev.get(key) is None or ev.get(key) is None:
            return None
        return f"{(ev[key] - base_ev[key]) * 100:+.1f} pts vs baseline"

    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Accuracy", ui.fmt(ev.get("accuracy")), delta=delta("accuracy"))
    m2.metric(
        "Macro-F1",
        ui.fmt(ev.get("macro_f1")),
        delta=delta("macro_f1"),
        help="F1 averaged over classes, each class counting the same",
    )
    m3.metric("Weighted F1", ui.fmt(ev.get("weighted_f1")), delta=delta("weighted_f1"))
    m4.metric(
        "ROC AUC" if ev.get("roc_auc") is not None else "Balanced accuracy",
        ui.fmt(
            ev.get("roc_auc") if ev.get("roc_auc") is not None else ev.get("balanced_accuracy"),
            "f3" if ev.get("roc_auc") is not None else "pct",
        ),
    )
    preds = evaluation.read_predictions(run, missing_ok=True)
    classes = [str(c) for c in ev.get("classes") or []]
    if preds is not None and len(preds) and classes:  # how sure each headline score is
        separator = (run.read_json("labels.json", default={}) or {}).get("separator") or ";"
        ci = evaluation.score_intervals(preds, classes, multi_label=bool(ev.get("multi_label")), separator=separator)
        for column, key, method in ((m1, "accuracy", "Wilson"), (m2, "macro_f1", "bootstrap")):
            if ci[key]["low"] is not None:
                column.caption(
                    f"95% interval {ui.fmt(ci[key]['low'])} – {ui.fmt(ci[key]['high'])}",
                    help=f"{method}: the range the score would likely fall in on another {ci['n']:,} texts like these",
                )
        if ci["caution"]:
            st.warning(ci["caution"], icon=":material/warning:")
    if base is not None:
        st.caption(
            f"Baseline on the same data ({base.config.display_name()}): accuracy {ui.fmt(base_ev.get('accuracy'))},"
            f" macro-F1 {ui.fmt(base_ev.get('macro_f1'))}."
        )
    elif run.config.uses_transformer and not get_strategy(run.config.strategy).budgeted:  # auto has TF-IDF members
        st.caption("Train the baseline on the same data to see how much the transformer adds.")
    render_for_run(run)  # auto runs: the leaderboard and what was chosen

    # --- confusion matrix -------------------------------------------------------------------
    if ev.get("confusion_matrix") and not ev.get("multi_label"):
        st.subheader("Confusion matrix")
        normalize = st.toggle("Show shares of each true class", key="cm_normalize")
        left, right = st.columns([3, 2])
        with left:
            event = st.plotly_chart(
                figures.confusion_matrix(ev["confusion_matrix"], classes, normalize=normalize, title=None),
                key=f"cm_{run.id}",
                on_select="rerun",
                selection_mode="points",
            )
        points = event.selection.points if event is not None and getattr(event, "selection", None) else []
        if points:  # a click on a cell chooses the pair below
            point = points[0]
            custom = point.get("customdata") or []
            gold, pred = (custom[0], custom[1]) if len(custom) >= 2 else (point.get("y"), point.get("x"))
            if st.session_state.get("cm_last_click") != (run.id, gold, pred):
                st.session_state["cm_last_click"] = (run.id, gold, pred)
                st.session_state["cm_true"], st.session_state["cm_pred"] = str(gold), str(pred)
        with right:
            st.caption("Click a cell, or choose a pair:")
            if st.session_state.get("cm_true") not in classes or st.session_state.get("cm_pred") not in classes:
                gold, pred = ui.worst_confusion(ev["confusion_matrix"], classes)
                st.session_state["cm_true"], st.session_state["cm_pred"] = gold, pred
            gold = st.selectbox("True class", classes, key="cm_true")
            pred = st.selectbox("Predicted class", classes, key="cm_pred")
            if preds is not None:
                cell = preds[(preds["gold"].astype(str) == gold) & (preds["predicted"].astype(str) == pred)]
                cell = cell.sort_values("confidence", ascending=False)
                st.write(f"**{len(cell):,}** texts labelled *{gold}* predicted as *{pred}*")
                st.dataframe(
                    cell[[c for c in ("row", "text", "confidence") if c in cell.columns]],
                    hide_index=True,
                    width="stretch",
                    height=300,
                    column_config={"confidence": st.column_config.NumberColumn(format="%.2f")},
                )

    # --- per class, confidence, curves -------------------------------------------------------
    if ev.get("per_class"):
        st.subheader("Per class")
        c1, c2 = st.columns([2, 3])
        c1.dataframe(
            figures.per_class_table(ev["per_class"]),
            width="stretch",
            column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "f1")},
        )
        c2.plotly_chart(figures.per_class_bars(ev["per_class"], title=None), key=f"pc_{run.id}")

with ui.guard("evaluation details"):
    if preds is not None and len(preds):
        c1, c2 = st.columns(2)
        correct = preds["correct"].astype(str).str.lower().isin(["true", "1", "1.0"]) if "correct" in preds else None
        c1.plotly_chart(figures.confidence_histogram(preds["confidence"].astype(float), correct), key=f"conf_{run.id}")
        positive = ev.get("positive_class")
        if positive is not None and f"prob_{positive}" in preds.columns and len(classes) == 2:
            with c2:
                tabs = st.tabs(["ROC curve", "Precision–recall curve"])
                tabs[0].plotly_chart(
                    figures.roc_curve(preds["gold"].astype(str), preds[f"prob_{positive}"], positive=positive),
                    key=f"roc_{run.id}",
                )
                tabs[1].plotly_chart(
                    figures.pr_curve(preds["gold"].astype(str), preds[f"prob_{positive}"], positive=positive),
                    key=f"pr_{run.id}",
                )

        st.subheader("Misclassified, most confident first")
        wrong = evaluation.misclassified(preds)
        st.caption(f"{len(wrong):,} of {len(preds):,} texts. Confident mistakes are often wrong labels in the data.")
        st.dataframe(
            wrong[[c for c in ("row", "text", "gold", "predicted", "confidence") if c in wrong.columns]],
            hide_index=True,
            width="stretch",
            height=360,
            column_config={"confidence": st.column_config.NumberColumn(format="%.2f")},
        )
        if len(wrong) and model_folder.has_info(run.model_dir):
            st.subheader("Why did the model get it wrong?")
            top = wrong.head(50)
            choice = st.selectbox(
                "A misclassified text",
                top.index.tolist(),
                key=f"explain_pick_{run.id}",
                format_func=lambda i: f"{ui.fmt(top.at[i, 'confidence'])} · {str(top.at[i, 'text'])[:90]}",
            )
            if choice is not None:
                render_explanation(run.id, str(top.at[choice, "text"]), key=f"eval_explain_{run.id}")

if run is not None:
    with ui.guard("calibration"):
        st.subheader("How far to trust a confidence")
        report = calibration.run_report(run)
        before, after = ((report.get("test") or {}).get(k) for k in ("before", "after"))
        if report.get("test") is None and report.get("validation"):
            before, after = report["validation"].get("before"), report["validation"].get("after")
        t = report.get("temperature")
        c1, c2, c3 = st.columns(3)
        c1.metric(
            "Temperature",
            f"{t:.2f}" if t else "none",
            help="Fitted on the validation split and saved with the model; every prediction uses it. "
            "Above 1: the model was over-confident and its confidences are softened. Labels never change.",
        )
        ece_before, ece_after = (before or {}).get("ece"), (after or {}).get("ece")
        c2.metric(
            "Calibration error before",
            "–" if ece_before is None else f"{ece_before:.3f}",
            help="Expected calibration error (ECE): how far a stated confidence is, on average, from how "
            "often the model is right at that confidence. 0 is perfect.",
        )
        c3.metric(
            "Calibration error after",
            "–" if ece_after is None else f"{ece_after:.3f}",
            delta=None if ece_before is None or ece_after is None else f"{ece_after - ece_before:+.3f}",
            delta_color="inverse",
        )
        if report.get("reason"):
            st.info(report["reason"], icon=":material/info:")
        elif ece_after is not None:
            st.caption(
                f"On the {(after or {}).get('n', 0):,} {report.get('split', 'test')} texts a confidence was "
                f"off by {ece_before * 100:.1f} points on average before calibration and "
                f"{ece_after * 100:.1f} after. The confidences shown everywhere are the calibrated ones."
            )
        st.plotly_chart(figures.reliability_diagram(before, after), key=f"reliability_{run.id}")

    with ui.guard("learning curve"):
        st.subheader("Will more labels help?")
        st.caption(
            "The TF-IDF baseline (and frozen embeddings when they are already cached) trained on 10, 25, 50 "
            "and 100% of this run's training rows, each scored on the same validation rows. It runs in the "
            "background: you can leave this page and come back."
        )
        render_curve(run)

if run is not None:  # None when the run could not be opened (the message is shown above)
    with ui.guard("by group"):
        render_slices_panel(run)
    with ui.guard("export for serving"):
        render_serving_panel(run)
