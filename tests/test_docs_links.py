"""The docs a person reads point at things that exist: every relative link in README.md, ARCHITECTURE.md, bench/ and
docs/*.md opens a file (and, for a `#section`, a heading of that file), and every `textclf_core/….py` path they
name is a real module. A file moved by a refactor, or a page renamed, fails here instead of in a reader's browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    REPO / "README.md",
    REPO / "ARCHITECTURE.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "bench" / "README.md",
    REPO / "bench" / "RESULTS.md",
]

FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
CORE_PATH = re.compile(r"textclf_core/[\w/]*\.py")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[str]:
    prose = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return LINK.findall(prose)


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ... are not checked here
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc):
    assert broken_links(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_named_core_modules_exist(doc):
    named = sorted(set(CORE_PATH.findall(doc.read_text(encoding="utf-8"))))
    assert [p for p in named if not (REPO / p).is_file()] == []


def test_the_checker_sees_a_broken_link_and_a_missing_anchor(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## Measured: the grid\n", encoding="utf-8")
    page.write_text(
        "# Page\n\n[ok](other.md#measured-the-grid) [gone](missing.md) [bad](other.md#nope) "
        "[self](#page) `[not a link](missing.md)` [web](https://example.org)\n"
        "```\n[in a fence](missing2.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["missing.md: no such file", "other.md#nope: no heading #nope in other.md"]


def test_docs_pages_are_all_checked():
    assert REPO / "docs" / "labelling.md" in DOCS and REPO / "README.md" in DOCS


def _results_md():
    import importlib.util

    spec = importlib.util.spec_from_file_location("results_md", REPO / "bench" / "results_md.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_results_page_is_rendered_from_the_json_files():
    """bench/RESULTS.md is bench/results_md.py's output: a hand edit, or a result added without rerunning it, fails."""
    assert (REPO / "bench" / "RESULTS.md").read_text(encoding="utf-8") == _results_md().render()


def test_bench_results_page_shows_a_file_it_does_not_know(tmp_path):
    (tmp_path / "new_bench.json").write_text(
        '{"machine": "8 cores", "date": "2026-12-06", "speedup": 1.234, "passes": 3, '
        '"results": [{"clients": 4, "rps": {"ours": 41.6}}]}',
        encoding="utf-8",
    )
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    page = _results_md().render(tmp_path)
    assert "## New bench" in page and "machine: 8 cores" in page and "measured 2026-12-06" in page
    assert "| speedup | 1.23 |" in page and "| clients | rps.ours |" in page and "| 4 | 41.6 |" in page
    assert "## Broken" in page and "Not readable" in page
