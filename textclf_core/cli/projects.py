"""`textclf projects` (datasets with their label edits) and `textclf users` (sign-in users of a shared server)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from textclf_core.errors import TextclfError

from .output import EXIT_OK, Parser, UsageError, add_header_row, echo, pick_columns, read_data, text_table


def add_projects(sub) -> None:
    p = sub.add_parser("projects", help="list, create, rename or delete projects (datasets with their edits)")
    action = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    ls = action.add_parser("list", help="the projects, last activity first (default)")
    ls.add_argument("--json", action="store_true", help="print as JSON")
    create = action.add_parser("create", help="a project from a data file")
    create.add_argument("file", help="CSV, TSV, Excel, JSON, JSON Lines or Parquet file")
    create.add_argument("--name", help="project name (default: the file name)")
    create.add_argument("--sheet", help="Excel sheet name (default: the first)")
    create.add_argument("--text-col", help="column with the texts (default: guessed)")
    create.add_argument("--label-col", help="column with the labels (default: guessed)")
    add_header_row(create)
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
        frame = read_data(str(path), args.sheet, args.header_row)
        text_col, label_col, guess = pick_columns(frame, args.text_col, args.label_col)
        project = store.create(
            path,
            name=args.name,
            sheet=args.sheet,
            frame=frame,
            text_col=text_col,
            label_col=label_col,
            split_col=guess.split_col,
            source_label="cli",
        )
        meta = project.meta
        echo(f"Project {project.id} ({meta['name']}): {meta['rows']:,} rows; text: {text_col}; label: {label_col}")
        return EXIT_OK
    if action == "rename":
        store.get(args.project).rename(args.name)
        echo(f"Project {args.project} is now called {args.name!r}")
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
                echo("Not deleted.")
                return EXIT_OK
        store.delete(args.project)
        echo(f"Deleted project {args.project} (its runs are kept)")
        return EXIT_OK
    summaries = store.list(runs=RunStore())
    if getattr(args, "json", False):
        echo(json.dumps([s.to_dict() for s in summaries], indent=2))
        return EXIT_OK
    if not summaries:
        echo(f"No projects yet in {store.root}. Create one with `textclf projects create FILE`.")
        return EXIT_OK
    rows = [
        [
            s.id,
            s.name if not s.damaged else f"DAMAGED: {s.message}",
            s.dataset,
            s.rows,
            s.classes,
            s.edits,
            s.runs,
            s.best_macro_f1,
            (s.last_activity or "")[:16].replace("T", " "),
        ]
        for s in summaries
    ]
    echo(
        text_table(
            rows, ["project", "name", "dataset", "rows", "classes", "edits", "runs", "best macro F1", "last activity"]
        )
    )
    return EXIT_OK


def add_users(sub) -> None:
    p = sub.add_parser("users", help="sign-in users for a shared server (bcrypt hashes in a users file)")
    action = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
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
    echo(f"User {args.name} saved in {path} (bcrypt hash). Sign-in is on while this file exists.")
    return EXIT_OK
