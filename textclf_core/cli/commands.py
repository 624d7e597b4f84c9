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
    textclf team show|add|overlap|consensus|export|import PROJECT   a project's annotators

Exit status: 0 success, 2 a problem with the input (one line on stderr, no
traceback), 1 an internal error, 130 Ctrl-C. Each subcommand is one ``add_*``
function registered in :data:`COMMANDS`; adding a command is adding a function.
This module holds the command table and the entry point; the commands live by
concern in the package (data, train, runs, serve, insight, labelling, projects),
what they share in ``output``, the event printers in ``printer`` and the
strategy a plain ``train`` runs in ``recommend``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from textclf_core.errors import CancelledError, TextclfError

from .data import add_review, add_validate
from .insight import add_compare, add_curve
from .labelling import add_label_queue
from .output import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, Parser, echo_err
from .projects import add_projects, add_users
from .runs import add_delete, add_evaluate, add_export, add_import, add_models, add_runs
from .serve import add_predict, add_serve
from .team import add_team
from .train import add_train, config_from_args  # noqa: F401 - config_from_args: tests and bench read it here

COMMANDS: list[Callable] = [
    add_validate,
    add_review,
    add_train,
    add_evaluate,
    add_predict,
    add_runs,
    add_models,
    add_export,
    add_import,
    add_delete,
    add_serve,
]
COMMANDS += [add_compare, add_curve]  # insight: run-vs-run comparison, learning curve
COMMANDS += [add_label_queue]  # active learning: what to label next
COMMANDS += [add_projects, add_users]  # projects that keep an analyst's work; sign-in users
COMMANDS += [add_team]  # a project's annotators: agreement, consensus, exchange


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="textclf", description="Train and use text classifiers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
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
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
        return int(args.func(args) or EXIT_OK)
    except TextclfError as exc:
        echo_err(f"textclf: {exc}")
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, CancelledError):
        echo_err("textclf: stopped (Ctrl-C)")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `textclf predict … | head`
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, details with --verbose
        words = sys.argv[1:] if argv is None else argv
        if "--verbose" in words or "-v" in words:
            raise
        echo_err(f"textclf: internal error ({type(exc).__name__}: {exc}); run again with --verbose for details")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
