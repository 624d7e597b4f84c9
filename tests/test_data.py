"""Data intake: every format reads, problems are reported as data, splits are fair and repeatable."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from textclf_core import data
from textclf_core.data import DataError, assign_splits, guess_columns, prepare, read_table, validate

TEXTS = [
    "a truly great film",
    "boring and far too long",
    "I loved every minute",
    "a waste of time",
    "the best acting this year",
    "dull script, flat jokes",
]
LABELS = ["pos", "neg", "pos", "neg", "pos", "neg"]


def small_frame() -> pd.DataFrame:
    return pd.DataFrame({"text": TEXTS, "label": LABELS})


# --- formats ----------------------------------------------------------------------


def test_reads_csv_with_quoted_newlines_and_trims_headers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(' text , label \n"first line\nsecond line",pos\n"has, a comma",neg\n', encoding="utf-8")
    df = read_table(path)
    assert list(df.columns) == ["text", "label"]
    assert df.loc[0, "text"] == "first line\nsecond line"
    assert df.loc[1, "text"] == "has, a comma"


@pytest.mark.parametrize("delim", [";", "\t", "|"])
def test_sniffs_delimiter(tmp_path, delim):
    path = tmp_path / "d.csv"
    lines = ["text" + delim + "label"] + [f"{t.replace(',', '')}{delim}{lab}" for t, lab in zip(TEXTS, LABELS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    df = read_table(path)
    assert list(df.columns) == ["text", "label"]
    assert df["label"].tolist() == LABELS
    assert df.attrs["textclf"]["delimiter"] == delim


def test_tsv_extension(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("text\tlabel\nhello, world\tpos\nbye, world\tneg\n", encoding="utf-8")
    df = read_table(path)
    assert df["text"].tolist() == ["hello, world", "bye, world"]


def test_cp1252_file_with_accents(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\ncafé crème très bon,pos\nnaïve – mauvais,neg\n".encode("cp1252"))
    df = read_table(path)
    assert df.loc[0, "text"] == "café crème très bon"
    assert df.loc[1, "text"] == "naïve – mauvais"
    assert df.attrs["textclf"]["encoding"] == "cp1252"
    assert any("Windows-1252" in n for n in data.read_notes(df))


def test_utf8_bom_is_not_part_of_the_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\n\xc3\xa9t\xc3\xa9,pos\nhiver,neg\n")
    df = read_table(path)
    assert list(df.columns) == ["text", "label"]
    assert df.loc[0, "text"] == "été"


def test_utf16_with_bom(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text\tlabel\nüber gut\tpos\nschlecht\tneg\n".encode("utf-16"))
    df = read_table(path)
    assert df["text"].tolist() == ["über gut", "schlecht"]


def test_mixed_encodings_line_by_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\n".encode() + "café,pos\n".encode("utf-8") + "crème,neg\n".encode("cp1252"))
    df = read_table(path)
    assert df["text"].tolist() == ["café", "crème"]
    assert df.attrs["textclf"]["encoding"] == "mixed"


def test_reads_excel_and_lists_sheets(tmp_path):
    path = tmp_path / "d.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame().to_excel(writer, sheet_name="Cover", index=False)
        small_frame().to_excel(writer, sheet_name="Data", index=False)
        pd.DataFrame({"text": ["x", "y"], "label": ["a", "b"]}).to_excel(writer, sheet_name="Other", index=False)
    assert data.list_sheets(path) == ["Cover", "Data", "Other"]
    df = read_table(path)  # first sheet with data
    assert df["text"].tolist() == TEXTS
    assert df.attrs["textclf"]["sheet"] == "Data"
    assert read_table(path, sheet="Other")["label"].tolist() == ["a", "b"]
    with pytest.raises(DataError, match="no sheet named 'Nope'.*Cover, Data, Other"):
        read_table(path, sheet="Nope")


def test_reads_json_records_and_wrapped_data(tmp_path):
    records = [{"text": t, "label": lab} for t, lab in zip(TEXTS, LABELS)]
    (tmp_path / "a.json").write_text(json.dumps(records))
    (tmp_path / "b.json").write_text(json.dumps({"version": 1, "data": records}))
    for name in ("a.json", "b.json"):
        df = read_table(tmp_path / name)
        assert df["text"].tolist() == TEXTS and df["label"].tolist() == LABELS


def test_json_label_lists_become_multi_label_cells(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps([{"text": "x", "labels": ["a", "b"]}, {"text": "y", "labels": ["b"]}]))
    df = read_table(tmp_path / "m.json")
    assert df["labels"].tolist() == ["a;b", "b"]


def test_reads_json_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in zip(TEXTS, LABELS)) + "\n")
    assert read_table(path)["label"].tolist() == LABELS
    path.write_text('{"text": "ok", "label": "a"}\n{"text": broken\n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read_table(path)


def test_reads_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    small_frame().to_parquet(path)
    assert read_table(path)["text"].tolist() == TEXTS


def test_reads_uploaded_buffer_with_filename():
    buf = io.BytesIO(small_frame().to_csv(index=False).encode())
    df = read_table(buf, filename="upload.csv")
    assert df.shape == (6, 2)
    raw = io.BytesIO()
    small_frame().to_parquet(raw)
    assert read_table(raw.getvalue(), filename="x.parquet").shape == (6, 2)


def test_duplicate_and_blank_headers_are_renamed(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,text,,label\na,b,c,x\nd,e,f,y\n")
    df = read_table(path)
    assert list(df.columns) == ["text", "text_2", "column_3", "label"]
    assert any("renamed" in n for n in data.read_notes(df))


# --- bad files ----------------------------------------------------------------------


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(DataError, match="empty"):
        read_table(tmp_path / "empty.csv")
    with pytest.raises(DataError, match="header row but no data rows"):
        read_table(tmp_path / "header.csv")


def test_binary_garbage_is_refused_in_one_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    with pytest.raises(DataError) as err:
        read_table(path)
    assert "binary" in str(err.value) and "\n" not in str(err.value)


def test_ragged_rows_name_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\ngood film,pos\nbad, very bad film,neg\nok,pos\n")
    with pytest.raises(DataError, match=r"line 3 has 3 fields"):
        read_table(path)


def test_short_rows_are_padded_not_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\ngood film,pos\nno label here\n")
    df = read_table(path)
    assert df["label"].isna().tolist() == [False, True]


def test_truncated_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    small_frame().to_parquet(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="damaged or truncated Parquet"):
        read_table(path)


def test_upload_limit_from_env(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "some words here,pos\n" * 60000)  # ~1.2 MB
    monkeypatch.setenv("TEXTCLF_MAX_UPLOAD_MB", "1")
    with pytest.raises(DataError, match=r"above the 1 MB limit.*TEXTCLF_MAX_UPLOAD_MB"):
        read_table(path)
    with pytest.raises(DataError, match="above the 1 MB limit"):
        read_table(io.BytesIO(path.read_bytes()), filename="d.csv")
    monkeypatch.delenv("TEXTCLF_MAX_UPLOAD_MB")
    assert len(read_table(path)) == 60000


def test_json_that_is_not_records(tmp_path):
    (tmp_path / "d.json").write_text('{"a": 1, "b": "x"}')
    with pytest.raises(DataError, match="not a list of records"):
        read_table(tmp_path / "d.json")
    (tmp_path / "e.json").write_text("[1, 2, 3]")
    with pytest.raises(DataError, match="item 1 is a int, not a record"):
        read_table(tmp_path / "e.json")


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "d.docx2").write_text("x")
    with pytest.raises(DataError, match="not supported"):
        read_table(tmp_path / "d.docx2")


# --- column guessing -------------------------------------------------------------------


def test_guess_columns_text_label_and_split():
    df = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(6)],
            "stars": [1, 5, 4, 2, 5, 1],
            "Review Body": TEXTS,
            "sentiment": LABELS,
            "subset": ["train", "train", "train", "val", "test", "train"],
        }
    )
    g = guess_columns(df)
    assert (g.text_col, g.label_col, g.split_col) == ("Review Body", "sentiment", "subset")
    assert set(g.reasons) == {"text", "label", "split"}


def test_guess_columns_without_names_uses_shape():
    df = pd.DataFrame({"a": [t + " and more words here" for t in TEXTS] * 3, "b": ["x", "y", "z"] * 6})
    g = guess_columns(df)
    assert (g.text_col, g.label_col) == ("a", "b")


def test_guess_columns_no_text_like_column():
    g = guess_columns(pd.DataFrame({"x": [1, 2, 3], "y": [0.1, 0.2, 0.3]}))
    assert g.text_col is None and "No column looks like free text" in g.reasons["text"]


# --- validation report ------------------------------------------------------------------


def messy_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [
                "good",
                "good",
                "Bad  film",
                "bad film",
                "",
                "  ",
                "meh",
                "fine",
                "great",
                "awful",
                "nice",
                "rare one",
            ],
            "label": ["pos", "pos", "neg", "pos", "neg", "pos", None, "Pos", " pos", "neg", "neg", "odd"],
        }
    )


def test_validate_findings():
    rep = validate(messy_frame(), "text", "label")
    assert rep.n_rows == 12 and rep.n_labelled == 11
    assert rep.empty_texts == [4, 5]
    assert rep.missing_labels == [6]
    assert rep.exact_duplicates == [[0, 1]]
    assert rep.conflicting_duplicates == [[2, 3]]
    assert rep.class_counts["pos"] == 5 and rep.class_counts["Pos"] == 1
    assert rep.unsplittable_classes == {"Pos": 1, "odd": 1}
    assert rep.small_classes["neg"] == 4
    case_group = next(v for v in rep.label_variants if not v["merged"])
    assert set(case_group["spellings"]) >= {"pos", "Pos"}
    assert set(case_group["spellings"]) == {"pos", " pos", "Pos"}
    codes = {f.code: f.severity for f in rep.findings}
    for code in (
        "empty_texts",
        "missing_labels",
        "exact_duplicates",
        "conflicting_duplicates",
        "small_classes",
        "unsplittable_classes",
        "label_variants",
    ):
        assert codes[code] == "warning", code
    assert rep.blocking == []
    lines = rep.summary_lines()
    assert any("empty text" in line and "rows 5, 6" in line for line in lines)
    assert any("kept as unlabelled" in line for line in lines)
    json.dumps(rep.to_dict())  # JSON-able


def test_labels_differing_only_in_spaces_are_merged_with_a_note():
    df = pd.DataFrame({"text": TEXTS, "label": ["pos", " pos", "pos ", "neg", "neg", "neg"]})
    rep = validate(df, "text", "label")
    assert rep.class_counts == {"neg": 3, "pos": 3}
    assert rep.label_variants[0]["merged"] and rep.finding("label_spaces").severity == "info"
    assert rep.finding("label_variants") is None


def test_validate_blocking_problems():
    one = validate(pd.DataFrame({"text": ["a b", "c d"], "label": ["x", "x"]}), "text", "label")
    assert one.finding("one_class").severity == "error" and one.blocking
    assert "Only one class" in one.blocking[0]
    none = validate(pd.DataFrame({"text": ["a", "b"], "label": [None, ""]}), "text", "label")
    assert none.finding("all_labels_missing") is not None and none.blocking
    notext = validate(pd.DataFrame({"a": [1]}), None, None)
    assert notext.finding("no_text_column") is not None
    missing = validate(pd.DataFrame({"a": ["x"]}), "text", None)
    assert "no column 'text'" in missing.blocking[0]


def test_validate_numeric_and_multi_label():
    rep = validate(pd.DataFrame({"text": TEXTS, "label": [1, 0, 1, 0, 2.0, 0]}), "text", "label")
    assert rep.numeric_labels and set(rep.class_counts) == {"0", "1", "2"}
    ml = validate(pd.DataFrame({"text": TEXTS, "label": ["a;b", "b", "a", "c;a", "b;c", "a"]}), "text", "label")
    assert ml.multi_label and ml.separator == ";"
    assert ml.class_counts == {"a": 4, "b": 3, "c": 2}


def test_long_text_share_counted_with_the_tokenizer_never_estimated():
    df = pd.DataFrame({"text": ["word " * 200, "short text", "word " * 5], "label": ["a", "b", "a"]})
    rep = validate(df, "text", "label", max_length=64)
    # no tokenizer: no token figure made up from words; a text of more words than the limit is surely longer
    assert rep.tokens_estimated and rep.token_lengths == {} and rep.n_long == 1
    assert "at least" in rep.finding("long_texts").message

    def fake_tokenizer(texts, **kwargs):  # one token per character
        return {"input_ids": [list(range(len(t))) for t in texts]}

    rep = validate(df, "text", "label", max_length=64, tokenizer=fake_tokenizer)
    assert not rep.tokens_estimated and rep.n_long == 1
    assert rep.char_lengths["max"] == 1000 and rep.word_lengths["min"] == 2


# --- prepare, splits, fingerprint, formulas --------------------------------------------


def test_prepare_keeps_row_numbers_and_unlabelled_rows():
    frame = prepare(messy_frame(), "text", "label")
    assert list(frame.columns) == ["row", "text", "label"]
    assert frame.loc[6, "label"] is None and frame.loc[8, "label"] == "pos"
    assert frame["row"].tolist() == list(range(12))
    df = pd.DataFrame({"t": [np.nan, 5.0], "l": ["a", "b"]})
    assert prepare(df, "t", "l")["text"].tolist() == ["", "5"]
    with pytest.raises(DataError, match="no label column 'nope'"):
        prepare(df, "t", "nope")


def balanced_labels(n_per_class=50, classes=("a", "b", "c")):
    return [c for c in classes for _ in range(n_per_class)]


def test_splits_are_stratified_and_reproducible():
    labels = balanced_labels() + [None] * 5
    s1 = assign_splits(labels, val_size=0.1, test_size=0.2, seed=7)
    s2 = assign_splits(labels, val_size=0.1, test_size=0.2, seed=7)
    s3 = assign_splits(labels, val_size=0.1, test_size=0.2, seed=8)
    assert (s1 == s2).all() and not (s1 == s3).all()
    assert list(s1[-5:]) == ["unlabelled"] * 5
    per = Counter(zip(labels[:150], s1[:150]))
    for c in "abc":
        assert (per[(c, "train")], per[(c, "validation")], per[(c, "test")]) == (35, 5, 10)


def test_tiny_classes_fall_back_to_train():
    labels = balanced_labels(20, ("a", "b")) + ["lonely"]
    splits, notes = data.assign_splits_with_notes(labels, seed=0)
    assert splits[-1] == "train"
    assert any("'lonely'" in n for n in notes)
    two = assign_splits(["x", "x", "y", "y", "y"], seed=0)
    assert set(two[:2]) == {"train", "test"}


def test_split_column_is_honoured():
    labels = balanced_labels(10, ("a", "b"))
    split_values = ["test" if i % 5 == 0 else "dev" if i % 5 == 1 else "train" for i in range(20)]
    splits = assign_splits(labels, split_values=split_values, seed=3)
    expected = {"test": "test", "dev": "validation", "train": "train"}
    assert [expected[v] for v in split_values] == list(splits)
    # no validation rows in the column: carved out of train, test untouched
    only = ["test" if i % 5 == 0 else "train" for i in range(20)]
    splits, notes = data.assign_splits_with_notes(labels, split_values=only, seed=3)
    assert all(s == "test" for s, v in zip(splits, only) if v == "test")
    assert "validation" in set(splits) and any("no validation rows" in n for n in notes)


def test_groups_stay_in_one_split():
    labels = balanced_labels(30, ("a", "b"))
    groups = [i // 3 for i in range(60)]  # triplets of duplicates
    splits = assign_splits(labels, groups=groups, seed=1)
    for g in set(groups):
        assert len({s for s, gg in zip(splits, groups) if gg == g}) == 1


def test_multi_label_split_covers_rare_label():
    labels = ["a;b"] * 40 + ["a"] * 40 + ["a;rare"] * 10
    splits = assign_splits(labels, multi_label=True, seed=0)
    rare = [s for s, lab in zip(splits, labels) if "rare" in lab]
    assert {"train", "validation", "test"} <= set(rare)


def test_fingerprint_is_stable_and_content_sensitive():
    df = small_frame()
    assert data.fingerprint(df) == data.fingerprint(df.copy())
    changed = df.copy()
    changed.loc[0, "text"] = "different"
    assert data.fingerprint(changed) != data.fingerprint(df)


def test_neutralize_formulas(tmp_path):
    df = pd.DataFrame(
        {
            "text": [
                '=HYPERLINK("http://x")',
                "+cmd|' /C calc'!A0",
                "-5",
                "@SUM(A1)",
                "plain",
                "\t=1+1",
                "- dash start",
            ],
            "n": [1, 2, 3, 4, 5, 6, 7],
        }
    )
    out = data.neutralize_formulas(df)
    assert out["text"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "'+cmd|' /C calc'!A0",
        "-5",
        "'@SUM(A1)",
        "plain",
        "'\t=1+1",
        "'- dash start",
    ]
    assert out["n"].tolist() == df["n"].tolist()
    assert df.loc[0, "text"].startswith("=")  # original untouched
    path = data.write_csv(df, tmp_path / "out.csv")
    assert read_table(path)["text"][0].startswith("'=")


def test_prepare_maps_split_column_values():
    df = pd.DataFrame({"text": TEXTS, "label": LABELS, "set": ["Train", "dev", "TEST", "", "holdout", "other"]})
    assert prepare(df, "text", "label", split_col="set")["split_value"].tolist() == [
        "train",
        "validation",
        "test",
        None,
        "test",
        None,
    ]


def test_label_cleaning_is_the_same_for_every_column_type():
    values = [" a", "b ", None, "", "  ", "a"]
    as_str = pd.Series(values, dtype="str")
    as_obj = pd.Series(values, dtype=object)
    expected = ["a", "b", None, None, None, "a"]
    assert prepare(pd.DataFrame({"t": TEXTS, "l": as_str}), "t", "l")["label"].tolist() == expected
    assert prepare(pd.DataFrame({"t": TEXTS, "l": as_obj}), "t", "l")["label"].tolist() == expected
    assert (assign_splits(as_str, seed=0) == assign_splits(values, seed=0)).all()
    ints = pd.Series([1, 2, None, 3, 1.5, 0], dtype=float)
    assert prepare(pd.DataFrame({"t": TEXTS, "l": ints}), "t", "l")["label"].tolist() == [
        "1",
        "2",
        None,
        "3",
        "1.5",
        "0",
    ]


def test_json_variants(tmp_path):
    (tmp_path / "cols.json").write_text(json.dumps({"text": TEXTS, "label": LABELS}))
    assert read_table(tmp_path / "cols.json")["label"].tolist() == LABELS
    (tmp_path / "lines.json").write_text(
        "\n".join(json.dumps({"text": t, "label": lab}) for t, lab in zip(TEXTS, LABELS))
    )
    df = read_table(tmp_path / "lines.json")
    assert len(df) == 6 and any("JSON Lines" in n for n in data.read_notes(df))


# --- languages: words, tokens, texts without words -----------------------------------------


def test_report_on_chinese_counts_words_by_segmenter_and_tokens_by_tokenizer(chinese_reviews_path, tiny_bert):
    import jieba
    from transformers import AutoTokenizer

    df = pd.read_csv(chinese_reviews_path).head(3000)
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    rep = validate(df, "text", "label", max_length=64, tokenizer=tok)
    texts = df["text"].dropna().astype(str)
    texts = texts[texts.str.strip() != ""].tolist()
    jieba_words = [sum(1 for w in jieba.lcut(t) if any(c.isalnum() for c in w)) for t in texts]
    assert abs(rep.word_lengths["median"] - np.median(jieba_words)) <= 0.1 * np.median(jieba_words)
    assert rep.word_lengths["median"] > 5  # "median 1 words" when counted by spaces
    own = np.asarray([len(ids) for ids in tok(texts)["input_ids"]])
    assert abs(rep.token_lengths["median"] - np.median(own)) <= 0.1 * np.median(own)  # a sample of 2,000
    assert abs(rep.long_share - np.mean(own > 64)) <= 0.05
    assert not rep.tokens_estimated
    assert rep.language_profile.main == "Chinese" and rep.language["needs_segmentation"]
    assert any(line.startswith("Language: Chinese") for line in rep.summary_lines())
    assert "tokens for the model" in rep.finding("lengths").message


def test_the_long_filter_on_chinese_uses_the_datas_own_tokens_per_word(chinese_reviews_path, tiny_bert):
    """Label review's "Long (may be truncated)" rows: Chinese words are several tokens each for a BERT tokenizer
    (one a character), so the English 1.3 found far too few; the report's own rate finds what the tokenizer does."""
    from transformers import AutoTokenizer

    from textclf_core.data import paging

    df = pd.read_csv(chinese_reviews_path).head(2000).dropna()
    df = df[df["text"].astype(str).str.strip() != ""].reset_index(drop=True)
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    rep = validate(df, "text", "label", max_length=64, tokenizer=tok)
    assert rep.tokens_per_word > 1.3
    frame = pd.DataFrame({"row": np.arange(len(df)), "text": df["text"].astype(str), "label": df["label"]})
    flagged = paging.review_filter(frame, finding=paging.LONG, report=rep)
    truly = np.asarray([len(ids) for ids in tok(frame["text"].tolist())["input_ids"]]) > 64
    assert flagged.sum() > 0 and abs(flagged.sum() - truly.sum()) <= 0.15 * truly.sum()
    assert (flagged & truly).sum() >= 0.85 * truly.sum()


