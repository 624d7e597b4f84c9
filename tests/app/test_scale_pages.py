"""The browser at scale, through AppTest: a 200,000-row upload gets its report and the stated limit,
the plot says it samples, and the tables (Upload preview, Label review) hold one page of rows,
page 2 showing other rows, with edits made on page 2 kept."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_data import ensure  # noqa: E402

from textclf_core.data import review_page, table_page  # noqa: E402

ROWS = 200_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> bytes:
    return ensure(ROWS, tmp_path_factory.mktemp("scale") / "short_200k.csv").read_bytes()


def _no_trouble(app) -> None:
    assert not app.exception, [e.value for e in app.exception]


def _captions(app) -> str:
    return "\n".join(c.value for c in app.caption)


def test_large_upload_report_limit_and_paged_tables(app, big_csv, monkeypatch):
    monkeypatch.delenv("TEXTCLF_MAX_UPLOAD_MB", raising=False)
    app.switch_page("app_pages/upload.py").run()
    assert "Files up to **200 MB**" in _captions(app), "the limit is stated before a file is picked"
    assert "textclf train --data FILE" in _captions(app)

    app.file_uploader(key="uploader").set_value(("tickets.csv", big_csv, "text/csv")).run()
    _no_trouble(app)
    assert any(f"{ROWS:,} rows" in h.value for h in app.subheader)
    assert any(h.value == "What we found" for h in app.subheader)
    messages = [m.value for m in app.info] + [m.value for m in app.warning] + [m.value for m in app.success]
    assert any(f"{ROWS:,} rows: {ROWS:,} labelled" in m for m in messages), messages
    assert any("more than once" in m for m in messages), "duplicates are found on all rows"
    assert f"Drawn from 50,000 of {ROWS:,} rows" in _captions(app)
    preview = app.dataframe[0].value
    assert len(preview) == 50
    next(n for n in app.number_input if str(n.key).startswith("preview_page_")).set_value(3).run()
    assert len(app.dataframe[0].value) == 50
    assert f"rows 101–150 of {ROWS:,}" in _captions(app)

    app.switch_page("app_pages/label_review.py").run()
    _no_trouble(app)
    first = app.data_editor[0].value
    assert len(first) == 100, "only one page of rows goes to the table"
    assert list(first["row"]) == list(range(100))
    app.number_input(key="review_page").set_value(2).run()
    second = app.data_editor[0].value
    assert len(second) == 100 and list(second["row"]) == list(range(100, 200))
    # a relabel made on page 2 is recorded against the file's row, not the table's position
    editor = app.data_editor[0]
    target_row, old_label = int(second.loc[5, "row"]), second.loc[5, "label"]
    new_label = "neg" if old_label == "pos" else "pos"
    app.session_state[editor.key] = {"edited_rows": {5: {"label": new_label}}, "added_rows": [], "deleted_rows": []}
    app.run()
    _no_trouble(app)
    assert {m.label: m.value for m in app.metric}["Relabelled"] == "1"
    app.selectbox(key="review_finding").set_value("Edited").run()
    edited = app.data_editor[0].value
    assert list(edited["row"]) == [target_row] and list(edited["label"]) == [new_label]
    assert app.number_input(key="review_page").value == 1, "a filter that shrinks the table shows its last page"


def test_over_the_limit_upload_points_to_the_cli(app, monkeypatch):
    monkeypatch.setenv("TEXTCLF_MAX_UPLOAD_MB", "1")
    app.switch_page("app_pages/upload.py").run()
    assert "Files up to **1 MB**" in _captions(app)
    content = b"text,label\n" + b"some words in a row,pos\n" * 60_000  # ~1.4 MB
    app.file_uploader(key="uploader").set_value(("big.csv", content, "text/csv")).run()
    _no_trouble(app)
    errors = [e.value for e in app.error]
    assert any(
        "above the 1 MB limit" in m and "textclf validate FILE" in m and "TEXTCLF_MAX_UPLOAD_MB=100" in m
        for m in errors
    ), errors


def test_review_page_filters_in_the_core():
    frame = pd.DataFrame(
        {
            "row": range(250),
            "text": [f"a longer text number {i}" if i % 10 else "hi" for i in range(250)],
            "label": ["a" if i % 2 else "b" for i in range(250)],
        }
    )
    page = review_page(frame, 2, 100)
    assert (page.total, page.pages, list(page.rows["row"][:2])) == (250, 3, [100, 101])
    short = review_page(frame, 1, 100, finding="Very short (≤ 3 words)")
    assert list(short.rows["row"]) == list(range(0, 250, 10))
    only_a = review_page(frame, 9, 100, label="a", search="NUMBER 1")
    assert only_a.page == 1 and set(only_a.rows["label"]) == {"a"}
    assert all("number 1" in t for t in only_a.rows["text"])
    edited = review_page(frame, 1, 100, finding="Edited", edited_rows={7, 3})
    assert list(edited.rows["row"]) == [3, 7]
    empty = table_page(frame.iloc[:0], 5, 100)
    assert (empty.page, empty.pages, empty.total, empty.caption()) == (1, 1, 0, "no rows")
