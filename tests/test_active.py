"""Labelling with active learning: queue strategies, the label log, background retraining, rename/merge."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import multi_label_frame, small_frame

from textclf_core.errors import TextclfError
from textclf_core.labelling import active
from textclf_core.review import ChangeLog


@pytest.fixture
def frame():
    return small_frame(n_per_class=40, classes=("pos", "neg"), seed=1)


def _texts(frame):
    return frame["review"].tolist()


def _session(frame, tmp_path=None, **kwargs):
    kwargs.setdefault("scheduler", active.ManualScheduler())
    log = active.LabelLog(tmp_path) if tmp_path is not None else active.LabelLog(None)
    return active.LabellingSession(_texts(frame), ["pos", "neg"], label_log=log, **kwargs)


def _label_n(session, frame, n):
    gold = frame["sentiment"].tolist()
    for _ in range(n):
        row = session.current()
        session.label(row, gold[row])


# --- queue strategies ----------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["entropy", "margin", "random"])
def test_queue_is_deterministic_with_a_seed_and_changes_with_another(frame, strategy):
    features = active.build_features(_texts(frame))
    labels = {i: frame["sentiment"][i] for i in range(12)}
    model = active.fit_fast_model(features, labels, ["pos", "neg"], cross_validate=False)
    rows = range(12, len(frame))
    a = active.queue_order(rows, strategy, model=model, X=features.X, seed=3, batch=5)
    b = active.queue_order(rows, strategy, model=model, X=features.X, seed=3, batch=5)
    assert a.tolist() == b.tolist()
    assert sorted(a.tolist()) == list(rows)  # every unlabelled row, once
    if strategy == "random":
        assert active.queue_order(rows, strategy, seed=4).tolist() != a.tolist()


def test_uncertainty_puts_the_least_sure_first():
    proba = np.array([[0.99, 0.01], [0.5, 0.5], [0.7, 0.3]])
    model = active.FastModel(classes=["a", "b"], multi_label=False, proba=proba, n_labels=2)
    for strategy in ("entropy", "margin"):
        assert active.queue_order([0, 1, 2], strategy, model=model, diversity=False).tolist() == [1, 2, 0]


def test_diversity_avoids_runs_of_near_duplicates():
    # 30 near-copies of one ambiguous text, and 30 other ambiguous texts each of its own words.
    copies = [f"the film was good and bad at once, really {i}" for i in range(30)]
    others = [f"topic{i} word{i} thing{i} mixed feelings" for i in range(30)]
    texts = copies + others
    features = active.build_features(texts)
    # The copies are the least sure of all: plain uncertainty queues them back to back.
    proba = np.array([[0.5, 0.5]] * 30 + [[0.6, 0.4]] * 30)
    model = active.FastModel(classes=["a", "b"], multi_label=False, proba=proba, n_labels=0)
    plain = active.queue_order(range(60), "entropy", model=model, X=features.X, diversity=False)
    assert all(r < 30 for r in plain[:10])
    diverse = active.queue_order(range(60), "entropy", model=model, X=features.X, batch=10, seed=0)
    first = diverse[:10].tolist()
    assert sum(r < 30 for r in first) <= 2, first  # at most a couple of the copies among the first ten
    assert sorted(diverse.tolist()) == list(range(60))


def test_suspicious_shows_labelled_rows_the_model_disputes(frame):
    session = _session(frame, strategy="suspicious", retrain_every=30)
    gold = frame["sentiment"].tolist()
    flipped = []
    for row in range(30):
        label = gold[row]
        if row in (3, 11, 17):  # three wrong labels among clear texts
            label = "neg" if label == "pos" else "pos"
            flipped.append(row)
        session.label(row, label)
    session.scheduler.run_pending()
    assert session.model is not None
    disputed = set(session.model.disputed["row"])
    assert set(flipped) <= disputed
    first = session.next_rows(len(disputed))
    assert set(first) == disputed  # labelled, disputed rows come before any unlabelled one
    session.label(first[0], gold[first[0]])  # looked at again: it leaves the queue
    assert first[0] not in session.next_rows(len(disputed))


def test_unknown_strategy_is_one_line_error(frame):
    with pytest.raises(TextclfError, match="Unknown queue strategy"):
        _session(frame, strategy="smart")


# --- the label log ------------------------------------------------------------------------------
def test_labels_are_saved_as_made_and_a_new_session_continues(frame, tmp_path):
    session = _session(frame, tmp_path)
    _label_n(session, frame, 5)
    done = session.history()
    lines = (tmp_path / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["action"] == "relabel" for line in lines)
    # A reload: a new session over the same folder has every label, and the card is a new row.
    again = _session(frame, tmp_path)
    assert again.history() == done
    assert again.current() not in done
    assert len(again.labels()) == 5
    # ChangeLog reads the same file: the labelled table is what review would make of it.
    changes = active.LabelLog(tmp_path).change_log()
    assert isinstance(changes, ChangeLog) and len(changes) == 5
    applied = changes.apply(frame.assign(sentiment=None), label_col="sentiment")
    assert applied["sentiment"].notna().sum() == 5


def test_two_sessions_on_one_log_keep_each_others_labels(frame, tmp_path):
    a, b = _session(frame, tmp_path), _session(frame, tmp_path)
    a.label(0, "pos")
    b.label(1, "neg")
    a.label(2, "neg")
    assert active.LabelLog(tmp_path).labels() == {0: "pos", 1: "neg", 2: "neg"}
    assert a.labels() == b.labels()  # each sees the other's labels on its next read


def test_a_torn_last_line_loses_only_that_label(frame, tmp_path):
    session = _session(frame, tmp_path)
    session.label(0, "pos")
    session.label(1, "neg")
    with open(tmp_path / "labels.jsonl", "ab") as fh:
        fh.write(b'{"row": 2, "action": "rel')  # killed mid-write
    assert active.LabelLog(tmp_path).labels() == {0: "pos", 1: "neg"}


def test_skip_undo_and_history(frame):
    session = _session(frame)
    first = session.current()
    session.skip(first)
    second = session.current()
    assert second != first
    session.label(second, "pos")
    third = session.current()
    assert session.undo() == second
    assert second not in session.labels() and session.current() == second  # back on the card
    session.label(second, "neg")
    session.label(session.current(), "pos")
    # arrow keys: back through what was labelled, forward to the queue again
    hist = session.history()
    assert session.back() == hist[-1] and session.back() == hist[-2]
    assert session.current() == hist[-2]
    session.label(hist[-2], "pos")  # relabelled from history: the card moves on
    assert session.forward() is None
    assert session.current() not in session.labels()
    assert third is not None


def test_undo_after_a_reload_takes_back_the_last_label(frame, tmp_path):
    session = _session(frame, tmp_path)
    _label_n(session, frame, 3)
    last = session.history()[-1]
    again = _session(frame, tmp_path)
    assert again.undo() == last
    assert last not in active.LabelLog(tmp_path).labels()


# --- background retraining ------------------------------------------------------------------------
def test_retrain_every_n_labels_with_a_fake_scheduler(frame):
    session = _session(frame, retrain_every=10)
    _label_n(session, frame, 9)
    assert session.scheduler.submitted == 0 and session.status().state == "waiting"
    _label_n(session, frame, 1)
    assert session.scheduler.submitted == 1
    assert session.model is None  # requested, not yet run: labelling goes on meanwhile
    assert session.status().state == "training"
    _label_n(session, frame, 3)  # labels made while the retrain waits are in it (latest wins)
    session.scheduler.run_pending()
    assert session.model.n_labels == 13 and session.status().state == "ready"
    label, confidence = session.suggestion(session.current())
    assert label in ("pos", "neg") and 0.5 <= confidence <= 1
    assert session.model.estimate is not None and 0 <= session.model.estimate.low <= session.model.estimate.high <= 1


def test_a_failed_retrain_keeps_the_old_model_and_says_why(frame):
    calls = {"n": 0}

    def train(features, labels, classes, version):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("out of memory")
        return active.fit_fast_model(features, labels, classes, version=version)

    session = _session(frame, retrain_every=10, train=train)
    _label_n(session, frame, 10)
    session.scheduler.run_pending()
    first = session.model
    _label_n(session, frame, 10)
    session.scheduler.run_pending()
    status = session.status()
    assert status.state == "failed" and "out of memory" in status.message
    assert session.model is first and "stays in use" in status.message
    before = len(session.labels())
    _label_n(session, frame, 1)  # labelling continues
    assert len(session.labels()) == before + 1
    _label_n(session, frame, 9)
    session.scheduler.run_pending()
    assert session.model is not first and session.status().state == "ready"


def test_the_thread_scheduler_never_blocks_labelling(frame):
    gate = threading.Event()

    def slow(features, labels, classes, version):
        gate.wait(10)
        return active.fit_fast_model(features, labels, classes, version=version)

    session = _session(frame, retrain_every=10, scheduler=active.ThreadScheduler(), train=slow)
    _label_n(session, frame, 10)
    _label_n(session, frame, 5)  # returns while the retrain is held
    assert session.model is None and session.status().state == "training"
    gate.set()
    assert session.wait(30)
    assert session.model is not None and session.status().state == "ready"


def test_learning_curve_sentence():
    curve = [active.Estimate(n, acc, acc - 0.1, acc + 0.1) for n, acc in [(20, 0.70), (40, 0.75), (90, 0.754)]]
    assert active.progress_sentence(curve) == "The last 50 labels added 0.4 points of estimated accuracy."
    assert "label more" in active.progress_sentence(curve[:1])
    assert active.progress_sentence([]).startswith("No estimate yet")
    low, high = active.wilson_interval(45, 50)
    assert low < 0.9 < high


# --- classes while labelling ----------------------------------------------------------------------
def test_rename_and_merge_while_labelling(frame, tmp_path):
    session = _session(frame, tmp_path, retrain_every=10)
    session.add_class("meh")
    assert session.classes == ["pos", "neg", "meh"]
    _label_n(session, frame, 10)
    session.label(session.current(), "meh")
    session.scheduler.run_pending()
    n_pos = int((pd.Series(session.labels()).eq("pos")).sum())
    assert session.rename_class("pos", "positive") == n_pos
    assert "positive" in session.classes and "pos" not in session.classes
    assert session.model.classes[session.classes.index("positive")] == "positive"  # the model follows
    assert session.suggestion(0)[0] in session.classes
    # merge: 'meh' into 'neg'; the model folds the columns at once and retrains
    session.merge_classes(["meh"], "neg")
    assert "meh" not in session.classes and set(session.labels().values()) == {"positive", "neg"}
    assert session.model.proba.shape[1] == 2 and session.scheduler.pending is not None
    session.scheduler.run_pending()
    assert set(session.model.classes) == {"positive", "neg"}
    # a reload sees the new names, and the change log says what happened
    again = active.LabellingSession(
        _texts(frame), label_log=active.LabelLog(tmp_path), scheduler=active.ManualScheduler()
    )  # a reload names no classes
    assert again.classes == ["positive", "neg"]
    assert any("renamed" in (rec.get("note") or "") for rec in again.log.lines())


def test_rename_during_a_retrain_trains_again_on_the_new_names(frame):
    session = _session(frame, retrain_every=10)
    _label_n(session, frame, 10)
    task = session.scheduler.pending
    session.rename_class("neg", "negative")
    session.scheduler.pending = None
    task()  # the retrain that started before the rename: its result is discarded and redone
    session.scheduler.run_pending()
    assert "negative" in session.model.classes and "neg" not in session.model.classes


def test_multi_label_uses_sets_of_classes():
    data = multi_label_frame(n=60)
    session = active.LabellingSession(
        data["text"].tolist(),
        ["sport", "money", "tech"],
        multi_label=True,
        scheduler=active.ManualScheduler(),
        retrain_every=20,
    )
    gold = [v.split(";") for v in data["label"]]
    for _ in range(20):
        row = session.current()
        session.label(row, gold[row])
    session.scheduler.run_pending()
    chosen, confidence = session.suggestion(session.current())
    assert isinstance(chosen, list) and set(chosen) <= {"sport", "money", "tech"}
    assert session.counts().set_index("class")["labels"].sum() == sum(len(gold[r]) for r in session.labels())
    with pytest.raises(TextclfError, match="at least one class"):
        session.label(session.current(), [])


def test_labelled_frame_is_the_training_table(frame):
    session = _session(frame)
    session.label(4, "pos")
    session.label(2, "neg")
    out, col = session.labelled_frame(frame.drop(columns=["sentiment"]))
    assert col == "label" and out["label"].tolist() == ["neg", "pos"]
    assert out["review"].tolist() == [frame["review"][2], frame["review"][4]]


# --- the simulated labeller -------------------------------------------------------------------------
def test_simulated_labeller_only_sees_the_labels_it_asks_for(frame):
    test = small_frame(n_per_class=20, classes=("pos", "neg"), seed=7)
    asked = []

    class Oracle(list):
        def __getitem__(self, i):
            asked.append(i)
            return super().__getitem__(i)

    gold = frame["sentiment"].tolist()
    result = active.simulate(
        _texts(frame),
        gold,
        test["review"].tolist(),
        test["sentiment"].tolist(),
        strategy="entropy",
        budgets=[20, 40],
        seed=0,
        retrain_every=10,
    )
    assert [r["labels"] for r in result] == [20, 40]
    assert result[-1]["macro_f1"] > 0.8  # the words separate the classes: a few labels suffice
    again = active.simulate(
        _texts(frame),
        gold,
        test["review"].tolist(),
        test["sentiment"].tolist(),
        strategy="entropy",
        budgets=[20, 40],
        seed=0,
        retrain_every=10,
    )
    assert again == result  # deterministic with a seed
    # the oracle is asked exactly once per label made
    oracle = Oracle(gold)
    active.simulate(
        _texts(frame),
        oracle,
        test["review"].tolist(),
        test["sentiment"].tolist(),
        strategy="random",
        budgets=[15],
        seed=0,
        retrain_every=10,
    )
    assert len(asked) == 15 and len(set(asked)) == 15


# --- CLI ----------------------------------------------------------------------------------------------
def test_cli_label_queue_records_labels_and_prints_the_queue(frame, tmp_path, capsys):
    from textclf_core.cli import commands as cli

    data = tmp_path / "texts.csv"
    frame[["review"]].to_csv(data, index=False)
    log_dir = tmp_path / "log"
    args = ["label-queue", "--data", str(data), "--labels", str(log_dir), "--classes", "pos,neg", "-n", "3"]
    adds = [x for i in range(8) for x in ("--add", f"{i}={frame['sentiment'][i]}")]
    assert cli.main(args + adds) == 0
    out = capsys.readouterr().out
    assert "8 of 80 texts labelled" in out and "Estimated accuracy" in out
    assert len((log_dir / "labels.jsonl").read_text().splitlines()) == 8
    rows = [int(line.split()[0]) for line in out.splitlines()[-3:]]
    assert len(rows) == 3 and not set(rows) & set(range(8))  # the queue holds unlabelled texts only
    assert cli.main(args + ["--add", "x=pos"]) == 2
    assert "not a row number" in capsys.readouterr().err


def test_two_writers_appending_at_once_lose_no_line(frame, tmp_path):
    logs = [active.LabelLog(tmp_path), active.LabelLog(tmp_path)]

    def write(log, offset):
        for i in range(150):
            log.append(offset + i % 40, "relabel", new_label="pos" if i % 2 else "neg")

    threads = [threading.Thread(target=write, args=(log, 40 * k)) for k, log in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 300 and all(json.loads(line)["action"] == "relabel" for line in lines)
    assert len(active.LabelLog(tmp_path).labels()) == 80


# --- a project as the label store --------------------------------------------------------------------
def _texts_only_project(tmp_path, frame):
    from textclf_core.store.projects import ProjectStore

    store = ProjectStore(tmp_path / "projects")
    texts = frame[["review"]]
    return store, store.create(
        texts.to_csv(index=False).encode(), name="tickets", filename="tickets.csv", text_col="review", frame=texts
    )


def _project_session(project, frame, by="guest-abc123", **kwargs):
    kwargs.setdefault("scheduler", active.ManualScheduler())
    log = active.ProjectLabelLog(project, project.change_log(by=by))
    return active.LabellingSession(_texts(frame), ["pos", "neg"], label_log=log, **kwargs)


def test_labels_on_a_project_are_relabels_in_its_change_log_and_fill_the_new_label_column(frame, tmp_path):
    store, project = _texts_only_project(tmp_path, frame)
    assert project.meta["label_col"] is None
    assert project.add_label_column() == "label"  # a file with texts only gets a column named "label"
    session = _project_session(project, frame)
    _label_n(session, frame, 6)
    lines = [json.loads(line) for line in (project.path / "changes.jsonl").read_text().splitlines()]
    assert [(e["op"], e["change"]["action"], e["by"]) for e in lines] == [("add", "relabel", "guest-abc123")] * 6
    # Training's table (and the CLI's `train --project`): the label column filled for the labelled rows only.
    working = store.get(project.id).working_frame()
    assert working["label"].notna().sum() == 6
    labelled = working.dropna(subset=["label"])
    gold = frame["sentiment"]
    assert all(labelled["label"] == gold[labelled.index])
    # The class list and settings are in the project folder.
    session.set_strategy("random")
    saved = json.loads((project.path / "labelling.json").read_text())
    assert saved["classes"] == ["pos", "neg"] and saved["strategy"] == "random"


def test_a_reload_continues_on_the_project_and_undo_is_the_change_logs_undo(frame, tmp_path):
    store, project = _texts_only_project(tmp_path, frame)
    project.add_label_column()
    session = _project_session(project, frame)
    _label_n(session, frame, 4)
    done = session.history()
    # A server restart: a new session from the project folder alone has the classes and the labels.
    again = active.LabellingSession(
        _texts(frame), label_log=active.ProjectLabelLog(store.get(project.id)), scheduler=active.ManualScheduler()
    )
    assert again.classes == ["pos", "neg"] and again.history() == done
    assert again.current() not in done
    last = again.undo()
    assert last == done[-1] and last not in again.labels()
    # The undo took the label's line back (an "undo" line), it did not add a label of its own.
    ops = [json.loads(line)["op"] for line in (project.path / "changes.jsonl").read_text().splitlines()]
    assert ops == ["add"] * 4 + ["undo"]
    assert len(project.change_log()) == 3


def test_project_labels_start_from_the_files_labels_and_a_rename_is_one_undo(frame, tmp_path):
    from textclf_core.store.projects import ProjectStore

    partly = frame[["review", "sentiment"]].copy()
    partly.loc[10:, "sentiment"] = None  # only the first ten rows were labelled in the file
    store = ProjectStore(tmp_path / "projects")
    project = store.create(
        partly.to_csv(index=False).encode(),
        name="partly",
        filename="partly.csv",
        text_col="review",
        label_col="sentiment",
        frame=partly,
    )
    log = active.ProjectLabelLog(project, project.change_log(), base_labels=project.frame()["sentiment"].tolist())
    session = active.LabellingSession(_texts(frame), ["pos", "neg"], label_log=log, scheduler=active.ManualScheduler())
    assert len(session.labels()) == 10 and session.current() >= 10  # the queue skips rows labelled in the file
    session.label(session.current(), "neg")
    assert session.rename_class("neg", "negative") == sum(frame["sentiment"][:10] == "neg") + 1
    assert "negative" in set(session.labels().values())
    project.change_log().undo()  # one Undo in Label review takes the whole rename back
    assert "negative" not in set(active.ProjectLabelLog(project, base_labels=partly["sentiment"]).labels().values())


def test_cli_label_queue_on_a_project_writes_its_change_log(frame, tmp_path, monkeypatch, capsys):
    from textclf_core.cli import commands as cli
    from textclf_core.store.projects import ProjectStore

    monkeypatch.setenv("TEXTCLF_HOME", str(tmp_path))
    store, project = _texts_only_project(tmp_path, frame)  # under $TEXTCLF_HOME/projects
    adds = [x for i in range(6) for x in ("--add", f"{i}={frame['sentiment'][i]}")]
    assert cli.main(["label-queue", "--project", project.id, "--classes", "pos,neg", "-n", "2"] + adds) == 0
    out = capsys.readouterr().out
    assert "new column 'label'" in out and "6 of 80 texts labelled" in out
    working = ProjectStore().get(project.id).working_frame()
    assert working["label"].notna().sum() == 6 and project.change_log().changes[0].action == "relabel"
    assert cli.main(["label-queue", "--project", project.id, "--data", "x.csv"]) == 2  # one or the other


# --- teams: each annotator labels as themselves ---------------------------------------------------------
def test_a_team_member_labels_as_themselves_with_their_share_of_the_queue(tmp_path):
    from textclf_core.labelling import team, team_log
    from textclf_core.store.projects import ProjectStore

    texts = [f"{t} ({i})" for i in range(5) for t in ("这部电影太好看了", "great film", "剧情糟糕透了", "awful film")]
    frame = pd.DataFrame({"text": texts, "label": [None] * len(texts)})
    project = ProjectStore(tmp_path / "projects").create(
        frame.to_csv(index=False).encode("utf-8"), name="t", filename="t.csv", text_col="text", label_col="label"
    )
    settings = team.TeamSettings([team.Member("ann"), team.Member("bob")], overlap_share=0.4)
    project.set_team(settings, by="ann")
    assert team_log.is_team_project(project)

    def session_for(name):
        log = team_log.TeamLabelLog(project, name, meta_log=active.ProjectLabelLog(project))
        return active.LabellingSession(
            texts,
            ["pos", "neg"],
            label_log=log,
            scheduler=active.ManualScheduler(),
            arrange=team_log.queue_arrangement(project, name),
        )

    ann, bob = session_for("ann"), session_for("bob")
    who = team.assignment(settings, range(len(texts)))
    ann_queue = ann.next_rows(len(texts))
    assert set(ann_queue) == {r for r, people in who.items() if "ann" in people}  # her share, overlap included
    shared = [r for r in ann_queue if len(who[r]) > 1]
    assert shared and set(shared) <= set(bob.next_rows(len(texts)))
    row = shared[0]
    ann.label(row, "pos")
    bob.label(row, "neg")  # same text, another answer: both kept
    assert ann.labels() == {row: "pos"} and bob.labels() == {row: "neg"}
    assert row not in ann.next_rows(len(texts))
    ann.undo()  # her undo takes back her label only
    frame = team.annotations(project)
    assert frame[["row", "annotator", "label"]].values.tolist() == [[row, "bob", "neg"]]
    assert ann.labels() == {} and bob.labels() == {row: "neg"}
    assert active.ProjectLabelLog(project).meta()["classes"] == ["pos", "neg"]  # one class list for the team


def test_cli_label_queue_labels_as_a_team_member_like_the_label_page(frame, tmp_path, monkeypatch, capsys):
    """`label-queue --project ID --as NAME` is the Label page's setup: the annotator's own labels, their share of the
    texts, no suggestion on shared texts, and the same fast model name (so either front end continues it)."""
    from textclf_core.cli import commands as cli
    from textclf_core.labelling import model_store, team, team_log

    monkeypatch.setenv("TEXTCLF_HOME", str(tmp_path))
    _, project = _texts_only_project(tmp_path, frame)
    column = project.add_label_column()
    settings = team.TeamSettings([team.Member("ann"), team.Member("bob")], overlap_share=0.5, seed=2)
    project.set_team(settings, by="ann")
    who = team.assignment(settings, range(len(frame)))
    mine = [r for r, people in who.items() if "ann" in people][:12]
    adds = [x for r in mine for x in ("--add", f"{r}={frame['sentiment'][r]}")]
    args = ["label-queue", "--project", project.id, "--classes", "pos,neg", "-n", "40", "--as", "ann"]
    assert cli.main(args + adds) == 0
    out = capsys.readouterr().out
    labelled = team.annotations(project)
    assert set(labelled["annotator"]) == {"ann"} and sorted(labelled["row"]) == sorted(mine)
    shown = [line.split()[0] for line in out.splitlines() if line[:1].isdigit() and "texts labelled" not in line]
    rows = [int(r) for r in shown if r.isdigit()]
    assert rows and all("ann" in who[r] for r in rows)  # her share only
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].isdigit() and int(parts[0]) in rows and len(who[int(parts[0])]) > 1:
            assert "%" not in line, line  # a shared text: no suggestion, no confidence
    # the fast model it trained is where the Label page looks for ann's model on this column
    options = team_log.session_options(project, change_log=project.change_log(), label_col=column, annotator="ann")
    texts = _texts(frame)
    saved = model_store.load(
        options["label_log"].folder,
        options["model_name"],
        fingerprint=active.data_fingerprint(texts),
        n_rows=len(texts),
        labels=options["label_log"].labels(),
    )
    assert saved is not None and sorted(saved[0]["labelled_rows"]) == sorted(mine)
    assert cli.main(args[:-1] + ["cy"]) == 2  # not on the team
    assert "not an annotator" in capsys.readouterr().err
