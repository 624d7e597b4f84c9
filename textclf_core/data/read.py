"""Reading a table: CSV/TSV with the delimiter and encoding sniffed, Excel, JSON, JSON Lines, Parquet.

Everything a person uploads passes through :func:`read_table`. A file that cannot be used raises
:class:`~textclf_core.errors.DataError` with one line saying what is wrong and what to do; any other
exception escaping from here is a bug.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import DataError
from textclf_core.labels import is_missing

from .cells import plural

MAX_UPLOAD_MB = int(os.environ.get("TEXTCLF_MAX_UPLOAD_MB", "200") or 200)
HEADER_SEARCH_ROWS = 10  # title rows above a header are a few lines at most


TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None, ".psv": "|"}


EXCEL_FORMATS = {".xlsx", ".xlsm"}


JSON_FORMATS = {".json"}


JSONL_FORMATS = {".jsonl", ".ndjson"}


PARQUET_FORMATS = {".parquet", ".pq"}


SUPPORTED = "CSV, TSV, Excel (.xlsx), JSON, JSON Lines or Parquet"


def max_upload_bytes() -> int:
    """The upload limit in bytes; TEXTCLF_MAX_UPLOAD_MB is read at call time so it can be changed."""
    raw = os.environ.get("TEXTCLF_MAX_UPLOAD_MB")
    try:
        mb = float(raw) if raw else float(MAX_UPLOAD_MB)
    except ValueError:
        mb = float(MAX_UPLOAD_MB)
    return int(mb * 1024 * 1024)


def _suggested_mb(size: int) -> int:
    """A round limit above ``size`` bytes, for the advice (1.3 GB -> 1500)."""
    mb = size / 1024 / 1024
    step = 100 if mb < 1000 else 500
    return int((mb // step + 1) * step)


def _source_bytes(path_or_buffer, filename: str | None, max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes and a display name, refusing files above the limit before reading them."""
    limit_mb = max_bytes / 1024 / 1024

    def too_big(size: int, name: str) -> DataError:
        return DataError(
            f"File {name} is {size / 1024 / 1024:,.1f} MB, above the {limit_mb:,.0f} MB limit",
            hint=f"Use the command line for a bigger file (`textclf validate FILE`, `textclf train "
            f"--data FILE`, with TEXTCLF_MAX_UPLOAD_MB={_suggested_mb(size)} set), or start the "
            "app with TEXTCLF_MAX_UPLOAD_MB raised, or use a sample of the rows",
        )

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
            raise DataError(
                f"File {path} could not be read ({exc.strerror or exc})",
                hint="Check that it exists and that you may read it",
            ) from None
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
        raise DataError(
            f"Cannot read data from a {type(path_or_buffer).__name__}", hint="Pass a file path or the uploaded file"
        )
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
        raise DataError(
            f"{name} is an old-style Excel (.xls) or a password-protected workbook",
            hint="Open it in Excel and save it as .xlsx or as CSV UTF-8",
        )
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
    for bom, enc in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            try:
                return raw.decode(enc), enc, [f"The file is in {enc.upper()}; it was read correctly"]
            except UnicodeDecodeError:
                raise DataError(
                    f"{name} starts like a {enc.upper()} file but is damaged", hint="Save it again as CSV UTF-8"
                ) from None
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
        raise DataError(
            f"{name} looks like a binary file, not a text table",
            hint=f"Upload a {SUPPORTED} file; in Excel use Save As > CSV UTF-8",
        )
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
        notes.append(
            f"MIXED:The file mixes two text encodings ({utf8_lines:,} lines UTF-8, {bad_lines:,} lines "
            "Windows-1252); each line was read in its own encoding. Check accented letters, and save the "
            "file as CSV UTF-8 next time"
        )
        return text, "mixed", notes
    text = _decode_legacy(raw)
    notes.append(
        "The file is not UTF-8; it was read as Windows-1252 (Western European). If accented letters "
        "look wrong, save it as CSV UTF-8 and upload it again"
    )
    return text, "cp1252", notes


