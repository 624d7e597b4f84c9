"""Wall time and peak memory of every large-data path, at 10k, 100k and 1M rows (issue 19).

    python bench/scale.py                          # every step at 10k and 100k rows
    python bench/scale.py --sizes 10k,100k,1m --steps validate,baseline,predict-baseline
    python bench/scale.py --sizes 100k --steps resume   # kill a 100k-row embedding, resume it

Each step is the command a user would type (``textclf validate|train|predict|review``), run in its own
child process with its own ``TEXTCLF_HOME`` (so no embedding or review cache is warm from another step);
its peak memory is that child's maximum resident set size (``os.wait4``). The baseline is trained only
through ``textclf train --strategy baseline``, so a change inside baseline.py shows up here as it is.

The data are bench/scale_data.py's files (real texts from sample_data/ with small random changes), kept
under /tmp/scale/ and written once. Results go to bench/results/scale.json (merged with earlier runs, one
entry per size and step) and a markdown table is printed (``--table`` prints it from the JSON only).

``resume``: a child embeds the file with engine.encoders.embed (chunks of encoders.CHUNK_TEXTS texts, each cached
when done) and is killed with SIGKILL after two chunks; a second child embeds the same texts again and
reports how many it found cached; the texts the first child had finished but the second computed again
are the repeated work (the promise: at most one chunk).

The machine is shared (2 cores, other engineers' jobs running): wall times are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import scale_data  # noqa: E402

RESULTS = BENCH / "results" / "scale.json"
SIZES = {"10k": 10_000, "100k": 100_000, "200k": 200_000, "1m": 1_000_000}
# The steps of the issue; the embedding ones at 100k rows at most unless asked (2 cores: ~25 min for 1M texts).
STEPS = [
    "validate",
    "baseline",
    "predict-baseline",
    "predict-minilm",
    "features",
    "review-tfidf",
    "review-combined",
    "resume",
]
DEFAULT_STEPS = [
    "validate",
    "baseline",
    "predict-baseline",
    "predict-minilm",
    "features",
    "review-tfidf",
    "review-combined",
]
EMBEDDING_STEPS = {"predict-minilm", "features", "review-combined", "resume"}
FINETUNE_ROWS = 2000  # the fine-tuned MiniLM for predict-minilm is trained on this many rows (setup, not timed)


def data_file(size: str) -> Path:
    rows = SIZES[size]
    return scale_data.ensure(rows, Path("/tmp/scale") / f"short_{size}.csv")


def textclf() -> list[str]:
    return [sys.executable, "-m", "textclf_core.cli"]


def child_env(home: Path) -> dict:
    env = dict(os.environ)
    env.update(
        TEXTCLF_HOME=str(home),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def measure(cmd: list[str], home: Path, timeout_s: float, log: Path) -> dict:
    """Run ``cmd`` as a child; wall seconds, its peak RSS (GB) and its exit status."""
    home.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=child_env(home), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = start + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    row = {"wall_s": round(wall, 1), "peak_rss_gb": round(usage.ru_maxrss / 1024 / 1024, 2), "exit": proc.returncode}
    if proc.returncode != 0:
        row["error"] = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        row["timed_out"] = wall >= timeout_s
    return row


def latest_run(home: Path) -> Path:
    runs = sorted(
        (p for p in (home / "runs").iterdir() if (p / "model" / "textclf.json").exists()),
        key=lambda p: p.stat().st_mtime,
    )
    if not runs:
        raise SystemExit(f"no trained run under {home / 'runs'}")
    return runs[-1]


def finetuned_minilm(work: Path, timeout_s: float) -> tuple[Path, dict]:
    """A MiniLM fine-tuned on FINETUNE_ROWS rows (built once per work folder)."""
    home = work / "finetune"
    if (home / "runs").is_dir():
        try:
            return latest_run(home), {}
        except SystemExit:
            pass
    import pandas as pd

    small = work / "finetune.csv"
    pd.read_csv(data_file("10k")).head(FINETUNE_ROWS).to_csv(small, index=False)
    setup = measure(
        textclf()
        + ["train", "--data", str(small), "--strategy", "full", "--epochs", "1", "--max-length", "64", "--no-progress"],
        home,
        timeout_s,
        work / "finetune.log",
    )
    return latest_run(home), setup


def step_command(step: str, size: str, work: Path, timeout_s: float) -> tuple[list[str], Path, dict]:
    """(command, TEXTCLF_HOME, extra facts) of one step at one size."""
    path = str(data_file(size))
    home = work / f"{size}-{step}"
    shutil.rmtree(home, ignore_errors=True)
    out = work / f"{size}-{step}.csv"
    if step == "validate":
        return textclf() + ["validate", path], home, {}
    if step == "baseline":
        return textclf() + ["train", "--data", path, "--strategy", "baseline", "--no-progress"], home, {}
    if step == "predict-baseline":
        # The baseline trained at this size, else the largest trained so far (prediction cost is the input's).
        trained = [s for s in SIZES if (work / f"{s}-baseline" / "runs").is_dir()]
        if not trained:
            raise SystemExit(f"predict-baseline at {size} needs a baseline step first")
        source = size if size in trained else trained[-1]
        return (
            textclf() + ["predict", str(latest_run(work / f"{source}-baseline")), "--data", path, "--out", str(out)],
            home,
            {"model": f"baseline trained on {source} rows"},
        )
    if step == "predict-minilm":
        run, setup = finetuned_minilm(work, timeout_s)
        extra = {"model": f"all-MiniLM-L6-v2 fine-tuned on {FINETUNE_ROWS} rows (max length 64)"}
        if setup:
            extra["setup"] = setup
        return textclf() + ["predict", str(run), "--data", path, "--out", str(out)], home, extra
    if step == "features":
        return textclf() + ["train", "--data", path, "--strategy", "feature-extraction", "--no-progress"], home, {}
    if step in ("review-tfidf", "review-combined"):
        return (
            textclf() + ["review", "--data", path, "--method", step.split("-")[1], "--out", str(out), "--no-cache"],
            home,
            {},
        )
    raise SystemExit(f"unknown step {step!r}")


RESUME_CHILD = r"""
import json, sys, pandas as pd
from textclf_core.engine import encoders as features
from textclf_core.config import DEFAULT_MODEL
texts = pd.read_csv(sys.argv[1])["text"].astype(str).tolist()[:int(sys.argv[4]) or None]
def emit(event):
    print(json.dumps({"done": event["done"], "cached": event["cached"], "total": event["total"]}), flush=True)
