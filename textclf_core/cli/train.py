"""`textclf train`: the setting flags (one table, :data:`CONFIG_FLAGS`), settings file < recommendation <
flags (:func:`config_from_args`), the run with a progress bar, its scores and auto's leaderboard."""

from __future__ import annotations

import argparse
import os
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
from textclf_core.errors import TextclfError
from textclf_core.strategy_registry import STRATEGY_NAMES

from .output import (
    EXIT_OK,
    UsageError,
    add_header_row,
    cell,
    cli_user,
    echo,
    echo_err,
    pick_columns,
    read_data,
    text_table,
)
from .printer import ProgressPrinter
from .recommend import recommend_config
from .runs import print_metrics


def _budget(text: str):
    """--budget: seconds from "90s", "10m", "1h" (auto.parse_budget); nonsense is rejected in one line."""
    from textclf_core.strategies.auto import parse_budget

    try:
        return parse_budget(text)
    except TextclfError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _optional_int(text: str):
    return None if str(text).lower() in ("0", "none", "off") else int(text)


# One table for every setting flag: (flag, RunConfig field, type, choices, help).
# Only flags the user gives override the settings file / recommendation / defaults.
CONFIG_FLAGS: list[tuple[str, str, Callable | None, tuple | None, str]] = [
    ("--text-col", "text_col", str, None, "column with the texts (default: guessed)"),
    ("--label-col", "label_col", str, None, "column with the labels (default: guessed)"),
    ("--split-col", "split_col", str, None, "column with train/validation/test per row"),
    ("--strategy", "strategy", str, None, f"{' | '.join(STRATEGY_NAMES)} (default: auto with the default budget)"),
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
    (
        "--sample-rows",
        "sample_rows",
        int,
        None,
        "train on a stratified sample of this many labelled rows, drawn before the split (very large files)",
    ),
    (
        "--label-source",
        "label_source",
        str,
        ("column", "consensus"),
        "labels to learn: column (default: the label column, edits applied) or consensus (a --project's "
        "annotators' consensus, a reviewer's decision winning; see `textclf team`)",
    ),
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
    (
        "--budget",
        "budget_s",
        lambda text: _budget(text),
        None,
        'auto: time budget of the whole run, e.g. "90s", "10m", "1h" (default: 10m on a CPU, 5m on a GPU)',
    ),
    (
        "--augment",
        "augment",
        str,
        ("off", "eda", "mlm"),
        "add augmented copies of scarce classes' training texts: eda = word deletion + swap, mlm = the model's "
        "masked-LM paraphrases (default off: it did not help on the movie reviews)",
    ),
    ("--augment-copies", "augment_copies", int, None, "augmented variants per scarce training text (default 2)"),
    (
        "--augment-max-per-class",
        "augment_max_per_class",
        int,
        None,
        "only classes with fewer training rows than this are augmented (default 64)",
    ),
    (
        "--track",
        "track",
        str,
        ("mlflow", "off"),
        "log the run to MLflow (MLFLOW_TRACKING_URI, else sqlite in TEXTCLF_HOME); default: only when that is set",
    ),
]


