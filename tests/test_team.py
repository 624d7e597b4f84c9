"""A team labels one project: own labels kept, overlap hidden, agreement, consensus, reviewer, training."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from textclf_core.config import RunConfig
from textclf_core.errors import TextclfError
from textclf_core.labelling import team
from textclf_core.pipeline import runner
from textclf_core.pipeline import setup as training_setup
from textclf_core.store.projects import ProjectStore
from textclf_core.store.runs import RunStore

POS = [
    "这部电影太好看了",
    "great film, loved it",
    "wonderful acting",
    "演员表演很精彩",
    "a joy to watch",
    "brilliant and moving",
    "我非常喜欢这个故事",
    "superb direction",
    "delightful from start to end",
    "感人至深的好片",
]
NEG = [
    "这部电影很无聊",
    "terrible film, hated it",
    "awful acting",
    "剧情糟糕透了",
    "a waste of time",
    "boring and dull",
    "我一点也不喜欢",
    "poor direction",
    "painful from start to end",
    "浪费时间的烂片",
]


def make_project(tmp_path, n_copies: int = 1, labels=None):
    texts = (POS + NEG) * n_copies
    texts = [f"{t} ({i})" for i, t in enumerate(texts)] if n_copies > 1 else texts
    truth = (["pos"] * len(POS) + ["neg"] * len(NEG)) * n_copies
    frame = pd.DataFrame({"text": texts, "label": labels if labels is not None else [None] * len(texts)})
    store = ProjectStore(tmp_path / "projects")
    project = store.create(
        frame.to_csv(index=False).encode("utf-8"),
        name="team test",
        filename="t.csv",
        text_col="text",
        label_col="label",
    )
    return project, truth


def test_two_annotators_keep_their_own_labels_and_undo_of_one_leaves_the_other(tmp_path):
    project, _ = make_project(tmp_path)
    team.add_annotation(project, 0, "pos", "ann")
    team.add_annotation(project, 0, "neg", "bob")  # bob disagrees on the same (Chinese) text
    frame = team.annotations(project)
    assert sorted(zip(frame["annotator"], frame["label"])) == [("ann", "pos"), ("bob", "neg")]
    assert frame["time"].notna().all()

    team.add_annotation(project, 3, "pos", "ann")
    team.undo_annotation(project, "bob")  # bob's latest label goes; ann's, written after it, stays
    frame = team.annotations(project)
    assert sorted(zip(frame["row"], frame["annotator"], frame["label"])) == [(0, "ann", "pos"), (3, "ann", "pos")]
    team.undo_annotation(project, "ann")
    frame = team.annotations(project)
    assert frame[["row", "annotator", "label"]].values.tolist() == [[0, "ann", "pos"]]
    # the lines are the project's change log: who wrote each is on it
    assert {e["by"] for e in project.change_log().entries()} == {"ann"}


def test_an_annotator_who_changes_their_mind_counts_once(tmp_path):
    project, _ = make_project(tmp_path)
    team.add_annotation(project, 5, "pos", "ann")
    team.add_annotation(project, 5, "neg", "ann")
    frame = team.annotations(project)
    assert frame[["row", "annotator", "label"]].values.tolist() == [[5, "ann", "neg"]]


def test_team_settings_are_saved_versioned_and_checked(tmp_path):
    project, _ = make_project(tmp_path)
    assert project.team().members == []
    settings = team.TeamSettings(
        [team.Member("lead", "owner"), team.Member("ann"), team.Member("bob")], overlap_share=0.1, per_text=2
    )
    assert project.set_team(settings, by="lead") == 1
    assert project.set_team(settings.with_member("rev", "reviewer"), by="lead") == 2
    again = project.team()
    assert again.annotators == ["ann", "bob"] and again.reviewers == ["lead", "rev"]
    assert again.overlap_share == 0.1
    with pytest.raises(TextclfError, match="between 0 and 1"):
        team.TeamSettings([], overlap_share=1.5)
    with pytest.raises(TextclfError, match="Role"):
        team.Member("x", "boss")
    with pytest.raises(TextclfError, match="twice"):
        team.TeamSettings([team.Member("ann"), team.Member("ann", "reviewer")])


def test_overlap_queue_is_seeded_shared_and_interleaved():
    settings = team.TeamSettings(
        [team.Member("ann"), team.Member("bob"), team.Member("cy")], overlap_share=0.2, per_text=2, seed=3
    )
    rows = list(range(300))
    queues = {p: team.queue_for(settings, p, rows) for p in settings.annotators}
    every = [r for q in queues.values() for r in q]
    assert set(every) == set(rows)  # every text goes to someone
    shared = team.overlap_rows(settings, rows)
    assert 30 < len(shared) < 90  # about 20% of 300
    for row in shared:
        assert sum(row in q for q in queues.values()) == 2  # each overlap text to exactly two people
    for row in set(rows) - shared:
        assert sum(row in q for q in queues.values()) == 1
    # interleaved: the shared texts are spread through the queue, not piled at one end
    q = queues["ann"]
    positions = [i for i, r in enumerate(q) if r in shared]
    assert positions[0] < len(q) // 4 and positions[-1] > 3 * len(q) // 4
    assert team.queue_for(settings, "ann", rows) == q  # deterministic
    assert team.queue_for(settings, "someone else", rows[:5]) == rows[:5]
    # a new annotator takes rows over; no row moves between the others
    before = team.assignment(settings, rows)
    after = team.assignment(settings.with_member("dee"), rows)
    for row in rows:
        assert set(after[row]) - {"dee"} <= set(before[row])
    assert any("dee" in people for people in after.values())


def test_the_model_suggestion_is_hidden_on_overlap_texts_only():
    """Shared texts are answered blind to the model too (or agreement would count accepted guesses); a text that
    is one person's own, someone off the team, and a project without a team keep their suggestions."""
    settings = team.TeamSettings(
        [team.Member("lead", "owner"), team.Member("ann"), team.Member("bob")], overlap_share=0.3, per_text=2, seed=1
    )
    rows = list(range(200))
    shared = team.overlap_rows(settings, rows)
    assert 0 < len(shared) < len(rows)
    hidden = {r for r in rows if team.suggestion_hidden(r, "ann", settings)}
    assert hidden == shared
    assert not any(team.suggestion_hidden(r, "lead", settings) for r in rows)  # the owner does not annotate
    assert not any(team.suggestion_hidden(r, None, settings) or team.suggestion_hidden(r, "ann", None) for r in rows)


