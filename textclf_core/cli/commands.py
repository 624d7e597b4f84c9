"""The ``textclf`` command: everything the app does, from a terminal.

    textclf validate FILE                     check a table before training
    textclf review --data FILE --out F        likely label errors, duplicates, outliers
    textclf train --data FILE [settings…]     train, evaluate and save a run
    textclf evaluate RUN [--by COLUMN]        scores of a run (per group with --by)
    textclf predict RUN --data FILE --out F   predict a file (or --text "…")
    textclf runs | models                     list runs / pretrained models
    textclf export RUN --out ZIP | import ZIP | delete RUN
    textclf serve RUN [--host H --port P]     an HTTP API for a run (docs at /docs)
    textclf compare RUN_A RUN_B               is B really better than A, and on which texts?
    textclf curve RUN | --data FILE           will more labels help?

Exit status: 0 success, 2 a problem with the input (one line on stderr, no
traceback), 1 an internal error, 130 Ctrl-C. Each subcommand is one ``add_*``
function registered in :data:`COMMANDS`; adding a command is adding a function.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable

from textclf_core.config import (
    BASELINE_MODELS,
    HEADS,
    LOSSES,
    OPTIMIZERS,
    POOLINGS,
    PRECISIONS,
    SCHEDULERS,
    RunConfig,
)
from textclf_core.errors import CancelledError, TextclfError
from textclf_core.strategy_registry import STRATEGY_NAMES

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(TextclfError):
    """Wrong command-line arguments."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit status 2 like every bad input."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _table(rows: list[list], headers: list[str]) -> str:
    """A plain aligned text table."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


# =============================================================================
# validate
# =============================================================================

def add_validate(sub) -> None:
    p = sub.add_parser("validate", help="check a data file before training")
    p.add_argument("file", help="CSV, TSV, Excel, JSON, JSON Lines or Parquet file")
    p.add_argument("--text-col", help="column with the texts (default: guessed)")
    p.add_argument("--label-col", help="column with the labels (default: guessed)")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    _add_header_row(p)
    p.add_argument("--max-length", type=int, default=128, help="tokens per text the model will read")
    p.set_defaults(func=cmd_validate)


def _read(path: str, sheet=None, header_row=None):
    from textclf_core.data import read_table

    if not Path(path).expanduser().exists():
        raise TextclfError(f"{path} does not exist", hint="Check the file name and folder")
    return read_table(Path(path).expanduser(), sheet=sheet, header_row=header_row)


def _columns(frame, text_col, label_col):
    from textclf_core.data import guess_columns

    for role, col in (("text", text_col), ("label", label_col)):
        if col is not None and col not in frame.columns:
            raise TextclfError(f"There is no {role} column '{col}'",
                               hint=f"Choose one of: {', '.join(map(str, frame.columns[:10]))}")
    guess = guess_columns(frame)
    return text_col or guess.text_col, label_col or guess.label_col, guess


def cmd_validate(args) -> int:
    from textclf_core.data import read_notes, validate

    frame = _read(args.file, args.sheet, getattr(args, "header_row", None))
    text_col, label_col, guess = _columns(frame, args.text_col, args.label_col)
    report = validate(frame, text_col, label_col, max_length=args.max_length)
    _out(f"{Path(args.file).name}: {report.n_rows:,} rows; text column: {text_col or '(none found)'}; "
         f"label column: {label_col or '(none found)'}")
    for note in read_notes(frame):
        _out(f"  note: {note}")
    if report.class_counts:
        counts = ", ".join(f"{c} {n:,}" for c, n in sorted(report.class_counts.items(), key=lambda kv: -kv[1]))
        _out(f"  classes: {counts}")
    severity = {f.message: f.severity for f in report.findings}
    for line in report.summary_lines():
        mark = {"error": "PROBLEM", "warning": "warning", "info": "ok"}.get(severity.get(line, "info"), "")
        _out(f"  {mark:8s} {line}")
    if report.blocking:
        _err(f"Not ready to train: {report.blocking[0]}")
        return EXIT_BAD_INPUT
    _out("Ready to train.")
    return EXIT_OK


# =============================================================================
# train
# =============================================================================

# One table for every setting flag: (flag, RunConfig field, type, choices, help).
# Only flags the user gives override the settings file / recommendation / defaults.
def _budget(text: str):
    """--budget: seconds from "90s", "10m", "1h" (auto.parse_budget); nonsense is rejected in one line."""
    from textclf_core.strategies.auto import parse_budget

    try:
        return parse_budget(text)
    except TextclfError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _optional_int(text: str):
    return None if str(text).lower() in ("0", "none", "off") else int(text)


CONFIG_FLAGS: list[tuple[str, str, Callable | None, tuple | None, str]] = [
    ("--text-col", "text_col", str, None, "column with the texts (default: guessed)"),
    ("--label-col", "label_col", str, None, "column with the labels (default: guessed)"),
    ("--split-col", "split_col", str, None, "column with train/validation/test per row"),
    ("--strategy", "strategy", str, None,
     f"{' | '.join(STRATEGY_NAMES)} (default: auto with the default budget)"),
    ("--model", "model", str, None, "pretrained model: catalog key, hub id or local folder"),
    ("--epochs", "epochs", int, None, "passes over the training data"),
    ("--batch-size", "batch_size", int, None, "texts per training step"),
    ("--lr", "lr", float, None, "learning rate of the encoder"),
    ("--head-lr", "head_lr", float, None, "learning rate of the classification head"),
    ("--max-length", "max_length", int, None, "tokens per text; longer texts are cut"),
    ("--layers", "layers", int, None, "partial: number of top layers trained"),
    ("--loss", "loss", str, LOSSES, "loss function"),
    ("--focal-gamma", "focal_gamma", float, None, "focal loss focusing parameter"),
    ("--optimizer", "optimizer", str, OPTIMIZERS, "optimizer"),
    ("--scheduler", "scheduler", str, SCHEDULERS, "learning-rate schedule after warmup"),
    ("--warmup-ratio", "warmup_ratio", float, None, "share of steps with warmup"),
    ("--weight-decay", "weight_decay", float, None, "weight decay"),
    ("--layer-decay", "layer_decay", float, None, "layer-wise learning-rate decay (1 = off)"),
    ("--dropout", "dropout", float, None, "dropout override"),
    ("--grad-accum", "grad_accum", int, None, "gradient accumulation steps"),
    ("--patience", "early_stopping_patience", _optional_int, None, "early stopping patience (0 = off)"),
    ("--seed", "seed", int, None, "seed for split and training"),
    ("--sample-rows", "sample_rows", int, None,
     "train on a stratified sample of this many labelled rows, drawn before the split (very large files)"),
    ("--label-source", "label_source", str, ("column", "consensus"),
     "labels to learn: column (default: the label column, edits applied) or consensus (a --project's "
     "annotators' consensus, a reviewer's decision winning; see `textclf team`)"),
    ("--val-size", "val_size", float, None, "share of rows for validation"),
    ("--test-size", "test_size", float, None, "share of rows for the final test"),
    ("--pooling", "pooling", str, POOLINGS, "feature-extraction pooling"),
    ("--head", "head", str, HEADS, "feature-extraction head"),
    ("--lora-r", "lora_r", int, None, "LoRA rank"),
    ("--lora-alpha", "lora_alpha", int, None, "LoRA scaling"),
    ("--max-pairs", "fewshot_max_pairs", int, None, "fewshot: contrastive pairs in all (default 1000)"),
    ("--baseline-model", "baseline_model", str, BASELINE_MODELS, "baseline classifier"),
    ("--precision", "precision", str, PRECISIONS, "numeric precision"),
    ("--device", "device", str, ("auto", "cpu", "cuda", "mps"), "device to train on"),
    ("--name", "name", str, None, "a name for the run"),
    ("--budget", "budget_s", lambda text: _budget(text), None,
     'auto: time budget of the whole run, e.g. "90s", "10m", "1h" (default: 10m on a CPU, 5m on a GPU)'),
    ("--augment", "augment", str, ("off", "eda", "mlm"),
     "add augmented copies of scarce classes' training texts: eda = word deletion + swap, mlm = the model's "
     "masked-LM paraphrases (default off: it did not help on the movie reviews)"),
    ("--augment-copies", "augment_copies", int, None, "augmented variants per scarce training text (default 2)"),
    ("--augment-max-per-class", "augment_max_per_class", int, None,
     "only classes with fewer training rows than this are augmented (default 64)"),
    ("--track", "track", str, ("mlflow", "off"),
     "log the run to MLflow (MLFLOW_TRACKING_URI, else sqlite in TEXTCLF_HOME); default: only when that is set"),
]
BOOL_FLAGS = [("--class-weights", "class_weights", "weight classes by inverse frequency"),
              ("--multi-label", "multi_label", "labels hold several classes joined by ; or |")]


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train, evaluate and save a run")
    p.add_argument("--data", help="the table of texts and labels")
    p.add_argument("--project", help="train on a project's data with its label edits (`textclf projects`)")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    _add_header_row(p)
    p.add_argument("--config", help="run settings JSON (e.g. a run's config.json); flags override it")
    p.add_argument("--save-config", metavar="FILE", help="also write the final settings to FILE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    group = p.add_argument_group("settings")
    for flag, dest, kind, choices, help_text in CONFIG_FLAGS:
        group.add_argument(flag, dest=dest, type=kind, choices=choices, help=help_text, default=argparse.SUPPRESS)
    for flag, dest, help_text in BOOL_FLAGS:
        group.add_argument(flag, dest=dest, action="store_true", help=help_text, default=argparse.SUPPRESS)
    p.set_defaults(func=cmd_train)


def config_from_args(args, report=None) -> tuple[RunConfig, str | None]:
    """Settings file (or recommendation) < flags. Returns the config and why its strategy was chosen."""
    overrides = {dest: getattr(args, dest) for _, dest, *_ in CONFIG_FLAGS + BOOL_FLAGS if hasattr(args, dest)}
    base: dict = RunConfig.from_json(args.config).to_dict() if getattr(args, "config", None) else {}
    reason = None
    if "strategy" not in overrides and not base:
        recommended, reason = _recommend(report, overrides)
        base = recommended.to_dict()
    elif not base:
        try:  # per-strategy starting points (e.g. 2 epochs for full fine-tuning)
            from textclf_core.strategies.advice import strategy_defaults

            base = strategy_defaults(overrides["strategy"])
        except ImportError:
            pass
    data = getattr(args, "data", None)
    if data:
        overrides["data_path"] = str(data)
    return RunConfig.from_dict({**base, **overrides}), reason


def _recommend(report, overrides: dict) -> tuple[RunConfig, str]:
    """auto (several members within a time budget) when the engine is installed; the TF-IDF baseline otherwise."""
    import importlib.util

    try:
        from textclf_core.strategies.advice import recommend

        if importlib.util.find_spec("torch") is None:  # the engine every member but TF-IDF needs
            raise ImportError("torch")
    except ImportError:
        return RunConfig(strategy="baseline"), "The transformer engine is not available, so the TF-IDF baseline is used."
    if report is None or not report.class_counts:
        return RunConfig(strategy="baseline"), "No label counts to base a recommendation on; using the baseline."
    median_tokens = (getattr(report, "token_lengths", None) or {}).get("median")
    return recommend(report.class_counts, median_tokens, report.n_labelled, multi_label=report.multi_label,
                     model=overrides.get("model"), budget_s=overrides.get("budget_s"))


class ProgressPrinter:
    """Turns runner events into a tqdm bar (loss, ETA) and a few plain lines."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def __call__(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "started":
            _err(f"Run {event.get('run_id')}: {event.get('n_train', 0):,} training, {event.get('n_val', 0):,} "
                 f"validation, {event.get('n_test', 0):,} test rows; classes: {', '.join(event.get('classes', []))}")
            if event.get("n_augmented"):
                _err(f"Augmentation ({(event.get('augmentation') or {}).get('method')}): "
                     f"{event['n_augmented']:,} augmented training rows added")
        elif kind == "step":
            total = event.get("total_steps")
            if self.enabled and total:
                if self.bar is None:
                    from tqdm import tqdm

                    self.bar = tqdm(total=int(total), unit="step", desc="training", dynamic_ncols=True,
                                    file=sys.stderr)
                self.bar.total = int(total)
                self.bar.n = int(event.get("step") or 0)
                postfix = {}
                if event.get("loss") is not None:
                    postfix["loss"] = f"{event['loss']:.4f}"
                if event.get("epoch") is not None:
                    postfix["epoch"] = f"{event['epoch']:.2f}"
                self.bar.set_postfix(postfix, refresh=False)
                self.bar.refresh()
        elif kind == "evaluation":
            text = (f"validation: accuracy {_cell(event.get('accuracy'))}, macro F1 {_cell(event.get('macro_f1'))}"
                    + (f", loss {_cell(event.get('val_loss'))}" if event.get("val_loss") is not None else ""))
            self._write(text)
        elif kind == "plan":  # auto: the candidates in order with their estimates, before any is trained
            self._write(f"Auto plan (budget {event.get('budget_s') or 'none'} s): " + "; ".join(
                f"{r['member']} ~{r['estimate_s']:.0f} s" for r in event.get("leaderboard") or []))
        elif kind == "member" and (event.get("member") or {}).get("state") not in (None, "running"):
            row = event["member"]
            self._write(f"  {row['member']}: {row['state']}" + (f" ({row['reason']})" if row.get("reason") else "")
                        + (f", validation macro F1 {_cell(row['val_macro_f1'])}" if row.get("val_macro_f1") is not None
                           else ""))
        elif kind == "curve_point" and event.get("done"):  # learning curve: one line per subset size
            self._write(f"  {event['done']}/{event['total']}: {event['n_train']:,} labelled rows"
                        + (f", best macro F1 {_cell(event['macro_f1'])} ({event.get('member')})"
                           if event.get("macro_f1") is not None else ", nothing to score (one class)"))
        elif kind in ("finished", "cancelled", "failed"):
            self.close()

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            _err(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_train(args) -> int:
    from textclf_core.data import validate
    from textclf_core.pipeline.runner import execute

    saved = RunConfig.from_json(args.config) if getattr(args, "config", None) else None
    has_config_data = saved.data_path if saved is not None else None
    project = _project_for_train(args)
    if not args.data and not has_config_data and project is None:
        raise UsageError("Give the data file with --data FILE (or a project with --project ID)")
    if project is not None:
        meta = project.meta
        data_path = project.original_path or project.path
        frame = project.working_frame()  # the label edits made in the app count
        text_col, label_col, _ = _columns(frame, getattr(args, "text_col", None) or meta.get("text_col"),
                                          getattr(args, "label_col", None) or meta.get("label_col"))
    else:
        data_path = args.data or has_config_data
        frame = _read(data_path, args.sheet, getattr(args, "header_row", None))
        # The settings file's columns (e.g. a "Run elsewhere" run.json) count unless flags override them.
        text_col, label_col, _ = _columns(frame, getattr(args, "text_col", None) or (saved and saved.text_col),
                                          getattr(args, "label_col", None) or (saved and saved.label_col))
    report = validate(frame, text_col, label_col)
    if report.blocking:
        raise TextclfError(report.blocking[0], where=Path(data_path).name)
    config, reason = config_from_args(args, report)
    config = config.replace(text_col=config.text_col or text_col, label_col=config.label_col or label_col,
                            data_path=str(data_path))
    if config.num_threads is None and "LOCAL_RANK" not in os.environ:
        # No web server shares this process: use every core (the app keeps one free).
        from textclf_core.hardware import cpu_cores

        config = config.replace(num_threads=cpu_cores())
    if reason:
        _err(f"Strategy: {config.strategy} ({reason.strip()})")
    if args.save_config:
        config.to_json(args.save_config)
    printer = ProgressPrinter(enabled=not args.no_progress)
    started = time.time()
    run_kwargs = {}
    if project is not None:  # the run records its project, like one started in the app
        from textclf_core.store.runs import RunStore

        store = RunStore()
        run_kwargs = {"store": store, "run": store.create(config, meta={
            "project": project.id, "dataset": project.meta.get("filename"), "started_by": _cli_user()})}
    try:
        run = execute(config, frame, emit=printer, raise_errors=True, **run_kwargs)
    finally:
        printer.close()
    if run is None:  # a helper process under `accelerate launch`: the main process reports
        return EXIT_OK
    evaluation = run.read_json("eval.json", default={}) or {}
    _out(f"Run {run.id} finished in {time.time() - started:.1f} s (training {evaluation.get('train_seconds', 0):.1f} s)"
         f"; saved in {run.path}")
    _print_metrics(evaluation)
    _print_leaderboard(evaluation)
    return EXIT_OK


def _print_leaderboard(evaluation: dict) -> None:
    """auto runs: every member's validation scores, time, state and weight, then what was chosen."""
    auto = evaluation.get("auto") or {}
    if not auto.get("leaderboard"):
        return
    rows = [[r["member"], r["state"] + (f": {r['reason']}" if r.get("reason") and r["state"] != "done" else ""),
             _cell(r.get("val_accuracy")), _cell(r.get("val_macro_f1")), _cell(r.get("seconds")),
             f"{r.get('weight', 0):.2f}"] for r in auto["leaderboard"]]
    _out("")
    _out(f"Leaderboard (validation; budget {auto.get('budget_s') or 'none'} s, used {auto.get('seconds')} s):")
    _out(_table(rows, ["member", "state", "accuracy", "macro F1", "seconds", "weight"]))
    _out(auto.get("summary", ""))


# =============================================================================
# evaluate
# =============================================================================

def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="show the scores of a run")
    p.add_argument("run", help="run id (see `textclf runs`)")
    p.add_argument("--by", metavar="COLUMN",
                   help="also score each group of this column (of predictions.csv or of the original data)")
    p.add_argument("--json", action="store_true", help="print eval.json as it is")
    p.set_defaults(func=cmd_evaluate)