features.embed(texts, DEFAULT_MODEL, cache_dir=sys.argv[2], emit=emit, chunk_size=int(sys.argv[3]))
"""


def resume_check(
    size: str, work: Path, timeout_s: float, chunk: int, kill_after_chunks: int = 2, rows: int = 0
) -> dict:
    """Kill an embedding after ``kill_after_chunks`` chunks, resume it; the repeated work in texts and chunks.

    ``rows``: only the first rows of the file (0: all)."""
    path = str(data_file(size))
    home = work / f"{size}-resume"
    shutil.rmtree(home, ignore_errors=True)
    cache = home / "embeddings"
    cmd = [sys.executable, "-c", RESUME_CHILD, path, str(cache), str(chunk), str(int(rows))]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=child_env(home), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    last = {"done": 0}
    for line in proc.stdout:
        last = json.loads(line)
        if last["done"] >= kill_after_chunks * chunk + chunk // 2 or time.perf_counter() - start > timeout_s:
            break  # half way into the next chunk: the worst case for lost work is about half a chunk
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for line in proc.stdout.read().splitlines():  # what it printed before it died, not yet read
        last = json.loads(line)
    killed_after = time.perf_counter() - start
    # Distinct texts the killed child had saved (the cache is what survives a kill); ``done`` counts the
    # distinct texts it had embedded, cached ones included (none: it started on an empty cache).
    from textclf_core.engine.encoders import EmbeddingCache

    saved = sum(EmbeddingCache.shard_rows(p) for p in cache.rglob("shard-*.npz"))
    first_line = None
    t0 = time.perf_counter()
    rerun = subprocess.Popen(cmd, env=child_env(home), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in rerun.stdout:
        event = json.loads(line)
        first_line = first_line or event
    _, status, usage = os.wait4(rerun.pid, 0)
    cached = int((first_line or {}).get("cached") or 0)
    repeated = max(0, int(last["done"]) - saved)  # embedded by the killed child but lost with it
    return {
        "rows": int(rows) or SIZES[size],
        "chunk_texts": chunk,
        "killed_after_s": round(killed_after, 1),
        "done_when_killed": int(last["done"]),
        "saved_when_killed": saved,
        "rows_cached_at_resume": cached,
        "repeated_texts": repeated,
        "repeated_chunks": round(repeated / chunk, 2),
        "resume_wall_s": round(time.perf_counter() - t0, 1),
        "resume_peak_rss_gb": round(usage.ru_maxrss / 1024 / 1024, 2),
        "exit": os.waitstatus_to_exitcode(status),
    }


def load_results(path: Path = RESULTS) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"results": {}}


def table(results: dict) -> str:
    sizes = [s for s in SIZES if any(s in results.get(step, {}) for step in STEPS)]
    head = "| step | " + " | ".join(f"{s} rows" for s in sizes) + " |"
    lines = [head, "|" + "---|" * (len(sizes) + 1)]
    for step in STEPS:
        if step not in results:
            continue
        cells = []
        for size in sizes:
            row = results[step].get(size)
            if row is None:
                cells.append("")
            elif step == "resume":
                cells.append(
                    f"killed after {row.get('saved_when_killed', '?'):,} of {row.get('rows', SIZES[size]):,} "
                    f"texts saved: {row['repeated_texts']:,} repeated ({row['repeated_chunks']} of a "
                    f"{row['chunk_texts']:,}-text chunk)"
                )
            elif row.get("exit"):
                cells.append("timed out" if row.get("timed_out") else f"failed ({row.get('error')})")
            else:
                cells.append(
                    f"{row['wall_s']:.0f} s, {row['peak_rss_gb']:.2f} GB"
                    + (f" (~{row['extrapolated_1m_s'] / 60:.0f} min for 1M)" if row.get("extrapolated_1m_s") else "")
                )
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10k,100k", help=f"comma-separated, of {', '.join(SIZES)}")
    ap.add_argument("--steps", default=",".join(DEFAULT_STEPS), help=f"comma-separated, of {', '.join(STEPS)}")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per step before it is killed")
    ap.add_argument("--chunk", type=int, default=None, help="resume: texts per chunk (default features.CHUNK_TEXTS)")
    ap.add_argument("--resume-rows", type=int, default=0, help="resume: embed only the first rows (default all)")
    ap.add_argument("--work", default=None, help="folder for runs and outputs (default: a temporary one)")
    ap.add_argument(
        "--allow-big-embeddings",
        action="store_true",
        help="also run the embedding steps above 100k rows (hours on 2 cores)",
    )
    ap.add_argument("--table", action="store_true", help="only print the table of bench/results/scale.json")
    ap.add_argument("--results", default=str(RESULTS), help="JSON file the results are merged into")
    args = ap.parse_args(argv)
    results_path = Path(args.results)
    saved = load_results(results_path)
    if args.table:
        print(table(saved["results"]))
        return
    from textclf_core.engine import encoders as features

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="textclf-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results = saved["results"]
    for size in args.sizes.split(","):
        for step in args.steps.split(","):
            if step in EMBEDDING_STEPS and SIZES[size] > 100_000 and not args.allow_big_embeddings:
                print(f"{size} {step}: skipped (embedding {SIZES[size]:,} texts; --allow-big-embeddings)", flush=True)
                continue
            if step == "resume":
                row = resume_check(size, work, args.timeout, args.chunk or features.CHUNK_TEXTS, rows=args.resume_rows)
            else:
                cmd, home, extra = step_command(step, size, work, args.timeout)
                row = {**measure(cmd, home, args.timeout, work / f"{size}-{step}.log"), **extra}
                if step == "predict-minilm" and not row["exit"]:
                    row["extrapolated_1m_s"] = round(row["wall_s"] * 1_000_000 / SIZES[size])
            row["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            results = load_results(results_path)["results"]  # another run may have written meanwhile
            results.setdefault(step, {})[size] = row
            print(f"{size} {step}: {json.dumps(row)}", flush=True)
            results_path.parent.mkdir(parents=True, exist_ok=True)
            results_path.write_text(
                json.dumps({"machine": f"{os.cpu_count()} cores, shared with other jobs", "results": results}, indent=2)
                + "\n"
            )
    print(table(results))


if __name__ == "__main__":
    main()
