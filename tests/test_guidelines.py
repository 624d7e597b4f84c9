"""The codebook: versions dated with their author, and the labels given before a change."""

from __future__ import annotations

import pandas as pd
import pytest

from textclf_core.errors import TextclfError
from textclf_core.labelling import guidelines, team
from textclf_core.store.projects import ProjectStore


@pytest.fixture
def project(tmp_path):
    frame = pd.DataFrame(
        {
            "text": ["物流很快，很满意", "the parcel never came", "客服态度很差", "fine, as described"],
            "label": [None] * 4,
        }
    )
    return ProjectStore(tmp_path / "projects").create(
        frame.to_csv(index=False).encode("utf-8"), name="g", filename="g.csv", text_col="text", label_col="label"
    )


def test_the_guidelines_history_and_the_labels_before_a_change(project):
    assert guidelines.current(project).version == 0 and guidelines.history(project) == []
    first = guidelines.save(
        project,
        {
            "positive": {"description": "The customer is happy", "examples": ["物流很快"]},
            "negative": {"description": "Something went wrong"},
        },
        author="lead",
    )
    assert first.version == 1 and first.author == "lead" and first.saved_at
    team.add_annotation(project, 0, "positive", "ann")
    team.add_annotation(project, 1, "negative", "ann")
    team.add_annotation(project, 2, "negative", "bob")
    # saving the same codebook again is not a new version
    assert guidelines.save(project, {k: v for k, v in first.classes.items()}, author="lead").version == 1
    second = guidelines.save(
        project,
        {
            "positive": first.classes["positive"],
            "negative": {"description": "Delivery or service failed; not mere dislike", "examples": ["客服态度很差"]},
        },
        author="lead",
        note="clarify negative",
    )
    assert second.version == 2 and second.note == "clarify negative"
    team.add_annotation(project, 3, "positive", "bob")

    before = guidelines.labels_before(project, 2)
    assert sorted(before["row"]) == [0, 1, 2]  # row 3 was labelled under version 2
    changed = guidelines.labels_before(project, 2, changed_only=True)
    assert sorted(changed["row"]) == [1, 2]  # only "negative" changed
    assert guidelines.labels_before(project, 1).empty
    assert [g.version for g in guidelines.history(project)] == [1, 2]
    assert guidelines.current(project).for_class("negative").examples == ["客服态度很差"]
    assert guidelines.changed_classes(first, second) == ["negative"]
    with pytest.raises(TextclfError, match="no version 7"):
        guidelines.labels_before(project, 7)


def test_a_damaged_guidelines_file_is_one_line_of_advice(project):
    (project.path / guidelines.FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(TextclfError) as err:
        guidelines.current(project)
    assert "\n" not in str(err.value) and "cannot be read" in str(err.value)
