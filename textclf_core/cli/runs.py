"""Commands about saved runs: `textclf evaluate` (scores, per group with --by), `runs`, `models`,
`export`, `import`, `delete`."""

from __future__ import annotations

import json
from pathlib import Path

from .output import EXIT_OK, echo, text_table


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="show the scores of a run")
    p.add_argument("run", help="run id (see `textclf runs`)")
    p.add_argument(
        "--by",
        metavar="COLUMN",
        help="also score each group of this column (of predictions.csv or of the original data)",
    )
    p.add_argument("--json", action="store_true", help="print eval.json as it is")
    p.set_defaults(func=cmd_evaluate)


def print_metrics(ev: dict) -> None:
    if not ev or ev.get("accuracy") is None:
        echo("No test scores (the run has no test rows).")
        return
    split = ev.get("split") or "test"
    head = [f"{split} accuracy {ev['accuracy']:.3f}", f"macro F1 {ev.get('macro_f1', 0):.3f}"]
    if ev.get("weighted_f1") is not None:
        head.append(f"weighted F1 {ev['weighted_f1']:.3f}")
    if ev.get("micro_f1") is not None:
        head.append(f"micro F1 {ev['micro_f1']:.3f}")
    if ev.get("roc_auc") is not None:
        head.append(f"ROC-AUC {ev['roc_auc']:.3f}")
    if ev.get("pr_auc") is not None:
        head.append(f"PR-AUC {ev['pr_auc']:.3f}")
    echo(" | ".join(head) + f"  ({ev.get('n', 0):,} rows)")
    rows = [[c["class"], c["precision"], c["recall"], c["f1"], c["support"]] for c in ev.get("per_class", [])]
    if rows:
        echo(text_table(rows, ["class", "precision", "recall", "f1", "support"]))
    cm = ev.get("confusion_matrix")
    if cm and ev.get("classes"):
        classes = ev["classes"]
        echo("confusion matrix (rows = true class, columns = predicted):")
        echo(text_table([[c] + list(r) for c, r in zip(classes, cm)], ["true \\ predicted"] + list(classes)))
    val = ev.get("validation") or {}
    if val.get("accuracy") is not None:
        echo(f"validation accuracy {val['accuracy']:.3f}, macro F1 {val.get('macro_f1', 0):.3f}")


def cmd_evaluate(args) -> int:
    from textclf_core.store.runs import RunStore

    run = RunStore().get(args.run)
    evaluation = run.read_json("eval.json")
    if args.json:
        echo(json.dumps(evaluation, indent=2))
        return EXIT_OK
    echo(f"Run {run.id} ({run.summary().name})")
    print_metrics(evaluation)
    if args.by:
        _print_by(run, args.by)
    return EXIT_OK


def _print_by(run, column: str) -> None:
    from textclf_core.evaluation.slices import evaluate_by, summary_lines

    table = evaluate_by(run, column)
    overall = table.attrs.get("overall") or {}
    echo(
        f"by {column} ({table.attrs.get('grouping', 'values')}; * = accuracy more than "
        f"{table.attrs.get('margin', 0.05) * 100:.0f} points below overall with at least {table.attrs.get('min_n', 20)} texts):"
    )
    rows = [
        [("* " if r.flagged else "  ") + str(r.group), r.n, r.accuracy, r.macro_f1, f"{r.accuracy_gap * 100:+.1f}"]
        for r in table.itertuples()
    ]
    echo(text_table(rows, ["group", "n", "accuracy", "macro F1", "vs overall (pts)"]))
    if overall.get("accuracy") is not None:
        echo(
            f"overall: accuracy {overall['accuracy']:.3f}, macro F1 {overall['macro_f1']:.3f} ({overall['n']:,} texts)"
        )
    for line in summary_lines(table):
        echo(f"  weak group: {line}")


def add_runs(sub) -> None:
    p = sub.add_parser("runs", help="list the saved runs, newest first")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.add_argument("--project", help="only the runs of this project")
    p.set_defaults(func=cmd_runs)


def cmd_runs(args) -> int:
    from textclf_core.store.runs import RunStore

    store = RunStore()
    summaries = store.list(project=getattr(args, "project", None))
    if args.json:
        echo(json.dumps([s.to_dict() for s in summaries], indent=2))
        return EXIT_OK
    if not summaries:
        echo(f"No runs yet in {store.root}.")
        return EXIT_OK
    rows = [
        [
            s.id,
            s.name,
            s.state,
            (s.created or "")[:16].replace("T", " "),
            s.accuracy,
            s.macro_f1,
            None if s.train_seconds is None else f"{s.train_seconds:.1f}",
            None if s.model_mb is None else f"{s.model_mb:.1f}",
        ]
        for s in summaries
    ]
    echo(text_table(rows, ["run", "name", "state", "created", "accuracy", "macro F1", "train s", "MB"]))
    return EXIT_OK


def add_models(sub) -> None:
    p = sub.add_parser("models", help="list the pretrained models in the catalog")
    p.set_defaults(func=cmd_models)


def cmd_models(args) -> int:
    try:
        from textclf_core.store.catalog import CATALOG
    except ImportError:
        echo("The transformer engine is not installed; only the TF-IDF baseline is available.")
        return EXIT_OK
    rows = [
        [m.key + (" (bundled)" if m.bundled else ""), f"{m.params_m:g}", m.speed, m.language, m.note] for m in CATALOG
    ]
    echo(text_table(rows, ["model", "params (M)", "speed", "language", "note"]))
    return EXIT_OK


def add_export(sub) -> None:
    p = sub.add_parser("export", help="save a run as a zip file, or as ONNX / int8 for serving")
    p.add_argument("run")
    p.add_argument("--out", required=True, help="zip file (or folder) to write; a folder for onnx and int8")
    p.add_argument(
        "--format",
        default="zip",
        choices=("zip", "onnx", "int8"),
        help="zip: the whole run (for `textclf import`); onnx: for ONNX Runtime; "
        "int8: quantized PyTorch for CPU (fine-tuned transformer runs only)",
    )
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from textclf_core.store.runs import RunStore

    fmt = getattr(args, "format", "zip")
    if fmt == "zip":
        echo(str(RunStore().export_zip(args.run, args.out)))
        return EXIT_OK
    from textclf_core.models.quantized import export, folder_size_mb

    folder = export(RunStore().get(args.run), fmt, args.out)
    echo(f"{folder} ({folder_size_mb(folder):.1f} MB); use it with `textclf predict {folder} --text …`")
    return EXIT_OK


def add_import(sub) -> None:
    p = sub.add_parser("import", help="add a run from a zip made by `textclf export`, or a run folder")
    p.add_argument("zip", help="a zip made by `textclf export`, or a run folder (e.g. on a shared disk)")
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    from textclf_core.store.runs import RunStore

    store = RunStore()
    run = store.import_folder(args.zip) if Path(args.zip).expanduser().is_dir() else store.import_zip(args.zip)
    echo(f"Imported as run {run.id}")
    return EXIT_OK


def add_delete(sub) -> None:
    p = sub.add_parser("delete", help="delete a run folder")
    p.add_argument("run")
    p.set_defaults(func=cmd_delete)


def cmd_delete(args) -> int:
    from textclf_core.store.runs import RunStore

    RunStore().delete(args.run)
    echo(f"Deleted run {args.run}")
    return EXIT_OK
