"""Browser journey: a small labelled file, "Auto (recommended)" with the shortest budget, members finishing live on
Training (leaderboard growing, one curve per member), the leaderboard and the chosen sentence on Evaluation.
Screenshots go to test-artifacts/auto-*.png."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
from helpers.e2e import goto, no_exception, settled, shot

pytestmark = pytest.mark.e2e

POS = ["great", "wonderful", "loved", "superb", "moving", "brilliant"]
NEG = ["awful", "boring", "hated", "dull", "terrible", "tedious"]
FILL = ["film", "plot", "actor", "scene", "story", "script", "camera"]


def reviews(path, n: int = 80):
    """``n`` short reviews, half praise, half complaint: 40 a class, so few-shot is not a candidate (more than 16)."""
    rng = np.random.default_rng(0)
    lines = ["review,sentiment"]
    for i in range(n):
        words, label = (list(rng.choice(POS, 2)), "pos") if i % 2 == 0 else (list(rng.choice(NEG, 2)), "neg")
        words += list(rng.choice(FILL, 3))
        rng.shuffle(words)
        lines.append(f"the {' '.join(words)} ({i}),{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_auto_members_finish_live_and_the_choice_is_explained(app_server, browser, tmp_path):
    home = tmp_path / "home"
    server = app_server(home=home)
    data = tmp_path / "short_reviews.csv"
    reviews(data)
    page = browser.new_page(viewport={"width": 1400, "height": 2600})
    page.set_default_timeout(30_000)
    page.goto(server)
    page.get_by_role("heading", name="Upload data").wait_for(timeout=90_000)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(data))
    page.get_by_text("Ready to train").wait_for()

    goto(page, "Strategy")
    page.get_by_text("Recommended: Auto").wait_for()
    page.get_by_text("If you want one strategy:").first.wait_for()
    page.get_by_role("radiogroup", name="Time budget").get_by_text("1 min", exact=True).click()
    page.get_by_text("Budget: 1 min").wait_for()
    # Only the TF-IDF candidates, to keep the journey short (the first transformer member loads torch and the
    # model, which on a shared 2-core machine can take most of a 1 min budget).
    candidates = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Candidates")
    candidates.get_by_role("button", name="Clear all").click()
    page.get_by_text("Pick at least one candidate to continue.").wait_for()
    for fast in ("TF-IDF + logistic regression", "TF-IDF + linear SVM"):
        candidates.locator("input").click()
        page.get_by_role("option", name=fast, exact=True).click()
        settled(page)
    page.keyboard.press("Escape")
    settled(page)
    chips = candidates.inner_text()
    assert "TF-IDF + linear SVM" in chips and "MiniLM" not in chips, chips
    settled(page)
    no_exception(page)
    shot(page, "auto-1-strategy-plan")
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("heading", name="Training").wait_for()

    # Live: the leaderboard's count of trained members grows while the run is still running.
    seen: list[int] = []
    deadline = time.time() + 150
    shot_live = False
    speeds: list[tuple[str, str]] = []  # (Examples / s, Time left) as the page showed them while running
    while not page.get_by_text("State: finished").count():
        if page.get_by_text("State: running").count():
            try:
                values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
                if len(values) >= 3:
                    speeds.append((values[1], values[2]))
                    if values[1] != "–" and values[2] != "–" and not any(s[0] != "–" for s in speeds[:-1]):
                        shot(page, "auto-2b-training-speed")
            except Exception:  # noqa: BLE001 - the fragment redrew it between the two calls
                pass
        assert time.time() < deadline, "auto did not finish within its 1 min budget and the test's margin"
        assert not page.get_by_text("State: failed").count(), page.locator('[data-testid="stAlert"]').all_inner_texts()
        caption = page.get_by_text(re.compile(r"\d+ of \d+ candidates trained so far"))
        if caption.count():
            try:
                seen.append(int(caption.first.inner_text().split(" of ")[0]))
            except Exception:  # noqa: BLE001 - the fragment redrew it between the two calls
                pass
            if seen and seen[-1] >= 1 and not shot_live:
                shot(page, "auto-2-training-live")
                shot_live = True
        time.sleep(0.5)
    assert seen == sorted(seen), seen  # the leaderboard only grows
    # Members are reported as they finish: in the run's event log each member event comes before the end.
    # When the two TF-IDF members took less than two polls of the page (2 s each), the page cannot have
    # shown the board between them; only then is the live sighting not required.
    (run_dir,) = [p for p in (home / "runs").iterdir() if p.is_dir() and not p.name.startswith(".")]
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    members = [
        e for e in log if e["type"] == "member" and e["member"].get("state") == "done" and not e["member"].get("round")
    ]
    final = next(e for e in log if e["type"] == "finished")
    assert len(members) == 2 and all(m["time"] <= final["time"] for m in members), [e["type"] for e in log]
    # Speed and time left were on the page while members ran (both, at the same poll). The page polls every
    # 2 s and a member's speed is known once it has run for a moment, so on a fast machine where the members
    # took under two polls the page may only ever have caught their starts: then it is not required.
    started = next(e for e in log if e["type"] == "started")
    if final["time"] - started["time"] > 4:
        assert any(rate != "–" and left != "–" for rate, left in speeds), speeds
    if final["time"] - members[0]["time"] > 5:
        assert any(n >= 1 for n in seen), f"no member was seen finishing before the run ended: {seen}"
    page.get_by_role("heading", name="Auto leaderboard").wait_for()
    settled(page)
    no_exception(page)
    # Curves: one macro-F1 line per member that was evaluated, named after the member (never one mixed line).
    legend = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert legend and "Macro-F1" not in legend, legend
    assert all(": " in t for t in legend), legend
    assert (
        page.get_by_text(re.compile(r"candidates trained so far · budget 1 min")).count()
        or page.get_by_text(re.compile(r"( alone: .+ on validation|over the best single model)")).count()
    )
    # The headline and the matrix are the kept model's (its title is whole, not cut at the edge).
    page.get_by_text("Validation macro-F1, kept model").wait_for()
    titles = page.locator(".js-plotly-plot .gtitle").evaluate_all("els => els.map(e => e.textContent)")
    assert any("Confusion matrix" in t and "the model auto kept" in t for t in titles), titles
    shot(page, "auto-3-training-finished")

    goto(page, "Evaluation")
    page.get_by_role("heading", name="Auto leaderboard").wait_for(timeout=60_000)
    chosen = page.get_by_text(re.compile(r"( alone: .+ on validation|Ensemble of .+ over the best single model)"))
    chosen.first.wait_for()
    # The leaderboard table (with the plan's estimate beside the time taken); the grid draws a moment after the heading.
    page.locator('[data-testid="stDataFrame"]').filter(has_text="est. at start").first.wait_for()
    page.get_by_text("stands in for the ensemble").wait_for()
    no_exception(page)
    shot(page, "auto-4-evaluation")
