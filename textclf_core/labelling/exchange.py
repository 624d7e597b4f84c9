"""A project's annotations in and out, with who and when: Label Studio JSON, and JSONL / Parquet
that Hugging Face ``datasets`` loads (``load_dataset("json" | "parquet", data_files=...)``).

Label Studio (its "JSON" export): a list of tasks ``{"id", "data": {"text", "row"}, "annotations":
[{"id", "completed_by", "created_at", "ground_truth", "result": [{"type": "choices", "from_name",
"to_name", "value": {"choices": [label]}}]}]}``. ``completed_by`` is written as ``{"id", "email"}``
with the annotator's name; on import a number (Label Studio's user id), a name or such an object are
all read. A reviewer's decision travels as an annotation with ``"ground_truth": true``.

The flat files have one line per annotation: ``row, text, annotator, label, time`` (settled labels
with ``annotator`` = the reviewer and ``kind`` = "settled"; annotations ``kind`` = "annotation").
On import, a line finds its text by ``row`` when the text there matches, else by the text itself
(case and spacing ignored, ``data.keys``); lines whose text is not in the project are counted, not added.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from textclf_core.errors import DataError
from textclf_core.labels import MULTI_LABEL_SEPARATORS, split_cell

from . import team

FLAT_COLUMNS = ["row", "text", "annotator", "label", "time", "kind"]
FROM_NAME, TO_NAME = "label", "text"


def _texts(project) -> list[str]:
    col = project.meta.get("text_col")
    if not col:
        raise DataError(
            "The project has no text column yet", where=project.name, hint="Choose the text column on the Upload page"
        )
    return project.frame()[col].astype(str).tolist()


def _utc(value) -> str:
    """An ISO time in UTC with a Z, as Label Studio writes it."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# =============================================================================== flat files
def annotation_table(project) -> pd.DataFrame:
    """Every annotation and every settled label with its text: DataFrame[row, text, annotator, label, time, kind]."""
    texts = _texts(project)
    notes = team.annotations(project).assign(kind="annotation")
    settled = []
    for entry in project.change_log().refresh().entries():
        change = entry["change"]
        if change.finding == team.SETTLED and change.new_label is not None:
            settled.append(
                {
                    "row": int(change.row),
                    "annotator": entry["by"] or "reviewer",
                    "label": str(change.new_label),
                    "time": change.time,
                    "kind": "settled",
                }
            )
    frame = pd.concat([notes, pd.DataFrame(settled, columns=notes.columns)], ignore_index=True)
    frame.insert(1, "text", [texts[r] if 0 <= r < len(texts) else "" for r in frame["row"]])
    return frame[FLAT_COLUMNS].astype({"row": "int64"})


def jsonl_bytes(project) -> bytes:
    """The annotations as JSON lines (UTF-8, one object per line): ``datasets.load_dataset("json", ...)``."""
    frame = annotation_table(project)
    return "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in frame.to_dict("records")).encode("utf-8")


def parquet_bytes(project) -> bytes:
    """The annotations as a Parquet file: ``datasets.load_dataset("parquet", ...)``."""
    buf = io.BytesIO()
    annotation_table(project).to_parquet(buf, index=False)
    return buf.getvalue()


def read_flat(source, fmt: str | None = None) -> pd.DataFrame:
    """A JSONL or Parquet file of annotations (path or bytes) as DataFrame[row, text, annotator, label, time, kind]."""
    name = str(source) if isinstance(source, (str, Path)) else ""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    fmt = fmt or ("parquet" if name.endswith(".parquet") or data[:4] == b"PAR1" else "jsonl")
    try:
        frame = (
            pd.read_parquet(io.BytesIO(data))
            if fmt == "parquet"
            else pd.read_json(io.BytesIO(data), lines=True, dtype=False)
        )
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many kinds for a bad file
        raise DataError(
            f"The annotations file cannot be read as {fmt} ({type(exc).__name__})",
            where=name or None,
            hint="Export it again as JSONL or Parquet",
        ) from None
    missing = [c for c in ("annotator", "label") if c not in frame.columns]
    if missing or not ({"row", "text"} & set(frame.columns)):
        raise DataError(
            f"The annotations file lacks the column(s) {', '.join(missing) or 'row or text'}",
            where=name or None,
            hint="Each line needs annotator, label and row or text",
        )
    for col in FLAT_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame["kind"] = frame["kind"].fillna("annotation")
    return frame[FLAT_COLUMNS]


# =============================================================================== Label Studio
def to_label_studio(project) -> list[dict]:
    """The project's annotated texts as Label Studio tasks, one annotation per annotator (and the
    reviewer's decision as a ground-truth annotation)."""
    table = annotation_table(project)
    space = team.label_space(project)
    separator = space.separator if space.multi_label else None  # a multi-label cell goes out as several choices
    people = {name: i for i, name in enumerate(sorted(table["annotator"].unique()), start=1)}
    tasks, next_id = [], 1
    for row, part in table.groupby("row", sort=True):
        notes = []
        for rec in part.to_dict("records"):
            notes.append(
                {
                    "id": next_id,
                    "completed_by": {"id": people[rec["annotator"]], "email": rec["annotator"]},
                    "created_at": _utc(rec["time"]),
                    "updated_at": _utc(rec["time"]),
                    "ground_truth": rec["kind"] == "settled",
                    "was_cancelled": False,
                    "result": [
                        {
                            "id": f"r{next_id}",
                            "type": "choices",
                            "from_name": FROM_NAME,
                            "to_name": TO_NAME,
                            "origin": "manual",
                            "value": {"choices": split_cell(rec["label"], separator) if separator else [rec["label"]]},
                        }
                    ],
                    "task": int(row) + 1,
                }
            )
            next_id += 1
        tasks.append(
            {
                "id": int(row) + 1,
                "data": {"text": part["text"].iloc[0], "row": int(row)},
                "annotations": notes,
                "predictions": [],
            }
        )
    return tasks


