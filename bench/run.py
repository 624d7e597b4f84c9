"""textclf against the Hugging Face Trainer and pipeline, side by side (`make bench`).

Same model (the bundled all-MiniLM-L6-v2), same data (the exported movie reviews,
one fixed seeded split written to bench/out/data/split.csv and read by both sides),
same epochs, learning rate, batch size, max length 128, warmup, weight decay,
gradient clipping, seed and CPU threads. Every measurement runs in a fresh process
(its peak RSS is its own); sides alternate within each case and every figure is the
median over the repetitions. The table goes to stdout and bench/results/hf_compare.json; then
bench/results_md.py rewrites bench/RESULTS.md from every file in bench/results/.

    python bench/run.py                 # the full benchmark (under 30 minutes on 2 cores)
    python bench/run.py --quick         # tiny sizes: checks that everything runs
    python bench/run.py --only full --only predict --reps 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_common as bc

CASES = ("full", "partial", "features", "predict", "review")
OUT = bc.BENCH_DIR / "out"
DATA_CSV = bc.REPO / "sample_data" / "movie_reviews.csv"

# Sizes fitted so the whole run stays under 30 minutes on 2 CPU cores.
SIZES = {
    "normal": dict(
        train_rows=2000,
        val_rows=500,
        test_rows=1000,
        predict_texts=10000,
        review_rows=None,
        epochs={"full": 1, "partial": 2, "features": 2},
        reps={"full": 2, "tutorial": 1, "partial": 2, "features": 2, "predict": 2, "review": 1},
    ),
    "quick": dict(
        train_rows=96,
        val_rows=32,
        test_rows=64,
        predict_texts=256,
        review_rows=300,
        epochs={"full": 1, "partial": 1, "features": 1},
        reps={"full": 1, "tutorial": 1, "partial": 1, "features": 1, "predict": 1, "review": 1},
    ),
}


# Rough minutes of one repetition per case on 2 quiet cores, to keep time for later cases.
FIRST_REP_MIN = {"full": 8.0, "partial": 3.0, "features": 2.5, "predict": 3.0, "review": 2.0}


# --------------------------------------------------------------------------- data
def prepare_data(sizes: dict, seed: int) -> tuple[Path, Path, Path]:
    """Write the fixed split (train subset / validation / test) and the prediction texts."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    if not DATA_CSV.exists():
        raise SystemExit(f"{DATA_CSV} is missing: run `python -m textclf_core.data.samples` (make sample-data)")
    frame = pd.read_csv(DATA_CSV, keep_default_na=False)[["text", "label"]]
    frame = frame[frame.text.str.strip() != ""].reset_index(drop=True)
    # One seeded stratified split of the whole set, then a seeded subset of the training part.
    rest, test = train_test_split(frame, test_size=sizes["test_rows"], stratify=frame.label, random_state=seed)
    rest, val = train_test_split(rest, test_size=sizes["val_rows"], stratify=rest.label, random_state=seed)
    train, _ = train_test_split(rest, train_size=sizes["train_rows"], stratify=rest.label, random_state=seed)
    split = pd.concat([train.assign(split="train"), val.assign(split="validation"), test.assign(split="test")])
    folder = OUT / "data"
    folder.mkdir(parents=True, exist_ok=True)
    split_path = folder / "split.csv"
    split.to_csv(split_path, index=False)
    texts = frame.text.sample(n=min(sizes["predict_texts"], len(frame)), random_state=seed)
    texts_path = folder / "predict_texts.txt"
    texts_path.write_text("\n".join(" ".join(t.split()) for t in texts), encoding="utf-8")
    review_path = folder / "review.csv"
    review = frame if sizes["review_rows"] is None else frame.sample(n=sizes["review_rows"], random_state=seed)
    review.to_csv(review_path, index=False)
    return split_path, texts_path, review_path


