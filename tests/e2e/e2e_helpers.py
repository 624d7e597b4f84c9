"""Page helpers shared by the browser journeys (import with `from e2e_helpers import ...`)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def settled(page) -> None:
    """Wait until the script run has finished and every chart on the page is drawn (no fixed sleeps)."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(state="attached")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')].every(p => p.querySelector('.main-svg'))""")


def shot(page, name: str) -> None:
    """A full-page screenshot in test-artifacts/ (look at them: a test nobody looked at proves little)."""
    ARTIFACTS.mkdir(exist_ok=True)
    settled(page)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def goto(page, title: str, heading: str | None = None) -> None:
    """Open a page from the sidebar navigation and wait for its heading."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=heading or (title if title != "Compare" else "Compare runs")).first.wait_for()


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, "a traceback reached the page"
