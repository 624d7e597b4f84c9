"""No function over 100 lines in textclf_core or the app (house rule: split a long function along its seams).

Read from the source with ast (nothing is executed); a function's length runs from its ``def`` to its last
line, nested functions counted on their own too. ``STILL_LONG`` lists the functions that are being split
elsewhere today: remove an entry when its split lands (the test fails on a stale entry, so the list only
shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 100
SCANNED = ("textclf_core", "app_ui", "app_pages", "app.py")

STILL_LONG: set[str] = set()  # every function is under the limit now


def _sources(root: Path) -> list[Path]:
    out = []
    for name in SCANNED:
        path = root / name
        out += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return out


def long_functions(root: Path, limit: int = LIMIT) -> dict[str, int]:
    """``"path::qualified.name"`` → lines, for every function longer than ``limit`` lines."""
    found: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = child.end_lineno - child.lineno + 1
                    if lines > limit:
                        found[f"{where}::{name}"] = lines
                visit(child, name + ".", where)
            else:
                visit(child, prefix, where)

    for path in _sources(root):
        visit(ast.parse(path.read_text(encoding="utf-8")), "", path.relative_to(root).as_posix())
    return found


def test_no_function_runs_over_100_lines():
    found = long_functions(ROOT)
    new = {k: v for k, v in found.items() if k not in STILL_LONG}
    assert not new, "Split these along their seams (no function over 100 lines):\n" + "\n".join(
        f"  {k}: {v} lines" for k, v in sorted(new.items())
    )
    stale = sorted(STILL_LONG - set(found))
    assert not stale, "These are short now: remove them from STILL_LONG:\n" + "\n".join(f"  {k}" for k in stale)


def test_the_length_check_sees_long_and_nested_functions(tmp_path):
    pkg = tmp_path / "textclf_core"
    pkg.mkdir()
    body = "".join(f"        x{i} = {i}\n" for i in range(100))  # 100 lines, inside a def inside a block
    (pkg / "m.py").write_text(
        f"def short():\n    return 1\n\n\nclass K:\n    def long(self):\n{body}"
        f"\n\ndef outer():\n    def inner():\n{body}    return inner\n"
    )
    assert long_functions(tmp_path) == {
        "textclf_core/m.py::K.long": 101,
        "textclf_core/m.py::outer": 103,
        "textclf_core/m.py::outer.inner": 101,
    }