# --------------------------------------------------------------------------- processes
class Runner:
    """Runs one measurement per process and keeps its log."""

    def __init__(self, threads: int, verbose: bool):
        self.threads = threads
        self.verbose = verbose
        self.count = 0
        self.home = OUT / "textclf_home"  # textclf's cache and runs, isolated from the user's

    deadline = float("inf")  # perf_counter time by which the whole bench should be done
    reserve = 0.0  # seconds kept for the cases still to come

    def fits(self, seconds: float) -> bool:
        """Whether another ``seconds`` of work leaves the remaining cases their time."""
        return time.perf_counter() + seconds + self.reserve < self.deadline

    def clear_cache(self) -> None:
        shutil.rmtree(self.home / "cache", ignore_errors=True)

    def __call__(self, side: str, task: dict) -> dict:
        self.count += 1
        name = f"{self.count:02d}_{side}_{task.get('label', task['kind'])}"
        folder = OUT / "tasks"
        folder.mkdir(parents=True, exist_ok=True)
        task = {**task, "threads": self.threads, "workdir": str(OUT / "work")}
        Path(task["workdir"]).mkdir(parents=True, exist_ok=True)
        task_path, result_path, log_path = (
            folder / f"{name}.json",
            folder / f"{name}.result.json",
            folder / f"{name}.log",
        )
        task_path.write_text(json.dumps(task, indent=2))
        result_path.unlink(missing_ok=True)
        env = {
            **os.environ,
            "TEXTCLF_HOME": str(self.home),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join([str(bc.REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        }
        script = bc.BENCH_DIR / f"{side}_side.py"
        print(f"  · {side:7s} {task.get('label', task['kind'])} …", end="", flush=True)
        started = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, str(script), str(task_path), str(result_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(bc.REPO),
            )
            # wait4 gives this child's own resource usage, so peak RSS is per measurement.
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0 or not result_path.exists():
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            print(f" failed ({tail[0][:160]}); log: {log_path.relative_to(bc.REPO)}")
            return {"error": tail[0][:300], "log": str(log_path)}
        result = json.loads(result_path.read_text())
        result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports kB
        result["process_s"] = elapsed
        print(
            f" {result['wall_s']:.1f} s, peak {result['peak_rss_mb']:.0f} MB"
            + (f", acc {result['test_accuracy']:.3f}" if "test_accuracy" in result else "")
        )
        return result


def alternate(runner: Runner, reps: int, measurements: list[tuple[str, str, dict, callable]]) -> dict:
    """Run every (key, side, task, before) ``reps`` times, reversing the order on odd repetitions.

    A repetition after the first is skipped when it would not leave the remaining cases
    their share of the time budget.
    """
    results: dict[str, list[dict]] = {key: [] for key, *_ in measurements}
    last_rep = 0.0
    for rep in range(reps):
        started = time.perf_counter()
        if rep and not runner.fits(last_rep):
            print(f"  (repetition {rep + 1} skipped to stay within the time budget)")
            break
        order = measurements if rep % 2 == 0 else list(reversed(measurements))
        for key, side, task, before in order:
            if before:
                before()
            results[key].append(runner(side, task))
        last_rep = time.perf_counter() - started
    return results


def summarise(results: list[dict]) -> dict:
    """Median of each figure over the successful repetitions."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return {"error": results[0].get("error", "failed") if results else "not run"}
    summary = {"n": len(ok)}
    for key in ("wall_s", "examples_per_s", "texts_per_s", "peak_rss_mb", "test_accuracy"):
        values = [r[key] for r in ok if key in r]
        if values:
            summary[key] = statistics.median(values)
    peaks = [r["peak_rss_mb"] for r in ok if "peak_rss_mb" in r]
    if peaks:
        summary["peak_rss_max_mb"] = max(peaks)
    summary["last"] = ok[-1]
    return summary


# --------------------------------------------------------------------------- cases
def train_task(label: str, split: Path, epochs: int, args, **extra) -> dict:
    return {
        "kind": "train",
        "label": label,
        "data": str(split),
        "model": bc.model_path(),
        "epochs": epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "seed": args.seed,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "store": str(OUT / "runs"),
        **extra,
    }


def case_full(runner, args, sizes, split, rows):
    epochs = sizes["epochs"]["full"]
    tc = train_task("full", split, epochs, args, strategy="full")
    tuned = train_task("full-tuned", split, epochs, args, variant="tuned", freeze="none", precision=args.hf_precision)
    tutorial = train_task("full-tutorial", split, epochs, args, variant="tutorial", freeze="none", precision="fp32")
    res = alternate(
        runner, sizes["reps"]["full"], [("textclf", "textclf", tc, runner.clear_cache), ("tuned", "hf", tuned, None)]
    )
    res.update(alternate(runner, sizes["reps"]["tutorial"], [("tutorial", "hf", tutorial, None)]))
    s = {k: summarise(v) for k, v in res.items()}
    setting = f"{sizes['train_rows']:,} train rows, {plural(epochs, 'epoch')}"
    rows.append(measure_row("1. Full fine-tuning", setting, "textclf (full)", s["textclf"]))
    rows.append(
        compare_row(
            "", "", f"Trainer, well configured ({args.hf_precision})", s["tuned"], s["textclf"], 2.0, accuracy=True
        )
    )
    rows.append(
        compare_row(
            "", "", "Trainer, tutorial (padding=max_length, fp32)", s["tutorial"], s["textclf"], 5.0, accuracy=True
        )
    )
    peak = s["textclf"].get("peak_rss_max_mb")  # the worst repetition, not the median
    if peak is not None:
        rows.append(
            {
                "case": "",
                "setting": "",
                "measured": "textclf full fine-tuning, peak memory (max of reps)",
                "peak": peak,
                "target": "< 2.5 GB",
                "verdict": verdict(gb(peak) < 2.5, f"{gb(peak):.2f} GB"),
            }
        )
    return s["textclf"]


def case_partial(runner, args, sizes, split, rows):
    epochs = sizes["epochs"]["partial"]
    tc = train_task("partial", split, epochs, args, strategy="partial", layers=2)
    hf = train_task(
        "partial", split, epochs, args, variant="tuned", freeze="partial", layers=2, precision=args.hf_precision
    )
    res = alternate(
        runner, sizes["reps"]["partial"], [("textclf", "textclf", tc, runner.clear_cache), ("hf", "hf", hf, None)]
    )
    s = {k: summarise(v) for k, v in res.items()}
    setting = f"top 2 layers + head, {sizes['train_rows']:,} rows, {plural(epochs, 'epoch')}"
    rows.append(measure_row("2. Partial fine-tuning", setting, "textclf (partial, layers=2)", s["textclf"]))
    rows.append(
        compare_row(
            "", "", f"Trainer, same layers frozen ({args.hf_precision})", s["hf"], s["textclf"], 3.0, accuracy=True
        )
    )


def case_features(runner, args, sizes, split, rows):
    epochs = sizes["epochs"]["features"]
    head_lr = 1e-3  # textclf's own head learning rate for a frozen encoder; the Trainer gets the same
    tc = train_task("features-cold", split, epochs, args, strategy="feature-extraction", head_lr=head_lr)
    warm = train_task(
        "features-warm",
        split,
        epochs,
        args,
        strategy="feature-extraction",
        head_lr=head_lr,
        extra_settings={"head_c": 0.5},
    )
    hf = train_task(
        "features", split, epochs, args, variant="tuned", freeze="encoder", lr=head_lr, precision=args.hf_precision
    )

    def cold_then_warm():
        runner.clear_cache()

    res: dict[str, list[dict]] = {"textclf": [], "warm": [], "hf": []}
    last_rep = 0.0
    for rep in range(sizes["reps"]["features"]):
        if rep and not runner.fits(last_rep):
            print(f"  (repetition {rep + 1} skipped to stay within the time budget)")
            break
        started = time.perf_counter()
        steps = [("textclf", tc, cold_then_warm), ("warm", warm, None)]
        order = [("hf", hf, None)] + steps if rep % 2 else steps + [("hf", hf, None)]
        for key, task, before in order:
            if before:
                before()
            res[key].append(runner("hf" if key == "hf" else "textclf", task))
        last_rep = time.perf_counter() - started
    s = {k: summarise(v) for k, v in res.items()}
    setting = f"{sizes['train_rows']:,} rows, {plural(epochs, 'epoch')}, head lr {head_lr:g}"
    rows.append(measure_row("3. Feature extraction", setting, "textclf (cold cache, logreg head)", s["textclf"]))
    rows.append(measure_row("", "", "textclf (warm cache, new head C=0.5)", s["warm"]))
    rows.append(
        compare_row("", "", f"Trainer, encoder frozen ({args.hf_precision}) vs cold", s["hf"], s["textclf"], 5.0)
    )
    rows.append(compare_row("", "", "Trainer, encoder frozen vs warm re-run", s["hf"], s["warm"], 20.0))


def case_predict(runner, args, sizes, split, texts, rows, trained):
    model_dir = (trained or {}).get("last", {}).get("model_dir")
    if not model_dir or not Path(model_dir).exists():
        print("  (training a model to predict with; not timed)")
        setup = runner("textclf", train_task("predict-setup", split, 1, args, strategy="full"))
        model_dir = setup.get("model_dir")
    if not model_dir:
        rows.append(
            {"case": "4. Prediction", "measured": "skipped: no textclf model could be trained", "verdict": "n/a"}
        )
        return
    common = {"kind": "predict", "texts": str(texts), "model_dir": model_dir, "max_length": args.max_length}
    tc = {**common, "label": "predict", "labels_out": str(OUT / "data" / "labels_textclf.txt")}
    hf = {**common, "label": "pipeline", "labels_out": str(OUT / "data" / "labels_pipeline.txt")}
    res = alternate(runner, sizes["reps"]["predict"], [("textclf", "textclf", tc, None), ("hf", "hf", hf, None)])
    s = {k: summarise(v) for k, v in res.items()}
    n = sum(1 for _ in open(texts, encoding="utf-8"))
    setting = f"{n:,} texts, same saved model"
    rows.append(measure_row("4. Prediction", setting, "textclf predictor", s["textclf"], rate="texts_per_s"))
    row = compare_row(
        "", "", 'pipeline("text-classification", batch_size=32)', s["hf"], s["textclf"], 3.0, rate="texts_per_s"
    )
    rows.append(row)
    if "error" not in s["textclf"] and "error" not in s["hf"]:
        a = Path(tc["labels_out"]).read_text(encoding="utf-8").split("\n")
        b = Path(hf["labels_out"]).read_text(encoding="utf-8").split("\n")
        agreement = sum(x == y for x, y in zip(a, b)) / max(1, len(b))
        rows.append(
            {
                "case": "",
                "setting": "",
                "measured": "label agreement textclf vs pipeline",
                "target": "≥ 99.5%",
                "verdict": verdict(agreement >= 0.995 and len(a) == len(b), f"{100 * agreement:.2f}%"),
            }
        )


def case_review(runner, args, sizes, review_csv, rows):
    try:
        from textclf_core.review import review  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - the feature may not exist yet
        rows.append(
            {
                "case": "5. Label review",
                "measured": f"skipped: textclf_core.review.review() is not available ({type(exc).__name__})",
                "verdict": "n/a",
            }
        )
        return
    task = {"kind": "review", "data": str(review_csv), "model": bc.model_path(), "max_length": args.max_length}
    runner.clear_cache()
    cold = runner("textclf", {**task, "label": "review-cold"})
    warm = runner("textclf", {**task, "label": "review-warm", "edit": True})
    n = sizes["review_rows"]
    setting = f"{'whole set' if n is None else f'{n:,} rows'}, 5-fold"
    rows.append(measure_row("5. Label review", setting, "textclf review, cold (empty caches)", summarise([cold])))
    row = measure_row("", "", "textclf review, warm (one label edited, embeddings cached)", summarise([warm]))
    if "error" not in cold and "error" not in warm:
        row["ratio"] = cold["wall_s"] / warm["wall_s"]
        row["verdict"] = f"warm {row['ratio']:.1f}x faster than cold (no target)"
    rows.append(row)


# --------------------------------------------------------------------------- table
def gb(mib: float) -> float:
    """MiB (what getrusage gives, /1024) to GB (10^9 bytes), the unit of the target."""
    return mib * 1024 * 1024 / 1e9


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def verdict(ok: bool, figure: str) -> str:
    return f"{'PASS' if ok else 'MISS'} ({figure})"


def measure_row(case, setting, measured, s, rate="examples_per_s") -> dict:
    row = {"case": case, "setting": setting, "measured": measured}
    if "error" in s:
        row["verdict"] = f"failed: {s['error'][:120]}"
        return row
    row.update(
        wall=s.get("wall_s"), rate=s.get(rate), peak=s.get("peak_rss_mb"), acc=s.get("test_accuracy"), n=s.get("n")
    )
    return row


def compare_row(case, setting, measured, hf, tc, target, *, accuracy=False, rate="examples_per_s") -> dict:
    row = measure_row(case, setting, measured, hf, rate=rate)
    if "error" in hf or "error" in tc:
        row["target"] = f"≥ {target:g}x"
        row.setdefault("verdict", "n/a (a side failed)")
        return row
    if rate == "texts_per_s":
        ratio = tc["texts_per_s"] / hf["texts_per_s"]
    else:
        ratio = hf["wall_s"] / tc["wall_s"]
    row["ratio"] = ratio
    ok = ratio >= target
    figure = f"{ratio:.2f}x"
    row["target"] = f"≥ {target:g}x"
    if accuracy:
        delta = 100 * (tc["test_accuracy"] - hf["test_accuracy"])
        row["target"] += ", acc ≥ −0.5 pt"
        ok = ok and delta >= -0.5 - 1e-9  # 0.5 pt lower still passes
        figure += f", acc {delta:+.1f} pt"
    row["verdict"] = verdict(ok, figure)
    return row


COLUMNS = [
    "Case",
    "Setting",
    "Measured",
    "Wall s",
    "Examples or texts /s",
    "Peak RSS",
    "Test acc",
    "textclf speed-up",
    "Target",
    "Result",
]


def cells(rows: list[dict]) -> list[list[str]]:
    """The table's cells as the reader sees them (one list per row, in COLUMNS order)."""

    def fmt(value, spec, suffix=""):
        return "" if value is None else f"{value:{spec}}{suffix}"

    table = []
    for r in rows:
        reps = f" (n={r['n']})" if r.get("n", 1) > 1 else ""
        table.append(
            [
                r.get("case", ""),
                r.get("setting", ""),
                r.get("measured", ""),
                fmt(r.get("wall"), ".1f") + (reps if r.get("wall") is not None else ""),
                fmt(r.get("rate"), ".0f"),
                "" if r.get("peak") is None else f"{gb(r['peak']):.2f} GB",
                fmt(r.get("acc"), ".3f"),
                fmt(r.get("ratio"), ".2f", "x"),
                r.get("target", ""),
                r.get("verdict", ""),
            ]
        )
    return table


def render(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|---|--:|--:|--:|--:|--:|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells(rows)])


def machine() -> str:
    import torch
    import transformers

    sys.path.insert(0, str(bc.REPO))
    try:
        from textclf_core.hardware import detect

        hw = detect().describe()
    except Exception:  # noqa: BLE001
        hw = platform.processor() or platform.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{hw}; {cores} cores usable; torch {torch.__version__}, transformers {transformers.__version__}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


RESULTS_JSON = bc.BENCH_DIR / "results" / "hf_compare.json"


def save_results(
    rows: list[dict], desc: str, when: str, threads: int, total_min: float, notes: str, results_md: str
) -> None:
    """The table and its machine into bench/results/hf_compare.json, then RESULTS.md from every result file."""
    import results_md as rmd

    record = {
        "kind": "hf_compare",
        "machine": desc,
        "date": when,
        "threads": threads,
        "total_minutes": round(total_min, 1),
        "columns": COLUMNS,
        "rows": cells(rows),
        "notes": notes.split("\n\n", 1)[1].strip() if "\n\n" in notes else "",
    }
    RESULTS_JSON.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written to {RESULTS_JSON}")
    rmd.main(["--out", results_md])


def default_hf_precision() -> str:
    """The precision textclf picks on this machine ("auto"), so both sides compute alike."""
    try:
        from textclf_core.hardware import autocast_dtype, detect

        hw = detect()
        return "bf16" if autocast_dtype(hw.device, "auto") is not None and hw.bf16 else "fp32"
    except Exception:  # noqa: BLE001
        return "fp32"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: a smoke run")
    parser.add_argument("--only", action="append", choices=CASES, help="run only this case (repeatable)")
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="torch threads on both sides (default: all cores)",
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions per case (default: per case)")
    parser.add_argument("--train-rows", type=int, default=None, help="training rows (default 2,000)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for every training case")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--lr",
        type=float,
        default=1e-4,
        help="one learning rate for both sides (5e-5 barely moves MiniLM in one epoch of 2,000 rows)",
    )
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--hf-precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="precision of the well-configured Trainer (auto: what textclf uses on this machine)",
    )
    parser.add_argument(
        "--results",
        default=str(bc.BENCH_DIR / "RESULTS.md"),
        help="where bench/results_md.py writes the page of all results ('-': write nothing); --quick never writes",
    )
    parser.add_argument(
        "--budget-min",
        type=float,
        default=28.0,
        help="skip extra repetitions when the whole run would take longer (minutes)",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    sizes = json.loads(json.dumps(SIZES["quick" if args.quick else "normal"]))
    if args.train_rows:
        sizes["train_rows"] = args.train_rows
    if args.epochs:
        sizes["epochs"] = {k: args.epochs for k in sizes["epochs"]}
    if args.reps:
        sizes["reps"] = {k: args.reps for k in sizes["reps"]}
    if args.hf_precision == "auto":
        args.hf_precision = default_hf_precision()
    cases = args.only or list(CASES)

    started = time.perf_counter()
    desc = machine()
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(
        f"textclf benchmark on {desc}; {when}\nthreads {args.threads}, batch {args.batch_size}, lr {args.lr:g}, "
        f"max length {args.max_length}, seed {args.seed}{', QUICK' if args.quick else ''}"
    )
    split, texts, review_csv = prepare_data(sizes, args.seed)
    runner = Runner(args.threads, args.verbose)
    shutil.rmtree(OUT / "runs", ignore_errors=True)
    shutil.rmtree(OUT / "work", ignore_errors=True)
    rows: list[dict] = []
    trained = None
    runner.deadline = started + 60 * args.budget_min
    for index, case in enumerate(cases):
        # Minutes one repetition of each later case takes on 2 cores (measured), kept in reserve.
        runner.reserve = 60 * sum(FIRST_REP_MIN[c] for c in cases[index + 1 :]) * (0.1 if args.quick else 1)
        print(f"\n[{case}]")
        if case == "full":
            trained = case_full(runner, args, sizes, split, rows)
        elif case == "partial":
            case_partial(runner, args, sizes, split, rows)
        elif case == "features":
            case_features(runner, args, sizes, split, rows)
        elif case == "predict":
            case_predict(runner, args, sizes, split, texts, rows, trained)
        elif case == "review":
            case_review(runner, args, sizes, review_csv, rows)
        shutil.rmtree(OUT / "work", ignore_errors=True)  # Trainer checkpoints: hundreds of MB each

    total = time.perf_counter() - started
    table = render(rows)
    notes = (
        f"Machine: {desc}; {when}. Threads: {args.threads} on both sides.\n\n"
        f"Both sides: bundled all-MiniLM-L6-v2, movie reviews ({sizes['train_rows']:,} train / "
        f"{sizes['val_rows']:,} validation / {sizes['test_rows']:,} test rows, seed {args.seed}), batch "
        f"{args.batch_size}, lr {args.lr:g} (one rate for encoder and head), max length {args.max_length}, "
        f"warmup 10%, weight decay 0.01, gradient clipping 1.0, one evaluation per epoch. Wall time runs from "
        f"loading the model to a saved model with its test accuracy (imports excluded on both sides); every "
        f"figure is the median of n alternating repetitions, each in a fresh process (peak RSS = that "
        f"process's maximum resident memory). textclf precision: auto (bf16 autocast where native); the "
        f"well-configured Trainer gets the same precision ({args.hf_precision}); the tutorial Trainer runs as "
        f"written (fp32, padding to 128, checkpoint every epoch). Accuracy differences of one run on "
        f"{sizes['test_rows']:,} test rows carry sampling noise of about ±"
        f"{200 * (0.16 / sizes['test_rows']) ** 0.5:.1f} pt (2 standard errors at 80% accuracy). "
        f"Total bench time {total / 60:.1f} min.\n"
    )
    print("\n" + table + "\n\n" + notes)
    if not args.quick and args.results != "-" and not args.only:
        save_results(rows, desc, when, args.threads, total / 60, notes, args.results)
    elif args.only and args.results != "-" and not args.quick:
        print("(--only: bench/results/hf_compare.json and RESULTS.md are left as they were; they hold whole runs only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
