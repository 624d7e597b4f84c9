"""Quantities written for people. A leaf: imports nothing of textclf_core.

:func:`format_duration` is the one way a duration is shown (job progress, estimates, budgets, the CLI).
"""

from __future__ import annotations


def format_duration(seconds: float | None, *, none: str = "unknown") -> str:
    """'45 s', '3 min 20 s', '10 min', '1 h 05 min', '2 h' — for people; None is ``none``
    (a budget passes ``none="no limit"``). Whole seconds; a zero remainder is left out."""
    if seconds is None:
        return none
    seconds = max(0, int(round(float(seconds))))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest:02d} s" if rest else f"{minutes} min"
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
