"""The Label page through AppTest: start from texts only, label, see the model, rename, hand off to Strategy."""

from __future__ import annotations

import json
import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
GOOD = [
    "great film, loved it",
    "wonderful acting and a moving story",
    "brilliant, funny and moving",
    "superb cast and script",
    "fantastic fun for everyone",
]
BAD = [
    "terrible plot, hated it",
    "boring and slow from the start",
    "awful acting everywhere",
    "dull and predictable",
    "poorly made and badly edited",
]


def texts_only_csv() -> bytes:
    lines = ["review"] + [f'"{t} ({i})"' for i in range(6) for t in GOOD + BAD]
    return ("\n".join(lines) + "\n").encode("utf-8")


def no_trouble(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def open_label_page(at: AppTest) -> AppTest:
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader(key="uploader").set_value(("reviews.csv", texts_only_csv(), "text/csv")).run()
    at.switch_page("app_pages/label.py").run()
    return at


def card_text(at: AppTest) -> str:
    card = next(m.value for m in at.markdown if "textclf-card" in m.value)
    return card.split(">", 1)[1].rsplit("</div>", 1)[0]


def label_by_text(at: AppTest, n: int) -> None:
    """Label ``n`` texts the way a person would: read the card, press the class's button."""
    for _ in range(n):
        text = card_text(at)
        name = "pos" if any(t.split(",")[0] in text for t in GOOD) else "neg"
        button(at, f"{1 if name == 'pos' else 2}  {name}").click().run()


def test_label_from_scratch_to_training(app):
    at = open_label_page(app)
    no_trouble(at)
    assert any("Start labelling" in h.value for h in at.subheader)
    at.text_area(key="label_class_names").set_value("pos, neg")
    at.toggle(key="label_cold_start").set_value(False)  # today's start: random order until the model
    at.button[0].click()  # the form's submit button
    next(b for b in at.button if b.label == "Start labelling").click().run()
    no_trouble(at)
    assert button(at, "1  pos") and button(at, "2  neg")
    assert any("in random order" in c.value for c in at.caption)
    assert any("new column 'label'" in i.value for i in at.info)  # the file had none: the page says where labels go

    label_by_text(at, 20)  # the 20th label starts the first retrain, in the background
    no_trouble(at)
    session = next(iter(at.session_state["label_sessions"].values()))
    assert session.wait(60)
    at.run()
    no_trouble(at)
    assert any(m.value.startswith("Model suggests") for m in at.markdown)
    accept = next(b for b in at.button if b.label.startswith("Accept suggestion"))
    accept.click().run()
    assert len(session.labels()) == 21
    assert any(m.label.startswith("Estimated accuracy") for m in at.metric)

    # each label is a relabel in the project's change log as it is made, by this browser's identity
    ds = at.session_state["dataset"]
    assert ds["label_col"] == "label"  # the file had no label column: one named "label", and we say so
    lines = [json.loads(line) for line in (project_folder(ds) / "changes.jsonl").read_text().splitlines()]
    assert len(lines) == 21
    assert {(e["change"]["action"], e["by"]) for e in lines} == {("relabel", at.session_state["who"])}
    assert json.loads((project_folder(ds) / "labelling.json").read_text())["classes"] == ["pos", "neg"]
    assert not (Path(os.environ["TEXTCLF_HOME"]) / "labelling").exists()  # no second store of labels

    # skip and undo
    before = card_text(at)
    button(at, "Skip (S)").click().run()
    assert card_text(at) != before
    button(at, "Undo (U)").click().run()
    assert len(session.labels()) == 20

    # rename a class while labelling: the buttons follow
    at.selectbox(key="label_rename_old").set_value("neg")
    at.text_input(key="label_rename_new").set_value("negative")
    button(at, "Apply").click().run()
    no_trouble(at)
    assert button(at, "2  negative") and "negative" in session.classes

    # search highlights, and escapes what it shows
    at.text_input(key="label_search").set_value("<b>loved").run()
    assert any("No text contains that" in c.value for c in at.caption)
    at.text_input(key="label_search").set_value("loved").run()
    assert any("<mark>loved</mark>" in m.value for m in at.markdown)

    # hand off to Strategy: the same project, whose working table has the 20 labels in its label column
    project_id = ds["project"]
    button(at, "Train with these labels").click().run()
    no_trouble(at)
    ds = at.session_state["dataset"]
    assert ds["project"] == project_id and ds["label_col"] == "label"
    working = at.session_state["changes"].apply(ds["df"], label_col="label")  # what Strategy trains on
    assert working["label"].notna().sum() == 20 and set(working["label"].dropna()) == {"pos", "negative"}
    assert any("Strategy" in t.value for t in at.title)


def project_folder(ds: dict) -> Path:
    return Path(os.environ["TEXTCLF_HOME"]) / "projects" / ds["project"]


def test_a_new_browser_session_continues_where_it_left_off(app):
    at = open_label_page(app)
    at.text_area(key="label_class_names").set_value("pos\nneg")
    next(b for b in at.button if b.label == "Start labelling").click().run()
    label_by_text(at, 3)
    project_id = at.session_state["dataset"]["project"]
    # a reload (or a server restart): a new session that has only the URL, no upload
    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params["project"] = project_id
    again.run()
    again.switch_page("app_pages/label.py").run()
    assert not again.exception
    assert any("Continuing where you left off: 3 labels" in i.value for i in again.info)
    assert button(again, "1  pos")
    assert not any("Start labelling" in h.value for h in again.subheader)
    assert any("3 labelled" in c.value for c in again.caption)
    # Undo there takes back the last label made in the first session (the change log's undo)
    button(again, "Undo (U)").click().run()
    assert not again.exception
    assert len(next(iter(again.session_state["label_sessions"].values())).labels()) == 2
    from textclf_core.store.projects import ProjectStore

    assert len(ProjectStore().get(project_id).change_log()) == 2


def test_no_data_says_what_to_do(app):
    app.switch_page("app_pages/label.py").run()
    assert not app.exception
    assert any("Upload" in i.value for i in app.info)


def test_multi_label_uses_toggles(app):
    at = open_label_page(app)
    at.text_area(key="label_class_names").set_value("acting, plot, fun")
    at.toggle(key="label_multi").set_value(True)
    next(b for b in at.button if b.label == "Start labelling").click().run()
    no_trouble(at)
    toggles = [t for t in at.toggle if t.key and t.key.startswith("label_toggle_")]
    assert [t.label for t in toggles] == ["1  acting", "2  plot", "3  fun"]
    toggles[0].set_value(True)
    toggles[2].set_value(True)
    button(at, "Save these classes").click().run()
    no_trouble(at)
    session = next(iter(at.session_state["label_sessions"].values()))
    assert list(session.labels().values()) == ["acting;fun"]
    button(at, "Save these classes").click().run()  # nothing picked: a message, no label
    assert any("at least one class" in e.value for e in at.error)
    assert len(session.labels()) == 1


# --- cold start, guidelines, teams --------------------------------------------------------------------
def start_labelling(at: AppTest, names: str, *, cold: bool) -> AppTest:
    at.text_area(key="label_class_names").set_value(names)
    at.toggle(key="label_cold_start").set_value(cold)
    next(b for b in at.button if b.label == "Start labelling").click().run()
    no_trouble(at)
    return at


def the_project(at: AppTest):
    from textclf_core.store.projects import ProjectStore

    return ProjectStore().get(at.session_state["dataset"]["project"])


def test_guidelines_beside_the_text_feed_a_zero_shot_guess_from_the_first_text(app):
    from textclf_core.labelling import guidelines

    at = open_label_page(app)
    guidelines.save(
        the_project(at),
        {
            "pos": {"description": "a positive review: the viewer liked the film"},
            "neg": {
                "description": "a negative review: the viewer disliked the film",
                "examples": ["a dull, boring film"],
            },
        },
        author="lead",
    )
    start_labelling(at, "pos, neg", cold=True)
    session = next(iter(at.session_state["label_sessions"].values()))
    assert session.wait(120)  # the bundled MiniLM reads the texts in the background
    at.run()
    no_trouble(at)
    assert not session.labels()
    guess = next(m.value for m in at.markdown if m.value.startswith("Zero-shot guess"))
    assert "not trained" in guess  # honest about what it is
    assert any("ordered by zero-shot guesses" in c.value for c in at.caption)
    assert any(e.label == "Guidelines (version 1)" for e in at.expander)
    assert any("the viewer disliked the film" in m.value for m in at.markdown)  # beside the text
    assert any("a dull, boring film" in c.value for c in at.caption)
    # Enter (accept) labels the first text from the guess
    next(b for b in at.button if b.label.startswith("Accept suggestion")).click().run()
    assert len(session.labels()) == 1

    # edited beside the text: a new dated version
    at.text_area(key="label_guide_desc_0").set_value("a positive review: the viewer enjoyed it")
    next(b for b in at.button if b.label == "Save the guidelines").click().run()
    no_trouble(at)
    assert guidelines.current(the_project(at)).version == 2
    assert any(e.label == "Guidelines (version 2)" for e in at.expander)


TEAM_TEXTS = [
    "这部电影太好看了",
    "great film, loved it",
    "演员表演很精彩",
    "wonderful acting",
    "这部电影很无聊",
    "terrible film, hated it",
    "剧情糟糕透了",
    "awful acting",
]


def test_a_second_annotator_does_not_see_the_first_ones_label_on_an_overlap_text(app, tmp_path):
    from textclf_core.labelling import team

    csv = ("text\n" + "\n".join(f'"{t} ({i})"' for i in range(3) for t in TEAM_TEXTS) + "\n").encode("utf-8")
    app.session_state["signed_in"] = "ann"
    app.switch_page("app_pages/upload.py").run()
    app.file_uploader(key="uploader").set_value(("team.csv", csv, "text/csv")).run()
    project = the_project(app)
    # every text goes to both annotators
    project.set_team(team.TeamSettings([team.Member("ann"), team.Member("bob")], overlap_share=1.0), by="ann")
    project.share("bob")
    at = app.switch_page("app_pages/label.py").run()
    start_labelling(at, "pos, neg", cold=False)
    ann_row = next(iter(at.session_state["label_sessions"].values())).current()
    button(at, "1  pos").click().run()
    no_trouble(at)
    frame = team.annotations(project)
    assert frame[["row", "annotator", "label"]].values.tolist() == [[ann_row, "ann", "pos"]]

    # bob, in another browser session, opens the same text: ann's label is not shown
    bob = AppTest.from_file(APP, default_timeout=120)
    bob.query_params["project"] = project.id
    bob.session_state["signed_in"] = "bob"
    bob.run()
    bob.switch_page("app_pages/label.py").run()
    no_trouble(bob)
    session = next(iter(bob.session_state["label_sessions"].values()))
    assert session.labels() == {}  # his own labels only
    assert ann_row in session.next_rows(len(TEAM_TEXTS) * 3)  # overlap: the text is in his queue too
    session.open(ann_row)
    bob.run()
    assert card_text(bob).startswith(TEAM_TEXTS[ann_row % len(TEAM_TEXTS)][:4])
    assert not any("Labelled:" in c.value or "teammate labelled" in c.value for c in bob.caption)
    assert any("their label stays hidden" in c.value for c in bob.caption)
    # ...and no model suggestion either: answers on shared texts are blind, so agreement measures people
    assert any("No model suggestion on shared texts" in c.value for c in bob.caption)
    assert not any(m.value.startswith("Model suggests") for m in bob.markdown)
    assert button(bob, "Accept suggestion (none on shared texts)").disabled
    button(bob, "2  neg").click().run()  # he disagrees; both labels are kept, as each one's own
    no_trouble(bob)
    frame = team.annotations(project)
    assert sorted(frame[["row", "annotator", "label"]].values.tolist()) == [
        [ann_row, "ann", "pos"],
        [ann_row, "bob", "neg"],
    ]
    assert any("Labelling as **bob**" in c.value for c in bob.caption)
