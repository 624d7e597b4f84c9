"""Browser journey: train two quick baseline variants, compare them text by text, open the
disagreements of one class, and read the calibration and learning curve on Evaluation.
Screenshots go to test-artifacts/compare-*.png."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from helpers.e2e import goto, no_exception, settled, shot

pytestmark = pytest.mark.e2e

POS = ["great", "wonderful", "loved", "superb", "moving", "brilliant"]
NEG = ["awful", "boring", "hated", "dull", "terrible", "tedious"]
FILL = ["film", "plot", "actor", "scene", "story", "script", "camera"]


def reviews(path):
    """240 reviews; a third mix praise and complaint with a coin-flip label, so two models disagree."""
    rng = np.random.default_rng(0)
    lines = ["review,sentiment"]
    for i in range(240):
        if i % 3 == 0:
            words, label = list(rng.choice(POS, 2)), "pos"
        elif i % 3 == 1:
            words, label = list(rng.choice(NEG, 2)), "neg"
        else:
            words, label = [rng.choice(POS), rng.choice(NEG)], ["pos", "neg"][rng.integers(2)]
        words += list(rng.choice(FILL, 3))
        rng.shuffle(words)
        lines.append(f"the {' '.join(words)} ({i}),{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def train_baseline(page, classifier: str) -> None:
    goto(page, "Strategy")
    page.get_by_text("Baseline (TF-IDF)").click()
    page.get_by_role("combobox", name="Linear classifier").click()
    page.get_by_role("option", name=classifier, exact=True).click()
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("heading", name="Training").wait_for()


def test_two_runs_compared_text_by_text(server, browser, tmp_path):
    data = tmp_path / "mixed_reviews.csv"
    reviews(data)
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.set_default_timeout(30_000)
    page.goto(server)
    page.get_by_role("heading", name="Upload data").wait_for(timeout=90_000)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(data))
    page.get_by_text("Ready to train").wait_for()

    train_baseline(page, "logistic regression")
    page.get_by_text("State: finished").first.wait_for(timeout=90_000)
    train_baseline(page, "naive Bayes")

    # Compare shows "Run A vs run B" once two runs are done; the page does not refresh itself.
    deadline = time.time() + 90
    while True:
        goto(page, "Compare")
        settled(page)
        if page.get_by_role("heading", name="Run A vs run B, text by text").count():
            break
        assert time.time() < deadline, "the second run did not finish"
        time.sleep(2)
    no_exception(page)
    page.get_by_text("a difference this large happens by chance with probability").wait_for()
    assert page.locator('[data-testid="stMetric"]').filter(has_text="McNemar p-value").count() == 1
    shot(page, "compare-1-run-vs-run")

    # the disagreements, narrowed to one class
    page.get_by_role("combobox", name="Class").click()
    page.get_by_role("option", name="neg", exact=True).click()
    page.get_by_text("with neg as the true or a predicted label").wait_for()
    no_exception(page)
    caption = page.get_by_text("with neg as the true or a predicted label").inner_text()
    assert int(caption.split()[0].replace(",", "")) >= 1, caption
    shot(page, "compare-2-disagreements-neg")

    # Evaluation: intervals, calibration and the learning curve of the newest run
    goto(page, "Evaluation")
    page.get_by_role("heading", name="How far to trust a confidence").wait_for()
    assert page.get_by_text(re.compile(r"^95% interval")).count() == 2  # accuracy and macro-F1
    page.get_by_text("Only 24 test texts").wait_for()
    page.get_by_role("button", name="Compute the learning curve").click()
    try:
        page.get_by_text("Doubling your labels").or_(page.get_by_text("curve is flat")).or_(
            page.get_by_text("scores did not grow")
        ).first.wait_for(timeout=90_000)
    finally:
        shot(page, "compare-3-evaluation-calibration-curve")
    no_exception(page)
    shot(page, "compare-3-evaluation-calibration-curve")
