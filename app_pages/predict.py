"""Predict: type a text and see the label, or label a whole file; download the model."""

import streamlit as st

import app_ui as ui
from app_ui.explain_panel import render_explanation
from app_ui.serving_panel import render_api_panel
from textclf_core import figures
from textclf_core.data import guess_columns, list_sheets, neutralize_formulas, read_table
from textclf_core.evaluation.calibration import near_uniform_file
from textclf_core.models.export import model_kind, model_zip_bytes
from textclf_core.models.predict import load_predictor, predict_file
from textclf_core.store import model_folder

st.title("Predict")

runs = ui.finished_runs(with_model=True)
if not runs:
    ui.no_runs_yet()


@st.cache_resource(show_spinner="Loading the model…", max_entries=2)
def predictor(run_id: str, saved_at: float):
    """One loaded model per run (and per save, so a retrained run reloads), shared by sessions."""
    return load_predictor(ui.run_store().get(run_id))


with ui.guard("predict"):
    run = ui.pick_run("Model", runs, key="predict_pick")
    model = predictor(run.id, model_folder.info_path(run.model_dir).stat().st_mtime)

    st.subheader("Try a text")
    text = st.text_area(
        "Text", height=110, key="predict_text", placeholder="Type or paste a text, then press Predict (or Ctrl+Enter)"
    )
    if st.button("Predict", type="primary", icon=":material/play_arrow:") or text.strip():
        if not text.strip():
            st.warning("Type a text first.")
        else:
            result = model.predict([text]).iloc[0]
            probs = {c: float(result[f"prob_{c}"]) for c in model.classes if f"prob_{c}" in result}
            st.markdown(f"### {result['label'] or '(no label)'}  \nconfidence {float(result['confidence']):.0%}")
            if warning := model.language_warning(text):  # a language the training data did not have
                st.warning(warning, icon=":material/translate:")
            st.plotly_chart(figures.probability_bar(probs), key="predict_probs")
            with ui.guard("explanation"):
                render_explanation(run.id, text, key="predict_explain")

with ui.guard("predict file"):
    st.subheader("Label a file")
    uploaded = st.file_uploader(
        "A file with a column of texts (CSV, TSV, Excel, JSON, JSON Lines or Parquet)", key="predict_upload"
    )
    if uploaded is not None:
        sheets = list_sheets(uploaded, filename=uploaded.name)
        sheet = (
            st.selectbox(
                "Worksheet",
                [None] + sheets,
                key="predict_sheet",
                format_func=lambda n: "(the first sheet with data)" if n is None else n,
            )
            if len(sheets) > 1
            else None
        )
        uploaded.seek(0)
        frame = read_table(uploaded, filename=uploaded.name, sheet=sheet)
        columns = [str(c) for c in frame.columns]
        guess = guess_columns(frame).text_col
        text_col = st.selectbox(
            "Text column", columns, index=columns.index(guess) if guess in columns else 0, key="predict_col"
        )
        st.caption(f"{len(frame):,} rows")
        if st.button("Predict every row", icon=":material/table_view:"):
            uploaded.seek(0)
            with st.spinner(f"Predicting {len(frame):,} rows…"):
                out = predict_file(run, uploaded, text_col=text_col, sheet=sheet)
            st.session_state["predict_result"] = (uploaded.file_id, out)
        stored = st.session_state.get("predict_result")
        if stored and stored[0] == uploaded.file_id:
            out = stored[1]
            if warning := near_uniform_file(out, model.classes, model.multi_label):  # confidences near a guess
                st.warning(warning, icon=":material/warning:")
            for warning in out.attrs.get("warnings", []):  # e.g. rows in a language the model never saw
                st.warning(warning, icon=":material/translate:")
            st.dataframe(out.head(200), hide_index=True, width="stretch", height=300)
            stem = uploaded.name.rsplit(".", 1)[0]
            ui.download_button(
                "Download predictions (CSV)",
                lambda: neutralize_formulas(out).to_csv(index=False).encode("utf-8-sig"),
                file_name=f"{stem}.predictions.csv",
                mime="text/csv",
            )

with ui.guard("model download"):
    st.subheader("Download the model")
    kind = model_kind(run)
    if kind == "transformer":
        st.write(
            "A Hugging Face model folder: unzip it and load it with "
            '`transformers.pipeline("text-classification", model="<folder>")`.'
        )
    else:
        st.write(
            'Unzip it and load it with `textclf_core.models.predict.load_predictor("<folder>")` or `textclf predict`.'
        )
    ui.download_button(
        "Download model (.zip)",
        lambda: model_zip_bytes(run),
        file_name=f"{run.id}-model.zip",
        mime="application/zip",
        key="model_zip",
    )

with ui.guard("API"):
    render_api_panel(run, st.session_state.get("predict_text"))
