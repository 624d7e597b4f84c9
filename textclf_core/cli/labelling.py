"""`textclf label-queue`: the next texts to label (active learning), with the model's suggestions."""

from __future__ import annotations

from pathlib import Path

from textclf_core.labels import split_cell

from .output import (
    EXIT_OK,
    UsageError,
    cli_user,
    echo,
    echo_err,
    pick_columns,
    read_data,
    shorten,
    text_table,
)


def add_label_queue(sub) -> None:
    from textclf_core.labelling.active import DEFAULT_STRATEGY, STRATEGIES

    p = sub.add_parser("label-queue", help="the next texts to label (active learning), with the model's suggestions")
    p.add_argument("--data", help="the table of texts (labels optional)")
    p.add_argument(
        "--project",
        help="label a project instead (`textclf projects`): the labels go to its change log, as on the Label page",
    )
    p.add_argument(
        "--as",
        dest="annotator",
        metavar="NAME",
        help="on a team project: label as this annotator (default: you, when you are one); "
        "your own labels only, your share of the texts, no suggestion on shared texts",
    )
    p.add_argument("--sheet", help="Excel sheet name (default: the first)")
    p.add_argument("--text-col", help="column with the texts (default: guessed)")
    p.add_argument(
        "--labels",
        help="label log folder or its labels.jsonl (default: the Label page's log of "
        "this data under $TEXTCLF_HOME/labelling)",
    )
    p.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="ROW=CLASS",
        help="record a label first (0-based row; repeat; 'a;b' for multi-label)",
    )
    p.add_argument("--classes", help="class names, comma separated (a new log needs them)")
    p.add_argument("--strategy", choices=list(STRATEGIES), default=DEFAULT_STRATEGY)
    p.add_argument("-n", type=int, default=10, help="how many texts to show")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_label_queue)


def team_member(project, named: str | None) -> str | None:
    """Who labels on a team project from the command line: ``--as NAME`` (must be an annotator), else the
    command-line user when they are one, else None (the project's own log, as without a team)."""
    annotators = project.team().annotators
    if named:
        if named not in annotators:
            raise UsageError(
                f"{named} is not an annotator of project {project.name}",
                hint=f"Annotators: {', '.join(annotators) or 'none yet'} (`textclf team add` adds one)",
            )
        return named
    return cli_user() if cli_user() in annotators else None


def cmd_label_queue(args) -> int:
    from textclf_core.labelling import active, team, team_log

    if bool(args.data) == bool(getattr(args, "project", None)):
        raise UsageError("Give either --data FILE or --project ID", hint="`textclf projects` lists the projects")
    if getattr(args, "annotator", None) and not args.project:
        raise UsageError("--as names a team member of a project", hint="Use it with --project ID")
    project, annotator = None, None
    if args.project:
        from textclf_core.store.projects import ProjectStore

        project = ProjectStore().get(args.project)
        frame = project.frame()
        text_col = args.text_col or project.meta.get("text_col")
        if text_col not in frame.columns:
            raise UsageError(f"Project {project.name} has no text column {text_col!r}", hint="Name it with --text-col")
    else:
        frame = read_data(args.data, args.sheet)
        text_col, _, _ = pick_columns(frame, args.text_col, None)
    if not text_col:
        raise UsageError("Could not tell which column holds the texts", hint="Name it with --text-col")
    texts = ["" if v is None or v != v else str(v) for v in frame[text_col].tolist()]
    if project is not None:
        if not project.meta.get("label_col"):
            echo(
                f"Project {project.name} had no label column; the labels go to a new column "
                f"'{project.add_label_column()}'."
            )
            frame = project.frame()
        label_col = project.meta["label_col"]
        annotator = team_member(project, getattr(args, "annotator", None))
        options = team_log.session_options(  # the Label page's setup: the same log, fast model and share
            project,
            change_log=project.change_log(by=annotator or cli_user()),
            base_labels=frame[label_col] if label_col in frame.columns else None,
            label_col=label_col,
            annotator=annotator,
        )
    elif args.labels:
        folder = Path(args.labels).expanduser()
        options = {"label_log": active.LabelLog(folder.parent if folder.suffix == ".jsonl" else folder)}
    else:
        options = {"label_log": active.LabelLog.for_data(active.data_fingerprint(texts))}
    log = options["label_log"]
    classes = [c.strip() for c in (args.classes or "").split(",") if c.strip()]
    session = active.LabellingSession(
        texts,
        classes,
        **options,
        strategy=args.strategy,
        seed=args.seed,
        scheduler=active.ImmediateScheduler(),
        retrain_every=10**9,
    )
    for item in args.add:
        row, sep, label = item.partition("=")
        if not sep or not label.strip():
            raise UsageError(f"--add {item!r} is not ROW=CLASS", hint="For example --add 12=positive")
        session.label(row.strip(), split_cell(label, active.MULTI_SEPARATOR) if session.multi_label else label.strip())
    labels = session.labels()
    counts = session.counts()
    echo(
        f"{len(labels):,} of {len(texts):,} texts labelled; "
        + ", ".join(f"{c}: {n}" for c, n in zip(counts["class"], counts["labels"]))
        + f"; log: {log.folder}"
    )
    if active.trainable(labels, session.multi_label):
        session.request_retrain()  # in this process, now
        status = session.status()
        if status.state == "failed":
            echo_err(f"textclf: {status.message}")
        est = session.model.estimate if session.model else None
        if est is not None:
            echo(
                f"Estimated accuracy {est.accuracy:.1%} (95% interval {est.low:.1%}–{est.high:.1%}, "
                f"{est.folds}-fold cross-validation on the labels)"
            )
    else:
        echo("The model starts once two classes have labels; until then the order is random.")
    rows = session.next_rows(max(1, args.n))
    table = []
    settings = project.team() if annotator else None
    for row in rows:
        # on a team, shared texts are answered blind to the model too (as on the Label page)
        suggestion = None if team.suggestion_hidden(row, annotator, settings) else session.suggestion(row)
        if suggestion is None:
            table.append([row, "", "", shorten(texts[row])])
        else:
            value, conf = suggestion
            table.append(
                [row, ";".join(value) if isinstance(value, list) else value, f"{conf:.0%}", shorten(texts[row])]
            )
    echo(text_table(table, ["row", "suggested", "sure", "text"]))
    return EXIT_OK