def _print_metrics(ev: dict) -> None:
    if not ev or ev.get("accuracy") is None:
        _out("No test scores (the run has no test rows).")
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
    _out(" | ".join(head) + f"  ({ev.get('n', 0):,} rows)")
    rows = [[c["class"], c["precision"], c["recall"], c["f1"], c["support"]] for c in ev.get("per_class", [])]
    if rows:
        _out(_table(rows, ["class", "precision", "recall", "f1", "support"]))
    cm = ev.get("confusion_matrix")
    if cm and ev.get("classes"):
        classes = ev["classes"]
        _out("confusion matrix (rows = true class, columns = predicted):")
        _out(_table([[c] + list(r) for c, r in zip(classes, cm)], ["true \\ predicted"] + list(classes)))
    val = ev.get("validation") or {}
    if val.get("accuracy") is not None:
        _out(f"validation accuracy {val['accuracy']:.3f}, macro F1 {val.get('macro_f1', 0):.3f}")


def cmd_evaluate(args) -> int:
    from textclf_core.store.runs import RunStore

    run = RunStore().get(args.run)
    evaluation = run.read_json("eval.json")
    if args.json:
        _out(json.dumps(evaluation, indent=2))
        return EXIT_OK
    _out(f"Run {run.id} ({run.summary().name})")
    _print_metrics(evaluation)
    if args.by:
        _print_by(run, args.by)
    return EXIT_OK