def _add_encoding_notes(enc_notes: list[str], notes: list[str], info: dict) -> None:
    for note in enc_notes:
        if note.startswith("MIXED:"):
            info.setdefault("warnings", []).append(note[len("MIXED:") :])
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


def _title_padding(text: str, delim: str, look: int = HEADER_SEARCH_ROWS + 50) -> int | None:
    """The table's width when the first line is shorter (a title above the header), else None:
    pandas takes the first line's field count as the width and would refuse the longer rows below."""

    def field_counts(source: str, want: int) -> list[int] | None:
        old = csv.field_size_limit()
        csv.field_size_limit(max(old, 1 << 30))
        try:
            counts = []
            for row in csv.reader(io.StringIO(source), delimiter=delim):
                if any(cell.strip() for cell in row):
                    counts.append(len(row))
                if len(counts) >= want:
                    break
            return counts
        except csv.Error:
            return None
        finally:
            csv.field_size_limit(old)

    # The first MB holds the first rows of any ordinary file (StringIO of a whole 128 MB file cost 0.9 s).
    # One row more than needed is read from it, so the last row counted was not cut at the MB boundary;
    # a file whose first MB holds fewer rows (huge cells) is read whole, as before.
    counts = field_counts(text[: 1 << 20], look + 1) if len(text) > 1 << 20 else None
    if counts is not None and len(counts) > look:
        counts = counts[:look]
    else:
        counts = field_counts(text, look)
    if counts is None:
        return None
    if len(counts) < 2:
        return None
    typical = Counter(counts[1:]).most_common(1)[0][0]
    if counts[0] > typical // 2:  # a header, perhaps with blanks or a ragged row below: not a title
        return None
    return max(counts)


def _read_text_table(raw: bytes, name: str, notes: list[str], info: dict) -> pd.DataFrame:
    text, encoding, enc_notes = _decode(raw, name)
    _add_encoding_notes(enc_notes, notes, info)
    info["encoding"] = encoding
    if _is_binary(text):
        raise DataError(
            f"{name} looks like a binary file, not a text table",
            hint=f"Upload a {SUPPORTED} file; in Excel use Save As > CSV UTF-8",
        )
    if not text or text.isspace():  # not text.strip(): no copy of a 128 MB text
        raise DataError(f"{name} is empty", hint="Upload a file with a header row and at least one row of data")
    delim = _sniff_delimiter(text, TEXT_FORMATS.get(Path(name).suffix.lower()))
    info["delimiter"] = delim
    width = _title_padding(text, delim)
    try:
        # Valid UTF-8 goes to the C parser as bytes: StringIO would encode the whole text back (0.5 s and
        # one more copy of a 128 MB file).
        source = io.BytesIO(raw) if encoding == "utf-8" else io.StringIO(text)
        df = pd.read_csv(
            source,
            sep=delim,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
            engine="c",
            **({"encoding": "utf-8-sig"} if encoding == "utf-8" else {}),
            **({"names": list(range(width))} if width else {}),
        )
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{name} is empty", hint="Upload a file with a header row and at least one row of data"
        ) from None
    except pd.errors.ParserError as exc:
        header_n, bad = _ragged_lines(text, delim)
        shown = {",": "comma", "\t": "tab", ";": "semicolon", "|": "bar"}[delim]
        if bad:
            where = ", ".join(f"line {line} has {n} fields" for line, n in bad)
            raise DataError(
                f"{name}: some rows have more fields than the header's {header_n} ({where})",
                hint=f"A text probably contains a {shown} without quotes around it; put such texts in "
                f"double quotes, or save the file from a spreadsheet as CSV",
            ) from None
        eof = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if eof:
            raise DataError(
                f"{name}: a double quote opened near line {int(eof.group(1)) + 1} is never closed",
                hint="Close the quote or remove it, or save the file from a spreadsheet as CSV",
            ) from None
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable rows"
        raise DataError(
            f"{name} could not be read as a {shown}-separated table ({detail})",
            hint="Check for unbalanced double quotes, or save the file from a spreadsheet as CSV",
        ) from None
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
            f"{plural(len(rows), 'line uses', 'lines use')} {names[other]} instead of {names[delim]} between fields ({'line' if len(rows) == 1 else 'lines'} {lines}); "
            "their fields were not split, so their labels are missing. Use one separator in the whole file"
        )


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
            raise DataError(
                f"{name}: every sheet is empty ({', '.join(sheets[:5])})",
                hint="Put a header row and your data on the first sheet",
            )
        if chosen != sheets[0]:
            notes.append(f"The first sheet '{sheets[0]}' is empty; sheet '{chosen}' was read")
        if len(sheets) > 1:
            notes.append(f"The workbook has {len(sheets)} sheets; '{chosen}' was read (choose another sheet if needed)")
        info["sheet"] = chosen
        return frame
    if isinstance(sheet, int):
        if not 0 <= sheet < len(sheets):
            raise DataError(
                f"{name} has {len(sheets)} sheets, there is no sheet number {sheet + 1}",
                hint=f"Choose one of: {', '.join(sheets[:10])}",
            )
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
        raise DataError(
            f"{name} is a damaged or truncated Excel file",
            hint="Open it in Excel and save it again, or export it as CSV",
        ) from None
    except (KeyError, OSError, ValueError, TypeError) as exc:
        raise DataError(
            f"{name} is a zip archive but not an Excel workbook ({type(exc).__name__})",
            hint="Upload an .xlsx workbook, or unpack the archive and upload the file inside",
        ) from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for damaged files
        raise DataError(
            f"{name} could not be opened as an Excel workbook ({type(exc).__name__})",
            hint="Open it in Excel and save it again, or export it as CSV",
        ) from None


