"""Commands about a data file: `textclf validate` (is it ready to train?) and `textclf review` (likely
label errors, duplicates, conflicts and outliers)."""

from __future__ import annotations

from pathlib import Path

from .output import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    UsageError,
    add_header_row,
    echo,
    echo_err,
    pick_columns,
    read_data,
    shorten,
    text_table,
)
from .printer import REVIEW_BAR_ROWS, ReviewProgress


def add_validate(sub) -> None:
    p = sub.add_parser("validate", help="check a data file before training")
    p.add_argument("file", help="CSV, TSV, Excel, JSON, JSON Lines or Parquet file")
    p.add_argument("--text-col", help="column with the texts (default: guessed)")
    p.add_argument("--label-col", help="column with the labels (default: guessed)")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    add_header_row(p)
    p.add_argument("--max-length", type=int, default=128, help="tokens per text the model will read")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args) -> int:
    from textclf_core.data import read_notes, validate

    frame = read_data(args.file, args.sheet, getattr(args, "header_row", None))
    text_col, label_col, guess = pick_columns(frame, args.text_col, args.label_col)
    report = validate(frame, text_col, label_col, max_length=args.max_length)
    echo(
        f"{Path(args.file).name}: {report.n_rows:,} rows; text column: {text_col or '(none found)'}; "
        f"label column: {label_col or '(none found)'}"
    )
    for note in read_notes(frame):
        echo(f"  note: {note}")
    if report.class_counts:
        counts = ", ".join(f"{c} {n:,}" for c, n in sorted(report.class_counts.items(), key=lambda kv: -kv[1]))
        echo(f"  classes: {counts}")
    severity = {f.message: f.severity for f in report.findings}
    for line in report.summary_lines():
        mark = {"error": "PROBLEM", "warning": "warning", "info": "ok"}.get(severity.get(line, "info"), "")
        echo(f"  {mark:8s} {line}")
    if report.blocking:
        echo_err(f"Not ready to train: {report.blocking[0]}")
        return EXIT_BAD_INPUT
    echo("Ready to train.")
    return EXIT_OK


def add_review(sub) -> None:
    p = sub.add_parser("review", help="find likely label errors, duplicates, conflicts and outliers")
    p.add_argument("--data", required=True, help="the table of texts and labels")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    p.add_argument("--text-col", help="column with the texts (default: guessed)")
    p.add_argument("--label-col", help="column with the labels (default: guessed)")
    p.add_argument(
        "--method",
        choices=("combined", "embeddings", "tfidf", "thorough"),
        default="combined",
        help="review model: embeddings + word counts (default), embeddings only, word counts only, or "
        "thorough (also fine-tunes the encoder on each fold: minutes on a CPU)",
    )
    p.add_argument("--model", help="encoder for the embeddings (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    p.add_argument("--out", required=True, help="CSV file for the ranked findings")
    p.add_argument("--no-cache", action="store_true", help="recompute even if this data was reviewed before")
    p.set_defaults(func=cmd_review)


def cmd_review(args) -> int:
    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.data import neutralize_formulas, prepare
    from textclf_core.review import review

    frame = read_data(args.data, args.sheet)
    text_col, label_col, _ = pick_columns(frame, args.text_col, args.label_col)
    if not text_col or not label_col:
        raise UsageError(
            "Could not tell which columns hold the texts and the labels",
            hint="Name them with --text-col and --label-col",
        )
    if args.folds < 2:
        raise UsageError("--folds must be at least 2")
    prepared = prepare(frame, text_col, label_col)
    bar = ReviewProgress(enabled=len(prepared) >= REVIEW_BAR_ROWS)
    try:
        result = review(
            prepared,
            model=args.model or DEFAULT_MODEL,
            method=args.method,
            folds=args.folds,
            cache=not args.no_cache,
            emit=bar,
        )
    finally:
        bar.close()
    out = Path(args.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    neutralize_formulas(result.findings).to_csv(out, index=False)
    for line in result.summary_lines():
        echo(line)
    top = result.label_errors.head(5)
    if len(top):
        echo("Most likely mislabels:")
        echo(
            text_table(
                [[r.row, r.given_label, r.suggested_label, r.score, shorten(r.text)] for r in top.itertuples()],
                ["row", "given", "suggested", "score", "text"],
            )
        )
    echo(f"Wrote {len(result.findings):,} findings to {out}")
    return EXIT_OK
