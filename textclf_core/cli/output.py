"""What every command shares: printing (stdout for results, stderr for progress and problems), a plain
text table, the exit codes, the one-line usage error, reading a data file and picking its columns."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from textclf_core.errors import TextclfError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(TextclfError):
    """Wrong command-line arguments."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit status 2 like every bad input."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def echo(text: str = "") -> None:
    print(text, flush=True)


def echo_err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def text_table(rows: list[list], headers: list[str]) -> str:
    """A plain aligned text table."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def shorten(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def read_data(path: str, sheet=None, header_row=None):
    from textclf_core.data import read_table

    if not Path(path).expanduser().exists():
        raise TextclfError(f"{path} does not exist", hint="Check the file name and folder")
    return read_table(Path(path).expanduser(), sheet=sheet, header_row=header_row)


def pick_columns(frame, text_col, label_col):
    from textclf_core.data import guess_columns

    for role, col in (("text", text_col), ("label", label_col)):
        if col is not None and col not in frame.columns:
            raise TextclfError(
                f"There is no {role} column '{col}'", hint=f"Choose one of: {', '.join(map(str, frame.columns[:10]))}"
            )
    guess = guess_columns(frame)
    return text_col or guess.text_col, label_col or guess.label_col, guess


def add_header_row(p) -> None:
    p.add_argument(
        "--header-row",
        type=int,
        metavar="N",
        help="row holding the column names (1 = first row); default: detected past title rows",
    )


def cli_user() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"
