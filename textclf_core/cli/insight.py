"""Insight commands: `textclf compare` (is run B really better than A, text by text) and `textclf curve`
(will more labels help?)."""

from __future__ import annotations

import json
from pathlib import Path

from textclf_core.config import RunConfig

from .output import EXIT_OK, UsageError, cell, echo, echo_err, pick_columns, read_data, shorten, text_table
from .printer import ProgressPrinter


def add_compare(sub) -> None:
    p = sub.add_parser("compare", help="is run B really better than run A? text by text, with McNemar's test")
    p.add_argument("run_a", help="run id of A (see `textclf runs`)")
    p.add_argument("run_b", help="run id of B, tested on the same rows")
    p.add_argument("--class", dest="cls", metavar="CLASS", help="only disagreements involving this class")
    p.add_argument("--show", type=int, default=10, help="disagreeing texts to print (default 10)")
    p.add_argument("--out", help="CSV file for every disagreeing text")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    from textclf_core.evaluation.compare import compare_runs
    from textclf_core.store.runs import RunStore

    store = RunStore()
    result = compare_runs(store.get(args.run_a), store.get(args.run_b))
    shown = result.filter_disagreements(args.cls)
    if args.out:
        from textclf_core.data import write_csv

        write_csv(shown, Path(args.out).expanduser(), neutralize=True)
    if args.json:
        echo(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    echo(
        f"A = {args.run_a}, B = {args.run_b}: {result.n:,} test texts; accuracy A {cell(result.accuracy_a)}, "
        f"B {cell(result.accuracy_b)}"
    )
    echo(
        text_table(
            [[i] + list(r) for i, r in zip(result.table.index, result.table.to_numpy().tolist())],
            [""] + list(result.table.columns),
        )
    )
    echo(f"McNemar exact p = {result.p_value:.4g}. {result.sentence}")
    echo("per class (B − A):")
    echo(
        text_table(
            [
                [
                    r["class"],
                    r["texts"],
                    r["recall A"],
                    r["recall B"],
                    r["F1 B − A"],
                    r["only A right"],
                    r["only B right"],
                ]
                for r in result.per_class.to_dict(orient="records")
            ],
            ["class", "texts", "recall A", "recall B", "F1 B−A", "only A right", "only B right"],
        )
    )
    what = f" involving {args.cls}" if args.cls else ""
    echo(f"{len(shown):,} texts{what} where A and B disagree" + (":" if len(shown) and args.show else "."))
    if args.show and len(shown):
        echo(
            text_table(
                [
                    [
                        r["row"],
                        r["gold"],
                        f"{r['predicted A']} ({r['confidence A']:.2f})",
                        f"{r['predicted B']} ({r['confidence B']:.2f})",
                        r["right"],
                        shorten(r["text"], 50),
                    ]
                    for r in shown.head(args.show).to_dict(orient="records")
                ],
                ["row", "gold", "A", "B", "right", "text"],
            )
        )
    if args.out:
        echo_err(f"Wrote {len(shown):,} disagreeing texts to {args.out}")
    return EXIT_OK


def add_curve(sub) -> None:
    p = sub.add_parser("curve", help="will more labels help? scores on 10/25/50/100%% of the training rows")
    p.add_argument("run", nargs="?", help="run id: use its data, split and settings")
    p.add_argument("--data", help="…or a table of texts and labels (default settings)")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    p.add_argument("--text-col", help="column with the texts (default: guessed)")
    p.add_argument("--label-col", help="column with the labels (default: guessed)")
    p.add_argument("--json", action="store_true", help="print the points as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_curve)


def cmd_curve(args) -> int:
    from textclf_core.pipeline.curve import curve_for_data, run_curve

    if bool(args.run) == bool(args.data):
        raise UsageError("Give either a run id or --data FILE")
    # The same curve_point events the app's curve job shows, as lines on stderr (synchronous: it is a CLI).
    printer = None if args.no_progress else ProgressPrinter()
    if args.run:
        from textclf_core.store.runs import RunStore

        result = run_curve(RunStore().get(args.run), recompute=True, emit=printer)
    else:
        frame = read_data(args.data, args.sheet)
        text_col, label_col, _ = pick_columns(frame, args.text_col, args.label_col)
        if not text_col or not label_col:
            raise UsageError(
                "Could not tell which columns hold the texts and the labels",
                hint="Name them with --text-col and --label-col",
            )
        result = curve_for_data(
            frame,
            RunConfig(strategy="baseline", text_col=text_col, label_col=label_col, data_path=str(args.data)),
            emit=printer,
        )
    if args.json:
        echo(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    echo(f"Scored on the same {result.n_val:,} validation texts:")
    echo(
        text_table(
            [
                [r["member"], f"{r['fraction']:.0%}", f"{r['n_train']:,}", r["macro_f1"], r["accuracy"]]
                for r in result.points.to_dict(orient="records")
            ],
            ["model", "share", "labelled rows", "macro F1", "accuracy"],
        )
    )
    for member, why in result.skipped.items():
        echo(f"  ({member} left out: {why})")
    echo(result.sentence)
    return EXIT_OK
