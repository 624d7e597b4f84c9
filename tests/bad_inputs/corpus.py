"""The bad-input corpus (issue 7): each case is a file a real user might upload.

Every case either fails to read with a :class:`DataError` whose one-line message
matches ``error``, or reads and yields a report with the finding ``finding`` (and
``blocking`` when training must not start). Small files are committed under
``files/`` by ``make_corpus.py``; ``large`` ones are built at test time into a
temporary folder (:func:`materialize`). The upload-page tests reuse ``CASES``.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"

TEXTS = [
    "a truly great film",
    "boring and far too long",
    "I loved every minute of it",
    "a waste of two hours",
    "the best acting this year",
    "dull script and flat jokes",
    "charming, funny and warm",
    "nothing happens for ninety minutes",
    "a small masterpiece",
    "I want my money back",
]
LABELS = ["pos", "neg"] * 5


@dataclass(frozen=True)
class Case:
    name: str  # file name (the extension matters: it is how users name files)
    problem: str  # what is wrong with it, in words
    build: Callable[[], bytes] = field(repr=False)
    error: str | None = None  # regex the DataError message must match; None: the file reads
    finding: str | None = None  # finding code validate() must report when the file reads
    blocking: bool = False  # True: the report must block training
    large: bool = False  # built at test time, never committed
    env: dict = field(default_factory=dict)  # environment while reading (e.g. a lowered upload limit)
    sheet: str | None = None

    @property
    def path(self) -> Path:
        return FILES / self.name


def materialize(case: Case, folder: Path | None = None) -> Path:
    """The case's file on disk: the committed copy, or (large cases) a fresh one in ``folder``."""
    if not case.large:
        return case.path
    if folder is None:
        raise ValueError(f"{case.name} is generated at test time: pass a temporary folder")
    path = Path(folder) / case.name
    if not path.exists():
        path.write_bytes(case.build())
    return path


# --- builders -------------------------------------------------------------------------


def csv_bytes(rows, header=("text", "label"), delim=",", encoding="utf-8") -> bytes:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delim, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def good_rows():
    return list(zip(TEXTS, LABELS))