def _excel_sheet(raw: bytes, name: str, sheet: str) -> pd.DataFrame:
    try:
        return pd.read_excel(io.BytesIO(raw), sheet_name=sheet, header=None, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - openpyxl/pandas raise many types for damaged files
        raise DataError(
            f"Sheet '{sheet}' of {name} could not be read ({type(exc).__name__})",
            hint="Open it in Excel and save it again, or export it as CSV",
        ) from None


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
        raise DataError(f"{name} holds an empty list{where}", hint='Add records like {"text": ..., "label": ...}')
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        kind = type(records[bad]).__name__
        raise DataError(
            f"{name}: item {bad + 1}{where} is a {kind}, not a record",
            hint='Each item must be an object like {"text": "...", "label": "..."}',
        )
    df = pd.DataFrame.from_records([{k: _flatten(v) for k, v in r.items()} for r in records])
    return df


def _read_json(raw: bytes, name: str, notes: list[str], info: dict) -> pd.DataFrame:
    text, encoding, enc_notes = _decode(raw, name)
    _add_encoding_notes(enc_notes, notes, info)
    if not text.strip():
        raise DataError(f"{name} is empty", hint='Upload a JSON list of records like [{"text": ..., "label": ...}]')
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Extra data"):  # one object per line: JSON Lines under a .json name
            notes.append("The file has one JSON object per line; it was read as JSON Lines")
            return _read_jsonl_text(text, name)
        raise DataError(
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            hint="Check the file in a JSON validator, or export it again",
        ) from None
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
    kind = {dict: "an object", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(data), "a single value"
    )
    raise DataError(
        f"{name} is {kind}, not a list of records",
        hint='Use a list like [{"text": "...", "label": "..."}] or {"data": [...]}',
    )


def _read_jsonl_text(text: str, name: str) -> pd.DataFrame:
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{name}: line {lineno} is not valid JSON ({exc.msg})",
                hint='Each line must hold one JSON object like {"text": ..., "label": ...}',
            ) from None
        if not isinstance(obj, dict):
            raise DataError(
                f"{name}: line {lineno} is a {type(obj).__name__}, not a JSON object",
                hint='Each line must hold one JSON object like {"text": ..., "label": ...}',
            )
        records.append({k: _flatten(v) for k, v in obj.items()})
    if not records:
        raise DataError(f"{name} is empty", hint='Each line must hold one JSON object like {"text": ..., "label": ...}')
    return pd.DataFrame.from_records(records)


