"""Annotations in and out, with annotator and time: Label Studio JSON, and files `datasets` loads."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from textclf_core.errors import DataError
from textclf_core.labelling import exchange, team
from textclf_core.store.projects import ProjectStore

TEXTS = ["这家餐厅的菜很好吃", "service was slow and rude", "服务员很热情", "the soup was cold", "价格合理，环境不错"]


def new_project(tmp_path, name="a"):
    frame = pd.DataFrame({"text": TEXTS, "label": [None] * len(TEXTS)})
    return ProjectStore(tmp_path / name).create(
        frame.to_csv(index=False).encode("utf-8"), name=name, filename="r.csv", text_col="text", label_col="label"
    )


@pytest.fixture
def labelled(tmp_path):
    project = new_project(tmp_path)
    for row, label in [(0, "good"), (1, "bad"), (2, "good"), (3, "bad")]:
        team.add_annotation(project, row, label, "ann@example.org")
    for row, label in [(0, "good"), (1, "good"), (4, "good")]:
        team.add_annotation(project, row, label, "李雷")
    team.settle(project, 1, "bad", "lead")
    return project


def _key(frame):
    return sorted(zip(frame["row"].astype(int), frame["annotator"], frame["label"], frame["time"]))


def test_label_studio_round_trip_keeps_annotator_time_and_the_reviewers_decision(tmp_path, labelled):
    tasks = exchange.to_label_studio(labelled)
    assert len(tasks) == 5
    first = next(t for t in tasks if t["data"]["row"] == 0)
    assert first["data"]["text"] == TEXTS[0]
    names = {a["completed_by"]["email"] for a in first["annotations"]}
    assert names == {"ann@example.org", "李雷"}
    assert first["annotations"][0]["result"][0]["value"]["choices"] == ["good"]
    assert first["annotations"][0]["created_at"].endswith("Z")
    assert any(a["ground_truth"] for t in tasks for a in t["annotations"])

    other = new_project(tmp_path, "b")
    counts = exchange.import_annotations(other, exchange.read_label_studio(exchange.label_studio_bytes(labelled)))
    assert counts == {"added": 7, "settled": 1, "skipped": 0}
    assert _key(team.annotations(other)) == _key(team.annotations(labelled))
    assert team.settlements(other) == {1: "bad"}


def test_a_multi_label_answer_travels_as_several_label_studio_choices(tmp_path):
    """A multi-label cell goes out as one choice per class and comes back as one cell (never only its first)."""
    from textclf_core.labelling.active import ProjectLabelLog

    project = new_project(tmp_path)
    ProjectLabelLog(project).write_meta({"classes": ["食物", "service"], "multi_label": True})
    team.add_annotation(project, 0, "食物;service", "ann")
    team.add_annotation(project, 1, "service", "ann")
    tasks = exchange.to_label_studio(project)
    choices = {t["data"]["row"]: t["annotations"][0]["result"][0]["value"]["choices"] for t in tasks}
    assert choices == {0: ["食物", "service"], 1: ["service"]}
    back = exchange.read_label_studio(json.dumps(tasks))
    assert dict(zip(back["row"], back["label"])) == {0: "食物;service", 1: "service"}


def test_label_studio_export_made_by_label_studio_itself_is_read(tmp_path):
    # the shape Label Studio writes: user ids, no row, texts to match, a cancelled annotation
    tasks = [
        {
            "id": 7,
            "data": {"text": "service was  SLOW and rude"},
            "annotations": [
                {
                    "id": 1,
                    "completed_by": 3,
                    "created_at": "2026-03-01T10:00:00.123456Z",
                    "result": [
                        {"type": "choices", "from_name": "sentiment", "to_name": "text", "value": {"choices": ["bad"]}}
                    ],
                },
                {"id": 2, "completed_by": 4, "was_cancelled": True, "result": []},
            ],
        },
        {
            "id": 8,
            "data": {"text": "not in this project"},
            "annotations": [
                {
                    "id": 3,
                    "completed_by": 3,
                    "created_at": "2026-03-01T10:01:00Z",
                    "result": [{"type": "choices", "value": {"choices": ["good"]}}],
                }
            ],
        },
    ]
    project = new_project(tmp_path)
    counts = exchange.import_annotations(project, exchange.read_label_studio(json.dumps(tasks)))
    assert counts == {"added": 1, "settled": 0, "skipped": 1}
    frame = team.annotations(project)
    assert frame[["row", "annotator", "label"]].values.tolist() == [[1, "user 3", "bad"]]
    assert frame["time"].iloc[0].startswith("2026-03-01T10:00:00")
    with pytest.raises(DataError, match="not Label Studio JSON"):
        exchange.read_label_studio(b"{broken")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_datasets_loads_the_export_and_it_round_trips(tmp_path, labelled, fmt):
    import datasets

    path = tmp_path / f"annotations.{fmt}"
    path.write_bytes(exchange.jsonl_bytes(labelled) if fmt == "jsonl" else exchange.parquet_bytes(labelled))
    loaded = datasets.load_dataset(
        "json" if fmt == "jsonl" else "parquet",
        data_files=str(path),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert set(loaded.column_names) == set(exchange.FLAT_COLUMNS)
    assert len(loaded) == 8  # 7 annotations + 1 decision
    rows = loaded.to_pandas()
    assert set(rows.loc[rows["row"] == 0, "text"]) == {TEXTS[0]}
    assert set(rows["annotator"]) == {"ann@example.org", "李雷", "lead"}

    other = new_project(tmp_path, "c")
    counts = exchange.import_annotations(other, exchange.read_flat(path))
    assert counts == {"added": 7, "settled": 1, "skipped": 0}
    assert _key(team.annotations(other)) == _key(team.annotations(labelled))
    assert team.settlements(other) == {1: "bad"}


def test_a_file_without_annotators_is_refused_in_one_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a", "label": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError) as err:
        exchange.read_flat(path)
    assert "annotator" in str(err.value) and "\n" not in str(err.value)