def xlsx_bytes(sheets: dict) -> bytes:
    """sheets: name → list of rows (first row = header); an empty list makes an empty sheet."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def parquet_bytes() -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"text": TEXTS, "label": LABELS}).to_parquet(buf)
    return buf.getvalue()


def random_bytes(n: int, seed: int = 0) -> bytes:
    return bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8))


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return buf.getvalue()


def million_rows() -> bytes:
    body = "".join(f"row {i} is fine,{'ab'[i % 2]}\n" for i in range(1_000_000))
    return ("text,label\n" + body).encode()


def huge_cell() -> bytes:
    cell = ("lorem ipsum dolor sit amet " * 400_000)[: 10 * 1024 * 1024]
    return csv_bytes([(cell, "pos")] + good_rows())


def above_limit() -> bytes:  # ~1.6 MB, read with TEXTCLF_MAX_UPLOAD_MB=1
    return csv_bytes([(f"a review number {i} that is long enough to count", "ab"[i % 2]) for i in range(30000)])


# --- the cases ------------------------------------------------------------------------

CASES: list[Case] = [
    # empty and nearly empty
    Case("empty.csv", "a file with zero bytes", lambda: b"", error="empty"),
    Case("blank_lines.csv", "only blank lines and spaces", lambda: b"\n  \n\r\n\t\n", error="empty"),
    Case("header_only.csv", "a header row and no data", lambda: b"text,label\n", error="header row but no data rows"),
    Case(
        "header_only.xlsx",
        "an Excel sheet with only a header",
        lambda: xlsx_bytes({"Sheet1": [("text", "label")]}),
        error="header row but no data rows",
    ),
    Case(
        "only_empty_texts.csv",
        "rows whose texts are all empty",
        lambda: csv_bytes([("", "pos"), ("  ", "neg")]),
        finding="all_texts_empty",
        blocking=True,
    ),
    # binary and wrong formats
    Case("binary_garbage.csv", "random bytes named .csv", lambda: random_bytes(5000), error="binary file"),
    Case(
        "png_image.csv",
        "a PNG image named .csv",
        lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random_bytes(800, 1),
        error="binary file",
    ),
    Case(
        "document.csv",
        "a PDF named .csv",
        lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n",
        error="PDF document",
    ),
    Case(
        "compressed.csv",
        "a gzip archive named .csv",
        lambda: gzip.compress(csv_bytes(good_rows()), mtime=0),
        error="compressed archive",
    ),
    Case(
        "old_excel.xls",
        "an old .xls workbook",
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + random_bytes(600, 2),
        error=r"old-style Excel \(\.xls\)",
    ),
    Case("notes.docx", "an unsupported file type", lambda: b"just some words", error="not supported"),
    # encodings
    Case(
        "cp1252.csv",
        "Windows-1252 text (accents)",
        lambda: csv_bytes(
            [("café crème, très bon", "pos"), ("naïve – mauvais", "neg"), ("déjà vu", "pos")], encoding="cp1252"
        ),
        finding="read_note",
    ),
    Case(
        "latin1_undefined_bytes.csv",
        "bytes undefined in Windows-1252",
        lambda: b"text,label\ncaf\xe9 \x81 ok,pos\nna\xefve \x8d,neg\n",
        finding="read_note",
    ),
    Case(
        "mixed_encodings.csv",
        "UTF-8 and Windows-1252 lines in one file",
        lambda: (
            "text,label\ncafé au lait,pos\n".encode() + "crème brûlée,neg\n".encode("cp1252") + "résumé,pos\n".encode()
        ),
        finding="read_warning",
    ),
    Case(
        "utf8_bom.csv", "UTF-8 with a byte-order mark", lambda: b"\xef\xbb\xbf" + csv_bytes(good_rows()), finding="rows"
    ),
    Case(
        "utf16.tsv",
        "UTF-16 text as saved by Excel 'Unicode Text'",
        lambda: csv_bytes(good_rows(), delim="\t").decode().encode("utf-16"),
        finding="read_note",
    ),
    # structure
    Case(
        "ragged_rows.csv",
        "rows with more fields than the header",
        lambda: b"text,label\ngood film,pos\nbad, very bad film,neg\nfine,pos\n",
        error=r"line 3 has 3 fields",
    ),
    Case(
        "short_rows.csv",
        "rows with fewer fields than the header",
        lambda: b"text,label\ngood film,pos\nno label here\nbad film,neg\n",
        finding="missing_labels",
    ),
    Case(
        "unclosed_quote.csv",
        "a double quote that is never closed",
        lambda: b'text,label\ngood film,pos\n"never closed,neg\nfine,pos\n',
        error="never closed",
    ),
    Case(
        "quoted_newlines.csv",
        "texts with line breaks inside quotes",
        lambda: csv_bytes([("first line\nsecond line", "pos"), ("a\n\nb", "neg")] + good_rows()),
        finding="rows",
    ),
    Case(
        "mixed_delimiters.csv",
        "some rows separated by ';' instead of ','",
        lambda: b"text,label\ngood film,pos\nbad film;neg\nfine film,pos\nawful;neg\nnice,neg\n",
        finding="read_warning",
    ),
    Case(
        "semicolon.csv",
        "a European CSV with ';' and decimal commas",
        lambda: csv_bytes([(t, lab, "3,5") for t, lab in good_rows()], header=("text", "label", "score"), delim=";"),
        finding="rows",
    ),
    Case(
        "duplicate_headers.csv",
        "repeated and blank column names",
        lambda: b"text,text,,label\na b,c d,e,pos\nf g,h i,j,neg\n",
        finding="read_note",
    ),
    Case(
        "no_text_column.csv",
        "only numbers, nothing that looks like text",
        lambda: b"id,score\n1,0.5\n2,0.7\n3,0.1\n",
        finding="no_text_column",
        blocking=True,
    ),
    # labels
    Case(
        "one_class.csv",
        "every row has the same label",
        lambda: csv_bytes([(t, "pos") for t in TEXTS]),
        finding="one_class",
        blocking=True,
    ),
    Case(
        "all_labels_missing.csv",
        "a label column with no values",
        lambda: csv_bytes([(t, "") for t in TEXTS]),
        finding="all_labels_missing",
        blocking=True,
    ),
    Case(
        "numeric_labels.csv",
        "labels that are numbers",
        lambda: csv_bytes([(t, str(i % 3)) for i, t in enumerate(TEXTS)]),
        finding="numeric_labels",
    ),
    Case(
        "label_variants.csv",
        "labels that differ only in case or spaces",
        lambda: csv_bytes(
            [
                (t, lab)
                for t, lab in zip(TEXTS, ["pos", "Pos", " pos", "neg", "NEG ", "neg", "pos", "neg", "POS", "neg"])
            ]
        ),
        finding="label_variants",
    ),
    Case(
        "conflicting_duplicates.csv",
        "the same text with different labels",
        lambda: csv_bytes(good_rows() + [("A truly great  film", "neg")]),
        finding="conflicting_duplicates",
    ),
    Case(
        "multi_label.csv",
        "several labels per row joined by '|'",
        lambda: csv_bytes(
            [(t, lab) for t, lab in zip(TEXTS, ["a|b", "b", "a", "c|a", "b|c", "a", "b", "c", "a|c", "b"])]
        ),
        finding="multi_label",
    ),
    Case(
        "tiny_classes.csv",
        "classes with one or two examples",
        lambda: csv_bytes(good_rows() + [("odd one out", "rare")]),
        finding="unsplittable_classes",
    ),
    # characters
    Case(
        "emoji.csv",
        "emoji and other astral characters",
        lambda: csv_bytes(
            [("loved it 😍🎬👍", "pos"), ("meh 😴", "neg"), ("🔥🔥🔥", "pos"), ("👎 never again", "neg")]
        ),
        finding="rows",
    ),
    Case(
        "rtl_zero_width.csv",
        "right-to-left text and zero-width characters",
        lambda: csv_bytes(
            [
                ("\u200bفيلم رائع جدا", "pos"),
                ("סרט \u200fגרוע", "neg"),
                ("zero\u200dwidth\ufeff join", "pos"),
                ("\u202eevil override", "neg"),
            ],
            header=("\u200btext", "label"),
        ),
        finding="rows",
    ),
    Case(
        "formulas.csv",
        "spreadsheet formulas in cells (CSV injection)",
        lambda: csv_bytes(
            [
                ('=HYPERLINK("http://evil.example","click")', "pos"),
                ("+cmd|' /C calc'!A0", "neg"),
                ("-2+3", "pos"),
                ("@SUM(A1:A2)", "neg"),
                ("=1+1", "=2"),
            ]
        ),
        finding="rows",
    ),
    # Excel
    Case(
        "many_sheets.xlsx",
        "a workbook with 12 sheets, data on the 4th",
        lambda: xlsx_bytes(
            {
                **{f"Empty {i}": [] for i in range(3)},
                "Data": [("text", "label")] + good_rows(),
                **{f"Other {i}": [("x", "y"), (i, i)] for i in range(8)},
            }
        ),
        finding="read_note",
    ),
    Case(
        "empty_sheets.xlsx",
        "a workbook whose sheets are all empty",
        lambda: xlsx_bytes({"Sheet1": [], "Sheet2": []}),
        error="every sheet is empty",
    ),
    Case(
        "wrong_sheet.xlsx",
        "a sheet name that does not exist",
        lambda: xlsx_bytes({"Data": [("text", "label")] + good_rows()}),
        error="no sheet named 'Missing'",
        sheet="Missing",
    ),
    Case(
        "truncated.xlsx",
        "an Excel file cut off in the middle",
        lambda: xlsx_bytes({"Data": [("text", "label")] + good_rows()})[:700],
        error="damaged or truncated Excel",
    ),
    Case(
        "archive.xlsx",
        "a zip archive that is not a workbook",
        lambda: zip_bytes({"readme.txt": b"hello"}),
        error="not an Excel workbook",
    ),
    # JSON
    Case(
        "object.json",
        "a JSON object, not a list of records",
        lambda: b'{"name": "reviews", "count": 3}',
        error="not a list of records",
    ),
    Case("numbers.json", "a JSON list of numbers", lambda: b"[1, 2, 3]", error="not a record"),
    Case("string.json", "a JSON string", lambda: b'"just text"', error="not a list of records"),
    Case("broken.json", "invalid JSON", lambda: b'[{"text": "ok", "label": "a"},', error="not valid JSON"),
    Case("empty_list.json", "an empty JSON list", lambda: b"[]", error="empty list"),
    Case(
        "bad_line.jsonl",
        "JSON Lines with a broken line",
        lambda: b'{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": oops}\n',
        error="line 3 is not valid JSON",
    ),
    Case(
        "array_line.jsonl",
        "JSON Lines with a list instead of an object",
        lambda: b'{"text": "a", "label": "x"}\n["b", "y"]\n',
        error="line 2 is a list",
    ),
    Case(
        "wrapped.json",
        "records wrapped in an object (accepted)",
        lambda: json.dumps({"meta": {"v": 1}, "data": [{"text": t, "label": lab} for t, lab in good_rows()]}).encode(),
        finding="read_note",
    ),
    # Parquet
    Case(
        "truncated.parquet",
        "a Parquet file cut off in the middle",
        lambda: parquet_bytes()[:300],
        error="damaged or truncated Parquet",
    ),
    Case(
        "garbage.parquet",
        "Parquet magic bytes around garbage",
        lambda: b"PAR1" + random_bytes(500, 3) + b"PAR1",
        error="could not be read as Parquet",
    ),
    # large: generated at test time
    Case("huge_cell.csv", "a single 10 MB cell", huge_cell, finding="long_texts", large=True),
    Case("million_rows.csv", "a million short rows", million_rows, finding="rows", large=True),
    Case(
        "too_large.csv",
        "a file above the configured upload limit",
        above_limit,
        error=r"above the 1 MB limit",
        large=True,
        env={"TEXTCLF_MAX_UPLOAD_MB": "1"},
    ),
]

assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
