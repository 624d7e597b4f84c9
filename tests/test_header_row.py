"""Spreadsheets with a title above the header; multi-label label columns; a header word as a class."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from textclf_core.data import guess_columns, read_table, validate
from textclf_core.errors import DataError


def excel(rows) -> bytes:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        pd.DataFrame(rows).to_excel(writer, header=False, index=False)
    return buf.getvalue()


TITLED = [
    ["Customer survey, March (export)", None],
    [None, None],
    ["text", "label"],
    ["great service and friendly staff", "pos"],
    ["slow and rude", "neg"],
    ["lovely", "pos"],
    ["never again", "neg"],
]


def test_title_row_above_the_header_is_detected_and_said():
    df = read_table(excel(TITLED), filename="survey.xlsx")
    assert list(df.columns) == ["text", "label"] and len(df) == 4
    info = df.attrs["textclf"]
    assert info["header_row"] == 3 and info["header_row_detected"] and info["rows_above_header"] == 1
    assert any("Customer survey" in n and "title" in n for n in info["notes"])
    assert validate(df, "text", "label").blocking == []


def test_csv_title_line_with_fewer_fields_is_read():
    df = read_table(b"Feedback export 2024\ntext,label,id\ngood,pos,1\nbad,neg,2\n", filename="f.csv")
    assert list(df.columns) == ["text", "label", "id"] and len(df) == 2


def test_the_user_can_choose_the_header_row_and_a_header_word_then_blocks_training():
    df = read_table(excel(TITLED), filename="survey.xlsx", header_row=1)  # the title taken as the header
    assert df.attrs["textclf"]["header_row"] == 1 and not df.attrs["textclf"]["header_row_detected"]
    report = validate(df, df.columns[0], df.columns[1])
    assert report.blocking and "'label' is counted as a class" in report.blocking[0]
    assert "header row" in report.blocking[0]


@pytest.mark.parametrize("bad", [0, -1, 99])
def test_bad_header_row_is_a_one_line_message(bad):
    with pytest.raises(DataError, match="header row"):
        read_table(excel(TITLED), filename="survey.xlsx", header_row=bad)


def test_a_multi_label_column_is_preferred_and_the_reason_says_why():
    df = pd.DataFrame(
        {
            "text": [f"news item {i} about markets and games" for i in range(40)],
            "label": ["sport" if i % 2 else "money" for i in range(40)],
            "topics": ["sport;money" if i % 3 == 0 else ("sport" if i % 2 else "money") for i in range(40)],
        }
    )
    guess = guess_columns(df)
    assert guess.label_col == "topics"
    assert "preferred over 'label'" in guess.reasons["label"] and "';'" in guess.reasons["label"]


def test_a_real_class_named_like_a_heading_is_not_blocked_when_common():
    df = pd.DataFrame({"text": [f"t {i}" for i in range(20)], "label": ["category", "other"] * 10})
    assert validate(df, "text", "label").blocking == []