def test_overlap_texts_are_hidden_from_the_second_annotator_until_they_answer(tmp_path):
    project, _ = make_project(tmp_path)
    settings = team.TeamSettings([team.Member("ann"), team.Member("bob")], overlap_share=1.0)
    project.set_team(settings)
    team.add_annotation(project, 2, "pos", "ann")
    frame = team.annotations(project)
    assert team.visible_label(2, "bob", frame, settings) is None  # ann's answer is not shown to bob
    assert team.visible_label(2, "ann", frame, settings) == "pos"
    team.add_annotation(project, 2, "neg", "bob")
    assert team.visible_label(2, "bob", team.annotations(project), settings) == "neg"  # his own
    # without overlap, a text someone else labelled may show their label
    solo = team.TeamSettings([team.Member("ann"), team.Member("bob")], overlap_share=0.0)
    assert team.visible_label(2, "cy", frame, solo) == "pos"


def _frame(pairs: dict[str, list[str]]) -> pd.DataFrame:
    rows = [
        {"row": i, "annotator": who, "label": lab, "time": f"2026-01-01T00:00:{i:02d}"}
        for who, labels in pairs.items()
        for i, lab in enumerate(labels)
        if lab is not None
    ]
    return pd.DataFrame(rows)


def test_kappa_and_alpha_on_a_case_with_known_values():
    # 10 texts, 8 agreements; both annotators say pos 5 times: kappa = (0.8 - 0.5) / 0.5 = 0.6;
    # Krippendorff: D_o = 4/20, D_e = 2*10*10/(20*19): alpha = 1 - 0.2 / (200/380) = 0.62
    a = ["pos"] * 5 + ["neg"] * 5
    b = ["pos"] * 4 + ["neg", "pos"] + ["neg"] * 4
    result = team.agreement(_frame({"a": a, "b": b}), ["neg", "pos"])
    assert result.n_overlap == 10
    assert result.pairs[["annotator_a", "annotator_b", "n"]].values.tolist() == [["a", "b", 10]]
    assert result.pairs["kappa"].iloc[0] == pytest.approx(0.6)
    assert result.pairs["agreement"].iloc[0] == pytest.approx(0.8)
    assert result.alpha == pytest.approx(0.62)
    assert result.pairs["low"].iloc[0] < 0.6 < result.pairs["high"].iloc[0]
    assert result.alpha_low < 0.62 < result.alpha_high
    assert result.per_class.set_index("class")["alpha"].to_dict() == pytest.approx({"neg": 0.62, "pos": 0.62})
    assert result.sentence.startswith("Agreement is substantial (α = 0.62); most disagreements are between neg and pos")
    assert "Only 10 texts" in result.sentence  # a small overlap says how wide the interval is


