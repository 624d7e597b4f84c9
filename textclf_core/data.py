"""Data intake: read a table, guess its columns, report its problems, split it.

Everything a person uploads passes through :func:`read_table` (CSV/TSV with the
delimiter and encoding sniffed, Excel, JSON, JSON Lines, Parquet). A file that cannot
be used raises :class:`~textclf_core.errors.DataError` with one line saying what is
wrong and what to do; any other exception escaping from here is a bug.

:func:`validate` returns a :class:`DataReport`: findings as data (row numbers,
groups, counts) with a severity each, plus plain sentences for the app.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import DataError
from .labels import MULTI_LABEL_SEPARATORS, clean_label, detect_separator, is_missing, split_multi

MAX_UPLOAD_MB = int(os.environ.get("TEXTCLF_MAX_UPLOAD_MB", "200") or 200)
SMALL_CLASS = 10  # fewer examples than this: warn (as managed services do)
TOKENS_PER_WORD = 1.3  # rough subword tokens per word for English when no tokenizer is given

TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None, ".psv": "|"}
EXCEL_FORMATS = {".xlsx", ".xlsm"}
JSON_FORMATS = {".json"}
JSONL_FORMATS = {".jsonl", ".ndjson"}
PARQUET_FORMATS = {".parquet", ".pq"}
SUPPORTED = "CSV, TSV, Excel (.xlsx), JSON, JSON Lines or Parquet"

TEXT_NAMES = ("text", "texts", "review", "reviews", "sentence", "content", "body", "message", "comment",
              "comments", "description", "tweet", "document", "utterance", "question", "abstract", "title")
LABEL_NAMES = ("label", "labels", "class", "classes", "category", "categories", "sentiment", "target", "tag",
               "tags", "topic", "topics", "intent", "y", "gold", "annotation", "rating", "emotion", "genre")
SPLIT_NAMES = ("split", "set", "subset", "fold", "partition", "dataset")
SPLIT_VALUES = {"train": "train", "training": "train", "trn": "train",
                "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
                "development": "validation", "eval": "validation",
                "test": "test", "testing": "test", "tst": "test", "holdout": "test"}


def max_upload_bytes() -> int:
    """The upload limit in bytes; TEXTCLF_MAX_UPLOAD_MB is read at call time so it can be changed."""
    raw = os.environ.get("TEXTCLF_MAX_UPLOAD_MB")
    try:
        mb = float(raw) if raw else float(MAX_UPLOAD_MB)
    except ValueError:
        mb = float(MAX_UPLOAD_MB)
    return int(mb * 1024 * 1024)


# =============================================================================
# Reading
# =============================================================================

def _source_bytes(path_or_buffer, filename: str | None, max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes and a display name, refusing files above the limit before reading them."""
    limit_mb = max_bytes / 1024 / 1024

    def too_big(size: int, name: str) -> DataError:
        return DataError(f"File {name} is {size / 1024 / 1024:,.1f} MB, above the {limit_mb:,.0f} MB limit",
                         hint="Use a smaller sample of the rows, or raise the limit with TEXTCLF_MAX_UPLOAD_MB")

    if isinstance(path_or_buffer, (str, os.PathLike)):
        path = Path(path_or_buffer)
        name = filename or path.name
        if not path.exists():
            raise DataError(f"File {path} does not exist", hint="Check the path and the spelling")
        if path.is_dir():
            raise DataError(f"{path} is a folder, not a data file", hint=f"Choose a {SUPPORTED} file")
        size = path.stat().st_size
        if size > max_bytes:
            raise too_big(size, name)
        try:
            return path.read_bytes(), name
        except OSError as exc:
            raise DataError(f"File {path} could not be read ({exc.strerror or exc})",
                            hint="Check that it exists and that you may read it") from None
    if isinstance(path_or_buffer, (bytes, bytearray, memoryview)):
        raw = bytes(path_or_buffer)
        name = filename or "the uploaded file"
    elif hasattr(path_or_buffer, "getvalue") or hasattr(path_or_buffer, "read"):
        name = filename or Path(str(getattr(path_or_buffer, "name", "") or "the uploaded file")).name
        size = getattr(path_or_buffer, "size", None)
        if isinstance(size, int) and size > max_bytes:
            raise too_big(size, name)
        if hasattr(path_or_buffer, "getvalue"):
            raw = path_or_buffer.getvalue()
        else:
            if hasattr(path_or_buffer, "seek"):
                try:
                    path_or_buffer.seek(0)
                except (OSError, ValueError):
                    pass
            raw = path_or_buffer.read()
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
    else:
        raise DataError(f"Cannot read data from a {type(path_or_buffer).__name__}",
                        hint="Pass a file path or the uploaded file")
    if len(raw) > max_bytes:
        raise too_big(len(raw), name)
    return raw, name


def _kind(raw: bytes, name: str) -> str:
    """'text', 'excel', 'json', 'jsonl' or 'parquet' from the magic bytes first, then the extension."""
    suffix = Path(name).suffix.lower()
    head = raw[:8]
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "excel"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError(f"{name} is an old-style Excel (.xls) or a password-protected workbook",
                        hint="Open it in Excel and save it as .xlsx or as CSV UTF-8")
    if head.startswith(b"%PDF"):
        raise DataError(f"{name} is a PDF document, not a table", hint=f"Export the data as {SUPPORTED}")
    if head.startswith(b"\x1f\x8b") or head.startswith(b"BZh") or head.startswith(b"7z\xbc\xaf"):
        raise DataError(f"{name} is a compressed archive", hint="Unpack it and upload the CSV or Excel file inside")
    if suffix in PARQUET_FORMATS:
        return "parquet"
    if suffix in EXCEL_FORMATS:
        return "excel"
    if suffix == ".xls":
        raise DataError(f"{name} is an old-style Excel (.xls) file", hint="Save it as .xlsx or as CSV UTF-8")
    if suffix in JSONL_FORMATS:
        return "jsonl"
    if suffix in JSON_FORMATS:
        return "json"
    if suffix in TEXT_FORMATS or suffix == "":
        return "text"
    raise DataError(f"{name}: files ending in {suffix} are not supported", hint=f"Use {SUPPORTED}")


def _is_binary(text: str) -> bool:
    sample = text[:65536]
    if not sample:
        return False
    controls = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ord(ch) == 127)
    return controls / len(sample) > 0.01


