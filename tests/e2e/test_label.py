"""Labelling from scratch in a real Chromium, keyboard only: upload texts without labels, name the
classes, label 30 with digit keys, see the model's suggestions appear, check that keys typed in the
search box are text (not shortcuts), reload and continue WITHOUT uploading again (the labels are
in the project's change log, the URL names the project), train from the page on the labelled rows,
and find the labels again on a restarted server.
Screenshots go to test-artifacts/label-*.png.
"""

from __future__ import annotations

import json
import re

import pytest
from helpers.e2e import goto, no_exception, settled, shot

pytestmark = pytest.mark.e2e
CONSOLE = []

GOOD = [
    "great film, loved it",
    "wonderful acting and a moving story",
    "brilliant, funny and moving",
    "superb cast and script",
    "fantastic fun for everyone",
    "a joy to watch from start to end",
]
BAD = [
    "terrible plot, hated it",
    "boring and slow from the start",
    "awful acting everywhere",
    "dull and predictable",
    "poorly made and badly edited",
    "a waste of two hours",
]


def labelled(page, n: int) -> None:
    try:
        page.get_by_text(re.compile(rf"· {n} labelled$")).wait_for()
    except Exception:
        shot(page, "label-failed")
        print(
            "DEBUG",
            page.evaluate("""() => JSON.stringify({map: window.__streamlitShortcutsMap,
            active: document.activeElement && (document.activeElement.tagName + ' ' + document.activeElement.className
            + ' ' + (document.activeElement.innerText||'').slice(0,40)),
            btn: !!document.querySelector('.st-key-label_class_0 button')})"""),
        )
        print("CONSOLE", CONSOLE[-15:])
        raise
    settled(page)


def card(page) -> str:
    return page.locator(".textclf-card").inner_text()


def gold(text: str) -> str:
    return "1" if any(t.split(",")[0] in text for t in GOOD) else "2"


def upload(page, path) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(path))
    page.get_by_text("72 rows, 1 columns").wait_for()


def test_label_with_the_keyboard_then_train(app_server, browser, tmp_path):
    home = tmp_path / "home"
    server = app_server(home=home)
    data = tmp_path / "tickets.csv"
    rows = ["review"] + [f'"{t} ({i})"' for i in range(6) for t in GOOD + BAD]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")

    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.on("console", lambda m: CONSOLE.append(m.text))
    page.set_default_timeout(30_000)
    page.goto(server)
    page.get_by_role("heading", name="Upload data").wait_for(timeout=90_000)
    upload(page, data)

    goto(page, "Label")
    page.get_by_label("Class names (one per line, or separated by commas)").fill("pos, neg")
    page.get_by_role("button", name="Start labelling").click()
    page.get_by_role("button", name="1 pos").wait_for()
    labelled(page, 0)
    no_exception(page)
    shot(page, "label-1-start")

    # --- 30 labels with the keyboard only ---------------------------------------------------------
    for n in range(30):
        text = card(page)
        page.keyboard.press(gold(text))
        labelled(page, n + 1)
        assert card(page) != text  # the next text is on the card
    # the 20th label started a retrain in the background: its suggestion reaches the card
    page.get_by_text("Model suggests").wait_for(timeout=60_000)
    page.get_by_text(re.compile("Model \\d+ trained on")).wait_for()
    no_exception(page)
    shot(page, "label-2-suggestions")

    # Enter accepts the suggestion; U takes it back; ArrowLeft shows the last label again
    page.keyboard.press("Enter")
    labelled(page, 31)
    page.keyboard.press("u")
    labelled(page, 30)
    page.keyboard.press("s")  # skip: the card changes, nothing is labelled
    settled(page)
    page.keyboard.press("ArrowLeft")
    page.get_by_text("from your history").wait_for()
    page.keyboard.press("ArrowRight")
    page.get_by_text("suggested by the model").wait_for()

    # keys typed into the search box are text, not shortcuts
    before = card(page)
    search = page.get_by_role("textbox", name="Search the texts")
    search.click()
    search.press_sequentially("s1u2")
    search.press("Enter")
    settled(page)
    assert search.input_value() == "s1u2"
    labelled(page, 30)
    assert card(page) == before
    search.fill("loved")
    search.press("Enter")
    page.locator("mark", has_text="loved").first.wait_for()
    shot(page, "label-3-search")
    search.fill("")
    search.press("Enter")
    settled(page)

    # --- reload: the browser session is new; the URL names the project, nothing is uploaded again ------
    assert "project=" in page.url
    page.reload()
    page.get_by_text("Continuing where you left off: 30 labels so far.").wait_for(timeout=60_000)
    labelled(page, 30)
    assert page.locator(".textclf-card").count() == 1  # the texts are there too
    # a person waits for the page to finish loading before typing: the shortcut keys are bound by then
    page.wait_for_function("() => window.__streamlitShortcutsMap && Object.keys(window.__streamlitShortcutsMap).length")
    settled(page)
    text = card(page)
    page.keyboard.press(gold(text))
    labelled(page, 31)
    # the model retrains on the saved labels in the background; the card shows it from the next key on
    for _ in range(10):
        if page.get_by_text("Model suggests").count():
            break
        page.keyboard.press("s")
        settled(page)
    page.get_by_text("Model suggests").wait_for()
    page.get_by_text(re.compile("Model \\d+ trained on 3[01] labels")).wait_for()
    page.get_by_text("in project", exact=False).first.wait_for()
    no_exception(page)
    shot(page, "label-4-continued")
    project_id = re.search(r"project=([^&]+)", page.url).group(1)
    changes = [json.loads(line) for line in (home / "projects" / project_id / "changes.jsonl").read_text().splitlines()]
    adds = [e for e in changes if e["op"] == "add"]
    assert len(adds) == 32 and {e["change"]["action"] for e in adds} == {"relabel"}
    assert [e["op"] for e in changes].count("undo") == 1  # U took the accepted suggestion back

    # --- train from the page: the same project, its labelled rows ------------------------------------
    page.get_by_role("button", name="Train with these labels").click()
    page.get_by_role("heading", name="Strategy").first.wait_for()
    page.locator('[data-testid="stSidebar"]').get_by_text("72 rows", exact=False).wait_for()
    page.locator('[data-testid="stSidebar"]').get_by_text("label: label", exact=False).wait_for()
    assert f"project={project_id}" in page.url
    page.get_by_text("Baseline (TF-IDF)").click()
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("heading", name="Training").wait_for()
    page.get_by_text("State: finished").first.wait_for(timeout=90_000)
    no_exception(page)
    shot(page, "label-5-trained")
    from textclf_core.store.runs import RunStore

    runs = RunStore(home / "runs").list(project=project_id)
    assert runs and runs[0].state == "finished"
    import pandas as pd

    split = pd.read_csv(RunStore(home / "runs").get(runs[0].id).path / "split.csv")
    assert len(split) == 72 and (split["split"] != "unlabelled").sum() == 31  # trained on the labelled rows only
    page.close()

    # --- a restarted server (a new process on the same folder) opens the project with its labels -------
    again = app_server(home=home)
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.set_default_timeout(30_000)
    page.goto(f"{again}/label?project={project_id}")
    page.get_by_text("Continuing where you left off: 31 labels so far.").wait_for(timeout=90_000)
    labelled(page, 31)
    no_exception(page)
    shot(page, "label-6-restarted")
    page.close()
