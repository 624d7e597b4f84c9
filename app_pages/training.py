"""Training: live curves, progress, the confusion matrix at the last evaluation, cancel, queue, event log.

All state lives in the server's JobManager, so leaving the page or reloading the browser loses
nothing; the page polls (st.fragment with run_every) only while the chosen job is active.
"""

import datetime as dt

import pandas as pd
import streamlit as st

import app_ui as ui
from app_ui.leaderboard_panel import render_for_job
from textclf_core import figures
from textclf_core.events import describe
from textclf_core.pipeline.jobs import format_duration

st.title("Training")
POLL_SECONDS = 2  # the page reruns in the process that trains: often enough to watch, rarely enough to cost little
LOG_ROWS = 20

manager = ui.job_manager()
me = ui.identity()
scope = ui.run_scope("training")  # this project's runs by default
jobs = {s.job_id: s for s in manager.list() if scope is None or s.project in (scope, None)}
if not jobs:
    st.info(
        "No training has been started in this project on this server yet. Choose a model and strategy first."
        if scope
        else "No training has been started on this server yet. Choose a model and strategy first.",
        icon=":material/info:",
    )
    st.page_link(ui.PAGES["strategy"], label="Go to Strategy", icon=":material/tune:")
    st.page_link(ui.PAGES["evaluation"], label="See earlier runs on the Evaluation page", icon=":material/analytics:")
    with ui.guard("runs"):
        ui.runs_table(scope)
    st.stop()


mine = set(ui.my_jobs())


def _by(snapshot) -> str:
    who = snapshot.started_by
    return "" if not who else (" · started by you" if who == me else f" · started by {who}")


def _cancel(snapshot) -> None:
    manager.cancel(snapshot.job_id, by=me)
    st.session_state.pop("confirm_cancel", None)


# Labels must not change while a job runs (a changing label would reset the selectbox), so no state here.
labels = ui.distinct(
    {
        s.job_id: f"{s.name} · submitted {dt.datetime.fromtimestamp(s.submitted_at):%H:%M:%S}"
        f"{' · this session' if s.job_id in mine else _by(s)}"
        for s in jobs.values()
    }
)


def default_job() -> str:
    chosen = st.session_state.get("training_job")
    if chosen in jobs:
        return chosen
    active = manager.active()
    if active:
        return active[0].job_id
    return list(jobs)[-1]


def _picked() -> None:
    st.session_state["training_job"] = st.session_state["training_pick"]  # the person chose another run


order = list(reversed(list(jobs)))  # newest first
# The picker shows this session's choice (its own run unless it picked another), set before the widget is drawn:
# when another session starts a run the options change, and the widget alone could then land on that run.
st.session_state["training_pick"] = default_job()
job_id = st.selectbox("Run", order, format_func=labels.get, key="training_pick", on_change=_picked)
st.session_state["training_job"] = job_id


def _cancel_controls(snapshot) -> None:
    """The Cancel button of a queued or running job (asking first when someone else started it), or the
    'Cancelling…' line once a cancel is on its way. Returns nothing: draws on the page."""
    theirs = bool(snapshot.started_by) and snapshot.started_by != me
    if snapshot.state in ("queued", "running") and not snapshot.cancel_requested:
        if st.session_state.get("confirm_cancel") == snapshot.job_id:
            # Someone else's run: say whose it is and ask before stopping their work.
            st.warning(
                f"This run was started by **{snapshot.started_by}**. Cancel it anyway? "
                "They will see that you cancelled it.",
                icon=":material/warning:",
            )
            y, n, _ = st.columns([1, 1, 3])
            if y.button("Yes, cancel their run", key=f"cancel_yes_{snapshot.job_id}", type="primary"):
                _cancel(snapshot)
                st.rerun()
            if n.button("No, keep it running", key=f"cancel_no_{snapshot.job_id}"):
                st.session_state.pop("confirm_cancel", None)
                st.rerun()
        elif st.button("Cancel this run", key=f"cancel_{snapshot.job_id}", icon=":material/cancel:"):
            if theirs:
                st.session_state["confirm_cancel"] = snapshot.job_id
            else:
                _cancel(snapshot)
            st.rerun()
    elif snapshot.cancel_requested and snapshot.state == "running":
        who = (
            f" ({'you' if snapshot.cancelled_by == me else snapshot.cancelled_by} cancelled it)"
            if snapshot.cancelled_by
            else ""
        )
        st.caption(f"Cancelling… the run stops after the current step{who}.")