def _decode(raw: bytes, name: str) -> tuple[str, str, list[str]]:
    """Text, encoding name and notes. UTF-8 (BOM or not), UTF-16 (BOM), else Windows-1252 / Latin-1,
    and line by line when a file mixes UTF-8 and Windows-1252 lines."""
    notes: list[str] = []
    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            try:
                return raw.decode(enc), enc, [f"The file is in {enc.upper()}; it was read correctly"]
            except UnicodeDecodeError:
                raise DataError(f"{name} starts like a {enc.upper()} file but is damaged",
                                hint="Save it again as CSV UTF-8") from None
    sample = raw[:65536]
    if b"\x00" in sample:
        # UTF-16 without a byte-order mark: every other byte of ASCII text is zero.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        half = max(1, len(sample) // 2)
        if max(even, odd) / half > 0.3 and min(even, odd) / half < 0.05:
            enc = "utf-16-le" if odd > even else "utf-16-be"
            try:
                return raw.decode(enc), enc, [f"The file is in {enc.upper()}; it was read correctly"]
            except UnicodeDecodeError:
                pass
        raise DataError(f"{name} looks like a binary file, not a text table",
                        hint=f"Upload a {SUPPORTED} file; in Excel use Save As > CSV UTF-8")
    try:
        return raw.decode("utf-8-sig"), "utf-8", notes
    except UnicodeDecodeError:
        pass
    # Not valid UTF-8. Decide between a Windows-1252 file and a file that mixes both.
    lines = raw.split(b"\n")
    utf8_lines = bad_lines = 0
    for line in lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8_lines += 1
        except UnicodeDecodeError:
            bad_lines += 1
    if utf8_lines and bad_lines:
        parts = []
        for line in lines:
            try:
                parts.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                parts.append(_decode_legacy(line))
        text = "\n".join(parts).lstrip("\ufeff")
        notes.append(f"MIXED:The file mixes two text encodings ({utf8_lines:,} lines UTF-8, {bad_lines:,} lines "
                     "Windows-1252); each line was read in its own encoding. Check accented letters, and save the "
                     "file as CSV UTF-8 next time")
        return text, "mixed", notes
    text = _decode_legacy(raw)
    notes.append("The file is not UTF-8; it was read as Windows-1252 (Western European). If accented letters "
                 "look wrong, save it as CSV UTF-8 and upload it again")
    return text, "cp1252", notes


def _add_encoding_notes(enc_notes: list[str], notes: list[str], info: dict) -> None:
    for note in enc_notes:
        if note.startswith("MIXED:"):
            info.setdefault("warnings", []).append(note[len("MIXED:"):])
        else:
            notes.append(note)


def _decode_legacy(raw: bytes) -> str:
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:  # five byte values are undefined in cp1252; latin-1 accepts every byte
        return raw.decode("latin-1")


def _sniff_delimiter(text: str, preferred: str | None) -> str:
    """The delimiter whose rows most consistently match the header's field count."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rfind("\n")]
    best: tuple | None = None
    for order, delim in enumerate((",", "\t", ";", "|")):
        try:
            rows = []
            for row in csv.reader(io.StringIO(sample), delimiter=delim):
                if any(cell.strip() for cell in row):
                    rows.append(len(row))
                if len(rows) >= 500:
                    break
        except csv.Error:
            continue
        if not rows or rows[0] < 2:
            continue
        consistency = sum(n == rows[0] for n in rows) / len(rows)
        score = (round(consistency, 2), delim == preferred, rows[0] > 1, -order)
        if best is None or score > best[0]:
            best = (score, delim)
    return best[1] if best else (preferred or ",")


def _ragged_lines(text: str, delim: str, limit: int = 3) -> tuple[int, list[tuple[int, int]]]:
    """Header field count and (line, fields) of the first records with more fields than the header."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, 1 << 30))  # a 10 MB cell is legitimate text
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delim)
        header_n, bad = None, []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header_n is None:
                header_n = len(row)
            elif len(row) > header_n and any(cell.strip() for cell in row[header_n:]):
                bad.append((reader.line_num, len(row)))
                if len(bad) >= limit:
                    break
        return header_n or 0, bad
    except csv.Error:
        return 0, []
    finally:
        csv.field_size_limit(old)


def _read_text_table(raw: bytes, name: str, notes: list[str], info: dict) -> pd.DataFrame:
    text, encoding, enc_notes = _decode(raw, name)
    _add_encoding_notes(enc_notes, notes, info)
    info["encoding"] = encoding
    if _is_binary(text):
        raise DataError(f"{name} looks like a binary file, not a text table",
                        hint=f"Upload a {SUPPORTED} file; in Excel use Save As > CSV UTF-8")
    if not text.strip():
        raise DataError(f"{name} is empty", hint="Upload a file with a header row and at least one row of data")
    delim = _sniff_delimiter(text, TEXT_FORMATS.get(Path(name).suffix.lower()))
    info["delimiter"] = delim
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, header=None, dtype=str, keep_default_na=False,
                         na_values=[""], skip_blank_lines=True, engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} is empty", hint="Upload a file with a header row and at least one row of data") from None
    except pd.errors.ParserError as exc:
        header_n, bad = _ragged_lines(text, delim)
        shown = {",": "comma", "\t": "tab", ";": "semicolon", "|": "bar"}[delim]
        if bad:
            where = ", ".join(f"line {line} has {n} fields" for line, n in bad)
            raise DataError(f"{name}: some rows have more fields than the header's {header_n} ({where})",
                            hint=f"A text probably contains a {shown} without quotes around it; put such texts in "
                                 f"double quotes, or save the file from a spreadsheet as CSV") from None
        eof = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if eof:
            raise DataError(f"{name}: a double quote opened near line {int(eof.group(1)) + 1} is never closed",
                            hint="Close the quote or remove it, or save the file from a spreadsheet as CSV") from None
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable rows"
        raise DataError(f"{name} could not be read as a {shown}-separated table ({detail})",
                        hint="Check for unbalanced double quotes, or save the file from a spreadsheet as CSV") from None
    _check_mixed_delimiters(df, delim, info)
    return df


def _check_mixed_delimiters(df: pd.DataFrame, delim: str, info: dict) -> None:
    """Rows whose only cell holds another delimiter were probably written with a different separator."""
    if df.shape[1] < 2 or len(df) < 2:
        return
    body = df.iloc[1:]
    lonely = body.iloc[:, 1:].isna().all(axis=1) & body.iloc[:, 0].notna()
    if not lonely.any():
        return
    width = df.shape[1]
    found: dict[str, list[int]] = defaultdict(list)
    for pos, cell in body.loc[lonely].iloc[:, 0].head(10000).items():
        for other in (",", ";", "\t", "|"):
            if other != delim and len(str(cell).split(other)) >= width:
                found[other].append(int(pos))
                break
    names = {",": "','", ";": "';'", "\t": "tabs", "|": "'|'"}
    for other, rows in found.items():
        lines = ", ".join(str(r + 1) for r in rows[:5]) + (f" and {len(rows) - 5:,} more" if len(rows) > 5 else "")
        info.setdefault("warnings", []).append(
            f"{_n(len(rows), 'line uses', 'lines use')} {names[other]} instead of {names[delim]} between fields ({'line' if len(rows) == 1 else 'lines'} {lines}); "
            "their fields were not split, so their labels are missing. Use one separator in the whole file")


