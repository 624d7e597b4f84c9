"""textclf team: a project's annotators (members, overlap), their agreement, the consensus, exchange with
Label Studio and Hugging Face datasets (textclf_core.labelling)."""

from __future__ import annotations

import json
from pathlib import Path

from textclf_core.errors import TextclfError

from .output import EXIT_OK, Parser, UsageError, echo, text_table


def add_team(sub) -> None:
    p = sub.add_parser("team", help="a project's annotators: members, agreement, consensus, export/import")
    action = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
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
        settings = (
            settings.with_member(args.name, args.role)
            if action == "add"
            else settings.without_member(args.name)
            if action == "remove"
            else team.TeamSettings(settings.members, args.share, args.per_text, settings.seed)
        )
        version = project.set_team(settings, by="cli")
        echo(
            f"Team of {project.name} saved (version {version}): "
            + (", ".join(f"{m.name} ({m.role})" for m in settings.members) or "no members")
            + f"; overlap {settings.overlap_share:.0%} to {settings.per_text} each"
        )
        return EXIT_OK
    if action == "export":
        data = {
            "label-studio": exchange.label_studio_bytes,
            "jsonl": exchange.jsonl_bytes,
            "parquet": exchange.parquet_bytes,
        }[args.format](project)
        Path(args.out).write_bytes(data)
        echo(f"Wrote {args.out}")
        return EXIT_OK
    if action == "import":
        name = str(args.file)
        read = exchange.read_label_studio(Path(name)) if name.endswith(".json") else exchange.read_flat(name)
        counts = exchange.import_annotations(project, read)
        echo(
            f"Imported {counts['added']} annotations and {counts['settled']} decisions"
            f" ({counts['skipped']} on texts not in the project)"
        )
        return EXIT_OK
    frame = team.annotations(project)
    space = team.label_space(project, frame)  # single- or multi-label (then the cells' separator)
    if action == "consensus":
        if frame.empty:
            raise TextclfError("No annotator has labelled a text in this project yet")
        texts = project.frame()[project.meta.get("text_col")].astype(str).tolist()
        crowd = args.method == "crowdlab" and not space.multi_label  # CROWDLAB is single-label only
        probs = team.out_of_sample_probs(texts, frame, space.classes) if crowd else None
        table = team.consensus(
            frame,
            space.classes,
            probs,
            method=args.method,
            settled=team.settlements(project),
            separator=space.separator,
        )
        if table.attrs.get("note"):
            echo(table.attrs["note"] + ".")
        table.insert(1, "text", [texts[r] for r in table["row"]])
        from textclf_core.data import write_csv

        write_csv(table, args.out)
        echo(f"Wrote {len(table)} consensus labels ({'crowdlab' if crowd else 'majority'}) to {args.out}")
        return EXIT_OK
    return team_show(project, frame, space, as_json=args.json)


def team_show(project, frame, space, *, as_json: bool) -> int:
    from textclf_core.labelling import team

    settings = project.team()
    multi = space.multi_label
    enough = frame["annotator"].nunique() >= 2
    result = team.agreement(frame, space.classes, separator=space.separator) if enough else None
    if as_json:
        echo(
            json.dumps(
                {"members": settings.to_dict(), "agreement": result.to_dict() if result else None},
                ensure_ascii=False,
                indent=1,
            )
        )
        return EXIT_OK
    echo(
        f"{project.name}: "
        + (", ".join(f"{m.name} ({m.role})" for m in settings.members) or "no team")
        + f"; overlap {settings.overlap_share:.0%} to {settings.per_text} each"
    )
    echo(f"{len(frame)} annotations by {frame['annotator'].nunique()} people on {frame['row'].nunique()} texts")
    if result is not None:
        echo(result.sentence + ".")
        if multi:  # a pair's mean Jaccard over shared texts, and κ on each class's presence averaged over classes
            columns = ["annotator_a", "annotator_b", "n", "agreement", "kappa", "low", "high"]
            headers = ["annotator", "with", "texts", "jaccard", "mean κ over classes", "low", "high"]
        else:
            columns = ["annotator_a", "annotator_b", "n", "kappa", "low", "high"]
            headers = ["annotator", "with", "texts", "kappa", "low", "high"]
        echo(text_table(result.pairs[columns].values.tolist(), headers))
        if multi:
            echo("Krippendorff's α per class (class given or not):")
            per_class = result.per_class[["class", "alpha", "low", "high", "n"]].values.tolist()
            echo(text_table(per_class, ["class", "alpha", "low", "high", "texts given it"]))
        open_ = team.disagreements(frame, team.settlements(project), separator=space.separator)
        echo(f"{len(open_)} disagreements to settle")
    return EXIT_OK