def show(snapshot) -> None:
    """One job's live view. Called inside a fragment while the job is active."""
    st.caption(
        f"State: {snapshot.state}"
        + (f" · run {snapshot.run_id}" if snapshot.run_id else "")
        + (
            f" · started by {'you' if snapshot.started_by == me else snapshot.started_by}"
            if snapshot.started_by
            else ""
        )
    )
    if snapshot.state == "queued":
        st.info(
            f"Waiting in the queue (position {snapshot.queue_position}). It starts when the runs before it finish.",
            icon=":material/hourglass_top:",
        )
    elif snapshot.state == "running":
        st.progress(min(1.0, snapshot.progress), text=snapshot.message or "Training…")
    elif snapshot.state == "finished":
        st.success(snapshot.message or "Finished", icon=":material/check_circle:")
    elif snapshot.state == "cancelled":
        st.warning(snapshot.message or "Cancelled", icon=":material/stop_circle:")
    else:
        st.error(snapshot.message or "Failed", icon=":material/error:")

    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Progress", f"{snapshot.progress:.0%}")
    m2.metric("Examples / s", f"{snapshot.examples_per_s:,.0f}" if snapshot.examples_per_s else "–")
    m3.metric(
        "Time left",
        format_duration(snapshot.eta_s) if snapshot.state == "running" and snapshot.eta_s is not None else "–",
    )
    last = snapshot.last_evaluation or {}
    if last.get("kept"):  # auto, done: the headline is the model it kept, not its last member
        m4.metric(
            "Validation macro-F1, kept model",
            ui.fmt(last.get("macro_f1")),
            help=f"The model auto kept: {last['kept']}. Validation accuracy {ui.fmt(last.get('accuracy'))}.",
        )
    else:
        m4.metric(
            "Validation macro-F1",
            ui.fmt(last.get("macro_f1")),
            help=f"At the last evaluation of {figures.member_labels(snapshot.events).get(last['member'], last['member'])}"
            " (auto: each member is evaluated on the same validation rows)"
            if last.get("member")
            else None,
        )
    if last.get("kept"):
        st.caption(f"Kept: {last['kept']}. The curves below are its members'; the matrix is the kept model's.")

    _cancel_controls(snapshot)

    render_for_job(snapshot)  # auto runs: members as they finish

    curves, matrix = figures.live_training_figures(snapshot)  # built once per new data, shared by sessions
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(curves, key=f"curves_{snapshot.job_id}")
    with right:
        if matrix is not None:
            st.plotly_chart(matrix, key=f"cm_{snapshot.job_id}")
        else:
            st.caption("The confusion matrix appears after the first evaluation.")

    if snapshot.run_id and snapshot.state == "finished":
        st.page_link(ui.PAGES["evaluation"], label="See the full evaluation", icon=":material/analytics:")
        st.session_state["eval_run"] = snapshot.run_id

    with st.expander(f"Event log (the last {LOG_ROWS} events)"):
        names = figures.member_labels(snapshot.events)
        st.markdown(
            "\n".join(
                f"- `{dt.datetime.fromtimestamp(e.get('time', 0)):%H:%M:%S}` {describe(e, names)}"
                for e in reversed(snapshot.events[-LOG_ROWS:])
            )
        )


def queue() -> None:
    """Every job this server remembers; redrawn with the live view so its progress does not go stale."""
    st.subheader("Queue and history")
    table = pd.DataFrame(
        [
            {
                "run": s.name,
                "state": s.state,
                "started by": s.started_by or "",
                "cancelled by": s.cancelled_by or "",
                "position": str(s.queue_position) if s.state == "queued" else "",
                "progress": round(100 * s.progress),
                "message": s.message,
                "run id": s.run_id,
            }
            for s in reversed(manager.list())
            if scope is None or s.project in (scope, None)
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=100, format="%d%%")
        },
    )
    queued = [s for s in manager.active() if s.state == "queued"]
    queued = [s for s in queued if not s.started_by or s.started_by == me]  # others' runs: one by one, asked
    if queued and st.button("Cancel all my queued runs", icon=":material/clear_all:"):
        for s in queued:
            manager.cancel(s.job_id, by=me)
        st.rerun()


with ui.guard("training"):
    snap = manager.snapshot(job_id)
    if snap.active:

        @st.fragment(run_every=POLL_SECONDS)
        def live():
            with ui.guard("live training"):  # a fragment rerun runs only this function: guard it too
                current = manager.snapshot(job_id)
                show(current)
                if current.done:
                    st.rerun()  # one full rerun: the sidebar updates, and polling stops
                queue()

        live()
    else:
        show(snap)
        with ui.guard("queue"):
            queue()

with ui.guard("runs"):
    ui.runs_table(scope)
