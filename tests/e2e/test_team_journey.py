"""A team labels together in a real Chromium: two signed-in users in two browser contexts label the
same overlap texts (English and Chinese) with the keyboard, each without seeing the other's labels;
the guidelines are beside the text; the retrain notice clears without a key press; the Team page
shows how far they agree. Screenshots go to test-artifacts/team-*.png.
"""

from __future__ import annotations

import re

import pytest
from helpers.e2e import goto, no_exception, running_app, settled, shot

pytestmark = pytest.mark.e2e

GOOD = ["great film, loved it", "wonderful acting and a moving story", "这部电影太好看了", "演员表演很精彩"]
BAD = ["terrible plot, hated it", "boring and slow from the start", "剧情糟糕透了", "这部电影很无聊"]
TEXTS = [f"{t} ({i})" for i in range(4) for t in GOOD + BAD]  # 32 texts, every one to both annotators


def gold(text: str) -> str:
    return "1" if any(t in text for t in GOOD) else "2"


def card(page) -> str:
    return page.locator(".textclf-card").inner_text()


def labelled(page, n: int) -> None:
    page.get_by_text(re.compile(rf"· {n} labelled$")).wait_for()
    settled(page)


def sign_in(browser, url: str, name: str, password: str, project_id: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/?project={project_id}")
    page.get_by_role("heading", name="Sign in to textclf").wait_for(timeout=90_000)
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.locator('[data-testid="stSidebar"]').get_by_text("Signed in as").wait_for()
    return context, page


def open_label(page, project_id: str) -> None:
    if "project=" not in page.url:
        page.goto(re.sub(r"\?.*$", "", page.url) + f"?project={project_id}")
    goto(page, "Label")
    settled(page)


def test_two_annotators_label_the_same_texts_without_seeing_each_other(browser, tmp_path):
    import pandas as pd

    from textclf_core.labelling import guidelines, team
    from textclf_core.store import auth
    from textclf_core.store.projects import ProjectStore

    home = tmp_path / "home"
    home.mkdir()
    users = home / "users.json"
    auth.add_user("ann", "correct horse", users)
    auth.add_user("bob", "battery staple", users)
    csv = pd.DataFrame({"review": TEXTS}).to_csv(index=False).encode("utf-8")
    project = ProjectStore(home / "projects").create(
        csv, name="reviews", filename="reviews.csv", owner="ann", text_col="review"
    )
    # the lead's setup (what the Team page saves): both annotate every text, the codebook is written
    project.set_team(team.TeamSettings([team.Member("ann"), team.Member("bob")], overlap_share=1.0), by="ann")
    project.share("bob")
    guidelines.save(
        project,
        {
            "pos": {"description": "the reviewer liked the film"},
            "neg": {"description": "the reviewer did not like the film"},
        },
        author="ann",
    )

    with running_app(home, {"TEXTCLF_USERS_FILE": str(users)}) as url:
        ann_ctx, ann = sign_in(browser, url, "ann", "correct horse", project.id)
        open_label(ann, project.id)
        ann.get_by_label("Class names (one per line, or separated by commas)").fill("pos, neg")
        ann.get_by_role("button", name="Start labelling").click()
        ann.get_by_role("button", name="1 pos").wait_for()
        ann.get_by_text("Guidelines (version 1)").wait_for()
        ann.get_by_text("the reviewer did not like the film").wait_for()  # beside the text
        ann.get_by_text("Labelling as ann").wait_for()
        ann.wait_for_function(
            "() => window.__streamlitShortcutsMap && Object.keys(window.__streamlitShortcutsMap).length"
        )
        ann_texts = []
        for n in range(6):
            text = card(ann)
            ann_texts.append(text)
            ann.keyboard.press(gold(text))
            labelled(ann, n + 1)
        no_exception(ann)
        shot(ann, "team-1-ann-labels")

        bob_ctx, bob = sign_in(browser, url, "bob", "battery staple", project.id)
        open_label(bob, project.id)
        bob.get_by_text("Continuing where you left off: 0 labels so far.").wait_for()
        bob.get_by_text("Labelling as bob").wait_for()
        bob.wait_for_function(
            "() => window.__streamlitShortcutsMap && Object.keys(window.__streamlitShortcutsMap).length"
        )
        saw_ann_text = False
        for n in range(20):
            text = card(bob)
            if text in ann_texts:
                saw_ann_text = True
                # ann labelled this one: bob sees no label of hers, only that it stays hidden
                bob.get_by_text("their label stays hidden until you give yours").wait_for()
                assert bob.get_by_text(re.compile("^Labelled: ")).count() == 0
                shot(bob, "team-2-bob-overlap-text-hidden")
            # bob disagrees on the first two texts he gets
            key = gold(text) if n >= 2 else ("2" if gold(text) == "1" else "1")
            bob.keyboard.press(key)
            labelled(bob, n + 1)
        assert saw_ann_text, "bob's queue never reached a text ann labelled"
        # the 20th label started a retrain: its notice updates without a key; every text is shared, so the
        # model's suggestion stays hidden (answers on shared texts are blind to the model too)
        bob.get_by_text(re.compile(r"Model \d+ trained on 20 labels")).wait_for(timeout=90_000)
        bob.get_by_text("No model suggestion on shared texts").first.wait_for()
        assert bob.get_by_text("Model suggests").count() == 0
        labelled(bob, 20)
        no_exception(bob)
        shot(bob, "team-3-bob-model-arrived-without-a-key")

        frame = team.annotations(project)
        assert set(frame["annotator"]) == {"ann", "bob"}
        both = frame.groupby("row")["annotator"].nunique()
        assert (both == 2).sum() >= 1  # texts labelled by both, each label kept as its author's

        goto(ann, "Team")
        ann.get_by_text(re.compile("[Aa]greement")).first.wait_for()
        no_exception(ann)
        shot(ann, "team-4-agreement")
        bob_ctx.close()
        ann_ctx.close()
