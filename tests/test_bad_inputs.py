"""Issue 7: every file in the bad-input corpus gives a clear result, never a traceback.

Each case goes through read_table → guess_columns → validate (→ prepare and
assign_splits when training could start). It either reads, with the expected
finding in the report, or raises DataError with a one-line message naming the
problem. Any other exception type fails the test.
"""

from __future__ import annotations

import pytest
from bad_inputs.corpus import CASES, FILES, materialize

from textclf_core import data
from textclf_core.errors import DataError


def run_pipeline(path, sheet=None):
    df = data.read_table(path, sheet=sheet)
    guess = data.guess_columns(df)
    report = data.validate(df, guess.text_col, guess.label_col)
    if not report.blocking:
        frame = data.prepare(df, guess.text_col, guess.label_col)
        splits = data.assign_splits(frame["label"], seed=0, multi_label=report.multi_label)
        assert len(splits) == len(frame)
    return df, guess, report


def test_corpus_is_complete():
    assert len(CASES) >= 30
    for case in CASES:
        if not case.large:
            assert case.path.is_file(), f"{case.path} missing: run python tests/bad_inputs/make_corpus.py"
    committed = {p.name for p in FILES.iterdir()}
    assert committed == {c.name for c in CASES if not c.large}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch):
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    path = materialize(case, tmp_path)
    if case.error:
        with pytest.raises(DataError, match=case.error) as err:
            run_pipeline(path, case.sheet)
        message = str(err.value)
        assert "\n" not in message and len(message) < 400
        assert "Traceback" not in message
        return
    df, guess, report = run_pipeline(path, case.sheet)
    codes = [f.code for f in report.findings]
    assert case.finding in codes, (case.name, report.summary_lines())
    assert bool(report.blocking) == case.blocking, report.blocking
    assert all("\n" not in line for line in report.summary_lines())


def test_details_of_readable_cases(tmp_path):
    """Spot checks that the content survives, not only that nothing crashed."""
    by_name = {c.name: c for c in CASES}
    df = data.read_table(by_name["cp1252.csv"].path)
    assert df["text"][0] == "café crème, très bon"
    df = data.read_table(by_name["quoted_newlines.csv"].path)
    assert df["text"][0] == "first line\nsecond line" and len(df) == 12
    df = data.read_table(by_name["emoji.csv"].path)
    assert df["text"][0] == "loved it 😍🎬👍"
    df = data.read_table(by_name["rtl_zero_width.csv"].path)
    assert list(df.columns) == ["text", "label"]  # zero-width space stripped from the header
    assert df["text"][0] == "\u200bفيلم رائع جدا"  # texts themselves are kept as written
    df = data.read_table(by_name["mixed_encodings.csv"].path)
    assert df["text"].tolist() == ["café au lait", "crème brûlée", "résumé"]
    df = data.read_table(by_name["many_sheets.xlsx"].path)
    assert df.attrs["textclf"]["sheet"] == "Data" and len(df) == 10
    df = data.read_table(by_name["semicolon.csv"].path)
    assert df["score"][0] == "3,5" and df.attrs["textclf"]["delimiter"] == ";"
    report = data.validate(data.read_table(by_name["mixed_delimiters.csv"].path), "text", "label")
    assert "lines 3, 5" in report.finding("read_warning").message


def test_formulas_are_read_as_text_and_neutralised_on_export(tmp_path):
    df = data.read_table(next(c for c in CASES if c.name == "formulas.csv").path)
    assert df["text"][0].startswith("=HYPERLINK")
    out = data.neutralize_formulas(df)
    assert all(not str(v).startswith(("=", "+", "@")) for v in out["text"])
    assert out["text"][2] == "'-2+3" and out["label"][4] == "'=2"
    path = data.write_csv(df, tmp_path / "export.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert "\n=" not in text and "\n+" not in text and "\n@" not in text