def test_numbers_only_column_is_not_ready_to_train():
    df = pd.DataFrame({"text": [f"{1000 + i}" for i in range(40)] + ["A-1234", "ID-778-XZ"], "label": ["a", "b"] * 21})
    rep = validate(df, "text", "label")
    assert rep.finding("no_words").severity == "error" and not rep.ok
    assert "only numbers, codes or IDs" in rep.blocking[0]
    some = validate(pd.DataFrame({"text": TEXTS * 3 + ["12345"] * 6, "label": ["x", "y"] * 12}), "text", "label")
    assert some.finding("few_words").severity == "warning" and some.ok


def test_report_gives_shares_of_a_mixed_file():
    texts = ["这个手机很好用。"] * 6 + ["Works great, thanks."] * 3 + ["Очень хороший телефон."] * 3
    rep = validate(pd.DataFrame({"text": texts, "label": ["p", "n"] * 6}), "text", "label")
    shares = rep.language["languages"]
    assert shares == {"Chinese": 0.5, "Cyrillic script": 0.25, "Latin script": 0.25}
    assert "Chinese (50% of rows)" in rep.finding("language").message


def test_words_of_many_segmented_texts_come_from_a_sample_and_the_report_says_so(monkeypatch):
    from textclf_core.data import report as report_module

    monkeypatch.setattr(report_module, "WORD_EXACT_ROWS", 10)
    monkeypatch.setattr(report_module, "WORD_SAMPLE", 8)
    texts = [f"第{i}个手机很好，电池也不错。" for i in range(30)]
    rep = validate(pd.DataFrame({"text": texts, "label": ["a", "b"] * 15}), "text", "label")
    assert rep.words_sampled == 8
    assert "counted on a sample of 8 texts" in rep.finding("lengths").message
    english = validate(
        pd.DataFrame({"text": [f"good phone number {i}" for i in range(30)], "label": ["a", "b"] * 15}), "text", "label"
    )
    assert english.words_sampled == 0  # plain ASCII is counted on every row, whatever the size
