"""`textclf serve` (dynamic batching) against a naive FastAPI endpoint that calls transformers.pipeline per request.

    nice .venv/bin/python bench/serve.py [--run RUN_FOLDER] [--clients 1 4 16] [--reps 3] [--words N]
                                         [--threads 1] [--out bench/results/serve.json]

Both servers load the same fine-tuned MiniLM run (trained here when --run is not given: full fine-tuning,
1 epoch, max length 128, 1,200 movie reviews) and run as separate processes on 127.0.0.1 with the same torch
thread count. The naive one is what a tutorial writes: a plain ``def`` endpoint (FastAPI runs it in its
thread pool) calling ``pipeline("text-classification", top_k=None)`` on each request's texts. Closed-loop
clients (each sends its next request when the previous reply came) post one held-out review per request;
each level is bounded in requests and seconds; levels alternate between the two servers, repeated
``--reps`` times. Reported: requests/s (median of the repetitions), p50/p99 latency (all repetitions
pooled) and errors (non-200 replies or failed connections).
"""

# No `from __future__ import annotations`: FastAPI must see the naive endpoint's body model itself.
import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def naive_server(model_dir: str, port: int, max_length: int) -> None:
    """The peer: one pipeline call per request, nothing else."""
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel
    from transformers import pipeline

    pipe = pipeline("text-classification", model=model_dir, top_k=None, device="cpu")
    app = FastAPI()

    class Body(BaseModel):
        texts: list[str]

    @app.post("/v1/predict")
    def predict(body: Body):
        out = pipe(body.texts, truncation=True, max_length=max_length)
        return {
            "predictions": [
                {
                    "label": max(r, key=lambda d: d["score"])["label"],
                    "confidence": max(d["score"] for d in r),
                    "probabilities": {d["label"]: d["score"] for d in r},
                }
                for r in out
            ]
        }

    @app.get("/v1/health")
    def health():
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up in {seconds:.0f} s")


