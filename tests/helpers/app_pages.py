"""Helpers shared by the AppTest page tests (tests/app): sample reviews, a tiny CSV, uploading it, finding a
button, opening the Strategy page, and the check that a script run raised nothing."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

GOOD = [
    "great film, loved it",
    "wonderful acting and a moving story",
    "a joy to watch from start to end",
    "brilliant, funny and moving",
    "superb cast and script",
    "fantastic fun for everyone",
    "truly excellent work",
    "heartwarming and smart",
]
BAD = [
    "terrible plot, hated it",
    "boring and slow from the start",
    "awful acting everywhere",
    "a waste of two hours",
    "dull and predictable",
    "poorly made and badly edited",
    "truly dreadful",
    "messy, tedious and long",
]


def tiny_csv() -> bytes:
    lines = ["review,sentiment"]
    for i in range(4):
        lines += [f'"{t} ({i})",pos' for t in GOOD] + [f'"{t} ({i})",neg' for t in BAD]
    return ("\n".join(lines) + "\n").encode("utf-8")


def no_trouble(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def upload(at: AppTest, name: str, content: bytes, mime: str = "text/csv") -> AppTest:
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader(key="uploader").set_value((name, content, mime)).run()
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def csv_with(per_class: int) -> bytes:
    lines = ["review,sentiment"]
    for i in range(per_class):
        lines += [f'"{GOOD[i % len(GOOD)]} ({i})",pos', f'"{BAD[i % len(BAD)]} ({i})",neg']
    return ("\n".join(lines) + "\n").encode("utf-8")


def strategy_page(app, per_class: int):
    upload(app, "reviews.csv", csv_with(per_class))
    app.switch_page("app_pages/strategy.py").run()
    no_trouble(app)
    assert not app.error, [e.value for e in app.error]
    return next(r for r in app.radio if r.label == "How to train")