def label_studio_bytes(project) -> bytes:
    return json.dumps(to_label_studio(project), ensure_ascii=False, indent=1).encode("utf-8")


def _person(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("email", "username", "name"):
            if value.get(key):
                return str(value[key])
        full = " ".join(str(value.get(k) or "") for k in ("first_name", "last_name")).strip()
        return full or f"user {value.get('id')}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"user {int(value)}"
    return str(value or "unknown")


def read_label_studio(source) -> pd.DataFrame:
    """Label Studio's JSON export (path, bytes or the parsed list) as DataFrame[row, text, annotator,
    label, time, kind]; ``row`` is the task's ``data.row`` when we wrote it, else None (matched by text)."""
    if isinstance(source, Path) or (isinstance(source, str) and source.lstrip()[:1] not in ("[", "{")):
        source = Path(source).read_bytes()
    try:
        tasks = json.loads(source) if isinstance(source, (bytes, bytearray, str)) else source
    except ValueError as exc:
        raise DataError(f"The file is not Label Studio JSON ({exc})", hint="Export the project as JSON") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise DataError("The file is not Label Studio JSON (a list of tasks)", hint="Export the project as JSON")
    out = []
    for task in tasks:
        data = task.get("data") or {} if isinstance(task, dict) else {}
        text = next((str(v) for k, v in data.items() if k != "row" and isinstance(v, str)), None)
        for note in task.get("annotations") or [] if isinstance(task, dict) else []:
            if note.get("was_cancelled"):
                continue
            choices = [
                c
                for r in note.get("result") or []
                if r.get("type", "choices") == "choices"
                for c in ((r.get("value") or {}).get("choices") or [])
            ]
            if not choices:
                continue
            out.append(
                {
                    "row": data.get("row"),
                    "text": text,
                    "annotator": _person(note.get("completed_by")),
                    # several choices (a multi-label answer) become one cell, as the project's cells are written
                    "label": MULTI_LABEL_SEPARATORS[0].join(dict.fromkeys(str(c) for c in choices)),
                    "time": note.get("created_at"),
                    "kind": "settled" if note.get("ground_truth") else "annotation",
                }
            )
    return pd.DataFrame(out, columns=FLAT_COLUMNS)


# =============================================================================== import
def _given(value) -> bool:
    """Not None and not NaN (a missing cell of a read file)."""
    try:
        return value is not None and not bool(pd.isna(value))
    except (TypeError, ValueError):
        return True


def _match_rows(project, frame: pd.DataFrame) -> pd.Series:
    """The project row of each line (-1 when its text is not in the project)."""
    from textclf_core.data import duplicate_keys

    texts = _texts(project)
    keys = duplicate_keys(texts)
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    given_keys = duplicate_keys([str(t) if _given(t) else "" for t in frame["text"]])
    rows = []
    for row, text, key in zip(frame["row"], frame["text"], given_keys):
        if _given(row) and 0 <= int(row) < len(texts) and (not _given(text) or keys[int(row)] == key):
            rows.append(int(row))  # the row we wrote, its text unchanged
        else:
            rows.append(first.get(key, -1) if _given(text) else -1)
    return pd.Series(rows, index=frame.index, dtype="int64")


def import_annotations(project, frame: pd.DataFrame) -> dict:
    """Add read annotations (``read_flat`` / ``read_label_studio``) to the project, each with its
    annotator and time; settled lines become the reviewer's decisions. Returns ``{"added",
    "settled", "skipped"}`` (skipped: texts not in the project)."""
    frame = frame.copy()
    frame["row"] = _match_rows(project, frame)
    skipped = int((frame["row"] < 0).sum())
    frame = frame[frame["row"] >= 0]
    if frame.empty:
        raise DataError(
            f"None of the {skipped} annotations is on a text of this project",
            where=project.name,
            hint="Import into the project the texts came from",
        )
    # one time format in the log (ours: ISO with +00:00), whatever the file wrote (Label Studio: Z)
    frame["time"] = [_utc(t).replace("Z", "+00:00") if isinstance(t, str) and t else None for t in frame["time"]]
    notes = frame[frame["kind"] != "settled"]
    added = team.add_annotations(project, notes[["row", "annotator", "label", "time"]]) if len(notes) else 0
    settled = frame[frame["kind"] == "settled"]
    log_by = {}
    for rec in settled.to_dict("records"):
        log_by.setdefault(rec["annotator"], []).append(rec)
    from textclf_core.review import Change

    for reviewer, recs in log_by.items():
        project.change_log(by=reviewer).add_changes(
            [
                Change(
                    row=int(r["row"]),
                    action="relabel",
                    new_label=str(r["label"]),
                    finding=team.SETTLED,
                    note="import",
                    **({"time": r["time"]} if r["time"] else {}),
                )
                for r in recs
            ]
        )
    return {"added": added, "settled": len(settled), "skipped": skipped}
