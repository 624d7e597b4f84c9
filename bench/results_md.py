"""Write bench/RESULTS.md from the JSON files in bench/results/ (the benchmarks' raw results).

One section per file, newest knowledge first: the `make bench` comparison with the Hugging Face Trainer
(`hf_compare.json`, written by bench/run.py), then every other file in name order. A file whose shape is
known is rendered by the `table()` of the script that wrote it (one owner per table); any other file, or
one whose shape has drifted, gets a generic table of its figures, so a new benchmark needs no change here.
Each section says the machine, load and date the file records, where it records them.

    .venv/bin/python bench/results_md.py              # rewrite bench/RESULTS.md
    .venv/bin/python bench/results_md.py --out -     # print it instead

`make bench` runs it at the end (bench/run.py); after any other benchmark, run it by hand.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS_DIR = BENCH / "results"
RESULTS_MD = BENCH / "RESULTS.md"
FIRST = "hf_compare"

# What each known file is, in a line: (title, the command that writes it).
TITLES = {
    "hf_compare": ("Speed against the Hugging Face Trainer and pipeline", "make bench"),
    "active": ("Active learning: macro-F1 after n labels chosen by each queue strategy", "bench/active.py"),
    "augment": ("Augmentation of scarce classes (EDA) against none", "bench/augment.py --seeds 10"),
    "auto": ("Auto within a time budget: the grid", "bench/auto.py"),
    "auto_round1_loaded": ("Auto, first round (heavily loaded machine, before the baseline rule)", "bench/auto.py"),
    "auto_windows": ("Long texts: first window against the mean of windows", "bench/auto.py --windows"),
    "fewshot": ("Few-shot against feature extraction and full fine-tuning", "bench/fewshot.py --seeds 10"),
    "fewshot_1seed_192pairs": ("Few-shot, first version (one draw, at most 192 pairs)", "bench/fewshot.py"),
    "scale": ("Large files: each command at 10k, 100k and 1M rows", "bench/scale.py"),
    "serve": ("REST serving, whole reviews, 1 torch thread", "bench/serve.py"),
    "serve_short": ("REST serving, 16-word messages, 1 torch thread", "bench/serve.py --words 16"),
    "serve_threads2": ("REST serving, whole reviews, 2 torch threads", "bench/serve.py --threads 2"),
    "serving": ("Exports for serving: ONNX and int8 against the original", "bench/serving.py"),
}
MACHINE_KEYS = (
    "machine",
    "device",
    "cpu",
    "cpu_count",
    "threads",
    "torch_threads",
    "load_average",
    "load_average_1min",
    "load_avg_end",
    "note",
)
DATE_KEYS = ("date", "when", "measured_at", "timestamp")
MAX_ROWS = 60


# --------------------------------------------------------------------------- formatting
def fmt(value) -> str:
    """A figure as a reader wants it: 3 decimals under 1, fewer above, thousands separated."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value.is_integer() and abs(value) >= 1:
            return f"{value:,.0f}"
        digits = 1 if abs(value) >= 100 else 2 if abs(value) >= 1 else 3
        text = f"{value:,.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(fmt(v) for v in value[:6]) + (" …" if len(value) > 6 else "")
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def flatten(record: dict, prefix: str = "", depth: int = 3) -> dict:
    """Scalar leaves of a nested dict as dotted keys (lists of scalars count as one leaf)."""
    flat = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth > 1:
            flat.update(flatten(value, name + ".", depth - 1))
        elif not isinstance(value, (dict, list)) or all(not isinstance(v, (dict, list)) for v in value):
            flat[name] = value
    return flat


