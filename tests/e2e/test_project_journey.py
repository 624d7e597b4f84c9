"""Projects in a real Chromium: label edits survive a reload and a server restart, a second browser
cannot cancel the first one's run without confirming (and the first page says who did), and with
login configured a wrong password is refused and another user's project is not listed.
Screenshots go to test-artifacts/projects-*.png.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from helpers.e2e import goto, no_exception, running_app, settled, shot

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

GOOD = ["great film, loved it", "wonderful acting and a moving story", "superb cast and script"]
BAD = ["terrible plot, hated it", "boring and slow from the start", "dull and predictable"]


def metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def wait_metric(page, label: str, value: str) -> None:
    page.locator('[data-testid="stMetric"]').filter(has_text=label).locator(
        '[data-testid="stMetricValue"]', has_text=re.compile(rf"^{re.escape(value)}$")
    ).first.wait_for()


def clear_first_label(page) -> None:
    """Select the Label cell of the table's first row and clear it: what a person does to drop a row."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    box = grid.bounding_box()
    # header row and data rows are 35 px tall; the Label column is the last, at the right edge
    page.mouse.click(box["x"] + box["width"] - 40, box["y"] + 35 + 17)
    page.keyboard.press("Delete")


def test_edits_survive_reload_and_restart_and_runs_know_who(browser, tmp_path):
    data = tmp_path / "reviews.csv"
    rows = ["review,sentiment"]
    for i in range(6):
        rows += [f'"{t} ({i})",pos' for t in GOOD] + [f'"{t} ({i})",neg' for t in BAD]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    home = tmp_path / "home"

    # --- 1. upload, edit three labels, reload -------------------------------------------------------
    with running_app(home) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        page.get_by_role("heading", name="Upload data").wait_for(timeout=90_000)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(data))
        page.get_by_text("Ready to train").wait_for()
        assert "project=" in page.url  # the URL carries the project
        goto(page, "Label review")
        page.get_by_text("Rows in use").wait_for()
        for n in (1, 2, 3):
            settled(page)
            page.wait_for_timeout(500)  # the table is drawn anew after each edit (a new canvas)
            clear_first_label(page)
            wait_metric(page, "Dropped", str(n))
        wait_metric(page, "Rows in use", "33")
        shot(page, "projects-1-three-edits")
        project_url = page.url
        page.reload()
        page.get_by_role("heading", name="Label review").wait_for(timeout=60_000)
        wait_metric(page, "Dropped", "3")
        assert metric(page, "Rows in use") == "33"
        no_exception(page)
        shot(page, "projects-2-after-reload")
        context.close()

    # --- 2. restart the server process (same home): the project and its edits are there -------------
    with running_app(home) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        page.set_default_timeout(30_000)
        query = project_url.split("?", 1)[1]
        page.goto(f"{url}/label_review?{query}")
        page.get_by_role("heading", name="Label review").wait_for(timeout=90_000)
        wait_metric(page, "Dropped", "3")
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text(re.compile(r"reviews\.csv · 33 rows")).wait_for()
        no_exception(page)
        shot(page, "projects-3-after-restart")

        # --- 3. a second browser cannot cancel this run without confirming; the first sees who -----
        goto(page, "Upload", "Upload data")
        page.get_by_role("button", name="BBC news articles").click()
        page.get_by_text("2,225 rows").first.wait_for(timeout=60_000)
        goto(page, "Strategy")
        page.get_by_role("radiogroup", name="How to train").get_by_text("Full fine-tuning", exact=True).click()
        settled(page)
        page.get_by_role("button", name="Start training").click()
        page.get_by_role("heading", name="Training").wait_for()
        page.get_by_text("State: running").first.wait_for(timeout=120_000)

        other_context = browser.new_context(viewport={"width": 1400, "height": 1400})
        other = other_context.new_page()
        other.set_default_timeout(30_000)
        other.goto(url)
        other.get_by_role("heading", name="Upload data").wait_for(timeout=60_000)
        goto(other, "Training")
        other.get_by_text(re.compile(r"started by guest-")).first.wait_for()
        other.get_by_role("button", name="Cancel this run").click()
        other.get_by_text(re.compile(r"This run was started by guest-")).wait_for()
        shot(other, "projects-4-other-asks-first")
        other.get_by_role("button", name="Yes, cancel their run").click()
        who = re.search(r"guest-[0-9a-f]+", other.url).group(0)
        page.get_by_text(re.compile(rf"Cancelled by {who}")).first.wait_for(timeout=120_000)
        no_exception(page)
        shot(page, "projects-5-owner-sees-who-cancelled")
        other_context.close()
        context.close()


def test_login_refuses_a_wrong_password_and_hides_other_users_projects(browser, tmp_path):
    from textclf_core.store import auth
    from textclf_core.store.projects import ProjectStore

    home = tmp_path / "home"
    users = home / "users.json"
    home.mkdir()
    auth.add_user("ann", "correct horse", users)
    auth.add_user("bob", "battery staple", users)
    ProjectStore(home / "projects").create(
        b"text,label\nbob's secret text,a\nanother one,b\n", filename="bobs-data.csv", owner="bob"
    )
    with running_app(home, {"TEXTCLF_USERS_FILE": str(users)}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(url)
        page.get_by_role("heading", name="Sign in to textclf").wait_for(timeout=90_000)
        deep = browser.new_page()
        deep.goto(f"{url}/compare")  # a deep link does not get past sign-in either
        deep.get_by_role("heading", name="Sign in to textclf").wait_for(timeout=60_000)
        assert deep.get_by_role("heading", name="Compare runs").count() == 0
        deep.close()
        page.get_by_role("textbox", name="User name").fill("ann")
        page.get_by_role("textbox", name="Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Wrong user name or password.").wait_for()
        shot(page, "projects-6-wrong-password")
        page.get_by_role("textbox", name="Password").fill("correct horse")
        page.get_by_role("button", name="Sign in").click()
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Signed in as").wait_for(timeout=60_000)
        sidebar.get_by_text("None loaded yet").wait_for()
        assert page.get_by_text("bobs-data").count() == 0
        no_exception(page)
        shot(page, "projects-7-signed-in")
        page.close()
