"""Wall time and peak memory of what the Upload page and `textclf validate` do with a file: read it,
guess its columns, compute the data report. Each file runs in its own process, so the peak RSS is that
file's alone.

    python bench/upload_report.py /tmp/scale/short_100k.csv /tmp/scale/short_1m.csv

Files can be made with bench/scale_data.py (`--rows 1000000 --out /tmp/scale/short_1m.csv`).
Times taken while other work runs on the machine are pessimistic: say so next to any figure quoted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(path: str) -> dict:
    """Read + guess + report of one file in this process: seconds of each and the peak RSS (MB)."""
    sys.path.insert(0, str(ROOT))
    from textclf_core.data import guess_columns, read_table, validate

    t0 = time.perf_counter()
    df = read_table(path, max_bytes=1 << 40)  # the upload limit is the app's, not the benchmark's
    t1 = time.perf_counter()
    guess = guess_columns(df)
    t2 = time.perf_counter()
    report = validate(df, guess.text_col, guess.label_col)
    t3 = time.perf_counter()
    return {
        "file": Path(path).name,
        "rows": len(df),
        "read_s": round(t1 - t0, 2),
        "guess_s": round(t2 - t1, 2),
        "report_s": round(t3 - t2, 2),
        "total_s": round(t3 - t0, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "findings": len(report.findings),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # the child process: measure one file, print JSON
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    print("| file | rows | read s | guess s | report s | total s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for path in args.files:
        out = subprocess.run(
            [sys.executable, __file__, "--one", path, path], capture_output=True, text=True, check=True
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"| {r['file']} | {r['rows']:,} | {r['read_s']} | {r['guess_s']} | {r['report_s']} | {r['total_s']} "
            f"| {r['peak_rss_mb']:,} |"
        )


if __name__ == "__main__":
    main()
