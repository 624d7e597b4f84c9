"""The whole journey in a real headless Chromium: upload, choose columns, train the baseline,
watch it finish, read the evaluation, predict a sentence. Screenshots go to test-artifacts/.

Needs Debian's Chromium at /usr/bin/chromium (`make browser`); Playwright's own browser
download cannot work on our offline machines.
"""

from __future__ import annotations

import re
import zipfile

import pytest
from helpers.e2e import goto as _goto
from helpers.e2e import no_exception as _no_exception
from helpers.e2e import shot as _shot

pytestmark = pytest.mark.e2e

GOOD = [
    "great film, loved it",
    "wonderful acting and a moving story",
    "a joy to watch from start to end",
    "brilliant, funny and moving",
    "superb cast and script",
    "fantastic fun for everyone",
]
BAD = [
    "terrible plot, hated it",
    "boring and slow from the start",
    "awful acting everywhere",
    "a waste of two hours",
    "dull and predictable",
    "poorly made and badly edited",
]


def test_upload_train_evaluate_predict(server, browser, tmp_path):
    data = tmp_path / "reviews.csv"
    rows = ["review,sentiment,notes"]
    for i in range(5):
        rows += [f'"{t} ({i})",pos,x' for t in GOOD] + [f'"{t} ({i})",neg,y' for t in BAD]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")

    # A tall window: Streamlit scrolls inside its own container, so the screenshots show what fits.
    page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
    page.set_default_timeout(30_000)
    page.goto(server)
    page.get_by_role("heading", name="Upload data").wait_for(timeout=90_000)  # first run imports torch
    _no_exception(page)

    # --- upload and columns ------------------------------------------------------------------
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(data))
    page.get_by_text("60 rows, 3 columns").wait_for()
    page.get_by_text("Ready to train").wait_for()  # the report is drawn: the page has settled
    # choose the columns by hand (the guess is already right; this is what a person would do)
    page.get_by_role("combobox", name="Label column").click()
    page.get_by_role("option", name="notes", exact=True).click()
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("notes", exact=True).wait_for()  # the sidebar follows the choice
    page.get_by_role("combobox", name="Label column").click()
    page.get_by_role("option", name="sentiment", exact=True).click()
    sidebar.get_by_text("sentiment", exact=True).wait_for()
    page.get_by_text("Ready to train").wait_for()
    _no_exception(page)
    _shot(page, "1-upload")

    _goto(page, "Label review")
    page.get_by_text("Rows in use").wait_for()
    page.get_by_role("heading", name="Likely label errors").wait_for()  # the review panel is there
    _no_exception(page)
    _shot(page, "2-label-review")

    # --- strategy and training -----------------------------------------------------------------
    _goto(page, "Strategy")
    page.get_by_text("Baseline (TF-IDF)").click()
    page.get_by_text("a few seconds on").wait_for()
    _shot(page, "3-strategy")
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("heading", name="Training").wait_for()
    page.get_by_text("State: finished").first.wait_for(timeout=90_000)
    page.locator(".js-plotly-plot").first.wait_for()
    _no_exception(page)
    _shot(page, "4-training")

    # --- evaluation ----------------------------------------------------------------------------
    _goto(page, "Evaluation")
    page.get_by_role("heading", name="Confusion matrix").wait_for()
    metrics = page.locator('[data-testid="stMetric"]')
    assert metrics.filter(has_text="Accuracy").count() == 1
    assert "%" in metrics.filter(has_text="Macro-F1").inner_text()
    page.locator(".js-plotly-plot g.hm").first.wait_for(state="attached")  # the heatmap is drawn
    page.get_by_text("predicted as").first.wait_for()
    # click the bottom-right cell (true pos, predicted pos): its examples are listed
    box = page.locator(".js-plotly-plot g.hm").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.75)
    page.locator("p", has_text=re.compile(r"texts labelled pos predicted as pos")).wait_for()
    page.get_by_role("heading", name="By group").wait_for()  # the slices panel is there
    _no_exception(page)
    _shot(page, "5-evaluation")

    _goto(page, "Compare")
    page.get_by_role("heading", name="Validation curves").wait_for()
    _no_exception(page)
    _shot(page, "6-compare")

    # --- predict -------------------------------------------------------------------------------
    _goto(page, "Predict")
    page.get_by_role("textbox", name="Text").fill("a wonderful and moving film, loved it")
    page.get_by_role("button", name="Predict", exact=True).click()
    page.get_by_text("confidence").first.wait_for()
    result = page.locator('[data-testid="stMarkdown"] h3').first.inner_text()
    assert result.strip() in ("pos", "neg")
    page.get_by_text(re.compile(r"green words pushed towards this label")).wait_for()  # the explanation
    _no_exception(page)
    _shot(page, "7-predict")

    # --- download the model ----------------------------------------------------------------------
    with page.expect_download() as download:
        page.get_by_role("button", name="Download model (.zip)").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert archive.testzip() is None and archive.namelist(), "the model zip is empty or broken"
    page.close()
