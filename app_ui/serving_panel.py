"""Serving sections of the pages.

- Evaluation: :func:`render_serving_panel(run)`, "Export for serving", an int8 or ONNX copy of a fine-tuned run.
  Every action is a core call (:mod:`textclf_core.models.quantized`); the built export is kept in the run folder.
- Predict: :func:`render_api_panel(run, typed)`, "Call it from another program": the exact `textclf serve`
  command and a `curl` line for the run (built by :mod:`textclf_core.rest.server`, which the tests run for real).
"""

from __future__ import annotations

import streamlit as st

import app_ui as ui
from textclf_core.models import quantized as serving
from textclf_core.models.export import model_kind
from textclf_core.rest import server

FORMATS = {
    "int8": "int8 (PyTorch, CPU): about a third smaller; the same labels in our tests",
    "onnx": "ONNX (ONNX Runtime): runs without PyTorch, on any ONNX Runtime server",
}

NOT_EXPORTABLE = {
    "baseline": (
        "This run is a TF-IDF baseline: it is already small and fast on any CPU, so it needs no int8 or "
        "ONNX copy. Download it as a zip on the Predict page (or `textclf export {run} --format zip`)."
    ),
    "features": (
        "This run keeps the pretrained encoder unchanged and adds a small classifier; int8 and ONNX "
        "exports are for fine-tuned runs (full, partial, LoRA). Download the model zip on the Predict "
        "page (or `textclf export {run} --format zip`)."
    ),
    "fewshot": (
        "This few-shot run is a sentence encoder with a logistic-regression head; int8 and ONNX exports "
        "are for fine-tuned classifiers (full, partial, LoRA). Download the model zip on the Predict "
        "page (or `textclf export {run} --format zip`)."
    ),
    "ensemble": (
        "This auto run kept {model}, with no fine-tuned transformer in it; int8 and ONNX exports are for "
        "fine-tuned classifiers. Download the model zip on the Predict page (or `textclf export {run} "
        "--format zip`)."
    ),
}


def _size(mb: float) -> str:
    return f"{mb:,.1f} MB" if mb >= 0.1 else f"{mb * 1000:,.0f} kB"


def render_serving_panel(run) -> None:
    st.subheader("Export for serving")
    kind = model_kind(run)
    if kind == "ensemble":  # auto: its best fine-tuned transformer member stands in (textclf_core.models.ensemble)
        from textclf_core.models.ensemble import hf_member_dir

        if hf_member_dir(run.model_dir) is not None:
            kind = "transformer"
            st.caption(
                "This auto run is an ensemble: the export holds its fine-tuned transformer member with the "
                "largest weight, not the whole ensemble (whose scores are shown above)."
            )
    if kind != "transformer":
        why = NOT_EXPORTABLE.get(
            "fewshot" if run.config.strategy == "fewshot" else kind, "This run has no saved model to export."
        )
        from textclf_core.evaluation.compare import describe_model

        st.info(why.format(run=run.id, model=describe_model(run)), icon=":material/info:")
        return
    fmt = st.radio("Format", list(FORMATS), format_func=FORMATS.get, key=f"serve_fmt_{run.id}")
    built = st.session_state.setdefault("serving_exports", {})
    key = f"{run.id}:{fmt}"
    if st.button(f"Build the {fmt} export", key=f"serve_build_{run.id}", icon=":material/build:"):
        with st.spinner(f"Building the {fmt} export (a minute for a large model)…"):
            built[key] = str(serving.cached_export(run, fmt))
    folder = built.get(key)
    if folder is None:
        st.caption(
            "Built once per run and kept with it; then offered as a zip to download. "
            f"Same as `textclf export {run.id} --format {fmt} --out FOLDER`."
        )
        return
    original_mb = serving.folder_size_mb(run.model_dir)
    export_mb = serving.folder_size_mb(folder)
    st.write(f"**{fmt}** export: {_size(export_mb)} on disk (the run's model: {_size(original_mb)}).")
    ui.download_button(
        f"Download the {fmt} export (.zip)",
        lambda: serving.export_zip_bytes(folder, f"{run.id}-{fmt}"),
        file_name=f"{run.id}-{fmt}.zip",
        mime="application/zip",
        key=f"serve_dl_{run.id}_{fmt}",
        help="Unzip on the server and load it with textclf_core.models.predict.load_predictor(folder) "
        "or `textclf predict FOLDER`",
    )
    checks = st.session_state.setdefault("serving_checks", {})
    if st.button(
        "Check it against the original on 200 test texts",
        key=f"serve_check_{run.id}_{fmt}",
        icon=":material/compare_arrows:",
    ):
        with st.spinner("Predicting with both models…"):
            checks[key] = serving.compare_export(run, folder, n=200)
    result = checks.get(key)
    if result:
        c1, c2, c3 = st.columns(3)
        c1.metric("Same label as the original", f"{result['agreement']:.1%}", help=f"on {result['n']} test texts")
        c2.metric(
            "Texts per second",
            f"{result['export_texts_per_s']:,.0f}",
            delta=f"{result['export_texts_per_s'] - result['original_texts_per_s']:+,.0f} vs original",
            help=f"original: {result['original_texts_per_s']:,.0f}/s with {result['threads']} CPU "
            "thread(s) of this server; speeds depend on the machine, measure on yours",
        )
        c3.metric(
            "Size on disk",
            _size(result["export_mb"]),
            delta=f"{result['export_mb'] - result['original_mb']:+,.1f} MB",
            delta_color="inverse",
        )


def render_api_panel(run, typed: str | None = None) -> None:
    st.subheader("Call it from another program")
    st.write(
        "Start the API server in a terminal on this machine (it runs until you press Ctrl-C), then call "
        "it from any program or language that speaks HTTP:"
    )
    c1, c2 = st.columns([1, 2])
    port = int(
        c1.number_input("Port", min_value=1, max_value=65535, value=server.DEFAULT_PORT, step=1, key="serve_port")
    )
    public = c2.toggle(
        "Reachable from other machines",
        key="serve_public",
        help="Listens on every network address of this machine and then requires an API key "
        f"(set {server.API_KEY_ENV} before starting; callers send it in the "
        f"{server.API_KEY_HEADER} header)",
    )
    host = "0.0.0.0" if public else server.DEFAULT_HOST
    st.code(server.serve_command(str(run.path), host=host, port=port), language="bash")
    st.code(
        server.curl_example([server.example_text(run, typed)], host=host, port=port, api_key=public), language="bash"
    )
    where = "this machine's name or address instead of 127.0.0.1" if public else "127.0.0.1 (this machine only)"
    st.caption(
        f'The reply: `{{"predictions": [{{"label": …, "confidence": …, "probabilities": {{…}}}}]}}`, '
        f"one item per text, in order{' (multi-label: label is a list)' if run_is_multi(run) else ''}. "
        f"Up to {server.MAX_TEXTS} texts per request; requests arriving together are scored together. "
        f"Call {where}; interactive docs at `/docs`."
    )


def run_is_multi(run) -> bool:
    info = run.model_info() or {}
    return bool((info.get("label_space") or {}).get("multi_label"))
