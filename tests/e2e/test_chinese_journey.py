"""A Chinese analyst's journey in a real headless Chromium: upload a CSV of Chinese reviews with Chinese labels,
read the report (the language, lengths in words), see the plan, train the baseline (which reads words), and
predict a Chinese sentence with its explanation by word. Screenshots go to test-artifacts/ (Debian's
fonts-noto-cjk makes the characters readable there).
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from helpers.e2e import goto, no_exception, shot

pytestmark = pytest.mark.e2e

LABELS = {"positive": "好评", "negative": "差评"}


def test_chinese_reviews_upload_plan_baseline_predict(server, browser, tmp_path, chinese_reviews_path):
    frame = pd.read_csv(chinese_reviews_path).head(400)
    data = tmp_path / "评论.csv"
    pd.DataFrame({"评论": frame["text"], "标签": frame["label"].map(LABELS)}).to_csv(data, index=False)

    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(60_000)
    page.goto(server)
    page.get_by_role("heading", name="Upload data").wait_for(timeout=120_000)  # first run imports torch
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(data))
    page.get_by_text("400 rows, 2 columns").wait_for()
    page.get_by_text("Ready to train").wait_for(timeout=120_000)
    # The report names the language and counts words by a segmenter, not by spaces.
    page.get_by_text(re.compile(r"Language: Chinese")).first.wait_for()
    no_exception(page)
    shot(page, "zh-1-upload")

    goto(page, "Strategy")
    try:  # the page counts tokens with the model's own tokenizer: slow on a loaded machine
        page.get_by_text("How to train").wait_for(timeout=180_000)
    finally:
        shot(page, "zh-2-strategy")
    no_exception(page)
    # The plan leaves out the English encoders and says why, in one plain sentence.
    page.get_by_text(re.compile(r"cannot read these texts")).first.wait_for()
    # the radio itself: the bare text "Baseline (TF-IDF)" first matches the recommendation's sentence
    page.get_by_role("radiogroup", name="How to train").get_by_text("Baseline (TF-IDF)", exact=True).click()
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("heading", name="Training").wait_for()
    page.get_by_text("State: finished").first.wait_for(timeout=180_000)
    no_exception(page)
    shot(page, "zh-3-training")

    goto(page, "Predict")
    page.get_by_role("textbox", name="Text").fill("质量很好，物流也快，非常满意！")
    page.get_by_role("button", name="Predict", exact=True).click()
    page.get_by_text("confidence").first.wait_for()
    box = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').first
    chosen = box.inner_text() + " " + " ".join(i.input_value() for i in box.locator("input").all())
    assert "TF-IDF" in chosen, chosen  # the baseline run just trained is the model used
    label = page.locator('[data-testid="stMarkdown"] h3').first.inner_text().strip()
    assert label in LABELS.values()
    page.get_by_text(re.compile(r"green words pushed towards this label")).wait_for()
    # The explanation highlights words: "，" and "！" are never a highlighted piece.
    page.locator("span[title]").first.wait_for()  # the highlighted text is drawn just after the sentence
    highlighted = page.locator("span[title]").all_inner_texts()
    assert highlighted and not any(p in w for w in highlighted for p in "，。！")
    assert len(highlighted) >= 2 and max(len(w) for w in highlighted) <= 4  # words, not whole clauses
    no_exception(page)
    shot(page, "zh-4-predict")
    page.close()