BOOL_FLAGS = [
    ("--class-weights", "class_weights", "weight classes by inverse frequency"),
    ("--multi-label", "multi_label", "labels hold several classes joined by ; or |"),
]


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train, evaluate and save a run")
    p.add_argument("--data", help="the table of texts and labels")
    p.add_argument("--project", help="train on a project's data with its label edits (`textclf projects`)")
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    add_header_row(p)
    p.add_argument("--config", help="run settings JSON (e.g. a run's config.json); flags override it")
    p.add_argument("--save-config", metavar="FILE", help="also write the final settings to FILE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    group = p.add_argument_group("settings")
    for flag, dest, kind, choices, help_text in CONFIG_FLAGS:
        group.add_argument(flag, dest=dest, type=kind, choices=choices, help=help_text, default=argparse.SUPPRESS)
    for flag, dest, help_text in BOOL_FLAGS:
        group.add_argument(flag, dest=dest, action="store_true", help=help_text, default=argparse.SUPPRESS)
    p.set_defaults(func=cmd_train)


def config_from_args(args, report=None, texts=None) -> tuple[RunConfig, str | None]:
    """Settings file (or recommendation) < flags. Returns the config and why its strategy was chosen."""
    overrides = {dest: getattr(args, dest) for _, dest, *_ in CONFIG_FLAGS + BOOL_FLAGS if hasattr(args, dest)}
    base: dict = RunConfig.from_json(args.config).to_dict() if getattr(args, "config", None) else {}
    reason = None
    if "strategy" not in overrides and not base:
        recommended, reason = recommend_config(report, overrides, texts)
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
        text_col, label_col, _ = pick_columns(
            frame,
            getattr(args, "text_col", None) or meta.get("text_col"),
            getattr(args, "label_col", None) or meta.get("label_col"),
        )
    else:
        data_path = args.data or has_config_data
        frame = read_data(data_path, args.sheet, getattr(args, "header_row", None))
        # The settings file's columns (e.g. a "Run elsewhere" run.json) count unless flags override them.
        text_col, label_col, _ = pick_columns(
            frame,
            getattr(args, "text_col", None) or (saved and saved.text_col),
            getattr(args, "label_col", None) or (saved and saved.label_col),
        )
    report = validate(frame, text_col, label_col)
    if report.blocking:
        raise TextclfError(report.blocking[0], where=Path(data_path).name)
    labelled = frame[frame[label_col].notna()] if label_col else frame
    config, reason = config_from_args(args, report, labelled[text_col].astype(str).tolist())
    config = config.replace(
        text_col=config.text_col or text_col, label_col=config.label_col or label_col, data_path=str(data_path)
    )
    if config.num_threads is None and "LOCAL_RANK" not in os.environ:
        # No web server shares this process: use every core (the app keeps one free).
        from textclf_core.hardware import cpu_cores

        config = config.replace(num_threads=cpu_cores())
    if reason:
        echo_err(f"Strategy: {config.strategy} ({reason.strip()})")
    if args.save_config:
        config.to_json(args.save_config)
    printer = ProgressPrinter(enabled=not args.no_progress)
    started = time.time()
    run_kwargs = {}
    if project is not None:  # the run records its project, like one started in the app
        from textclf_core.store.runs import RunStore

        store = RunStore()
        run_kwargs = {
            "store": store,
            "run": store.create(
                config, meta={"project": project.id, "dataset": project.meta.get("filename"), "started_by": cli_user()}
            ),
        }
    try:
        run = execute(config, frame, emit=printer, raise_errors=True, **run_kwargs)
    finally:
        printer.close()
    if run is None:  # a helper process under `accelerate launch`: the main process reports
        return EXIT_OK
    evaluation = run.read_json("eval.json", default={}) or {}
    echo(
        f"Run {run.id} finished in {time.time() - started:.1f} s (training {evaluation.get('train_seconds', 0):.1f} s)"
        f"; saved in {run.path}"
    )
    print_metrics(evaluation)
    _print_leaderboard(evaluation)
    return EXIT_OK


def _print_leaderboard(evaluation: dict) -> None:
    """auto runs: every member's validation scores, time, state and weight, then what was chosen."""
    auto = evaluation.get("auto") or {}
    if not auto.get("leaderboard"):
        return
    rows = [
        [
            r["member"],
            r["state"] + (f": {r['reason']}" if r.get("reason") and r["state"] != "done" else ""),
            cell(r.get("val_accuracy")),
            cell(r.get("val_macro_f1")),
            cell(r.get("seconds")),
            f"{r.get('weight', 0):.2f}",
        ]
        for r in auto["leaderboard"]
    ]
    echo("")
    echo(f"Leaderboard (validation; budget {auto.get('budget_s') or 'none'} s, used {auto.get('seconds')} s):")
    echo(text_table(rows, ["member", "state", "accuracy", "macro F1", "seconds", "weight"]))
    echo(auto.get("summary", ""))


def _project_for_train(args):
    if not getattr(args, "project", None):
        return None
    if getattr(args, "data", None):
        raise UsageError("Give either --data FILE or --project ID, not both")
    from textclf_core.store.projects import ProjectStore

    return ProjectStore().get(args.project)