async def load(url: str, texts: list[str], clients: int, max_requests: int, max_seconds: float) -> dict:
    """``clients`` closed-loop clients until ``max_requests`` were sent or ``max_seconds`` passed."""
    import httpx

    latencies: list[float] = []
    errors = 0
    sent = 0
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal sent, errors
            while sent < max_requests and time.perf_counter() - started < max_seconds:
                text = texts[sent % len(texts)]
                sent += 1
                t = time.perf_counter()
                try:
                    reply = await client.post(f"{url}/v1/predict", json={"texts": [text]})
                    ok = reply.status_code == 200 and len(reply.json()["predictions"]) == 1
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {"requests": len(latencies), "seconds": wall, "latencies": latencies, "errors": errors}


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", help="a finished fine-tuned (kind transformer) run folder; default: train one")
    parser.add_argument("--rows", type=int, default=1200, help="training rows when a run is trained here")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20, help="requests per client per level (at least 60)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound per level")
    parser.add_argument(
        "--words",
        type=int,
        default=None,
        help="cut each review to its first N words (short messages); default: whole reviews",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of each server (the same for both); default: each server as shipped "
        "(the naive one: torch's default, all cores; textclf serve: its own default)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve.json"))
    parser.add_argument("--naive-server", nargs=3, metavar=("MODEL_DIR", "PORT", "MAX_LENGTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_server:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        model_dir, port, max_length = args.naive_server
        naive_server(model_dir, int(port), int(max_length))
        return

    os.environ.setdefault("TEXTCLF_HOME", tempfile.mkdtemp(prefix="textclf-bench-"))
    import pandas as pd

    from textclf_core.store.runs import Run

    frame = pd.read_csv(ROOT / "sample_data" / "movie_reviews.csv")
    if args.run:
        run = Run(args.run)
    else:
        from textclf_core.config import RunConfig
        from textclf_core.pipeline.runner import execute
        from textclf_core.store.runs import RunStore

        config = RunConfig(
            strategy="full",
            epochs=1,
            max_length=128,
            batch_size=16,
            lr=5e-5,
            early_stopping_patience=None,
            name="serve-bench",
        )
        started = time.time()
        run = execute(config, frame.sample(args.rows, random_state=0), store=RunStore())
        print(f"trained in {time.time() - started:.0f} s: {run.status().get('message')} ({run.path})", flush=True)
    info = run.model_info() or {}
    if info.get("kind") != "transformer":
        raise SystemExit(f"{run.path} is not a fine-tuned transformer run (kind {info.get('kind')})")
    max_length = int(info.get("max_length", 128))
    # Throughput does not depend on whether the model saw a text; reviews are long, so most fill max_length.
    texts = frame.sample(400, random_state=1)["text"].astype(str).tolist()
    if args.words:
        texts = [" ".join(t.split()[: args.words]) for t in texts]

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    ports = {"naive": free_port(), "textclf": free_port()}
    commands = {
        "naive": [sys.executable, __file__, "--naive-server", str(run.model_dir), str(ports["naive"]), str(max_length)]
        + (["--threads", str(args.threads)] if args.threads else []),
        "textclf": [sys.executable, "-m", "textclf_core.cli", "serve", str(run.path), "--port", str(ports["textclf"])]
        + (["--threads", str(args.threads)] if args.threads else []),
    }
    procs = {name: subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) for name, cmd in commands.items()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    results: dict = {name: {c: [] for c in args.clients} for name in procs}
    try:
        for name in procs:
            wait_up(urls[name], procs[name])
            asyncio.run(load(urls[name], texts, 4, 16, 30))  # warm-up
        for rep in range(args.reps):
            for clients in args.clients:
                order = ("naive", "textclf") if rep % 2 == 0 else ("textclf", "naive")
                for name in order:  # alternating, so load from other processes hits both alike
                    out = asyncio.run(load(urls[name], texts, clients, max(60, args.requests * clients), args.seconds))
                    results[name][clients].append(out)
                    print(
                        f"rep {rep} {name:8s} {clients:2d} clients: {out['requests'] / out['seconds']:7.1f} req/s, "
                        f"p50 {percentile(out['latencies'], 50) * 1000:6.1f} ms, errors {out['errors']}",
                        flush=True,
                    )
        import httpx

        batching = httpx.get(f"{urls['textclf']}/v1/health").json().get("batching")
    finally:
        for proc in procs.values():
            proc.terminate()
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    table = []
    for clients in args.clients:
        row = {"clients": clients}
        for name in procs:
            reps = results[name][clients]
            pooled = [x for r in reps for x in r["latencies"]]
            row[name] = {
                "requests_per_s": round(statistics.median(r["requests"] / r["seconds"] for r in reps), 1),
                "p50_ms": round(percentile(pooled, 50) * 1000, 1),
                "p99_ms": round(percentile(pooled, 99) * 1000, 1),
                "requests": sum(r["requests"] for r in reps),
                "errors": sum(r["errors"] for r in reps),
            }
        row["speedup"] = round(row["textclf"]["requests_per_s"] / row["naive"]["requests_per_s"], 2)
        table.append(row)
    top = table[-1]
    out = {
        "run": str(run.path),
        "model": run.config.model,
        "strategy": run.config.strategy,
        "max_length": max_length,
        "texts_per_request": 1,
        "words_per_text": args.words or "whole review",
        "reps": args.reps,
        "torch_threads": args.threads or "each server's default",
        "cpu": os.cpu_count(),
        "results": table,
        "textclf_batching": batching,
        "target_3x_at_max_clients": bool(top["speedup"] >= 3 and top["textclf"]["errors"] == 0),
        "load_avg_end": list(os.getloadavg()),
        "note": "ratios are what counts: the two servers alternate, so both see the same machine",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(
        f"\n{'clients':>7}  {'naive req/s':>11}  {'p50':>7}  {'p99':>7}  {'textclf req/s':>13}  {'p50':>7}  {'p99':>7}  "
        f"speedup  errors (naive/textclf)"
    )
    for row in table:
        n, t = row["naive"], row["textclf"]
        print(
            f"{row['clients']:>7}  {n['requests_per_s']:>11.1f}  {n['p50_ms']:>7.1f}  {n['p99_ms']:>7.1f}  "
            f"{t['requests_per_s']:>13.1f}  {t['p50_ms']:>7.1f}  {t['p99_ms']:>7.1f}  {row['speedup']:>6.2f}x  "
            f"{n['errors']}/{t['errors']}"
        )
    print(f"batching of textclf: {batching}")
    print(
        f"target (>= 3x at {top['clients']} clients, no errors): {'hit' if out['target_3x_at_max_clients'] else 'miss'}"
    )


if __name__ == "__main__":
    main()
