"""Upload: read a file or a sample, choose the columns, see what the data report found."""

from pathlib import Path

import streamlit as st

import app_ui as ui
from textclf_core import figures
from textclf_core.config import DEFAULT_MODEL
from textclf_core.data import (
    EXCEL_FORMATS,
    length_sample,
    list_sheets,
    max_upload_bytes,
    read_notes,
    read_table,
    sample_note,
    table_page,
)
from textclf_core.data.samples import SAMPLES, export_all
from textclf_core.errors import TextclfError

PAGE_ROWS = 50
SEVERITY = {"error": st.error, "warning": st.warning, "info": st.info}

st.title("Upload data")
st.write("A table with one text per row and, for training, a column of labels. Drop a file or start with a sample.")


def load_upload(uploaded, sheet=None, header_row=None):
    """A new project: the file's bytes kept as they are, the table read once."""
    raw = uploaded.getvalue()
    kwargs = {"header_row": header_row} if header_row is not None else {}
    df = read_table(raw, filename=uploaded.name, sheet=sheet, **kwargs)
    ui.set_dataset(df, uploaded.name, source="upload", sheet=sheet, raw=raw, filename=uploaded.name)


def load_sample(name: str):
    spec = SAMPLES[name]
    path = spec["path"]
    if not path.exists():
        with st.spinner("Preparing the sample data (first time only)…"):
            export_all(path.parent)
    df = read_table(path)
    ui.set_dataset(
        df,
        spec["title"],
        source=f"sample:{name}",
        raw=path.read_bytes(),
        filename=path.name,
        text_col=spec["text_col"],
        label_col=spec["label_col"],
    )


def upload_limits() -> tuple[float, float | None]:
    """Our limit (TEXTCLF_MAX_UPLOAD_MB) and Streamlit's own (server.maxUploadSize), in MB."""
    try:
        uploader = float(st.get_option("server.maxUploadSize"))
    except Exception:  # noqa: BLE001 - an option Streamlit renamed: our limit still holds
        uploader = None
    return max_upload_bytes() / 1024 / 1024, uploader


def limit_note(limit_mb: float, uploader_mb: float | None) -> str:
    """The limit, stated before a file is picked, and what to do with a bigger file."""
    note = (
        f"Files up to **{limit_mb:,.0f} MB** (set with `TEXTCLF_MAX_UPLOAD_MB` when the app starts). "
        "For a bigger file use the command line, which reads it from disk: `textclf validate FILE`, "
        "`textclf train --data FILE` (with `TEXTCLF_MAX_UPLOAD_MB` raised there too)."
    )
    if uploader_mb is not None and uploader_mb < limit_mb:
        note += (
            f" This server's uploader refuses files over {uploader_mb:,.0f} MB itself, before textclf "
            "sees them (Streamlit's `server.maxUploadSize`; `make run` sets it from `TEXTCLF_MAX_UPLOAD_MB`)."
        )
    else:
        # Measured in Chromium (tests/e2e/test_scale_upload.py): Streamlit refuses a bigger file in the
        # browser, before this script runs, and shows only a red mark on the file's chip.
        note += (
            " A bigger file is refused by the uploader itself, before textclf sees it: its chip turns red "
            "(point at the mark for the message)."
        )
    return note


with ui.guard("upload"):
    left, right = st.columns([3, 2], gap="large")
    with left:
        limit_mb, uploader_mb = upload_limits()
        uploaded = st.file_uploader(
            f"Your file (CSV, TSV, Excel, JSON, JSON Lines or Parquet; up to {limit_mb:,.0f} MB)", key="uploader"
        )  # any type: the reader explains what it cannot read
        st.caption(limit_note(limit_mb, uploader_mb))
    with right:
        st.markdown("**Or use sample data**")
        for name, spec in SAMPLES.items():
            if st.button(
                spec["title"],
                key=f"sample_{name}",
                help=spec["description"],
                icon=":material/dataset:",
                width="stretch",
            ):
                with ui.guard("sample"):
                    load_sample(name)
                    st.rerun()  # the sidebar shows the new dataset

    if uploaded is not None:
        try:
            # Only a workbook has sheets: list_sheets copies the whole upload (128 MB) on every rerun.
            workbook = (
                Path(uploaded.name).suffix.lower() in EXCEL_FORMATS or bytes(uploaded.getbuffer()[:4]) == b"PK\x03\x04"
            )
            sheets = list_sheets(uploaded, filename=uploaded.name) if workbook else []
            sheet_error = None
        except TextclfError as exc:  # not a readable workbook: said below, with the dataset still in use
            sheets, sheet_error = [], str(exc)
        sheet = None
        if len(sheets) > 1:
            sheet = st.selectbox(
                "Worksheet",
                [None] + sheets,
                key="sheet",
                format_func=lambda name: "(the first sheet with data)" if name is None else name,
            )
        # Read each new file (or sheet) once; a file that cannot be used leaves the last good dataset in use.
        marker = (uploaded.file_id, sheet)
        if sheet_error is not None:
            st.session_state["upload_seen"] = marker
            st.session_state["upload_error"] = sheet_error
        elif st.session_state.get("upload_seen") != marker:
            st.session_state["upload_seen"] = marker
            st.session_state["upload_error"] = None
            try:
                load_upload(uploaded, sheet)
                st.rerun()  # the sidebar shows the new dataset
            except TextclfError as exc:
                st.session_state["upload_error"] = str(exc)
            except Exception:  # noqa: BLE001
                ui.log.exception("reading %s", uploaded.name)
                st.session_state["upload_error"] = (
                    f"{uploaded.name} could not be read. Check that it is a "
                    "CSV, TSV, Excel, JSON, JSON Lines or Parquet file."
                )
        if st.session_state.get("upload_error"):
            st.error(st.session_state["upload_error"], icon=":material/error:")
            still = ui.dataset()
            if still is not None:
                st.info(
                    f"Still in use: **{still['name']}** ({len(still['df']):,} rows), the last file that could be read.",
                    icon=":material/info:",
                )


