"""Few-shot mode (SetFit-style) vs feature extraction vs full fine-tuning, with k labelled texts per class.

    .venv/bin/python bench/fewshot.py [--seeds 10] [--k 8 64] [--test 300] [--threads 1]
        [--methods feature-extraction few-shot full] [--max-pairs 1000] [--out …]
    .venv/bin/python bench/fewshot.py --table [--out …]     # mean ± std (n) as a markdown table

For each seed, dataset (movie reviews, BBC news) and k: draw k texts per class (seeded) from
the rows outside a fixed stratified test sample, then score on that test sample:
- feature-extraction: frozen bundled MiniLM mean-pooled embeddings + logistic regression;
- few-shot: ``train_fewshot`` (contrastive tuning of the same encoder on at most ``--max-pairs``
  pairs, 20 per text, 1 epoch, lr 2e-5, then logistic regression);
- full: full fine-tuning through ``runner.execute(strategy="full")`` on the same k texts per class.
  Fine-tuning needs a validation split to pick its checkpoint; no extra labels are spent on it:
  the training rows are also the validation rows (so the best epoch by training-set F1 is kept,
  early stopping off). Epochs/batch: 10 epochs, batch 8 at k ≤ 16; 5 epochs, batch 16 above
  (16–320 rows: too few optimiser steps otherwise); lr 5e-5 (head 10x), max length 64;
- augmentation (opt-in, ``--methods augmentation``): feature extraction on the k texts + 2 variants.
Results are appended to the JSON file after every measurement; a re-run skips cells already there.
Seeds are the outer loop, so a run stopped early still covers every cell with fewer draws.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = {
    "feature-extraction": "feature-extraction",
    "few-shot": "few-shot (SetFit-style)",
    "full": "full fine-tuning",
    "augmentation": "feature-extraction + augmentation",
}


def full_settings(k: int) -> dict:
    """Epochs and batch size for full fine-tuning on k texts per class (enough optimiser steps)."""
    return {"epochs": 10, "batch_size": 8} if k <= 16 else {"epochs": 5, "batch_size": 16}


def table(records: list[dict]) -> str:
    """Markdown: mean ± std (n) of accuracy and macro-F1 per dataset, k and method; paired gains."""
    cells: dict = {}
    for r in records:
        cells.setdefault((r["dataset"], r["k"], r["method"]), []).append(r)

    def ms(values):
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} ± {spread:.3f} ({len(values)})"

    order = list(METHODS.values())

    def key(item):
        (d, k, m), _ = item
        return d, k, order.index(m) if m in order else 99

    lines = [
        "| dataset | k per class | method | accuracy mean ± std (n) | macro-F1 mean ± std (n) | seconds (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for (d, k, m), rs in sorted(cells.items(), key=key):
        lines.append(
            f"| {d} | {k} | {m} | {ms([r['accuracy'] for r in rs])} | {ms([r['macro_f1'] for r in rs])} "
            f"| {statistics.mean(r['seconds'] for r in rs):.1f} |"
        )
    # Paired by seed (same draw): the gain of few-shot and of full fine-tuning over feature extraction.
    gains = [
        "",
        "| dataset | k per class | vs feature extraction (same draws) | accuracy gain mean ± std (n) |",
        "|---|---|---|---|",
    ]
    for d, k in sorted({(d, k) for d, k, _ in cells}):
        fe = {r["seed"]: r["accuracy"] for r in cells.get((d, k, METHODS["feature-extraction"]), [])}
        for name in ("few-shot", "full"):
            other = {r["seed"]: r["accuracy"] for r in cells.get((d, k, METHODS[name]), [])}
            diffs = [other[s] - fe[s] for s in sorted(set(fe) & set(other))]
            if diffs:
                spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
                gains.append(
                    f"| {d} | {k} | {METHODS[name]} | {statistics.mean(diffs):+.3f} ± {spread:.3f} ({len(diffs)}) |"
                )
    return "\n".join(lines + gains)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--k", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-pairs", type=int, default=1000, help="contrastive pairs per few-shot training")
    parser.add_argument("--datasets", nargs="+", default=["movie_reviews", "bbc_news"])
    parser.add_argument(
        "--methods", nargs="+", choices=sorted(METHODS), default=["feature-extraction", "few-shot", "full"]
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fewshot.json"))
    parser.add_argument("--table", action="store_true", help="print the markdown table of --out and stop")
    args = parser.parse_args()
    out_path = Path(args.out)
    records = json.loads(out_path.read_text()) if out_path.exists() else []
    if args.table:
        print(table(records))
        return
    os.environ.setdefault("TEXTCLF_HOME", tempfile.mkdtemp(prefix="textclf-fewshot-"))

    import pandas as pd
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    torch.set_num_threads(args.threads)
    from textclf_core import hardware
    from textclf_core.config import DEFAULT_MODEL, RunConfig
    from textclf_core.engine.encoders import embed
    from textclf_core.pipeline.runner import execute
    from textclf_core.store.runs import RunStore
    from textclf_core.strategies.fewshot import augment, train_fewshot

    device = hardware.detect().device
    store = RunStore(tempfile.mkdtemp(prefix="textclf-fewshot-runs-"))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["dataset"], r["k"], r["seed"], r["method"]) for r in records}

    def save(record):
        records.append(record)
        out_path.write_text(json.dumps(records, indent=1))
        print(record, flush=True)

    def scores(y, pred):
        return {
            "accuracy": round(float(accuracy_score(y, pred)), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
        }

    def feature_head(train_texts, train_labels, test_x):
        x = embed(train_texts, DEFAULT_MODEL, max_length=64)
        return LogisticRegression(C=1.0, max_iter=2000).fit(x, train_labels).predict(test_x)

    def full_finetune(texts, labels, test_texts, y_test, k, seed):
        rows = (
            [(t, y, "train") for t, y in zip(texts, labels)]
            + [(t, y, "validation") for t, y in zip(texts, labels)]
            + [(t, y, "test") for t, y in zip(test_texts, y_test)]
        )
        frame = pd.DataFrame(rows, columns=["text", "label", "split"])
        config = RunConfig(
            strategy="full",
            model=DEFAULT_MODEL,
            max_length=64,
            seed=seed,
            lr=5e-5,
            early_stopping_patience=None,
            num_threads=args.threads,
            text_col="text",
            label_col="label",
            split_col="split",
            **full_settings(k),
        )
        run = execute(config, frame, store=store, raise_errors=True)
        ev = json.loads((run.path / "eval.json").read_text())
        shutil.rmtree(run.path, ignore_errors=True)  # ~90 MB of weights per run
        return {
            "accuracy": round(ev["accuracy"], 4),
            "macro_f1": round(ev["macro_f1"], 4),
            "train_seconds": ev["train_seconds"],
            **full_settings(k),
        }

    data = {}
    for name in args.datasets:
        frame = pd.read_csv(ROOT / "sample_data" / f"{name}.csv").dropna()
        test = frame.groupby("label", group_keys=False).sample(frac=args.test / len(frame), random_state=123)
        test_texts, y_test = test["text"].astype(str).tolist(), test["label"].astype(str).tolist()
        data[name] = (frame.drop(test.index), test_texts, y_test, embed(test_texts, DEFAULT_MODEL, max_length=64))
    for seed in range(args.seeds):
        for name, (pool, test_texts, y_test, test_x) in data.items():
            for k in args.k:
                draw = pool.groupby("label", group_keys=False).sample(n=k, random_state=seed)
                texts, labels = draw["text"].astype(str).tolist(), draw["label"].astype(str).tolist()
                base = {
                    "dataset": name,
                    "k": k,
                    "seed": seed,
                    "n_test": len(test_texts),
                    "max_pairs": args.max_pairs,
                    "device": device,
                    "threads": args.threads,
                }
                for key in args.methods:
                    method = METHODS[key]
                    if (name, k, seed, method) in done:
                        continue
                    t = time.time()
                    if key == "feature-extraction":
                        result = scores(y_test, feature_head(texts, labels, test_x))
                    elif key == "augmentation":
                        aug_texts, aug_labels = augment(texts, labels, copies=2, seed=seed)
                        result = scores(y_test, feature_head(aug_texts, aug_labels, test_x))
                    elif key == "few-shot":
                        model = train_fewshot(
                            texts, labels, pairs_per_example=20, max_pairs=args.max_pairs, seed=seed, device=device
                        )
                        result = scores(y_test, model.predict(test_texts))
                    else:
                        result = full_finetune(texts, labels, test_texts, y_test, k, seed)
                    save({**base, "method": method, **result, "seconds": round(time.time() - t, 1)})
    print(table(records))


if __name__ == "__main__":
    main()