def _read_excel(raw: bytes, name: str, sheet, notes: list[str], info: dict) -> pd.DataFrame:
    sheets = _sheet_names(raw, name)
    if not sheets:
        raise DataError(f"{name} has no worksheets", hint="Add a sheet with a header row and your data")
    if sheet is None:
        chosen = None
        for candidate in sheets:  # the first sheet that has data: cover sheets are common
            frame = _excel_sheet(raw, name, candidate)
            if frame.dropna(how="all").shape[0] >= 1:
                chosen = candidate
                break
        if chosen is None:
            raise DataError(f"{name}: every sheet is empty ({', '.join(sheets[:5])})",
                            hint="Put a header row and your data on the first sheet")
        if chosen != sheets[0]:
            notes.append(f"The first sheet '{sheets[0]}' is empty; sheet '{chosen}' was read")
        if len(sheets) > 1:
            notes.append(f"The workbook has {len(sheets)} sheets; '{chosen}' was read (choose another sheet if needed)")
        info["sheet"] = chosen
        return frame
    if isinstance(sheet, int):
        if not 0 <= sheet < len(sheets):
            raise DataError(f"{name} has {len(sheets)} sheets, there is no sheet number {sheet + 1}",
                            hint=f"Choose one of: {', '.join(sheets[:10])}")
        sheet = sheets[sheet]
    if sheet not in sheets:
        raise DataError(f"{name} has no sheet named '{sheet}'", hint=f"Choose one of: {', '.join(sheets[:10])}")
    info["sheet"] = sheet
    frame = _excel_sheet(raw, name, sheet)
    if frame.dropna(how="all").empty:
        raise DataError(f"Sheet '{sheet}' of {name} is empty", hint="Choose the sheet that holds your data")
    return frame


def _sheet_names(raw: bytes, name: str) -> list[str]:
    try:
        import openpyxl

        wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()
    except zipfile.BadZipFile:
        raise DataError(f"{name} is a damaged or truncated Excel file",
                        hint="Open it in Excel and save it again, or export it as CSV") from None
    except (KeyError, OSError, ValueError, TypeError) as exc:
        raise DataError(f"{name} is a zip archive but not an Excel workbook ({type(exc).__name__})",
                        hint="Upload an .xlsx workbook, or unpack the archive and upload the file inside") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for damaged files
        raise DataError(f"{name} could not be opened as an Excel workbook ({type(exc).__name__})",
                        hint="Open it in Excel and save it again, or export it as CSV") from None


def _excel_sheet(raw: bytes, name: str, sheet: str) -> pd.DataFrame:
    try:
        return pd.read_excel(io.BytesIO(raw), sheet_name=sheet, header=None, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - openpyxl/pandas raise many types for damaged files
        raise DataError(f"Sheet '{sheet}' of {name} could not be read ({type(exc).__name__})",
                        hint="Open it in Excel and save it again, or export it as CSV") from None


def list_sheets(path_or_buffer, *, filename: str | None = None) -> list[str]:
    """Worksheet names of an Excel workbook (empty list for other formats)."""
    raw, name = _source_bytes(path_or_buffer, filename, max_upload_bytes())
    if not raw or _kind(raw, name) != "excel":
        return []
    return _sheet_names(raw, name)


def _flatten(value):
    """Nested JSON values become cell text: a list of labels is joined with ';' (multi-label)."""
    if isinstance(value, list):
        if all(not isinstance(v, (list, dict)) for v in value):
            return ";".join(str(v) for v in value if v is not None)
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _records_frame(records: list, name: str, where: str) -> pd.DataFrame:
    if not records:
        raise DataError(f"{name} holds an empty list{where}", hint="Add records like {\"text\": ..., \"label\": ...}")
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        kind = type(records[bad]).__name__
        raise DataError(f"{name}: item {bad + 1}{where} is a {kind}, not a record",
                        hint='Each item must be an object like {"text": "...", "label": "..."}')
    df = pd.DataFrame.from_records([{k: _flatten(v) for k, v in r.items()} for r in records])
    return df


def _read_json(raw: bytes, name: str, notes: list[str], info: dict) -> pd.DataFrame:
    text, encoding, enc_notes = _decode(raw, name)
    _add_encoding_notes(enc_notes, notes, info)
    if not text.strip():
        raise DataError(f"{name} is empty", hint="Upload a JSON list of records like [{\"text\": ..., \"label\": ...}]")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Extra data"):  # one object per line: JSON Lines under a .json name
            notes.append("The file has one JSON object per line; it was read as JSON Lines")
            return _read_jsonl_text(text, name)
        raise DataError(f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                        hint="Check the file in a JSON validator, or export it again") from None
    if isinstance(data, list):
        return _records_frame(data, name, "")
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        for key in ("data", "records", "rows", "items", "examples", "instances", "samples", "train"):
            if key in lists and lists[key] and isinstance(lists[key][0], dict):
                notes.append(f"Records were read from the '{key}' list of the JSON file")
                return _records_frame(lists[key], name, f" of '{key}'")
        record_lists = [k for k, v in lists.items() if v and isinstance(v[0], dict)]
        if len(record_lists) == 1:
            key = record_lists[0]
            notes.append(f"Records were read from the '{key}' list of the JSON file")
            return _records_frame(lists[key], name, f" of '{key}'")
        # Columnar JSON: {"text": [...], "label": [...]} with equal lengths.
        if lists and len(lists) == len(data) and len({len(v) for v in lists.values()}) == 1 and len(lists) >= 1:
            if all(not isinstance(x, dict) for v in lists.values() for x in v[:50]):
                return pd.DataFrame({k: [_flatten(x) for x in v] for k, v in lists.items()})
    kind = {dict: "an object", str: "a string", int: "a number", float: "a number",
            bool: "true/false"}.get(type(data), "a single value")
    raise DataError(f"{name} is {kind}, not a list of records",
                    hint='Use a list like [{"text": "...", "label": "..."}] or {"data": [...]}')


def _read_jsonl_text(text: str, name: str) -> pd.DataFrame:
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}: line {lineno} is not valid JSON ({exc.msg})",
                            hint="Each line must hold one JSON object like {\"text\": ..., \"label\": ...}") from None
        if not isinstance(obj, dict):
            raise DataError(f"{name}: line {lineno} is a {type(obj).__name__}, not a JSON object",
                            hint="Each line must hold one JSON object like {\"text\": ..., \"label\": ...}")
        records.append({k: _flatten(v) for k, v in obj.items()})
    if not records:
        raise DataError(f"{name} is empty", hint="Each line must hold one JSON object like {\"text\": ..., \"label\": ...}")
    return pd.DataFrame.from_records(records)


def _read_jsonl(raw: bytes, name: str, notes: list[str], info: dict) -> pd.DataFrame:
    text, encoding, enc_notes = _decode(raw, name)
    _add_encoding_notes(enc_notes, notes, info)
    if not text.strip():
        raise DataError(f"{name} is empty", hint="Each line must hold one JSON object like {\"text\": ..., \"label\": ...}")
    return _read_jsonl_text(text, name)


def _read_parquet(raw: bytes, name: str, notes: list[str], info: dict) -> pd.DataFrame:
    if not raw.startswith(b"PAR1") or not raw.endswith(b"PAR1"):
        raise DataError(f"{name} is a damaged or truncated Parquet file",
                        hint="Export it again; if it was copied or downloaded, the copy may be incomplete")
    try:
        df = pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ... for damaged files
        raise DataError(f"{name} could not be read as Parquet ({type(exc).__name__})",
                        hint="Export it again, or save the data as CSV") from None
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: _flatten(list(v)) if isinstance(v, np.ndarray) else _flatten(v))
    return df


def _clean_header_name(value) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace("\ufeff", "").replace("\u200b", "")
    return re.sub(r"\s+", " ", text).strip()


