"""Auto's leaderboard: every member's validation scores, time against its two estimates, state and ensemble
weight, and what was chosen.

Drawn live on the Training page (from the job's events, as members finish) and on Evaluation (from eval.json).
The data comes from textclf_core.strategies.auto; this module only draws it. Cells are text where a value can be missing
(Streamlit draws a missing number as "None"), and the reasons are sentences under the table, not a column that
the table's width cuts off.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import app_ui as ui
from textclf_core.strategies.auto import format_seconds, latest_leaderboard, leaderboard_frame

# Short headers: with two estimates and the rows, long ones pushed the weight column past the page's edge.
COLUMNS = {
    "member": "member",
    "state": "state",
    "val_accuracy": "val. accuracy",
    "val_macro_f1": "val. macro-F1",
    "seconds": "took",
    "plan_estimate_s": "planned",
    "estimate_s": "est. at start",
    "sample_rows": "rows",
    "weight": "weight",
}


def _cell_seconds(value) -> str:
    return "" if value is None or value != value else format_seconds(float(value))


def leaderboard_table(rows: list[dict]) -> pd.DataFrame:
    """The leaderboard as the page shows it: text cells, blank where there is nothing (never "None")."""
    frame = leaderboard_frame(rows)
    if not len(frame):
        return frame
    out = pd.DataFrame({"member": frame["member"], "state": frame["state"]})
    for key in ("val_accuracy", "val_macro_f1"):
        out[COLUMNS[key]] = ["" if v is None or v != v else f"{float(v):.3f}" for v in frame[key]]
    for key in ("seconds", "plan_estimate_s", "estimate_s"):
        out[COLUMNS[key]] = [_cell_seconds(v) for v in frame[key]]
    out[COLUMNS["sample_rows"]] = ["all" if v is None or v != v else f"{int(v):,}" for v in frame["sample_rows"]]
    out[COLUMNS["weight"]] = ["" if not w or w != w else f"{float(w):.2f}" for w in frame["weight"]]
    return out


def render_leaderboard(rows: list[dict], summary: str | None = None, *, budget_s=None, key: str = "") -> None:
    if not rows:
        return
    st.subheader("Auto leaderboard")
    st.dataframe(
        leaderboard_table(rows),
        hide_index=True,
        width="stretch",
        key=f"leaderboard_{key}" if key else None,
        column_config={
            "member": st.column_config.TextColumn(width="large"),  # "…, fold 1 of 5 (sample of 8,162)" whole
            "planned": st.column_config.TextColumn(help="The plan's estimate"),
            "est. at start": st.column_config.TextColumn(
                help="The estimate when it started, refreshed from the members before it"
            ),
            "rows": st.column_config.TextColumn(help="Training rows: all, or a stratified sample of this many"),
            "weight": st.column_config.TextColumn(help="Its weight in the kept model"),
        },
    )
    reasons = [f"- **{r.get('member')}**: {r['reason']}" for r in rows if r.get("reason")]
    if reasons:
        with st.expander(f"Why ({len(reasons)} note{'s' * (len(reasons) != 1)})", expanded=True):
            st.markdown("\n".join(reasons))
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
    st.caption(
        f"Auto used {format_seconds(info.get('seconds'))} of its {format_seconds(info.get('budget_s'))} "
        "budget. The weights were chosen on the validation rows only; the scores above are the test rows'. "
        "Where one Hugging Face folder is needed (ONNX or int8 export), the fine-tuned transformer member "
        "with the largest weight stands in for the ensemble. " + (info.get("windows") or "")
    )
