"""Using a trained model: `textclf predict` (texts or a file) and `textclf serve` (the HTTP API)."""

from __future__ import annotations

import sys
from pathlib import Path

from textclf_core.errors import TextclfError

from .output import EXIT_OK, UsageError, echo, echo_err


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
        raise UsageError('Give either --data FILE or --text "…"')
    if args.text:
        frame = predict_texts(args.run, args.text)
        for message in frame.attrs.get("warnings", []):
            echo_err(f"Warning: {message}")
        for _, row in frame.iterrows():
            echo(f"{row['label']}\t{row['confidence']:.3f}\t{row['text']}")
        return EXIT_OK
    if not Path(args.data).expanduser().exists():
        raise TextclfError(f"{args.data} does not exist", hint="Check the file name and folder")
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="row", unit_scale=True, desc="predicting", file=sys.stderr, dynamic_ncols=True)
        bar.total = total  # streamed files: an estimate from the line count until the end
        bar.n = done
        bar.refresh()

    try:
        if args.out:  # streamed in chunks (CSV/TSV input): memory bounded by the chunk, not the file
            written = predict_to_file(
                args.run,
                args.data,
                args.out,
                args.text_col,
                sheet=args.sheet,
                progress=progress,
                on_warning=lambda message: echo_err(f"Warning: {message}"),
            )
        else:
            result = predict_file(args.run, args.data, args.text_col, None, sheet=args.sheet, progress=progress)
            for message in result.attrs.get("warnings", []):
                echo_err(f"Warning: {message}")
    finally:
        if bar is not None:
            bar.close()
    if args.out:
        echo_err(f"Wrote {written:,} predictions to {args.out}")
    else:
        from textclf_core.data import neutralize_formulas

        neutralize_formulas(result).to_csv(sys.stdout, index=False)
    return EXIT_OK


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
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; any other needs an API key)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--api-key",
        help=f"require this key in the X-API-Key header (better: set {API_KEY_ENV}, "
        "which other users of the machine cannot see in the process list)",
    )
    p.add_argument("--max-texts", type=int, default=MAX_TEXTS, help=f"texts per request (default {MAX_TEXTS})")
    p.add_argument("--max-body-mb", type=float, default=1.0, help="request body size limit in MB (default 1)")
    p.add_argument(
        "--max-batch",
        type=int,
        default=MAX_BATCH_TEXTS,
        help=f"texts scored together in one model call (default {MAX_BATCH_TEXTS})",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the model (default: all cores but one)")
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=MAX_WAIT_MS,
        help=f"how long a request may wait for others to share its batch (default {MAX_WAIT_MS:g} ms)",
    )
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
        echo_err(
            f"Serving {served.run_id or served.source} ({p.kind}, {len(p.classes)} classes"
            f"{', multi-label' if p.multi_label else ''}) on http://{shown}:{args.port}/v1/predict; "
            f"docs at http://{shown}:{args.port}/docs. Ctrl-C stops."
        )

    serve(
        args.run,
        host=args.host,
        port=args.port,
        api_key=args.api_key or api_key_from_env(),
        ready=ready,
        threads=args.threads,
        max_texts=args.max_texts,
        max_body_bytes=int(args.max_body_mb * 1e6),
        max_batch=args.max_batch,
        max_wait_ms=args.batch_wait_ms,
    )
    return EXIT_OK
