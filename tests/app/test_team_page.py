"""The Team page (AppTest): members and overlap, agreement, consensus, the reviewer's queue, exchange."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from textclf_core.labelling import exchange, team
from textclf_core.store.projects import ProjectStore

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TEXTS = [
    "这部电影太好看了",
    "great film, loved it",
    "演员表演很精彩",
    "wonderful acting",
    "这部电影很无聊",
    "terrible film, hated it",
    "剧情糟糕透了",
    "awful acting",
]
TRUTH = ["pos"] * 4 + ["neg"] * 4


def no_trouble(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def team_project():
    frame = pd.DataFrame({"text": [f"{t} ({i})" for i in range(3) for t in TEXTS], "label": [None] * 24})
    project = ProjectStore().create(
        frame.to_csv(index=False).encode("utf-8"), name="team", filename="team.csv", text_col="text", label_col="label"
    )
    project.set_team(
        team.TeamSettings([team.Member("lead", "owner"), team.Member("ann"), team.Member("bob")], overlap_share=1.0),
        by="lead",
    )
    for row in range(24):
        team.add_annotation(project, row, TRUTH[row % 8], "ann")
        # bob disagrees on two texts
        team.add_annotation(
            project, row, ("neg" if TRUTH[row % 8] == "pos" else "pos") if row in (1, 6) else TRUTH[row % 8], "bob"
        )
    return project


def open_team_page(project) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["project"] = project.id
    at.run()
    at.switch_page("app_pages/team.py").run()
    no_trouble(at)
    return at


def test_the_team_page_shows_agreement_settles_disagreements_and_edits_the_team(app):
    project = team_project()
    at = open_team_page(project)
    text = " ".join(m.value for m in at.markdown)
    assert "Agreement is" in text and "most disagreements are between neg and pos" in text
    assert any(m.label == "Krippendorff's α" for m in at.metric)
    assert len(at.dataframe) >= 5  # members, kappa, per class, confused, consensus, quality
    pairs = at.dataframe[1].value
    assert pairs[["annotator", "with", "texts"]].values.tolist() == [["ann", "bob", 24]]  # headers a person reads
    assert "2 texts to settle" in " ".join(c.value for c in at.caption)

    # the reviewer's queue: one button settles the first disagreement (row 1: ann pos, bob neg)
    next(b for b in at.button if b.label == "2  pos").click().run()
    no_trouble(at)
    assert team.settlements(project) == {1: "pos"}
    assert "1 text to settle" in " ".join(c.value for c in at.caption)

    # an owner adds a member with a role, and sets the overlap
    assert at.selectbox(key="team_as").value == "lead"  # sign-in is off: a named guest, the owner here
    at.text_input(key="team_name").set_value("cy")
    at.selectbox(key="team_role").set_value("reviewer")
    next(b for b in at.button if b.label == "Add").click().run()
    no_trouble(at)
    assert project.team().role_of("cy") == "reviewer"
    at.slider[0].set_value(20)
    next(b for b in at.button if b.label == "Save overlap").click().run()
    assert project.team().overlap_share == 0.2

    # an annotator may neither edit the team nor settle
    at.selectbox(key="team_as").set_value("ann").run()
    no_trouble(at)
    assert not [b for b in at.button if b.label in ("Add", "Save overlap", "1  neg")]
    assert "Only a reviewer or an owner settles disagreements." in [c.value for c in at.caption]
    at.selectbox(key="team_as").set_value("lead").run()

    # exports are offered (Label Studio, datasets JSONL and Parquet)
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels == ["Label Studio JSON", "JSONL (datasets)", "Parquet (datasets)"]


def test_crowdlab_consensus_on_the_team_page(app):
    project = team_project()
    at = open_team_page(project)
    at.radio(key="team_method").set_value("crowdlab").run()
    no_trouble(at)
    consensus = next(d.value for d in at.dataframe if "confidence" in d.value.columns)
    assert set(consensus["method"]) == {"crowdlab"} and len(consensus) == 24
    quality = next(d.value for d in at.dataframe if "quality" in d.value.columns)
    assert set(quality["annotator"]) == {"ann", "bob"}
    # what the page exports loads back into another project
    assert len(exchange.read_label_studio(exchange.label_studio_bytes(project))) == 48


def test_training_on_the_consensus_from_the_team_page(app):
    import time

    from textclf_core.store.runs import RunStore

    project = team_project()
    team.add_annotation(project, 3, "neg", "carl")  # a third voice: the consensus keeps pos (2 to 1)
    at = open_team_page(project)
    next(b for b in at.button if b.label == "Train on the consensus").click().run()
    no_trouble(at)
    from app_ui import job_manager

    job_id = at.session_state["team_training_job"]
    for _ in range(240):
        snap = job_manager().snapshot(job_id)
        if snap.state in ("finished", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert snap.state == "finished", snap.message
    run = RunStore().get(snap.run_id)
    assert run.config.label_source == "consensus"
    assert RunStore().list()[0].name.endswith("consensus labels")
    split = pd.read_csv(run.path / "split.csv")
    labels = pd.read_csv(run.path / "predictions.csv")["gold"].astype(str).tolist()
    test_rows = split.loc[split["split"] == "test", "row"].tolist()
    assert len(labels) == len(test_rows) > 0
    for label, row in zip(labels, test_rows):
        if row not in (1, 6):  # the two texts ann and bob split on go to CROWDLAB; the rest they agreed on
            assert label == TRUTH[row % 8]


def test_a_multi_label_team_on_the_team_page(app):
    from textclf_core.labelling.active import ProjectLabelLog

    frame = pd.DataFrame({"text": TEXTS, "label": [None] * 8})
    project = ProjectStore().create(
        frame.to_csv(index=False).encode("utf-8"),
        name="multi",
        filename="multi.csv",
        text_col="text",
        label_col="label",
    )
    ProjectLabelLog(project).write_meta({"classes": ["bug", "账单"], "multi_label": True})  # the Label page's
    project.set_team(
        team.TeamSettings([team.Member("lead", "owner"), team.Member("ann"), team.Member("bob")], overlap_share=1.0),
        by="lead",
    )
    ann = ["账单;bug", "账单", "bug", "bug", "账单", "bug;账单", "账单", "bug"]
    bob = ["bug; 账单", "账单", "bug", "账单", "账单", "账单", "账单", "bug"]  # text 0 in another order: the same
    for row, (a, b) in enumerate(zip(ann, bob)):
        team.add_annotation(project, row, a, "ann")
        team.add_annotation(project, row, b, "bob")
    at = open_team_page(project)
    text = " ".join(m.value for m in at.markdown)
    assert "label sets compared by MASI distance" in text
    pairs = next(d.value for d in at.dataframe if "classes in common (Jaccard)" in d.value.columns)
    assert pairs[["annotator", "with", "texts"]].values.tolist() == [["ann", "bob", 8]]
    assert "mean κ over classes" in pairs.columns
    assert "team_method" not in [r.key for r in at.radio]  # no CROWDLAB choice: the page says why
    assert any("single-label data only" in c.value for c in at.caption)
    consensus = next(d.value for d in at.dataframe if "confidence" in d.value.columns).set_index("row")
    assert consensus.loc[0, "label"] == "bug;账单"  # in the project's class order
    assert "2 texts to settle" in " ".join(c.value for c in at.caption)  # texts 3 and 5

    at.multiselect(key="team_settle_classes_3").set_value(["账单", "bug"]).run()
    next(b for b in at.button if b.label == "Settle").click().run()
    no_trouble(at)
    assert team.settlements(project) == {3: "bug;账单"}
    assert "1 text to settle" in " ".join(c.value for c in at.caption)