def _fix_headers(names: Sequence, notes: list[str]) -> list[str]:
    """Trim header names; blank ones become column_N, repeated ones get _2, _3..."""
    out: list[str] = []
    seen: set[str] = set()
    blank, dup = [], []
    for i, raw in enumerate(names):
        name = _clean_header_name(raw)
        if not name or re.fullmatch(r"Unnamed: \d+", name):
            name = f"column_{i + 1}"
            blank.append(name)
        base, k = name, 2
        while name in seen:
            name = f"{base}_{k}"
            k += 1
        if name != base:
            dup.append(f"'{base}' → '{name}'")
        seen.add(name)
        out.append(name)
    if blank:
        notes.append(f"{len(blank)} column(s) had no name and were called {', '.join(blank[:5])}")
    if dup:
        notes.append(f"Repeated column names were renamed: {', '.join(dup[:5])}")
    return out


def _apply_header_row(df: pd.DataFrame, name: str, notes: list[str]) -> pd.DataFrame:
    """The first non-empty row is the header (files are read with header=None to control naming)."""
    filled = np.flatnonzero(df.notna().any(axis=1).to_numpy())
    if len(filled) == 0:
        raise DataError(f"{name} is empty", hint="Upload a file with a header row and at least one row of data")
    header = list(df.iloc[filled[0]])
    body = df.iloc[filled[0] + 1:].reset_index(drop=True)
    body.columns = _fix_headers(header, notes)
    return body


def _finish(df: pd.DataFrame, name: str, notes: list[str]) -> pd.DataFrame:
    """Common clean-up: trimmed unique headers, fully empty rows and unnamed empty columns dropped."""
    n_before = len(df)
    df = df.dropna(how="all")
    if n_before - len(df) and len(df):
        notes.append(f"{n_before - len(df):,} completely empty row(s) were skipped")
    empty_cols = [c for c in df.columns if re.fullmatch(r"column_\d+", str(c)) and df[c].isna().all()]
    if empty_cols:
        df = df.drop(columns=empty_cols)
    if df.shape[1] == 0:
        raise DataError(f"{name} has no columns", hint="Upload a table with a header row")
    if len(df) == 0:
        raise DataError(f"{name} has a header row but no data rows",
                        hint="Add at least one row of texts under the header")
    return df.reset_index(drop=True)


def read_table(path_or_buffer, *, filename: str | None = None, sheet: str | int | None = None,
               max_bytes: int | None = None) -> pd.DataFrame:
    """Read a CSV/TSV, Excel, JSON, JSON Lines or Parquet file into a DataFrame.

    ``path_or_buffer`` is a path, bytes, or a file-like object (an uploaded file);
    ``filename`` names it for format detection and messages. CSV cells are read as
    text. ``df.attrs["textclf"]`` holds what was detected (format, encoding,
    delimiter, sheet) and ``notes`` (plain sentences about what was fixed).
    Raises DataError with an actionable one-line message when the file cannot be used.
    """
    limit = max_bytes if max_bytes is not None else max_upload_bytes()
    raw, name = _source_bytes(path_or_buffer, filename, limit)
    if not raw.strip():
        raise DataError(f"{name} is empty", hint="Upload a file with a header row and at least one row of data")
    kind = _kind(raw, name)
    notes: list[str] = []
    info: dict[str, Any] = {"format": kind, "filename": name}
    if kind == "text":
        df = _apply_header_row(_read_text_table(raw, name, notes, info), name, notes)
        info["format"] = "tsv" if info.get("delimiter") == "\t" else "csv"
    elif kind == "excel":
        df = _apply_header_row(_read_excel(raw, name, sheet, notes, info), name, notes)
    elif kind == "json":
        df = _read_json(raw, name, notes, info)
    elif kind == "jsonl":
        df = _read_jsonl(raw, name, notes, info)
    else:
        df = _read_parquet(raw, name, notes, info)
    if kind in ("json", "jsonl", "parquet"):
        df.columns = _fix_headers(list(df.columns), notes)
    df = _finish(df, name, notes)
    info["notes"] = notes
    df.attrs["textclf"] = info
    return df


def read_notes(df: pd.DataFrame) -> list[str]:
    """What read_table fixed or noticed while reading (encoding fallback, renamed headers...)."""
    return list((df.attrs.get("textclf") or {}).get("notes") or [])


def read_warnings(df: pd.DataFrame) -> list[str]:
    """Problems read_table noticed that probably damaged some rows (mixed separators or encodings)."""
    return list((df.attrs.get("textclf") or {}).get("warnings") or [])


# =============================================================================
# Column guessing
# =============================================================================

@dataclass
class ColumnGuess:
    """Best guesses for the text, label and split columns, with a reason for each."""

    text_col: str | None
    label_col: str | None
    split_col: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _values(series: pd.Series, limit: int = 20000) -> list[str]:
    """Non-missing cells as trimmed strings (a deterministic sample for big tables)."""
    s = series if len(series) <= limit else series.iloc[np.linspace(0, len(series) - 1, limit).astype(int)]
    return [str(v).strip() for v in s if not is_missing(v)]


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def _name_key(name) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")


def _name_matches(name, vocabulary: Iterable[str]) -> bool:
    key = _name_key(name)
    parts = key.split("_")
    return key in vocabulary or any(p in vocabulary for p in parts if p)


def _split_kind(values: list[str]) -> bool:
    if not values:
        return False
    mapped = [SPLIT_VALUES.get(v.lower()) for v in values]
    return sum(m is not None for m in mapped) / len(values) >= 0.95 and "train" in mapped