def test_the_vectorised_bootstrap_alpha_equals_the_krippendorff_package():
    import krippendorff

    rng = np.random.default_rng(1)
    mat = rng.integers(0, 4, size=(3, 60)).astype(float)
    mat[rng.random(mat.shape) < 0.3] = np.nan  # not everyone labels every text
    pairable = (~np.isnan(mat)).sum(axis=0) >= 2
    counts = np.stack([(mat[:, pairable] == v).sum(axis=0) for v in range(4)], axis=1).astype(float)
    weights = np.zeros((5, len(counts)))
    weights[0] = 1  # the data itself
    for b in range(1, 5):
        np.add.at(weights[b], rng.integers(0, len(counts), len(counts)), 1)
    ours = team.alpha_samples(counts, weights)
    for b in range(5):
        picked = np.repeat(np.flatnonzero(pairable), weights[b].astype(int))
        ref = krippendorff.alpha(
            reliability_data=mat[:, picked], level_of_measurement="nominal", value_domain=[0, 1, 2, 3]
        )
        assert ours[b] == pytest.approx(ref)


def test_perfect_and_chance_agreement_and_the_confused_classes():
    same = ["a", "b", "c", "a", "b", "c"]
    perfect = team.agreement(_frame({"x": same, "y": same, "z": same}), ["a", "b", "c"])
    assert perfect.alpha == pytest.approx(1.0) and "almost perfect" in perfect.sentence
    assert perfect.confused.empty
    # x and y split only on b/c: that pair is the most confused
    y = ["a", "c", "b", "a", "c", "c"]
    result = team.agreement(_frame({"x": same, "y": y}), ["a", "b", "c"])
    top = result.confused.iloc[0]
    assert {top["class_a"], top["class_b"]} == {"b", "c"} and top["count"] == 3
    per = result.per_class.set_index("class")["alpha"]
    assert per["a"] == pytest.approx(1.0) and per["b"] < per["a"]
    assert len(result.trend) >= 1 and {"agreement", "alpha"} <= set(result.trend.columns)
    nothing = team.agreement(_frame({"x": same}), ["a", "b", "c"])
    assert nothing.n_overlap == 0 and "cannot be measured" in nothing.sentence