def _read_jsonl(raw: bytes, name: str, notes: list[str], info: dict) -> pd.DataFrame:
    text, encoding, enc_notes = _decode(raw, name)
    _add_encoding_notes(enc_notes, notes, info)
    if not text.strip():
        raise DataError(f"{name} is empty", hint='Each line must hold one JSON object like {"text": ..., "label": ...}')
    return _read_jsonl_text(text, name)


def _read_parquet(raw: bytes, name: str, notes: list[str], info: dict) -> pd.DataFrame:
    if not raw.startswith(b"PAR1") or not raw.endswith(b"PAR1"):
        raise DataError(
            f"{name} is a damaged or truncated Parquet file",
            hint="Export it again; if it was copied or downloaded, the copy may be incomplete",
        )
    try:
        df = pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ... for damaged files
        raise DataError(
            f"{name} could not be read as Parquet ({type(exc).__name__})",
            hint="Export it again, or save the data as CSV",
        ) from None
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


def detect_header_row(df: pd.DataFrame) -> int:
    """Position (0-based, among the rows as read with no header) of the likely header row.

    Spreadsheets often carry a title, a date or blank rows above the real header: those rows fill
    fewer cells than the table is wide. The header is the first non-empty row (of the first
    ``HEADER_SEARCH_ROWS``) that fills as many cells as the typical row below it.
    """
    counts = df.notna().to_numpy().sum(axis=1) if len(df) else np.zeros(0, dtype=int)
    filled = np.flatnonzero(counts > 0)
    if len(filled) == 0:
        return 0
    below = counts[filled[: HEADER_SEARCH_ROWS + 50]]
    width = int(np.bincount(below).argmax()) if len(below) else 0  # the most common number of filled cells
    if width < 2:
        return int(filled[0])  # a one-column table: nothing to tell a title from a header by
    for pos in filled[:HEADER_SEARCH_ROWS]:
        if counts[pos] > width // 2:  # a header may have a blank name or two; a title fills one cell or so
            return int(pos)
    return int(filled[0])


def _apply_header_row(
    df: pd.DataFrame, name: str, notes: list[str], info: dict | None = None, header_row: int | None = None
) -> pd.DataFrame:
    """Pick the header row (files are read with header=None to control naming): ``header_row``
    (1 = the first row read) when given, else the detected one; rows above it are skipped and said so."""
    filled = np.flatnonzero(df.notna().any(axis=1).to_numpy())
    if len(filled) == 0:
        raise DataError(f"{name} is empty", hint="Upload a file with a header row and at least one row of data")
    if header_row is not None:
        if isinstance(header_row, bool) or not isinstance(header_row, (int, np.integer)) or header_row < 1:
            raise DataError(f"The header row must be a row number of at least 1, got {header_row!r}", where=name)
        if header_row > len(df):
            raise DataError(
                f"The header row {header_row} is past the end of the file ({len(df):,} rows)",
                where=name,
                hint="Choose a row number within the file",
            )
        pos, chosen = int(header_row) - 1, True
    else:
        pos, chosen = detect_header_row(df), False
    skipped = [int(i) for i in filled if i < pos]
    if skipped and not chosen:
        above = "; ".join(" ".join(str(v) for v in df.iloc[i] if not is_missing(v))[:60] for i in skipped[:3])
        notes.append(
            f"The header is row {pos + 1}: {plural(len(skipped), 'row', 'rows')} above it "
            f'("{above}") looked like a title and {"was" if len(skipped) == 1 else "were"} skipped. '
            "Choose another header row if this is wrong"
        )
    if info is not None:
        info["header_row"] = pos + 1
        info["header_row_detected"] = not chosen
        info["rows_above_header"] = len(skipped)
    header = list(df.iloc[pos])
    body = df.iloc[pos + 1 :].reset_index(drop=True)
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
        raise DataError(
            f"{name} has a header row but no data rows", hint="Add at least one row of texts under the header"
        )
    return df.reset_index(drop=True)