def guess_columns(df: pd.DataFrame) -> ColumnGuess:
    """Guess which column holds the texts, which the labels and which (optional) the split."""
    reasons: dict[str, str] = {}
    stats = {}
    for col in df.columns:
        vals = _values(df[col])
        if not vals:
            stats[col] = None
            continue
        n = len(vals)
        numeric = sum(_is_number(v) for v in vals) / n >= 0.95
        stats[col] = {
            "n": n,
            "unique": len(set(vals)),
            "avg_chars": sum(len(v) for v in vals) / n,
            "avg_words": sum(len(v.split()) for v in vals) / n,
            "spaced": sum(" " in v for v in vals) / n,
            "numeric": numeric,
            "vals": vals,
        }

    split_col = None
    for col, st in stats.items():
        if st and _split_kind(st["vals"]):
            if split_col is None or (_name_matches(col, SPLIT_NAMES) and not _name_matches(split_col, SPLIT_NAMES)):
                split_col = col
    if split_col is not None:
        counts = Counter(SPLIT_VALUES.get(v.lower()) for v in stats[split_col]["vals"])
        reasons["split"] = (f"'{split_col}' holds train/validation/test values "
                            f"({', '.join(f'{k} {v:,}' for k, v in counts.items() if k)})")

    text_col, best = None, None
    for col, st in stats.items():
        if st is None or col == split_col or st["numeric"]:
            continue
        uniq = st["unique"] / st["n"]
        score = st["avg_chars"] * (0.5 + 0.5 * uniq)
        if st["spaced"] < 0.1:  # identifiers, codes, URLs and single-word labels are not free text
            score *= 0.3
        if _name_matches(col, TEXT_NAMES):
            score *= 1.5
        if _name_matches(col, LABEL_NAMES) and not _name_matches(col, TEXT_NAMES):
            score *= 0.5
        if best is None or score > best:
            text_col, best = col, score
    if text_col is not None:
        st = stats[text_col]
        looks_like_text = st["avg_words"] >= 2 or st["unique"] / st["n"] > 0.5 or _name_matches(text_col, TEXT_NAMES)
        if looks_like_text:
            reasons["text"] = (f"'{text_col}' has the longest texts (about {st['avg_words']:.0f} words on average, "
                               f"{st['unique']:,} different values)")
        else:
            text_col = None
    named_empty = [c for c, st in stats.items() if st is None and _name_key(c) in TEXT_NAMES]
    named_filled = [c for c, st in stats.items() if st is not None and _name_matches(c, TEXT_NAMES)]
    if named_empty and not named_filled:  # an empty 'text' column: say so instead of picking another column
        text_col = named_empty[0]
        reasons["text"] = f"'{text_col}' is named like a text column (it is empty)"
    if text_col is None:
        reasons["text"] = "No column looks like free text (all columns are empty, numbers or short codes)"

    label_col, best = None, None
    for col in df.columns:
        if col in (text_col, split_col):
            continue
        st = stats[col]
        named = _name_matches(col, LABEL_NAMES)
        if st is None:
            if named and (label_col is None or best < 100):  # an empty 'label' column: still the label column
                label_col, best = col, 100
            continue
        sep = detect_separator(st["vals"])
        classes = {p for v in st["vals"] for p in split_multi(v, sep)} if sep else set(st["vals"])
        k = len(classes)
        low_card = 2 <= k <= max(2, min(100, int(0.5 * st["n"]))) or (k <= 2 and st["n"] <= 4)
        if not (low_card or named):
            continue
        if st["avg_words"] > 6 and not named:
            continue
        score = (1000 if named else 0) + (200 if low_card else 0) + 100 * st["n"] / max(1, len(df)) - k / 10
        if best is None or score > best:
            label_col, best = col, score
    if label_col is not None:
        st = stats[label_col]
        if st is None:
            reasons["label"] = f"'{label_col}' is named like a label column (it is empty)"
        else:
            sep = detect_separator(st["vals"])
            classes = {p for v in st["vals"] for p in split_multi(v, sep)} if sep else set(st["vals"])
            why = "is named like a label column and " if _name_matches(label_col, LABEL_NAMES) else ""
            reasons["label"] = f"'{label_col}' {why}has {len(classes)} different value(s)"
            if sep:
                reasons["label"] += f", several per row separated by '{sep}'"
    else:
        reasons["label"] = "No column looks like labels (few repeated values); the data can still be used for predictions"
    return ColumnGuess(text_col=text_col, label_col=label_col, split_col=split_col, reasons=reasons)


# =============================================================================
# Validation report
# =============================================================================

SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    """One thing the report found. ``rows`` are 0-based row positions (as ``prepare()['row']``)."""

    code: str
    severity: str  # error (blocks training) | warning | info
    message: str  # a plain sentence for a non-programmer: what, how many, what happens
    count: int = 0
    rows: list[int] = field(default_factory=list)


@dataclass
class DataReport:
    """Findings about a table as data; ``summary_lines()`` says them in plain language."""

    n_rows: int = 0
    text_col: str | None = None
    label_col: str | None = None
    n_labelled: int = 0
    n_unlabelled: int = 0
    empty_texts: list[int] = field(default_factory=list)
    missing_labels: list[int] = field(default_factory=list)
    exact_duplicates: list[list[int]] = field(default_factory=list)
    conflicting_duplicates: list[list[int]] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    small_classes: dict[str, int] = field(default_factory=dict)
    unsplittable_classes: dict[str, int] = field(default_factory=dict)
    label_variants: list[dict] = field(default_factory=list)
    multi_label: bool = False
    separator: str | None = None
    numeric_labels: bool = False
    imbalance_ratio: float | None = None
    char_lengths: dict[str, float] = field(default_factory=dict)
    word_lengths: dict[str, float] = field(default_factory=dict)
    token_lengths: dict[str, float] = field(default_factory=dict)
    tokens_estimated: bool = True
    max_length: int = 128
    n_long: int = 0
    long_share: float = 0.0
    read_notes: list[str] = field(default_factory=list)
    read_warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> list[str]:
        """Messages of the problems that stop training (empty list: training can start)."""
        return [f.message for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.blocking

    def finding(self, code: str) -> Finding | None:
        return next((f for f in self.findings if f.code == code), None)

    def summary_lines(self) -> list[str]:
        """Plain sentences, most serious first."""
        order = {s: i for i, s in enumerate(SEVERITIES)}
        return [f.message for f in sorted(self.findings, key=lambda f: order.get(f.severity, 9))]

    def to_dict(self) -> dict:
        return _jsonable(asdict(self) | {"blocking": self.blocking})


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, float) and np.isnan(obj):
        return None
    return obj


def _n(count: int, one: str, many: str) -> str:
    """'1 row has' / '3 rows have': plain English for the report."""
    return f"{count:,} {one if count == 1 else many}"


def _rows_text(rows: Sequence[int], limit: int = 5) -> str:
    """'rows 3, 8 and 2 more' with 1-based numbers (row 1 = first row under the header)."""
    shown = ", ".join(str(r + 1) for r in rows[:limit])
    more = f" and {len(rows) - limit:,} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _stats(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    return {"min": float(np.min(values)), "median": float(np.median(values)), "mean": float(np.mean(values)),
            "p95": float(np.percentile(values, 95)), "max": float(np.max(values))}


def _token_counts(texts: list[str], tokenizer, limit: int = 5000) -> tuple[np.ndarray, bool]:
    """Token counts per text: measured with the tokenizer on up to ``limit`` texts, else estimated from words."""
    if tokenizer is not None and texts:
        sample = texts if len(texts) <= limit else [texts[i] for i in np.linspace(0, len(texts) - 1, limit).astype(int)]
        try:
            counts = []
            for start in range(0, len(sample), 512):
                enc = tokenizer(sample[start:start + 512], add_special_tokens=True, truncation=False)
                counts.extend(len(ids) for ids in enc["input_ids"])
            return np.asarray(counts, dtype=np.int64), False
        except Exception:  # noqa: BLE001 - any tokenizer failure falls back to the estimate
            pass
    words = np.asarray([len(t.split()) for t in texts], dtype=np.int64)
    return np.ceil(words * TOKENS_PER_WORD).astype(np.int64) + 2, True


def _clean_scalar(value):
    """clean_label for one cell, with fast paths for the common types."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float):
        if value != value:
            return None
        return str(int(value)) if value.is_integer() else str(value)
    return clean_label(value)


def _clean_labels(values) -> np.ndarray:
    """clean_label over a column, vectorised: object array of trimmed str or None."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if s.dtype != object and pd.api.types.is_string_dtype(s.dtype):
        t = s.str.strip()
        return t.mask(t == "").to_numpy(dtype=object, na_value=None)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        arr = s.to_numpy(dtype=float, na_value=np.nan)
        out = np.full(len(arr), None, dtype=object)
        ok = ~np.isnan(arr)
        whole = ok & (arr == np.round(arr))
        out[whole] = arr[whole].astype(np.int64).astype(str).tolist()
        other = ok & ~whole
        out[other] = [str(v) for v in arr[other]]
        return out
    return np.fromiter((_clean_scalar(v) for v in s.to_numpy(dtype=object)), dtype=object, count=len(s))