def simulated(truth: list[str], classes: list[str], errors: dict, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for r, true in enumerate(truth):
        for who, rate in errors.items():
            if rate is None:
                lab = classes[rng.integers(len(classes))]
            elif rng.random() < rate:
                lab = rng.choice([c for c in classes if c != true])
            else:
                lab = true
            rows.append({"row": r, "annotator": who, "label": str(lab), "time": f"t{r:05d}"})
    return pd.DataFrame(rows)


def test_crowdlab_ranks_a_random_annotator_last(bbc_news_path):
    data = pd.read_csv(bbc_news_path).sample(300, random_state=0).reset_index(drop=True)
    classes = sorted(data["label"].unique())
    frame = simulated(data["label"].tolist(), classes, {"good": 0.05, "fair": 0.15, "poor": 0.30, "random": None})
    probs = team.out_of_sample_probs(data["text"].tolist(), frame, classes)
    quality = team.annotator_quality(frame, classes, probs)
    assert quality["annotator"].tolist() == ["good", "fair", "poor", "random"]
    cons = team.consensus(frame, classes, probs)
    assert set(cons["method"]) == {"crowdlab"} and cons["confidence"].between(0, 1).all()
    accuracy = (cons["label"].to_numpy() == data["label"].to_numpy()).mean()
    assert accuracy > 0.9
    assert team.annotator_quality(frame, classes)["annotator"].iloc[-1] == "random"


def test_majority_consensus_ties_and_the_reviewers_queue(tmp_path):
    project, _ = make_project(tmp_path)
    project.set_team(
        team.TeamSettings(
            [team.Member("lead", "owner"), team.Member("ann"), team.Member("bob"), team.Member("rev", "reviewer")],
            overlap_share=1.0,
        )
    )
    team.add_annotation(project, 0, "pos", "ann")
    team.add_annotation(project, 0, "pos", "bob")
    team.add_annotation(project, 1, "pos", "ann")
    team.add_annotation(project, 1, "neg", "bob")
    frame = team.annotations(project)
    maj = team.majority(frame, ["neg", "pos"]).set_index("row")
    assert maj.loc[0, "confidence"] == 1.0 and not maj.loc[0, "tie"]
    assert maj.loc[1, "tie"] and maj.loc[1, "confidence"] == 0.5
    assert team.disagreements(frame) == [1]
    with pytest.raises(TextclfError, match="not a reviewer"):
        team.settle(project, 1, "neg", "ann")
    team.settle(project, 1, "neg", "rev")
    done = team.settlements(project)
    assert done == {1: "neg"}
    assert team.disagreements(team.annotations(project), done) == []
    cons = team.consensus(team.annotations(project), ["neg", "pos"], settled=done).set_index("row")
    assert cons.loc[1, "label"] == "neg" and cons.loc[1, "method"] == "settled"
    assert "rev" not in set(team.annotations(project)["annotator"])  # a decision is not an annotation


def test_consensus_labels_feed_a_training_run_and_the_run_says_so(tmp_path):
    project, truth = make_project(tmp_path, n_copies=3)
    flipped = {"pos": "neg", "neg": "pos"}
    for row, true in enumerate(truth):
        team.add_annotation(project, row, true, "ann")
        team.add_annotation(project, row, true, "bob")
        team.add_annotation(project, row, flipped[true], "sloppy")  # writes last: the column shows it
    frame = project.working_frame()
    assert frame["label"].tolist() == [flipped[t] for t in truth]  # last writer wins in the column
    store = RunStore(tmp_path / "runs")
    config = RunConfig(
        strategy="baseline", text_col="text", label_col="label", label_source="consensus", val_size=0.2, test_size=0.2
    )
    run = runner.execute(config, frame, store=store)
    assert run.status()["state"] == "finished", run.status()
    assert run.config.label_source == "consensus"
    gold = pd.read_csv(run.path / "predictions.csv")
    split = pd.read_csv(run.path / "split.csv")
    test_rows = split.loc[split["split"] == "test", "row"].tolist()
    assert gold["gold"].astype(str).tolist() == [truth[r] for r in test_rows]  # the consensus, not the column
    assert store.list()[0].name.endswith("consensus labels")
    source = training_setup.prepare_training(config, frame).label_source
    assert source["source"] == "consensus" and source["method"] == "crowdlab" and source["texts"] == len(truth)
    column_run = runner.execute(config.replace(label_source="column"), frame, store=store)
    gold = pd.read_csv(column_run.path / "predictions.csv")
    assert gold["gold"].astype(str).tolist() != [truth[r] for r in test_rows]


def test_consensus_needs_a_project_and_annotations(tmp_path):
    frame = pd.DataFrame({"text": POS + NEG, "label": ["pos"] * 10 + ["neg"] * 10})
    config = RunConfig(strategy="baseline", text_col="text", label_col="label", label_source="consensus")
    with pytest.raises(TextclfError, match="not a project") as err:
        training_setup.prepare_training(config, frame)
    assert "\n" not in str(err.value)
    project, _ = make_project(tmp_path)
    with pytest.raises(TextclfError, match="No annotator"):
        training_setup.prepare_training(config, project.working_frame())
    with pytest.raises(TextclfError, match="label_source"):
        RunConfig(label_source="votes")


def test_consensus_through_the_data_path_of_a_project(tmp_path):
    project, truth = make_project(tmp_path, n_copies=2)
    for row, true in enumerate(truth):
        team.add_annotation(project, row, true, "ann")
    plain = pd.read_csv(project.original_path)  # read from the file: no project tag on the table
    config = RunConfig(
        strategy="baseline",
        text_col="text",
        label_col="label",
        label_source="consensus",
        data_path=str(project.original_path),
    )
    setup = training_setup.prepare_training(config, plain)
    assert setup.label_source["source"] == "consensus" and setup.label_source["texts"] == len(truth)
    assert setup.label_source["method"] == "majority"  # one annotator: nothing for CROWDLAB to weigh
    assert setup.prepared["label"].tolist() == truth


def test_the_team_from_the_command_line_and_a_cli_run_on_the_consensus(tmp_path, monkeypatch, capsys):
    from textclf_core.cli import commands as cli
    from textclf_core.store.projects import ProjectStore as Store

    monkeypatch.chdir(tmp_path)
    texts = [f"{t} ({i})" for i, t in enumerate((POS + NEG) * 3)]
    truth = (["pos"] * 10 + ["neg"] * 10) * 3
    project = Store().create(
        pd.DataFrame({"text": texts, "label": ["neg"] * len(texts)}).to_csv(index=False).encode("utf-8"),
        name="cli team",
        filename="c.csv",
        text_col="text",
        label_col="label",
    )
    assert cli.main(["team", "add", project.id, "ann"]) == 0
    assert cli.main(["team", "add", project.id, "rev", "--role", "reviewer"]) == 0
    assert cli.main(["team", "overlap", project.id, "0.5"]) == 0
    assert project.team().overlap_share == 0.5 and project.team().role_of("rev") == "reviewer"
    for row, true in enumerate(truth):
        team.add_annotation(project, row, true, "ann")
        team.add_annotation(project, row, "neg" if row % 7 == 0 else true, "bob")
    capsys.readouterr()
    assert cli.main(["team", "show", project.id]) == 0
    shown = capsys.readouterr().out
    assert "Agreement is" in shown and "disagreements to settle" in shown
    out = tmp_path / "a.json"
    assert cli.main(["team", "export", project.id, "--format", "label-studio", "--out", str(out)]) == 0
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert len(tasks) == len(truth)
    assert tasks[0]["annotations"][0]["result"][0]["value"]["choices"]
    assert (
        cli.main(
            ["train", "--project", project.id, "--strategy", "baseline", "--label-source", "consensus", "--no-progress"]
        )
        == 0
    )
    run = RunStore().list()[0]
    assert run.name.endswith("consensus labels")
    assert RunStore().get(run.id).config.label_source == "consensus"
    assert cli.main(["train", "--project", project.id, "--label-source", "votes"]) == 2


# --------------------------------------------------------------------------------------------- multi-label
BILL, BUG = "账单", "bug"  # a Chinese and an English class name


def test_multi_label_cells_are_sets_their_order_and_spaces_never_count():
    assert team.label_set("billing;bug", ";") == team.label_set(" bug ; billing ", ";")
    assert team.canonical_cell("bug; 账单", ";", [BILL, BUG]) == "账单;bug"
    # the same sets written in other orders: no disagreement, perfect agreement
    a = ["billing;bug", "bug", "账单", "billing; 账单", "bug;账单;billing"]
    b = ["bug; billing", " bug", "账单 ", "账单;billing", "billing;账单;bug"]
    frame = _frame({"a": a, "b": b})
    assert team.disagreements(frame, separator=";") == []
    assert team.disagreements(frame) == [0, 1, 2, 3, 4]  # read as single labels, every text looked split
    result = team.agreement(frame, ["billing", "bug", "账单"], separator=";")
    assert result.multi_label and result.alpha == pytest.approx(1.0)
    assert result.pairs["agreement"].iloc[0] == pytest.approx(1.0) and result.confused.empty
    assert "the annotators gave the same classes on every shared text" in result.sentence
    # a text where one gave a subset of the other's classes is a disagreement, not a total one
    part = _frame({"a": ["billing", "bug"], "b": ["billing;bug", "bug"]})
    assert team.disagreements(part, separator=";") == [0]
    assert team.agreement(part, ["billing", "bug"], separator=";").pairs["agreement"].iloc[0] == pytest.approx(0.75)


def test_masi_alpha_kappa_and_jaccard_on_a_case_computed_by_hand():
    # Texts 0-3, annotators a and b, classes 账单 (B) and bug (G):
    #   0: {B} {B}      MASI distance 0
    #   1: {B,G} {B}    Jaccard 1/2, one holds the other (M = 0.67): δ = 1 - 0.5 * 0.67 = 0.665
    #   2: {G} {B}      disjoint: δ = 1
    #   3: {G} {G}      δ = 0
    # Values: {B} 4 times, {B,G} once, {G} 3 times; n = 8.
    # Observed: each text (m = 2) adds 2δ / (m - 1): 2 * (0 + 0.665 + 1 + 0) = 3.33
    # Expected: Σ n_c n_k δ(c, k) = 2 * (4*1*0.665 + 4*3*1 + 1*3*0.665) = 2 * 16.655 = 33.31
    # α = 1 - (n - 1) * 3.33 / 33.31 = 1 - 23.31 / 33.31 = 0.30021
    # Pair: Jaccard (1 + 0.5 + 0 + 1) / 4 = 0.625; κ on B: p_o 3/4, p_e 0.5*0.75 + 0.5*0.25 = 0.5 -> 0.5;
    # κ on G: p_o 2/4, p_e 0.75*0.25 + 0.25*0.75 = 0.375 -> 0.2; mean κ 0.35.
    frame = _frame({"a": [BILL, f"{BUG};{BILL}", BUG, BUG], "b": [f" {BILL} ", BILL, BILL, BUG]})
    result = team.agreement(frame, [BILL, BUG], separator=";")
    assert result.n_overlap == 4
    assert result.alpha == pytest.approx(1 - 23.31 / 33.31)
    assert result.sentence.startswith("Agreement is fair (α = 0.30, label sets compared by MASI distance)")
    assert f"given by one annotator and not the other is {BUG}" in result.sentence
    pair = result.pairs.iloc[0]
    assert (pair["annotator_a"], pair["annotator_b"], pair["n"]) == ("a", "b", 4)
    assert pair["agreement"] == pytest.approx(0.625) and pair["kappa"] == pytest.approx(0.35)
    # bug split twice (texts 1 and 2), 账单 once (text 2)
    assert result.confused[["class", "count"]].values.tolist() == [[BUG, 2], [BILL, 1]]
    assert result.confused["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert result.to_dict()["multi_label"] is True


def test_the_masi_bootstrap_equals_the_krippendorff_package_with_the_same_distance():
    import krippendorff

    rng = np.random.default_rng(2)
    presence = (rng.random((3, 50, 4)) < 0.35).astype(float)
    presence[rng.random((3, 50)) < 0.25] = np.nan  # not everyone labels every text
    ids, sets = team._set_ids(presence)
    distance = team.masi_distances(sets)
    pairable = (~np.isnan(ids)).sum(axis=0) >= 2
    counts = np.stack([(ids[:, pairable] == v).sum(axis=0) for v in range(len(sets))], axis=1).astype(float)
    weights = np.ones((3, len(counts)))
    for b in range(1, 3):
        weights[b] = np.bincount(rng.integers(0, len(counts), len(counts)), minlength=len(counts))
    ours = team.alpha_samples(counts, weights, distance)

    def metric(v1, v2, i1, i2, n_v, dtype=np.float64):
        return distance[v1.astype(int), v2.astype(int)].astype(dtype)

    for b in range(3):
        picked = np.repeat(np.flatnonzero(pairable), weights[b].astype(int))
        ref = krippendorff.alpha(
            reliability_data=ids[:, picked], level_of_measurement=metric, value_domain=list(range(len(sets)))
        )
        assert ours[b] == pytest.approx(ref)
    assert team.masi_alpha(presence) == pytest.approx(ours[0])


def test_each_class_alpha_is_the_binary_alpha_of_given_or_not():
    import krippendorff

    rng = np.random.default_rng(5)
    classes = [BILL, BUG, "退款"]
    cells = {}
    for who in ("ann", "bob", "cy"):
        picks = rng.random((40, 3)) < [0.5, 0.3, 0.2]
        cells[who] = [
            None if rng.random() < 0.2 or not row.any() else ";".join(c for c, on in zip(classes, row) if on)
            for row in picks
        ]
    result = team.agreement(_frame(cells), classes, separator=";")
    for name in classes:
        # the same presence built straight from the cells: 1 given, 0 labelled without it, NaN not labelled
        data = [[np.nan if c is None else float(name in c.split(";")) for c in cells[who]] for who in cells]
        expected = krippendorff.alpha(reliability_data=np.array(data), level_of_measurement="nominal")
        row = result.per_class.set_index("class").loc[name]
        assert row["alpha"] == pytest.approx(expected)
        assert row["low"] <= row["alpha"] <= row["high"]


def test_per_class_majority_with_a_tie_and_quality_against_the_others():
    frame = _frame(
        {
            "ann": [f"{BILL};{BUG}", BILL, BUG],
            "bob": [BILL, f"{BUG};{BILL}", BILL],
            "cy": [f"{BUG} ; {BILL}", None, None],
        }
    )
    maj = team.majority(frame, [BILL, BUG], separator=";").set_index("row")
    # text 0: 账单 3 of 3, bug 2 of 3 -> both; confidence (3/3 + 2/3) / 2
    assert maj.loc[0, "label"] == f"{BILL};{BUG}" and not maj.loc[0, "tie"]
    assert maj.loc[0, "confidence"] == pytest.approx((1 + 2 / 3) / 2)
    # text 1: 账单 2 of 2, bug 1 of 2 -> a tie on bug: left out and left to the reviewer
    assert maj.loc[1, "label"] == BILL and maj.loc[1, "tie"]
    assert maj.loc[1, "confidence"] == pytest.approx((1 + 0.5) / 2)
    # text 2: each class 1 of 2 -> no class has a majority
    assert maj.loc[2, "label"] == "" and maj.loc[2, "tie"]
    assert team.disagreements(frame, separator=";") == [0, 1, 2]  # bob gave text 0 fewer classes
    quality = team.annotator_quality(frame, [BILL, BUG], separator=";").set_index("annotator")["quality"]
    # the others' per-class majority on text 0 is {账单} (bug 1 of 2 is no majority): cy's {账单,bug} 1/2.
    # ann: text 0 {账单} vs {账单,bug} 1/2; text 1 bob's {账单,bug} vs {账单} 1/2; text 2 {账单} vs {bug} 0
    assert quality["cy"] == pytest.approx(0.5)
    assert quality["ann"] == pytest.approx(1 / 3)
    settled = team.consensus(frame, [BILL, BUG], settled={2: f" {BUG};{BILL}"}, separator=";").set_index("row")
    assert settled.loc[2, "label"] == f"{BILL};{BUG}" and settled.loc[2, "method"] == "settled"


def _multi_project(meta: bool = True):
    """A project in this test's TEXTCLF_HOME (the command line finds it), two annotators on four texts."""
    from textclf_core.labelling.active import ProjectLabelLog

    frame = pd.DataFrame({"text": POS + NEG, "label": [None] * 20})
    project = ProjectStore().create(
        frame.to_csv(index=False).encode("utf-8"), name="multi", filename="m.csv", text_col="text", label_col="label"
    )
    if meta:  # what the Label page writes for a multi-label session: its classes, in its order
        ProjectLabelLog(project).write_meta({"classes": [BUG, "refund", BILL], "multi_label": True})
    cells = {
        0: (f"{BILL};{BUG}", f"{BUG}; {BILL}"),  # same set, other order
        1: (BILL, f"{BILL};{BUG}"),  # tie on bug
        2: ("refund", "refund"),
        3: (BUG, BUG),
    }
    for row, (a, b) in cells.items():
        team.add_annotation(project, row, a, "ann")
        team.add_annotation(project, row, b, "bob")
    return project


def test_multi_label_consensus_for_training_falls_back_from_crowdlab_and_says_so():
    project = _multi_project()
    space = team.label_space(project)
    assert space.multi_label and space.separator == ";"
    assert space.classes == [BUG, "refund", BILL]  # the project's class order
    for method in ("crowdlab", "auto"):
        labels, summary = team.consensus_labels(project, method=method)
        assert summary["method"] == "majority" and "single-label data only" in summary["note"]
    assert "note" not in team.consensus_labels(project, method="majority")[1]
    # the consensus cell in the project's class order; the tie left out until a reviewer settles it
    assert labels == {0: f"{BUG};{BILL}", 1: None, 2: "refund", 3: BUG}
    assert summary["ties_left_out"] == 1 and summary["multi_label"]
    team.settle(project, 1, f"{BILL}; {BUG}", "lead")  # no team set: anyone may settle
    labels, summary = team.consensus_labels(project)
    assert labels[1] == f"{BUG};{BILL}" and summary["ties_left_out"] == 0
    # written with the separator the label column already uses
    frame = project.working_frame().assign(label=lambda d: ["x|y"] * 10 + [None] * (len(d) - 10))
    out, summary = team.training_labels(project, frame, "label")
    assert out["label"].tolist()[:4] == [f"{BUG}|{BILL}", f"{BUG}|{BILL}", "refund", BUG]
    assert summary["separator"] == "|" and summary["project"] == project.id
    cons = team.consensus(team.annotations(project), space.classes, np.ones((4, 3)) / 3, separator=";")
    assert "single-label data only" in cons.attrs["note"] and set(cons["method"]) == {"majority"}


def test_multi_label_is_known_from_the_settings_or_from_many_cells_never_one_row():
    project = _multi_project(meta=False)  # annotations only: 3 of 8 cells hold a ';'
    assert team.label_space(project).multi_label
    one = _frame({"a": ["pos"] * 39 + ["pos;neg"], "b": ["pos"] * 40})  # 1 cell in 80: a class name with ';'
    assert team.label_space(project, one).multi_label is False
    from textclf_core.labelling.active import ProjectLabelLog

    ProjectLabelLog(project).write_meta({"classes": [], "multi_label": False})  # the Label page said single
    assert not team.label_space(project).multi_label


def test_team_show_on_a_multi_label_project(tmp_path, capsys):
    from textclf_core.cli import commands as cli

    project = _multi_project()
    capsys.readouterr()
    assert cli.main(["team", "show", project.id]) == 0
    shown = capsys.readouterr().out
    assert "MASI" in shown and "mean κ over classes" in shown and "jaccard" in shown
    assert "1 disagreements to settle" in shown  # text 0 differs in order only
    out = tmp_path / "consensus.csv"
    assert cli.main(["team", "consensus", project.id, "--out", str(out)]) == 0
    assert "single-label data only" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert table.set_index("row").loc[0, "label"] == f"{BUG};{BILL}"


def test_a_multi_label_teams_consensus_trains_multi_label_even_when_few_texts_have_two_classes(tmp_path):
    """The Label page said multi-label, and one text in 30 got two classes: the data alone (the 5% rule) would
    train single-label with "neg;pos" as a third class; the run follows the team's label space."""
    from textclf_core.labelling.active import ProjectLabelLog

    project, truth = make_project(tmp_path, n_copies=3)
    ProjectLabelLog(project).write_meta({"classes": ["pos", "neg"], "multi_label": True})
    for row, true in enumerate(truth):
        given = "pos;neg" if row == 0 else true
        team.add_annotation(project, row, given, "ann")
        team.add_annotation(project, row, given, "bob")
    config = RunConfig(strategy="baseline", text_col="text", label_col="label", label_source="consensus")
    setup = training_setup.prepare_training(config, project.working_frame())
    assert setup.label_space.multi_label and sorted(setup.label_space.classes) == ["neg", "pos"]
    assert setup.label_source["multi_label"]