def read_table(
    path_or_buffer,
    *,
    filename: str | None = None,
    sheet: str | int | None = None,
    max_bytes: int | None = None,
    header_row: int | None = None,
) -> pd.DataFrame:
    """Read a CSV/TSV, Excel, JSON, JSON Lines or Parquet file into a DataFrame.

    ``path_or_buffer`` is a path, bytes, or a file-like object (an uploaded file);
    ``filename`` names it for format detection and messages. CSV cells are read as
    text. ``df.attrs["textclf"]`` holds what was detected (format, encoding,
    delimiter, sheet, ``header_row``: 1-based row of the header among the rows read, detected past
    title/blank rows unless ``header_row`` is given; CSV/TSV and Excel only) and ``notes`` (plain
    sentences about what was fixed).
    Raises DataError with an actionable one-line message when the file cannot be used.
    """
    limit = max_bytes if max_bytes is not None else max_upload_bytes()
    raw, name = _source_bytes(path_or_buffer, filename, limit)
    if not raw or raw.isspace():
        raise DataError(f"{name} is empty", hint="Upload a file with a header row and at least one row of data")
    kind = _kind(raw, name)
    notes: list[str] = []
    info: dict[str, Any] = {"format": kind, "filename": name}
    if kind == "text":
        df = _apply_header_row(_read_text_table(raw, name, notes, info), name, notes, info, header_row)
        info["format"] = "tsv" if info.get("delimiter") == "\t" else "csv"
    elif kind == "excel":
        df = _apply_header_row(_read_excel(raw, name, sheet, notes, info), name, notes, info, header_row)
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


# --- large files: a CSV read in chunks (streamed prediction) ------------------------------------
SNIFF_BYTES = 1 << 20  # the start of a CSV that read_table sniffs (encoding, delimiter, header) before streaming
_STREAMED_FORMATS = (".csv", ".tsv", ".tab", ".txt", ".psv")


def read_csv_chunks(path: Path, chunk_rows: int):
    """(the first MB read by :func:`read_table`, row estimate, iterator of DataFrames) for a plain UTF-8 CSV/TSV
    with its header on the first line, read ``chunk_rows`` at a time with the same cell rules as
    :func:`read_table`; None for any other file (title rows above the header, another encoding, unbalanced
    quotes in the first MB...), which the caller reads whole. The first MB decides; a broken row further on
    raises pandas' ParserError or UnicodeDecodeError while iterating."""

    if path.suffix.lower() not in _STREAMED_FORMATS or not path.is_file():
        return None
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
        rest = handle.read(1)
    if rest and b"\n" in head:
        head = head[: head.rfind(b"\n") + 1]
    try:
        sample = read_table(head, filename=path.name)
    except DataError:
        return None
    info = sample.attrs.get("textclf") or {}
    if (
        info.get("encoding") != "utf-8"
        or info.get("header_row") != 1
        or info.get("rows_above_header")
        or info.get("warnings")
        or info.get("format") not in ("csv", "tsv")
    ):
        return None
    sep = info["delimiter"]
    header = pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig", engine="c")
    if len(header.columns) != len(sample.columns):  # read_table dropped an empty column: keep its exact rules
        return None
    newlines = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            newlines += block.count(b"\n")
    columns = list(sample.columns)

    def chunks():
        reader = pd.read_csv(
            path,
            sep=sep,
            header=0,
            names=columns,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
            engine="c",
            encoding="utf-8-sig",
            chunksize=chunk_rows,
        )
        with reader:
            for chunk in reader:
                chunk = chunk.dropna(how="all")  # as read_table: completely empty rows are skipped
                if len(chunk):
                    yield chunk

    return sample, max(1, newlines - 1), chunks()