def plot_lengths():
    """Words per text of a sample of the working data, once per data version (a 1M-row histogram would
    send every value to the browser)."""
    log = ui.change_log()
    key = (ds["version"], ds.get("text_col"), len(log), getattr(log, "version", None))
    cache = st.session_state.get("length_sample_cache")
    if cache and cache[0] == key:
        return cache[1]
    frame = ui.working_frame()
    value = length_sample(frame[ds["text_col"]])
    st.session_state["length_sample_cache"] = (key, value)
    return value


ds = ui.dataset()
if ds is None:
    st.info("Nothing loaded yet.", icon=":material/info:")
    st.stop()

with ui.guard("columns"):
    df = ds["df"]
    columns = [str(c) for c in df.columns]
    st.subheader(f"{ds['name']} · {len(df):,} rows, {len(columns)} columns")
    for note in read_notes(df):
        st.caption(f"ℹ️ {note}")
    header_row = (df.attrs.get("textclf") or {}).get("header_row")
    if header_row is not None and ds.get("project"):
        chosen = st.number_input(
            "Header row",
            min_value=1,
            max_value=len(df) + int(header_row),
            value=int(header_row),
            step=1,
            key=f"header_row_{ds['version']}",
            help="The row that holds the column names (1 = the first row read). Title or blank "
            "rows above it are skipped.",
        )
        if int(chosen) != int(header_row):
            ui.reread_with_header_row(int(chosen))
            st.rerun()

    c1, c2, c3 = st.columns(3)

    def pick(container, label, key, current, optional):
        options = ([None] if optional else []) + columns
        index = options.index(current) if current in options else 0
        value = container.selectbox(
            label,
            options,
            index=index,
            key=f"{key}_{ds['version']}",
            format_func=lambda c: "(none)" if c is None else c,
            help=ds.get("reasons", {}).get(key.replace("_col", "")),
        )
        return value

    text_col = pick(c1, "Text column", "text_col", ds.get("text_col"), optional=False)
    label_col = pick(c2, "Label column", "label_col", ds.get("label_col"), optional=True)
    split_col = pick(c3, "Split column (optional)", "split_col", ds.get("split_col"), optional=True)
    if (text_col, label_col, split_col) != (ds.get("text_col"), ds.get("label_col"), ds.get("split_col")):
        ui.set_columns(text_col, label_col, split_col)  # saved with the project
        st.rerun()  # the sidebar shows the new columns
    if text_col is not None and text_col == label_col:
        st.warning("The text and label columns are the same; choose two different columns.")

    with st.expander("Preview", expanded=True):
        pages = max(1, -(-len(df) // PAGE_ROWS))
        page = st.number_input(
            f"Page (of {pages:,}, {PAGE_ROWS} rows each)",
            min_value=1,
            max_value=pages,
            value=1,
            step=1,
            key=f"preview_page_{ds['version']}",
        )
        preview = table_page(df, int(page), PAGE_ROWS)  # only the page's rows go to the browser
        st.dataframe(preview.rows, width="stretch", height=300)
        st.caption(preview.caption())

with ui.guard("report"):
    if text_col is not None and text_col != label_col:
        report = ui.report()
        st.subheader("What we found")
        if report.blocking:
            st.error("Training cannot start until the problems in red are fixed.", icon=":material/block:")
        elif label_col:
            st.success(
                f"Ready to train: {report.n_labelled:,} labelled rows in {len(report.class_counts)} classes.",
                icon=":material/check_circle:",
            )
        # Whether the default model reads the texts, and their lengths in its own tokens.
        fit = ui.model_fit() if report.language and not report.finding("no_words") else None
        counted = fit is not None and fit.tokens is not None and len(fit.tokens) > 0
        for finding in sorted(
            report.findings,
            key=lambda f: (
                ("error", "warning", "info").index(f.severity) if f.severity in ("error", "warning", "info") else 3
            ),
        ):
            if finding.code == "long_texts" and counted:
                continue  # a lower bound from words; the tokenizer's own count is said below
            SEVERITY.get(finding.severity, st.info)(finding.message)
        if fit is not None:
            if fit.reads is False:
                st.warning(fit.sentence, icon=":material/translate:")
            elif fit.sentence:
                st.info(fit.sentence, icon=":material/translate:")
            if counted:
                st.caption(
                    f"Median {fit.median_tokens:,.0f} tokens per text for {DEFAULT_MODEL}. "
                    + fit.truncation_sentence(report.max_length)
                )
        chart_left, chart_right = st.columns(2)
        with chart_left:
            if label_col:
                st.plotly_chart(figures.class_distribution(report.class_counts), key="class_dist")
        with chart_right:
            lengths, total = plot_lengths()
            st.plotly_chart(figures.text_lengths(lengths, unit="words", title="Text length (words)"), key="length_hist")
            note = sample_note(len(lengths), total)
            if note:
                st.caption(note)
        if label_col and not report.blocking:
            st.page_link(ui.PAGES["strategy"], label="Next: choose how to train", icon=":material/arrow_forward:")