def _print_by(run, column: str) -> None:
    from textclf_core.evaluation.slices import evaluate_by, summary_lines

    table = evaluate_by(run, column)
    overall = table.attrs.get("overall") or {}
    _out(f"by {column} ({table.attrs.get('grouping', 'values')}; * = accuracy more than "
         f"{table.attrs.get('margin', 0.05) * 100:.0f} points below overall with at least {table.attrs.get('min_n', 20)} texts):")
    rows = [[("* " if r.flagged else "  ") + str(r.group), r.n, r.accuracy, r.macro_f1,
             f"{r.accuracy_gap * 100:+.1f}"] for r in table.itertuples()]
    _out(_table(rows, ["group", "n", "accuracy", "macro F1", "vs overall (pts)"]))
    if overall.get("accuracy") is not None:
        _out(f"overall: accuracy {overall['accuracy']:.3f}, macro F1 {overall['macro_f1']:.3f} ({overall['n']:,} texts)")
    for line in summary_lines(table):
        _out(f"  weak group: {line}")


# =============================================================================
# predict
# =============================================================================

def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict texts or a file with a trained run")
    p.add_argument("run", help="run id (see `textclf runs`) or a model folder")
    p.add_argument("--data", help="file with texts to predict")
    p.add_argument("--out", help="where to write the predictions (CSV, or .xlsx); default: print CSV")
    p.add_argument("--text-col", help="column with the texts (default: guessed)")
    p.add_argument("--sheet", help="Excel sheet name")
    p.add_argument("--text", action="append", help="a text to predict (repeatable)")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from textclf_core.models.predict import predict_file, predict_texts, predict_to_file

    if bool(args.data) == bool(args.text):
        raise UsageError("Give either --data FILE or --text \"…\"")
    if args.text:
        frame = predict_texts(args.run, args.text)
        for _, row in frame.iterrows():
            _out(f"{row['label']}\t{row['confidence']:.3f}\t{row['text']}")
        return EXIT_OK
    if not Path(args.data).expanduser().exists():
        raise TextclfError(f"{args.data} does not exist", hint="Check the file name and folder")
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="row", unit_scale=True, desc="predicting", file=sys.stderr,
                       dynamic_ncols=True)
        bar.total = total  # streamed files: an estimate from the line count until the end
        bar.n = done
        bar.refresh()

    try:
        if args.out:  # streamed in chunks (CSV/TSV input): memory bounded by the chunk, not the file
            written = predict_to_file(args.run, args.data, args.out, args.text_col, sheet=args.sheet,
                                      progress=progress)
        else:
            result = predict_file(args.run, args.data, args.text_col, None, sheet=args.sheet, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.out:
        _err(f"Wrote {written:,} predictions to {args.out}")
    else:
        from textclf_core.data import neutralize_formulas

        neutralize_formulas(result).to_csv(sys.stdout, index=False)
    return EXIT_OK


# =============================================================================
# runs, models, export, import, delete
# =============================================================================

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
        _out(json.dumps([s.to_dict() for s in summaries], indent=2))
        return EXIT_OK
    if not summaries:
        _out(f"No runs yet in {store.root}.")
        return EXIT_OK
    rows = [[s.id, s.name, s.state, (s.created or "")[:16].replace("T", " "), s.accuracy, s.macro_f1,
             None if s.train_seconds is None else f"{s.train_seconds:.1f}",
             None if s.model_mb is None else f"{s.model_mb:.1f}"] for s in summaries]
    _out(_table(rows, ["run", "name", "state", "created", "accuracy", "macro F1", "train s", "MB"]))
    return EXIT_OK


def add_models(sub) -> None:
    p = sub.add_parser("models", help="list the pretrained models in the catalog")
    p.set_defaults(func=cmd_models)


def cmd_models(args) -> int:
    try:
        from textclf_core.store.catalog import CATALOG
    except ImportError:
        _out("The transformer engine is not installed; only the TF-IDF baseline is available.")
        return EXIT_OK
    rows = [[m.key + (" (bundled)" if m.bundled else ""), f"{m.params_m:g}", m.speed, m.language, m.note]
            for m in CATALOG]
    _out(_table(rows, ["model", "params (M)", "speed", "language", "note"]))
    return EXIT_OK


def add_export(sub) -> None:
    p = sub.add_parser("export", help="save a run as a zip file, or as ONNX / int8 for serving")
    p.add_argument("run")
    p.add_argument("--out", required=True, help="zip file (or folder) to write; a folder for onnx and int8")
    p.add_argument("--format", default="zip", choices=("zip", "onnx", "int8"),
                   help="zip: the whole run (for `textclf import`); onnx: for ONNX Runtime; "
                        "int8: quantized PyTorch for CPU (fine-tuned transformer runs only)")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from textclf_core.store.runs import RunStore

    fmt = getattr(args, "format", "zip")
    if fmt == "zip":
        _out(str(RunStore().export_zip(args.run, args.out)))
        return EXIT_OK
    from textclf_core.models.quantized import export, folder_size_mb

    folder = export(RunStore().get(args.run), fmt, args.out)
    _out(f"{folder} ({folder_size_mb(folder):.1f} MB); use it with `textclf predict {folder} --text …`")
    return EXIT_OK


def add_import(sub) -> None:
    p = sub.add_parser("import", help="add a run from a zip made by `textclf export`, or a run folder")
    p.add_argument("zip", help="a zip made by `textclf export`, or a run folder (e.g. on a shared disk)")
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    from textclf_core.store.runs import RunStore

    store = RunStore()
    run = store.import_folder(args.zip) if Path(args.zip).expanduser().is_dir() else store.import_zip(args.zip)
    _out(f"Imported as run {run.id}")
    return EXIT_OK


def add_delete(sub) -> None:
    p = sub.add_parser("delete", help="delete a run folder")
    p.add_argument("run")
    p.set_defaults(func=cmd_delete)


def cmd_delete(args) -> int:
    from textclf_core.store.runs import RunStore

    RunStore().delete(args.run)
    _out(f"Deleted run {args.run}")
    return EXIT_OK


# =============================================================================
# review
# =============================================================================

def add_review(sub) -> None:
    p = sub.add_parser("review", help="find likely label errors, duplicates, conflicts and outliers")
    p.add_argument("--data", required=True, help="the table of texts and labels")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    p.add_argument("--text-col", help="column with the texts (default: guessed)")
    p.add_argument("--label-col", help="column with the labels (default: guessed)")
    p.add_argument("--method", choices=("combined", "embeddings", "tfidf", "thorough"), default="combined",
                   help="review model: embeddings + word counts (default), embeddings only, word counts only, or "
                        "thorough (also fine-tunes the encoder on each fold: minutes on a CPU)")
    p.add_argument("--model", help="encoder for the embeddings (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    p.add_argument("--out", required=True, help="CSV file for the ranked findings")
    p.add_argument("--no-cache", action="store_true", help="recompute even if this data was reviewed before")
    p.set_defaults(func=cmd_review)


def cmd_review(args) -> int:
    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.data import neutralize_formulas, prepare
    from textclf_core.review import review

    frame = _read(args.data, args.sheet)
    text_col, label_col, _ = _columns(frame, args.text_col, args.label_col)
    if not text_col or not label_col:
        raise UsageError("Could not tell which columns hold the texts and the labels",
                         hint="Name them with --text-col and --label-col")
    if args.folds < 2:
        raise UsageError("--folds must be at least 2")
    prepared = prepare(frame, text_col, label_col)
    bar = ReviewProgress(enabled=len(prepared) >= REVIEW_BAR_ROWS)
    try:
        result = review(prepared, model=args.model or DEFAULT_MODEL, method=args.method, folds=args.folds,
                        cache=not args.no_cache, emit=bar)
    finally:
        bar.close()
    out = Path(args.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    neutralize_formulas(result.findings).to_csv(out, index=False)
    for line in result.summary_lines():
        _out(line)
    top = result.label_errors.head(5)
    if len(top):
        _out("Most likely mislabels:")
        _out(_table([[r.row, r.given_label, r.suggested_label, r.score, _short(r.text)]
                     for r in top.itertuples()], ["row", "given", "suggested", "score", "text"]))
    _out(f"Wrote {len(result.findings):,} findings to {out}")
    return EXIT_OK


REVIEW_BAR_ROWS = 5000  # below this a review takes seconds: no bar, the output stays as it was


class ReviewProgress:
    """A tqdm bar over the review's stages (``review_stage`` events: stage name, share done, time left)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def __call__(self, event: dict) -> None:
        if not self.enabled or event.get("type") != "review_stage":
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=100, desc="review", file=sys.stderr, dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")
        self.bar.set_description_str(f"review: {event.get('stage')}", refresh=False)
        self.bar.n = round(100 * float(event.get("progress") or 0))
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _short(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"



# =============================================================================
# serve
# =============================================================================

def add_serve(sub) -> None:
    from textclf_core.rest.server import (
        API_KEY_ENV,
        DEFAULT_HOST,
        DEFAULT_PORT,
        MAX_BATCH_TEXTS,
        MAX_TEXTS,
        MAX_WAIT_MS,
    )

    p = sub.add_parser("serve", help="serve a run as an HTTP API (POST /v1/predict, docs at /docs)")
    p.add_argument("run", help="run id, run folder, model folder, or a zip made by textclf (any model kind)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only; any other needs an API key)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--api-key", help=f"require this key in the X-API-Key header (better: set {API_KEY_ENV}, "
                                     "which other users of the machine cannot see in the process list)")
    p.add_argument("--max-texts", type=int, default=MAX_TEXTS, help=f"texts per request (default {MAX_TEXTS})")
    p.add_argument("--max-body-mb", type=float, default=1.0, help="request body size limit in MB (default 1)")
    p.add_argument("--max-batch", type=int, default=MAX_BATCH_TEXTS,
                   help=f"texts scored together in one model call (default {MAX_BATCH_TEXTS})")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the model (default: all cores but one)")
    p.add_argument("--batch-wait-ms", type=float, default=MAX_WAIT_MS,
                   help=f"how long a request may wait for others to share its batch (default {MAX_WAIT_MS:g} ms)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    from textclf_core.rest.server import api_key_from_env, serve

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    for name in ("max_texts", "max_batch"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if not args.max_body_mb > 0 or args.batch_wait_ms < 0:
        raise UsageError("--max-body-mb must be above 0 and --batch-wait-ms at least 0")

    def ready(served) -> None:
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        p = served.predictor
        _err(f"Serving {served.run_id or served.source} ({p.kind}, {len(p.classes)} classes"
             f"{', multi-label' if p.multi_label else ''}) on http://{shown}:{args.port}/v1/predict; "
             f"docs at http://{shown}:{args.port}/docs. Ctrl-C stops.")

    serve(args.run, host=args.host, port=args.port, api_key=args.api_key or api_key_from_env(), ready=ready,
          threads=args.threads,
          max_texts=args.max_texts, max_body_bytes=int(args.max_body_mb * 1e6), max_batch=args.max_batch,
          max_wait_ms=args.batch_wait_ms)
    return EXIT_OK


# =============================================================================
# compare, curve (insight)
# =============================================================================

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
        _out(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    _out(f"A = {args.run_a}, B = {args.run_b}: {result.n:,} test texts; accuracy A {_cell(result.accuracy_a)}, "
         f"B {_cell(result.accuracy_b)}")
    _out(_table([[i] + list(r) for i, r in zip(result.table.index, result.table.to_numpy().tolist())],
                [""] + list(result.table.columns)))
    _out(f"McNemar exact p = {result.p_value:.4g}. {result.sentence}")
    _out("per class (B − A):")
    _out(_table([[r["class"], r["texts"], r["recall A"], r["recall B"], r["F1 B − A"], r["only A right"],
                  r["only B right"]] for r in result.per_class.to_dict(orient="records")],
                ["class", "texts", "recall A", "recall B", "F1 B−A", "only A right", "only B right"]))
    what = f" involving {args.cls}" if args.cls else ""
    _out(f"{len(shown):,} texts{what} where A and B disagree" + (":" if len(shown) and args.show else "."))
    if args.show and len(shown):
        _out(_table([[r["row"], r["gold"], f"{r['predicted A']} ({r['confidence A']:.2f})",
                      f"{r['predicted B']} ({r['confidence B']:.2f})", r["right"], _short(r["text"], 50)]
                     for r in shown.head(args.show).to_dict(orient="records")],
                    ["row", "gold", "A", "B", "right", "text"]))
    if args.out:
        _err(f"Wrote {len(shown):,} disagreeing texts to {args.out}")
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
        frame = _read(args.data, args.sheet)
        text_col, label_col, _ = _columns(frame, args.text_col, args.label_col)
        if not text_col or not label_col:
            raise UsageError("Could not tell which columns hold the texts and the labels",
                             hint="Name them with --text-col and --label-col")
        result = curve_for_data(frame, RunConfig(strategy="baseline", text_col=text_col, label_col=label_col,
                                                 data_path=str(args.data)), emit=printer)
    if args.json:
        _out(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    _out(f"Scored on the same {result.n_val:,} validation texts:")
    _out(_table([[r["member"], f"{r['fraction']:.0%}", f"{r['n_train']:,}", r["macro_f1"], r["accuracy"]]
                 for r in result.points.to_dict(orient="records")],
                ["model", "share", "labelled rows", "macro F1", "accuracy"]))
    for member, why in result.skipped.items():
        _out(f"  ({member} left out: {why})")
    _out(result.sentence)
    return EXIT_OK


# =============================================================================
# label-queue (active learning)
# =============================================================================

def add_label_queue(sub) -> None:
    from textclf_core.labelling.active import DEFAULT_STRATEGY, STRATEGIES

    p = sub.add_parser("label-queue", help="the next texts to label (active learning), with the model's suggestions")
    p.add_argument("--data", help="the table of texts (labels optional)")
    p.add_argument("--project", help="label a project instead (`textclf projects`): the labels go to its change "
                                     "log, as on the Label page")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    p.add_argument("--text-col", help="column with the texts (default: guessed)")
    p.add_argument("--labels", help="label log folder or its labels.jsonl (default: the Label page's log of "
                                    "this data under $TEXTCLF_HOME/labelling)")
    p.add_argument("--add", action="append", default=[], metavar="ROW=CLASS",
                   help="record a label first (0-based row; repeat; 'a;b' for multi-label)")
    p.add_argument("--classes", help="class names, comma separated (a new log needs them)")
    p.add_argument("--strategy", choices=list(STRATEGIES), default=DEFAULT_STRATEGY)
    p.add_argument("-n", type=int, default=10, help="how many texts to show")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_label_queue)


def cmd_label_queue(args) -> int:
    from textclf_core.labelling import active

    if bool(args.data) == bool(getattr(args, "project", None)):
        raise UsageError("Give either --data FILE or --project ID", hint="`textclf projects` lists the projects")
    project = None
    if args.project:
        from textclf_core.store.projects import ProjectStore

        project = ProjectStore().get(args.project)
        frame = project.frame()
        text_col = args.text_col or project.meta.get("text_col")
        if text_col not in frame.columns:
            raise UsageError(f"Project {project.name} has no text column {text_col!r}", hint="Name it with --text-col")
    else:
        frame = _read(args.data, args.sheet)
        text_col, _, _ = _columns(frame, args.text_col, None)
    if not text_col:
        raise UsageError("Could not tell which column holds the texts", hint="Name it with --text-col")
    texts = ["" if v is None or v != v else str(v) for v in frame[text_col].tolist()]
    if project is not None:
        if not project.meta.get("label_col"):
            _out(f"Project {project.name} had no label column; the labels go to a new column "
                 f"'{project.add_label_column()}'.")
            frame = project.frame()
        label_col = project.meta["label_col"]
        log = active.ProjectLabelLog(project, project.change_log(by=_cli_user()),
                                     base_labels=frame[label_col] if label_col in frame.columns else None)
    elif args.labels:
        folder = Path(args.labels).expanduser()
        log = active.LabelLog(folder.parent if folder.suffix == ".jsonl" else folder)
    else:
        log = active.LabelLog.for_data(active.data_fingerprint(texts))
    classes = [c.strip() for c in (args.classes or "").split(",") if c.strip()]
    session = active.LabellingSession(texts, classes, label_log=log, strategy=args.strategy, seed=args.seed,
                                      scheduler=active.ImmediateScheduler(), retrain_every=10**9)
    for item in args.add:
        row, sep, label = item.partition("=")
        if not sep or not label.strip():
            raise UsageError(f"--add {item!r} is not ROW=CLASS", hint="For example --add 12=positive")
        session.label(row.strip(), label.split(active.MULTI_SEPARATOR) if session.multi_label else label.strip())
    labels = session.labels()
    counts = session.counts()
    _out(f"{len(labels):,} of {len(texts):,} texts labelled; " +
         ", ".join(f"{c}: {n}" for c, n in zip(counts["class"], counts["labels"])) + f"; log: {log.folder}")
    if active.trainable(labels, session.multi_label):
        session.request_retrain()  # in this process, now
        status = session.status()
        if status.state == "failed":
            _err(f"textclf: {status.message}")
        est = session.model.estimate if session.model else None
        if est is not None:
            _out(f"Estimated accuracy {est.accuracy:.1%} (95% interval {est.low:.1%}–{est.high:.1%}, "
                 f"{est.folds}-fold cross-validation on the labels)")
    else:
        _out("The model starts once two classes have labels; until then the order is random.")
    rows = session.next_rows(max(1, args.n))
    table = []
    for row in rows:
        suggestion = session.suggestion(row)
        if suggestion is None:
            table.append([row, "", "", _short(texts[row])])
        else:
            value, conf = suggestion
            table.append([row, ";".join(value) if isinstance(value, list) else value, f"{conf:.0%}", _short(texts[row])])
    _out(_table(table, ["row", "suggested", "sure", "text"]))
    return EXIT_OK


# =============================================================================
# projects and users
# =============================================================================

def _add_header_row(p) -> None:
    p.add_argument("--header-row", type=int, metavar="N",
                   help="row holding the column names (1 = first row); default: detected past title rows")


def _cli_user() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"


def _project_for_train(args):
    if not getattr(args, "project", None):
        return None
    if getattr(args, "data", None):
        raise UsageError("Give either --data FILE or --project ID, not both")
    from textclf_core.store.projects import ProjectStore

    return ProjectStore().get(args.project)


def add_projects(sub) -> None:
    p = sub.add_parser("projects", help="list, create, rename or delete projects (datasets with their edits)")
    action = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    ls = action.add_parser("list", help="the projects, last activity first (default)")
    ls.add_argument("--json", action="store_true", help="print as JSON")
    create = action.add_parser("create", help="a project from a data file")
    create.add_argument("file", help="CSV, TSV, Excel, JSON, JSON Lines or Parquet file")
    create.add_argument("--name", help="project name (default: the file name)")
    create.add_argument("--sheet", help="Excel sheet name (default: the first)")
    create.add_argument("--text-col", help="column with the texts (default: guessed)")
    create.add_argument("--label-col", help="column with the labels (default: guessed)")
    _add_header_row(create)
    rename = action.add_parser("rename", help="give a project a new name")
    rename.add_argument("project")
    rename.add_argument("name")
    delete = action.add_parser("delete", help="delete a project (its runs stay)")
    delete.add_argument("project")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_projects, action=None)


def cmd_projects(args) -> int:
    from textclf_core.store.projects import ProjectStore
    from textclf_core.store.runs import RunStore

    store = ProjectStore()
    action = args.action or "list"
    if action == "create":
        path = Path(args.file).expanduser()
        if not path.is_file():
            raise TextclfError(f"{args.file} does not exist", hint="Check the file name and folder")
        frame = _read(str(path), args.sheet, args.header_row)
        text_col, label_col, guess = _columns(frame, args.text_col, args.label_col)
        project = store.create(path, name=args.name, sheet=args.sheet, frame=frame, text_col=text_col,
                               label_col=label_col, split_col=guess.split_col, source_label="cli")
        meta = project.meta
        _out(f"Project {project.id} ({meta['name']}): {meta['rows']:,} rows; text: {text_col}; label: {label_col}")
        return EXIT_OK
    if action == "rename":
        store.get(args.project).rename(args.name)
        _out(f"Project {args.project} is now called {args.name!r}")
        return EXIT_OK
    if action == "delete":
        project = store.get(args.project) if store.exists(args.project) else None
        if project is None:
            store.path_for(args.project)  # a bad id gets its own message
            raise TextclfError(f"There is no project '{args.project}'", hint="`textclf projects` lists them")
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("Deleting a project needs --yes when not asked at a terminal")
            answer = input(f"Delete project {args.project} and its label edits for good? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                _out("Not deleted.")
                return EXIT_OK
        store.delete(args.project)
        _out(f"Deleted project {args.project} (its runs are kept)")
        return EXIT_OK
    summaries = store.list(runs=RunStore())
    if getattr(args, "json", False):
        _out(json.dumps([s.to_dict() for s in summaries], indent=2))
        return EXIT_OK
    if not summaries:
        _out(f"No projects yet in {store.root}. Create one with `textclf projects create FILE`.")
        return EXIT_OK
    rows = [[s.id, s.name if not s.damaged else f"DAMAGED: {s.message}", s.dataset, s.rows, s.classes, s.edits,
             s.runs, s.best_macro_f1, (s.last_activity or "")[:16].replace("T", " ")] for s in summaries]
    _out(_table(rows, ["project", "name", "dataset", "rows", "classes", "edits", "runs", "best macro F1",
                       "last activity"]))
    return EXIT_OK


def add_users(sub) -> None:
    p = sub.add_parser("users", help="sign-in users for a shared server (bcrypt hashes in a users file)")
    action = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    add = action.add_parser("add", help="add a user or change a password (asked twice, never shown)")
    add.add_argument("name")
    add.add_argument("--file", help="users file (default: $TEXTCLF_USERS_FILE, else $TEXTCLF_HOME/users.json)")
    p.set_defaults(func=cmd_users, action=None)


def cmd_users(args) -> int:
    import getpass

    from textclf_core.store.auth import add_user

    if args.action != "add":
        raise UsageError("Use `textclf users add NAME`")
    password = os.environ.get("TEXTCLF_NEW_PASSWORD")  # for scripts; otherwise asked at the terminal
    if password is None:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            raise TextclfError("The two passwords differ", hint="Run the command again")
    path = add_user(args.name, password, args.file)
    _out(f"User {args.name} saved in {path} (bcrypt hash). Sign-in is on while this file exists.")
    return EXIT_OK


# =============================================================================
# team: annotators, agreement, consensus, exchange (textclf_core.labelling)
# =============================================================================

def add_team(sub) -> None:
    p = sub.add_parser("team", help="a project's annotators: members, agreement, consensus, export/import")
    action = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    show = action.add_parser("show", help="members, overlap, agreement and open disagreements (default)")
    show.add_argument("project")
    show.add_argument("--json", action="store_true", help="print the agreement as JSON")
    add = action.add_parser("add", help="add a member (or change their role)")
    add.add_argument("project")
    add.add_argument("name")
    add.add_argument("--role", choices=("owner", "annotator", "reviewer"), default="annotator")
    remove = action.add_parser("remove", help="take a member off the team (their labels stay)")
    remove.add_argument("project")
    remove.add_argument("name")
    overlap = action.add_parser("overlap", help="share of texts labelled by several annotators")
    overlap.add_argument("project")
    overlap.add_argument("share", type=float, help="0..1, e.g. 0.1")
    overlap.add_argument("--per-text", type=int, default=2, help="annotators per shared text (default 2)")
    consensus = action.add_parser("consensus", help="the consensus label per text, as CSV")
    consensus.add_argument("project")
    consensus.add_argument("--method", choices=("majority", "crowdlab"), default="crowdlab")
    consensus.add_argument("--out", required=True, help="CSV file to write")
    export = action.add_parser("export", help="annotations with annotator and time")
    export.add_argument("project")
    export.add_argument("--format", choices=("label-studio", "jsonl", "parquet"), default="jsonl")
    export.add_argument("--out", required=True)
    imp = action.add_parser("import", help="annotations from Label Studio JSON, JSONL or Parquet")
    imp.add_argument("project")
    imp.add_argument("file")
    p.set_defaults(func=cmd_team, action=None)


def cmd_team(args) -> int:
    from textclf_core.labelling import exchange, team
    from textclf_core.store.projects import ProjectStore

    if not getattr(args, "project", None):
        raise UsageError("Give the project: textclf team show PROJECT")
    project = ProjectStore().get(args.project)
    action = args.action or "show"
    if action in ("add", "remove", "overlap"):
        settings = project.team()
        settings = (settings.with_member(args.name, args.role) if action == "add"
                    else settings.without_member(args.name) if action == "remove"
                    else team.TeamSettings(settings.members, args.share, args.per_text, settings.seed))
        version = project.set_team(settings, by="cli")
        _out(f"Team of {project.name} saved (version {version}): "
             + (", ".join(f"{m.name} ({m.role})" for m in settings.members) or "no members")
             + f"; overlap {settings.overlap_share:.0%} to {settings.per_text} each")
        return EXIT_OK
    if action == "export":
        data = {"label-studio": exchange.label_studio_bytes, "jsonl": exchange.jsonl_bytes,
                "parquet": exchange.parquet_bytes}[args.format](project)
        Path(args.out).write_bytes(data)
        _out(f"Wrote {args.out}")
        return EXIT_OK
    if action == "import":
        name = str(args.file)
        read = exchange.read_label_studio(Path(name)) if name.endswith(".json") else exchange.read_flat(name)
        counts = exchange.import_annotations(project, read)
        _out(f"Imported {counts['added']} annotations and {counts['settled']} decisions"
             f" ({counts['skipped']} on texts not in the project)")
        return EXIT_OK
    frame = team.annotations(project)
    classes = sorted(frame["label"].unique().tolist()) if len(frame) else []
    if action == "consensus":
        if frame.empty:
            raise TextclfError("No annotator has labelled a text in this project yet")
        texts = project.frame()[project.meta.get("text_col")].astype(str).tolist()
        probs = team.out_of_sample_probs(texts, frame, classes) if args.method == "crowdlab" else None
        table = team.consensus(frame, classes, probs, method=args.method, settled=team.settlements(project))
        table.insert(1, "text", [texts[r] for r in table["row"]])
        from textclf_core.data import write_csv

        write_csv(table, args.out)
        _out(f"Wrote {len(table)} consensus labels ({args.method}) to {args.out}")
        return EXIT_OK
    return _team_show(project, frame, classes, as_json=args.json)


def _team_show(project, frame, classes, *, as_json: bool) -> int:
    from textclf_core.labelling import team

    settings = project.team()
    result = team.agreement(frame, classes) if frame["annotator"].nunique() >= 2 else None
    if as_json:
        _out(json.dumps({"members": settings.to_dict(), "agreement": result.to_dict() if result else None},
                        ensure_ascii=False, indent=1))
        return EXIT_OK
    _out(f"{project.name}: " + (", ".join(f"{m.name} ({m.role})" for m in settings.members) or "no team")
         + f"; overlap {settings.overlap_share:.0%} to {settings.per_text} each")
    _out(f"{len(frame)} annotations by {frame['annotator'].nunique()} people on {frame['row'].nunique()} texts")
    if result is not None:
        _out(result.sentence + ".")
        _out(_table(result.pairs[["annotator_a", "annotator_b", "n", "kappa", "low", "high"]].values.tolist(),
                    ["annotator", "with", "texts", "kappa", "low", "high"]))
        _out(f"{len(team.disagreements(frame, team.settlements(project)))} disagreements to settle")
    return EXIT_OK


COMMANDS: list[Callable] = [add_validate, add_review, add_train, add_evaluate, add_predict, add_runs, add_models,
                            add_export, add_import, add_delete, add_serve]
COMMANDS += [add_compare, add_curve]  # insight: run-vs-run comparison, learning curve
COMMANDS += [add_label_queue]  # active learning: what to label next
COMMANDS += [add_projects, add_users]  # projects that keep an analyst's work; sign-in users
COMMANDS += [add_team]  # a project's annotators: agreement, consensus, exchange


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="textclf", description="Train and use text classifiers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_BAD_INPUT
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        return int(args.func(args) or EXIT_OK)
    except TextclfError as exc:
        _err(f"textclf: {exc}")
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, CancelledError):
        _err("textclf: stopped (Ctrl-C)")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `textclf predict … | head`
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, details with --verbose
        words = sys.argv[1:] if argv is None else argv
        if "--verbose" in words or "-v" in words:
            raise
        _err(f"textclf: internal error ({type(exc).__name__}: {exc}); run again with --verbose for details")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
