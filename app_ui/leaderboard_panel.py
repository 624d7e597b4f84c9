"""Auto's leaderboard: every member's validation scores, time, state and ensemble weight, and what was chosen.

Drawn live on the Training page (from the job's events, as members finish) and on Evaluation (from eval.json).
The data comes from textclf_core.strategies.auto; this module only draws it.
"""

from __future__ import annotations

import streamlit as st

import app_ui as ui
from textclf_core.strategies.auto import format_seconds, latest_leaderboard, leaderboard_frame

COLUMNS = {"member": "member", "state": "state", "val_accuracy": "validation accuracy",
           "val_macro_f1": "validation macro-F1", "seconds": "seconds", "estimate_s": "estimated s",
           "weight": "ensemble weight", "reason": "why"}


def render_leaderboard(rows: list[dict], summary: str | None = None, *, budget_s=None, key: str = "") -> None:
    if not rows:
        return
    st.subheader("Auto leaderboard")
    frame = leaderboard_frame(rows).rename(columns=COLUMNS)
    frame["why"] = frame["why"].fillna("")  # a member with nothing to explain: blank, not "None"
    st.dataframe(frame, hide_index=True, width="stretch", key=f"leaderboard_{key}" if key else None,
                 column_config={"validation accuracy": st.column_config.NumberColumn(format="%.3f"),
                                "validation macro-F1": st.column_config.NumberColumn(format="%.3f"),
                                "ensemble weight": st.column_config.NumberColumn(format="%.2f")})
    if summary:
        st.info(summary, icon=":material/emoji_events:")
    elif budget_s is not None or rows:
        done = sum(r["state"] in ("done", "stopped early") for r in rows)
        st.caption(f"{done} of {len(rows)} candidates trained so far · budget {format_seconds(budget_s)}.")


def render_for_job(snapshot) -> None:
    """Live view: the newest leaderboard among the job's events (the run's event file when they rolled off)."""
    found = list(snapshot.events)
    rows, summary = latest_leaderboard(found)
    if not rows and snapshot.run_id:
        try:
            found = ui.run_store().get(snapshot.run_id).events()
            rows, summary = latest_leaderboard(found)
        except Exception:  # noqa: BLE001 - no leaderboard is not an error on this page
            rows = []
    budget = next((e.get("budget_s") for e in reversed(found) if e.get("type") in ("plan", "member")), None)
    render_leaderboard(rows, summary, budget_s=budget, key=f"job_{snapshot.job_id}")


def render_for_run(run) -> None:
    """Evaluation: the leaderboard saved with an auto run, and the note on exports."""
    ev = run.read_json("eval.json", default={}) or {}
    info = ev.get("auto") or {}
    if not info.get("leaderboard"):
        return
    render_leaderboard(info["leaderboard"], info.get("summary"), budget_s=info.get("budget_s"), key=run.id)
    st.caption(f"Auto used {format_seconds(info.get('seconds'))} of its {format_seconds(info.get('budget_s'))} "
               "budget. The weights were chosen on the validation rows only; the scores above are the test rows'. "
               "Where one Hugging Face folder is needed (ONNX or int8 export), the fine-tuned transformer member "
               "with the largest weight stands in for the ensemble. " + (info.get("windows") or ""))