def _text_scalar(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if value != value:
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    return "" if is_missing(value) else str(value)


def _texts(series: pd.Series) -> np.ndarray:
    if series.dtype != object and pd.api.types.is_string_dtype(series.dtype):
        return series.fillna("").to_numpy(dtype=object)
    return np.fromiter((_text_scalar(v) for v in series.to_numpy(dtype=object)), dtype=object, count=len(series))


def _detect_sep(labelled: pd.Series) -> str | None:
    """detect_separator on already-clean labels, vectorised (same 5% rule)."""
    if len(labelled) == 0:
        return None
    for sep in MULTI_LABEL_SEPARATORS:
        if labelled.str.contains(sep, regex=False).mean() >= 0.05:
            return sep
    return None


def _normalize_arrow(texts):
    """Duplicate key: Unicode NFKC, whitespace collapsed and trimmed, lower case."""
    collapsed = pc.replace_substring_regex(pc.utf8_normalize(texts, "NFKC"), r"\s+", " ")
    return pc.utf8_lower(pc.utf8_trim_whitespace(collapsed))


def duplicate_keys(texts: Sequence[str]) -> list[str]:
    """The key under which texts count as exact duplicates (case and spacing ignored)."""
    return _normalize_arrow(pa.array([str(t) for t in texts], type=pa.string())).to_pylist()


def validate(df: pd.DataFrame, text_col: str | None, label_col: str | None, max_length: int = 128,
             tokenizer=None, *, multi_label: bool | None = None) -> DataReport:
    """Check a table for everything that affects training; never raises for problems in the data."""
    rep = DataReport(n_rows=int(len(df)), text_col=text_col, label_col=label_col, max_length=int(max_length),
                     read_notes=read_notes(df), read_warnings=read_warnings(df))
    add = rep.findings.append
    for warning in rep.read_warnings:
        add(Finding("read_warning", "warning", warning))
    for note in rep.read_notes:
        add(Finding("read_note", "info", note))
    if text_col is None or text_col not in df.columns:
        what = f"There is no column '{text_col}'" if text_col is not None else "No text column is chosen"
        add(Finding("no_text_column", "error",
                    f"{what}. Choose the column that holds the texts (columns: {', '.join(map(str, df.columns[:10]))})."))
        return rep
    if label_col is not None and label_col not in df.columns:
        add(Finding("no_label_column", "error",
                    f"There is no column '{label_col}'. Choose the column that holds the labels."))
        return rep

    frame = prepare(df, text_col, label_col)
    rows = frame["row"].to_numpy()
    labels = frame["label"]
    # Arrow compute keeps a million-row table to seconds (pandas' object string methods loop in Python).
    texts = pa.array(frame["text"].to_numpy(dtype=object), type=pa.large_string())
    stripped = pc.utf8_trim_whitespace(texts)

    # --- texts ----------------------------------------------------------------
    empty = pc.equal(pc.utf8_length(stripped), 0).to_numpy(zero_copy_only=False).astype(bool)
    rep.empty_texts = rows[empty].tolist()
    if len(rep.empty_texts) == len(rows):
        add(Finding("all_texts_empty", "error", f"Every text in column '{text_col}' is empty. Choose the column "
                    "that holds the texts.", len(rows)))
    elif rep.empty_texts:
        add(Finding("empty_texts", "warning", f"{_n(len(rep.empty_texts), 'row has', 'rows have')} an empty text "
                    f"({_rows_text(rep.empty_texts)}). They will be left out of training and evaluation.",
                    len(rep.empty_texts), rep.empty_texts))
    if not empty.all():
        non_empty = texts.filter(pa.array(~empty))
        chars = pc.utf8_length(non_empty).to_numpy(zero_copy_only=False).astype(np.int64)
        words = pc.count_substring_regex(non_empty, r"\S+").to_numpy(zero_copy_only=False).astype(np.int64)
        if tokenizer is not None:
            tokens, estimated = _token_counts(non_empty.to_pylist(), tokenizer)
        else:
            tokens, estimated = np.ceil(words * TOKENS_PER_WORD).astype(np.int64) + 2, True
        rep.char_lengths, rep.word_lengths, rep.token_lengths = _stats(chars), _stats(words), _stats(tokens)
        rep.tokens_estimated = estimated
        share = float(np.mean(tokens > max_length))
        rep.long_share = share
        rep.n_long = int(round(share * len(non_empty)))
        add(Finding("lengths", "info", f"Texts are {int(words.min()):,} to {int(words.max()):,} words long "
                    f"(median {int(np.median(words)):,} words, {int(np.median(chars)):,} characters)."))
        if share > 0:
            how = "estimated" if estimated else "measured with the model's tokenizer"
            sev = "warning" if share >= 0.2 else "info"
            add(Finding("long_texts", sev, f"{share:.0%} of texts are longer than the maximum length of "
                        f"{max_length} tokens ({how}); only their first {max_length} tokens are used. A larger "
                        "maximum length reads more of each text but trains more slowly.", rep.n_long))

    # --- labels ---------------------------------------------------------------
    if label_col is None:
        rep.n_unlabelled = rep.n_rows
        rep.missing_labels = rows.tolist()
        add(Finding("no_label_column", "error", "No label column is chosen. Training needs a column with the "
                    "class of each text; without it the file can only be used for predictions."))
        return rep
    missing = labels.isna().to_numpy(dtype=bool)
    rep.missing_labels = rows[missing].tolist()
    rep.n_unlabelled = len(rep.missing_labels)
    rep.n_labelled = rep.n_rows - rep.n_unlabelled
    if rep.n_labelled == 0:
        add(Finding("all_labels_missing", "error", f"Every row has an empty label in column '{label_col}'. "
                    "Choose the column that holds the labels, or label some rows first.", rep.n_rows,
                    rep.missing_labels))
        return rep
    if rep.missing_labels:
        add(Finding("missing_labels", "warning", f"{_n(rep.n_unlabelled, 'row has', 'rows have')} no label "
                    f"({_rows_text(rep.missing_labels)}). They are kept as unlabelled rows: not used for training, "
                    "but you can label them in Label review or predict them.", rep.n_unlabelled, rep.missing_labels))

    labelled = labels[~missing].astype(str)
    sep = _detect_sep(labelled)
    if multi_label is not None and multi_label and sep is None:
        sep = ";"
    rep.multi_label = bool(sep) if multi_label is None else bool(multi_label)
    rep.separator = sep if rep.multi_label else None
    if rep.multi_label:
        per_row = [split_multi(lab, rep.separator) for lab in labelled]
        counts = Counter(p for parts in per_row for p in parts)
        avg = float(np.mean([len(p) for p in per_row])) if per_row else 0.0
        add(Finding("multi_label", "info", f"Labels hold several classes per row separated by '{rep.separator}' "
                    f"(about {avg:.1f} per row): this is a multi-label task, each text can get several of the "
                    f"{len(counts)} classes."))
    else:
        counts = Counter({str(k): int(v) for k, v in labelled.value_counts().items()})
    rep.class_counts = {k: int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}

    if len(counts) < 2:
        only = f"'{next(iter(counts))}'" if counts else "none"
        add(Finding("one_class", "error", f"Only one class is present ({only}). Training needs at least two "
                    "different labels: check the label column or add examples of another class.", len(counts)))
    rep.unsplittable_classes = {k: v for k, v in rep.class_counts.items() if v < 2}
    rep.small_classes = {k: v for k, v in rep.class_counts.items() if v < SMALL_CLASS}
    if rep.unsplittable_classes and len(counts) >= 2:
        names = ", ".join(f"'{k}'" for k in list(rep.unsplittable_classes)[:5])
        add(Finding("unsplittable_classes", "warning", f"{_n(len(rep.unsplittable_classes), 'class has', 'classes have')} "
                    f"a single example ({names}). Such a class goes to training only and cannot be tested; add more examples.",
                    len(rep.unsplittable_classes)))
    small = {k: v for k, v in rep.small_classes.items() if k not in rep.unsplittable_classes}
    if small and len(counts) >= 2:
        names = ", ".join(f"'{k}' ({v})" for k, v in list(small.items())[:5])
        add(Finding("small_classes", "warning", f"{_n(len(small), 'class has', 'classes have')} fewer than {SMALL_CLASS} "
                    f"examples: "
                    f"{names}. A model rarely learns a class from so few; add examples if you can.", len(small)))
    if len(counts) >= 2:
        ratio = max(counts.values()) / max(1, min(counts.values()))
        rep.imbalance_ratio = float(ratio)
        if ratio >= 10:
            big, little = max(counts, key=counts.get), min(counts, key=counts.get)
            add(Finding("imbalance", "warning", f"Classes are very unbalanced: '{big}' has {ratio:.0f} times as many "
                        f"examples as '{little}'. Weighting classes in the loss helps the small ones."))

    # Spelling variants: raw cells that differ only by case or spaces (counted over distinct cells: fast).
    raw_counts = df[label_col].dropna().astype(str).value_counts()
    cell_counts: Counter = Counter()
    for cell, n in raw_counts.items():
        for part in (cell.split(rep.separator) if rep.multi_label else [cell]):
            cell_counts[part] += int(n)
    variants: dict[str, Counter] = defaultdict(Counter)
    for cell, n in cell_counts.items():
        variants[re.sub(r"\s+", " ", cell).strip().casefold()][cell] += n
    for key, spellings in variants.items():
        if len(spellings) > 1 and key:
            stripped_names = {re.sub(r"\s+", " ", s).strip() for s in spellings}
            rep.label_variants.append({"spellings": sorted(spellings), "counts": dict(spellings),
                                       "merged": len(stripped_names) == 1})
    if rep.label_variants:
        merged = [v for v in rep.label_variants if v["merged"]]
        separate = [v for v in rep.label_variants if not v["merged"]]
        if separate:
            shown = "; ".join(" / ".join(f"'{s}'" for s in v["spellings"]) for v in separate[:3])
            add(Finding("label_variants", "warning", f"Some labels differ only in capital letters or spaces ({shown}). "
                        "They count as different classes; make the spelling the same if they mean the same thing.",
                        len(separate)))
        if merged:
            shown = "; ".join(" / ".join(repr(s) for s in v["spellings"]) for v in merged[:3])
            add(Finding("label_spaces", "info", f"Some labels have extra spaces ({shown}); the spaces are removed "
                        "so they count as one class.", len(merged)))

    classes = list(counts)
    if classes and all(_is_number(str(c)) for c in classes):
        rep.numeric_labels = True
        shown = ", ".join(sorted(classes, key=lambda c: float(c.replace(",", "")))[:6])
        add(Finding("numeric_labels", "info", f"Labels are numbers ({shown}). Each number is treated as the name of "
                    "a class, not as an amount."))

    # --- duplicates (only rows whose normalised text repeats are looked at one by one) ---------
    usable = ~empty & ~missing
    mask = pa.array(usable)
    keys = _normalize_arrow(texts.filter(mask)).to_numpy(zero_copy_only=False)
    repeated = pd.Series(keys, dtype=object).duplicated(keep=False).to_numpy()
    keyed = pd.DataFrame({"key": keys[repeated],
                          "label": labels.to_numpy(dtype=object)[usable][repeated],
                          "text": stripped.filter(mask).to_numpy(zero_copy_only=False)[repeated],
                          "row": rows[usable][repeated]})
    conflict_labels: list[list[str]] = []
    conflict_texts: list[str] = []
    for _, group in keyed.groupby("key", sort=False):
        if group["label"].nunique() > 1:
            rep.conflicting_duplicates.append(group["row"].astype(int).tolist())
            conflict_labels.append(sorted(set(group["label"])))
            conflict_texts.append(str(group["text"].iloc[0]))
        else:
            for _, same in group.groupby("text", sort=False):
                if len(same) > 1:
                    rep.exact_duplicates.append(same["row"].astype(int).tolist())
    if rep.exact_duplicates:
        n = sum(len(g) for g in rep.exact_duplicates)
        add(Finding("exact_duplicates", "warning", f"{_n(len(rep.exact_duplicates), 'text appears', 'texts appear')} more than once "
                    f"with the same label ({n:,} rows). Training keeps the copies of a text in one split, so they "
                    "cannot flatter the test score, but they count several times; remove them if they are mistakes.", len(rep.exact_duplicates),
                    sorted(r for g in rep.exact_duplicates for r in g)))
    if rep.conflicting_duplicates:
        n = sum(len(g) for g in rep.conflicting_duplicates)
        example = conflict_texts[0] if len(conflict_texts[0]) <= 60 else conflict_texts[0][:57] + "..."
        add(Finding("conflicting_duplicates", "warning", f"{_n(len(rep.conflicting_duplicates), 'text appears', 'texts appear')} with "
                    f"different labels ({n:,} rows), e.g. '{example}' is labelled "
                    f"{' and '.join(repr(x) for x in conflict_labels[0])}. "
                    "A model cannot learn both; check them in Label review.", len(rep.conflicting_duplicates),
                    sorted(r for g in rep.conflicting_duplicates for r in g)))

    add(Finding("rows", "info", f"{_n(rep.n_rows, 'row', 'rows')}: {rep.n_labelled:,} labelled in {_n(len(counts), 'class', 'classes')}"
                + (f", {rep.n_unlabelled:,} without a label." if rep.n_unlabelled else ".")))
    return rep


# =============================================================================
# Preparation, splits, fingerprint, safe export
# =============================================================================

def prepare(df: pd.DataFrame, text_col: str, label_col: str | None, *, split_col: str | None = None) -> pd.DataFrame:
    """A clean frame: ``row`` (original 0-based position), ``text`` (str, missing → ""),
    ``label`` (trimmed text, None when unlabelled) and ``split_value`` when ``split_col`` is given."""
    for role, col in (("text", text_col), ("label", label_col), ("split", split_col)):
        if col is not None and col not in df.columns:
            raise DataError(f"There is no {role} column '{col}'",
                            hint=f"Choose one of: {', '.join(map(str, df.columns[:10]))}")
    if text_col is None:
        raise DataError("No text column is chosen", hint="Choose the column that holds the texts")
    labels = _clean_labels(df[label_col]) if label_col is not None else np.full(len(df), None, dtype=object)
    out = pd.DataFrame({"row": np.arange(len(df), dtype=np.int64),
                        "text": pd.Series(_texts(df[text_col]), dtype=object),
                        "label": pd.Series(labels, dtype=object)})
    if split_col is not None:
        out["split_value"] = pd.Series(_split_names(df[split_col]), dtype=object)  # None, not NaN
    return out


def _split_names(values) -> np.ndarray:
    """'train' / 'validation' / 'test' or None for each cell of a split column."""
    return np.array([None if v is None else SPLIT_VALUES.get(v.lower()) for v in _clean_labels(values)], dtype=object)


def assign_splits(labels: Sequence, *, val_size: float = 0.1, test_size: float = 0.1, seed: int = 42,
                  split_values: Sequence | None = None, multi_label: bool = False,
                  groups: Sequence | None = None) -> np.ndarray:
    """'train' / 'validation' / 'test' / 'unlabelled' for each row; see :func:`assign_splits_with_notes`."""
    return assign_splits_with_notes(labels, val_size=val_size, test_size=test_size, seed=seed,
                                    split_values=split_values, multi_label=multi_label, groups=groups)[0]


def assign_splits_with_notes(labels: Sequence, *, val_size: float = 0.1, test_size: float = 0.1, seed: int = 42,
                             split_values: Sequence | None = None, multi_label: bool = False,
                             groups: Sequence | None = None) -> tuple[np.ndarray, list[str]]:
    """Stratified, seeded split of labelled rows; unlabelled rows get 'unlabelled'.

    - ``split_values`` (a split column) is honoured where a row has a recognised value
      (train/validation/test and synonyms); missing splits are carved out of train.
    - ``groups`` (e.g. normalised texts) keeps rows of one group in the same split.
    - Classes too small to stratify (1 example) go to train, with a note.
    - Multi-label rows are stratified on their rarest label.
    """
    clean = _clean_labels(labels)
    n = len(clean)
    notes: list[str] = []
    out = np.full(n, "unlabelled", dtype=object)
    has_label = np.array([c is not None for c in clean], dtype=bool)
    labelled = np.flatnonzero(has_label)
    if len(labelled) == 0:
        return out.astype(str), ["No row has a label"]
    if groups is not None:
        groups = list(groups)
        if len(groups) != n:
            raise DataError("The groups have a different number of rows than the labels")

    # Stratum of each labelled row: its label, or (multi-label) its rarest label.
    strata = np.full(n, "", dtype=object)
    if multi_label:
        sep = _detect_sep(pd.Series(clean[labelled], dtype=object)) or ";"
        parts = {int(i): split_multi(clean[i], sep) for i in labelled}
        freq = Counter(p for ps in parts.values() for p in ps)
        for i, ps in parts.items():
            strata[i] = min(ps, key=lambda p: (freq[p], p)) if ps else ""
    else:
        strata[labelled] = clean[labelled]

    pool = labelled
    if split_values is not None:
        names = _split_names(split_values)
        if len(names) != n:
            raise DataError("The split column has a different number of rows than the labels")
        fixed = labelled[np.array([names[i] is not None for i in labelled], dtype=bool)]
        if len(fixed):
            present = {names[i] for i in fixed}
            notes.append(f"The split column's values were used for {len(fixed):,} labelled rows")
            unknown = len(labelled) - len(fixed)
            if unknown:
                notes.append(f"{unknown:,} labelled rows had no recognised split value and were split at random")
            if "validation" not in present and val_size > 0:
                notes.append("The split column has no validation rows; some training rows are used for validation")
            if "test" not in present and test_size > 0:
                notes.append("The split column has no test rows; some training rows are used for the final test")
            val_size = 0.0 if "validation" in present else val_size
            test_size = 0.0 if "test" in present else test_size
            for i in fixed:
                out[i] = names[i]
            # Missing parts are carved out of the rows the column put in train, plus the unassigned ones.
            pool = labelled[np.array([names[i] in (None, "train") for i in labelled], dtype=bool)]
    _stratified(pool, strata, groups, val_size, test_size, seed, out, notes)
    return out.astype(str), notes


def _stratified(indices: np.ndarray, strata: np.ndarray, groups, val_size: float, test_size: float,
                seed: int, out: np.ndarray, notes: list[str]) -> None:
    """Assign train/validation/test to ``indices`` class by class; rows of one group stay together."""
    if len(indices) == 0:
        return
    rng = np.random.default_rng(seed)
    if groups is None:
        unit_of = np.arange(len(indices))
    else:
        codes, _ = pd.factorize(pd.Series([groups[i] for i in indices], dtype=object), use_na_sentinel=True)
        alone = codes < 0  # rows without a group are units of their own
        codes[alone] = codes.max(initial=-1) + 1 + np.arange(int(alone.sum()))
        unit_of, _ = pd.factorize(codes)
    n_units = int(unit_of.max()) + 1
    first_member = np.full(n_units, -1, dtype=np.int64)
    first_member[unit_of[::-1]] = np.arange(len(indices))[::-1]  # first row of each unit
    unit_strata = strata[indices[first_member]]
    unit_split = np.full(n_units, "train", dtype=object)
    too_small = []
    for cls in sorted(set(unit_strata.tolist()), key=str):
        members = np.flatnonzero(unit_strata == cls)
        k = len(members)
        n_test = int(round(k * test_size))
        n_val = int(round(k * val_size))
        if k >= 3:
            n_test = max(n_test, 1 if test_size > 0 else 0)
            n_val = max(n_val, 1 if val_size > 0 else 0)
        elif k == 2:
            n_test, n_val = (1, 0) if test_size > 0 else (0, 1 if val_size > 0 else 0)
        else:
            n_test = n_val = 0
            too_small.append(cls)
        while n_test + n_val >= k and k > 1:  # always keep at least one unit for training
            if n_val > 0:
                n_val -= 1
            else:
                n_test -= 1
        order = members[rng.permutation(k)]
        unit_split[order[:n_test]] = "test"
        unit_split[order[n_test:n_test + n_val]] = "validation"
    out[indices] = unit_split[unit_of]
    if too_small:
        shown = ", ".join(f"'{c}'" for c in too_small[:5])
        notes.append(f"{len(too_small)} class(es) have a single example ({shown}) and were put in training only")


def fingerprint(df: pd.DataFrame) -> str:
    """A stable hash of the table's column names and cell contents (same data → same fingerprint)."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in df.columns]).encode("utf-8"))
    h.update(str(len(df)).encode())
    for col in df.columns:
        s = df[col]
        values = s.astype(object).where(s.notna(), "\x00").astype(str).to_numpy(dtype=object)
        h.update(pd.util.hash_array(values, categorize=False).tobytes())
    return h.hexdigest()[:16]


_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?%?$")


def _neutralize_cell(value):
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        if value[0] in "+-" and _NUMBER.match(value.strip()):
            return value  # a signed number, not a formula
        return "'" + value
    return value


def neutralize_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy safe to open in a spreadsheet: text cells (and headers) starting with = + - @ tab or CR get a
    leading ' so they are not run as formulas (CSV injection). Signed numbers are left alone."""
    out = df.copy()
    out.columns = [_neutralize_cell(c) if isinstance(c, str) else c for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(_neutralize_cell).astype(object)
    return out


def write_csv(df: pd.DataFrame, path: str | Path, *, neutralize: bool = True) -> Path:
    """Write a CSV for people (UTF-8 with BOM so Excel shows accents) atomically, formulas neutralised."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = neutralize_formulas(df) if neutralize else df
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            frame.to_csv(fh, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
