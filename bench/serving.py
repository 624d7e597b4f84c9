"""Size, CPU speed and agreement of a fine-tuned run vs its int8 and ONNX exports.

    .venv/bin/python bench/serving.py [--rows 600] [--texts 400] [--threads 1] [--out bench/results/serving.json]

Fine-tunes the bundled MiniLM (full, 1 epoch, max length 64) on a sample of the movie
reviews, exports it as int8 and ONNX, then times prediction of held-out texts with each
(median of 5 passes, alternating between the models, after a warm-up) in this process with a fixed thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run", help="a finished transformer run folder to reuse instead of training one")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "serving.json"))
    args = parser.parse_args()

    os.environ.setdefault("TEXTCLF_HOME", tempfile.mkdtemp(prefix="textclf-bench-"))
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    from textclf_core.config import RunConfig
    from textclf_core.models import quantized as serving
    from textclf_core.models.predict import load_predictor
    from textclf_core.pipeline.runner import execute
    from textclf_core.store.runs import RunStore

    frame = pd.read_csv(ROOT / "sample_data" / "movie_reviews.csv")
    train = frame.sample(args.rows, random_state=0)
    held = frame.drop(train.index).sample(args.texts, random_state=1)["text"].astype(str).tolist()
    if args.run:
        from textclf_core.store.runs import Run

        run = Run(args.run)
    else:
        config = RunConfig(
            strategy="full",
            epochs=1,
            max_length=64,
            batch_size=16,
            lr=5e-5,
            precision="fp32",
            early_stopping_patience=None,
            num_threads=args.threads,
        )
        started = time.time()
        run = execute(config, train, store=RunStore())
        assert run.status()["state"] == "finished", run.status()
        print(f"trained in {time.time() - started:.0f} s: {run.status().get('message')} ({run.path})", flush=True)
    work = Path(tempfile.mkdtemp(prefix="textclf-export-"))
    folders = {
        "original (fp32 PyTorch)": run.model_dir,
        "int8 (dynamic, PyTorch)": serving.export(run, "int8", work / "int8"),
        "ONNX (ONNX Runtime)": serving.export(run, "onnx", work / "onnx"),
    }
    predictors = {}
    for name, folder in folders.items():
        predictor = load_predictor(folder)
        if hasattr(predictor.model, "session"):  # same thread count for ONNX Runtime
            predictor.model.__init__(folder, threads=args.threads)
        predictor.predict_proba(held[:32])  # warm-up
        predictors[name] = predictor
    # Passes alternate between the models so that load from other processes hits all alike.
    times = {name: [] for name in folders}
    labels = {}
    for _ in range(args.passes):
        for name, predictor in predictors.items():
            t = time.perf_counter()
            labels[name] = predictor.predict_proba(held).argmax(1)
            times[name].append(time.perf_counter() - t)
    reference = labels["original (fp32 PyTorch)"]
    results = []
    for name, folder in folders.items():
        weights = [p for p in Path(folder).iterdir() if p.suffix in (".safetensors", ".onnx")]
        results.append(
            {
                "model": name,
                "size_mb": round(sum(p.stat().st_size for p in weights) / 1e6, 1),
                "texts_per_s": round(len(held) / statistics.median(times[name]), 1),
                "agreement_with_original": round(float((labels[name] == reference).mean()), 4),
            }
        )
        print(results[-1], flush=True)
    out = {
        "rows_trained": None if args.run else args.rows,
        "texts": len(held),
        "threads": args.threads,
        "max_length": 64,
        "test_accuracy": run.read_json("eval.json").get("accuracy"),
        "results": results,
        "cpu": os.cpu_count(),
        "note": "shared 2-core machine; timings indicative",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