def markdown_table(columns: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(fmt(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"\n… and {len(rows) - MAX_ROWS:,} more rows in the file.")
    return "\n".join(lines)


def records_table(records: list[dict]) -> str:
    """One row per record, one column per scalar leaf (in first-seen order)."""
    flats = [flatten(r) for r in records]
    columns: list[str] = []
    for flat in flats:
        columns += [k for k in flat if k not in columns and k not in MACHINE_KEYS + DATE_KEYS]
    return markdown_table(columns, [[flat.get(c) for c in columns] for flat in flats])


# --------------------------------------------------------------------------- generic and known shapes
def generic(data) -> str:
    """Any JSON: its top-level figures, then a table for each list of records it holds."""
    if isinstance(data, list):
        if data and all(isinstance(r, dict) for r in data):
            return records_table(data)
        return fmt(data)
    if not isinstance(data, dict):
        return fmt(data)
    if isinstance(data.get("columns"), list) and isinstance(data.get("rows"), list):
        return markdown_table(data["columns"], data["rows"])
    parts = []
    figures = {k: v for k, v in flatten(data).items() if k.split(".")[0] not in MACHINE_KEYS + DATE_KEYS}
    if figures:
        parts.append(markdown_table(["figure", "value"], [[k, v] for k, v in figures.items()]))
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            parts.append(f"`{key}`:\n\n" + records_table(value))
    return "\n\n".join(parts) or "(no figures)"


def script_table(module: str, argument):
    """The table of the benchmark script that wrote the file (it knows its own figures best)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(module).table(argument)


def is_records(data, *keys: str) -> bool:
    return (
        isinstance(data, list) and bool(data) and all(isinstance(r, dict) and all(k in r for k in keys) for r in data)
    )


def known(data):
    """(script, argument) for a shape a benchmark script renders itself, else None."""
    if is_records(data, "budget_s", "members", "auto"):
        return "auto", data
    if is_records(data, "method", "k", "accuracy"):
        return "fewshot", data
    if (
        isinstance(data, dict)
        and isinstance(data.get("data"), dict)
        and all(isinstance(v, dict) and "scores" in v for v in data["data"].values())
    ):
        return "active", data
    if (
        isinstance(data, dict)
        and isinstance(data.get("results"), dict)
        and all(
            isinstance(v, dict) and v and all(k[:-1].isdigit() or k[-1:] == "k" for k in v)
            for v in data["results"].values()
        )
    ):
        return "scale", data["results"]
    return None


def body(data) -> str:
    match = known(data)
    if match is not None:
        try:
            return script_table(*match)
        except Exception as error:  # noqa: BLE001 - a drifted shape still gets a table
            return f"(bench/{match[0]}.py could not render it: {error}; the figures as stored:)\n\n" + generic(data)
    return generic(data)


# --------------------------------------------------------------------------- machine and date
def collect(data, keys: tuple[str, ...], found: dict, depth: int = 0) -> dict:
    """Every scalar value stored under one of ``keys``, anywhere in the file (first few levels)."""
    if depth > 4:
        return found
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        if key in keys and not isinstance(value, dict):
            found.setdefault(key, [])
            if value not in found[key]:
                found[key].append(value)
        elif isinstance(value, (dict, list)):
            collect(value, keys, found, depth + 1)
    return found


def provenance(data) -> str:
    """One line: the machine and its load, and the date or date range, as the file records them."""
    parts = []
    for key, values in collect(data, MACHINE_KEYS, {}).items():
        if key == "load_avg_end":
            firsts = [v[0] for v in values if isinstance(v, list) and v]
            if firsts:
                low, high = f"{min(firsts):.1f}", f"{max(firsts):.1f}"
                parts.append(f"load average at the end {low}" + ("" if low == high else f"–{high}"))
            continue
        shown = "; ".join(fmt(v) for v in values[:3]) + (" …" if len(values) > 3 else "")
        parts.append(f"{key.replace('_', ' ')}: {shown}")
    dates = sorted(str(v) for values in collect(data, DATE_KEYS, {}).values() for v in values)
    if dates:
        parts.append("measured " + (dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"))
    return ". ".join(parts)


# --------------------------------------------------------------------------- the page
def title_of(path: Path) -> tuple[str, str | None]:
    return TITLES.get(path.stem, (path.stem.replace("_", " ").capitalize(), None))


def anchor(path: Path) -> str:
    """The section's heading as GitHub makes it an anchor."""
    return re.sub(r"[^\w\- ]", "", title_of(path)[0].lower()).replace(" ", "-")


def section(path: Path) -> str:
    title, command = title_of(path)
    head = f"## {title}\n\nFile: [`results/{path.name}`](results/{path.name})"
    head += f", written by `{command}`." if command else "."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"{head}\n\nNot readable: {error}.\n"
    where = provenance(data)
    notes = data.get("notes") if isinstance(data, dict) and isinstance(data.get("notes"), str) else ""
    text = head + (f"\n\n{where}." if where else "") + "\n\n" + body(data) + "\n"
    return text + (f"\n{notes.strip()}\n" if notes else "")


def render(results_dir: Path = RESULTS_DIR) -> str:
    files = sorted(results_dir.glob("*.json"), key=lambda p: (p.stem != FIRST, p.name))
    intro = (
        "# Benchmark results\n\nWritten by `bench/results_md.py` from the JSON files in `bench/results/` "
        "(`make bench` does it at the end): do not edit by hand. How each benchmark measures, and on which "
        "machine the figures were taken, is said per section and in [README.md](README.md).\n"
    )
    contents = "\n".join(f"- [{title_of(p)[0]}](#{anchor(p)})" for p in files)
    return intro + "\n" + contents + "\n\n" + "\n".join(section(p) for p in files)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(RESULTS_DIR), help="folder of JSON results")
    parser.add_argument("--out", default=str(RESULTS_MD), help="file to write ('-': print it)")
    args = parser.parse_args(argv)
    page = render(Path(args.results))
    if args.out == "-":
        print(page)
    else:
        Path(args.out).write_text(page, encoding="utf-8")
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
