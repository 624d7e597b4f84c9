"""Label review on the real sample data: flipped-label precision@k and timings.

For each data set, 5% of the labels are flipped at random (seeded) and the review
ranks every row by label quality; precision@k is the share of the k lowest-quality
rows (k = number flipped) that are flipped rows. Timings: one embedding pass alone
(empty cache), a cold review (empty review cache, embeddings cached: the review's
own cost on top of the pass), a warm second review of the same data, and a review
after one label edit (embeddings cached, everything else recomputed).

    .venv/bin/python bench/review_quality.py                     # both sets, full size
    .venv/bin/python bench/review_quality.py --rows 3000 --seeds 0
    .venv/bin/python bench/review_quality.py --data bbc_news --methods combined,tfidf
    .venv/bin/python bench/review_quality.py --data movie_reviews --methods thorough --keep-cache
    .venv/bin/python bench/review_quality.py --data chinese_reviews --data russian_senses --methods combined,tfidf

On a set the encoder cannot read (the Chinese sample through MiniLM: 64% unknown tokens) the review falls
back to TF-IDF of segmented words and characters; the method it used is recorded per set ("method_used").
bench/languages.py gives the per-language table (baseline before/after, review, unrelated suggestions).

Writes a JSON summary to bench/out/review_quality.json. Not run by `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        action="append",
        help="movie_reviews, bbc_news, chinese_reviews, russian_senses (default: the first two)",
    )
    parser.add_argument("--rows", type=int, default=None, help="seeded subset of this many rows")
    parser.add_argument("--seeds", default="0,1,2", help="flip seeds, comma separated")
    parser.add_argument("--methods", default="combined,embeddings,tfidf")
    parser.add_argument(
        "--repeats", type=int, default=None, help="rounds of cross-validation (default: review()'s own, 3)"
    )
    parser.add_argument(
        "--home",
        default=str(REPO / "bench" / "out" / "review_home"),
        help="TEXTCLF_HOME for the caches (emptied first)",
    )
    parser.add_argument("--keep-cache", action="store_true", help="do not empty the caches first")
    parser.add_argument("--out", help="JSON summary file (default bench/out/review_quality.json)")
    args = parser.parse_args()

    home = Path(args.home)
    if not args.keep_cache:
        shutil.rmtree(home, ignore_errors=True)
    os.environ["TEXTCLF_HOME"] = str(home)

    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd
    from label_noise import flip_labels, precision_at_k  # bench/, beside this script

    from textclf_core import hardware
    from textclf_core import review as R
    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.engine import encoders as features

    hardware.configure_threads()
    extra = {} if args.repeats is None else {"repeats": args.repeats}
    print(f"imports {time.perf_counter() - t0:.1f} s; cores {os.cpu_count()}", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report: dict = {"cores": os.cpu_count(), "load_average_at_start": load, "repeats": args.repeats, "sets": {}}
    for name in args.data or ["bbc_news", "movie_reviews"]:
        df = pd.read_csv(REPO / "sample_data" / f"{name}.csv")
        if args.rows and args.rows < len(df):
            df = df.sample(n=args.rows, random_state=0).sort_index()
        df = df.reset_index(drop=True)
        texts = df["text"].astype(str).tolist()
        entry: dict = {"rows": len(df)}

        t, cpu = time.perf_counter(), time.process_time()
        features.embed(texts, DEFAULT_MODEL)
        entry["embedding_pass_s"] = round(time.perf_counter() - t, 2)
        entry["embedding_pass_cpu_s"] = round(time.process_time() - cpu, 2)
        print(f"{name}: {len(df):,} rows, embedding pass {entry['embedding_pass_s']} s", flush=True)

        precision: dict = {}
        timings: dict = {}
        for method in args.methods.split(","):
            scores, walls, cpus = [], [], []
            for seed in [int(s) for s in args.seeds.split(",")]:
                noisy, flipped = flip_labels(df["label"].tolist(), 0.05, seed=seed)
                frame = pd.DataFrame({"row": range(len(df)), "text": texts, "label": noisy})
                R.clear_memory_cache()
                t, cpu = time.perf_counter(), time.process_time()
                result = R.review(frame, method=method, **extra)
                took = time.perf_counter() - t
                cpu = time.process_time() - cpu  # CPU seconds: less distorted than wall time on a shared box
                p = precision_at_k(result.quality, flipped)
                entry.setdefault("method_used", {})[method] = result.summary["method"]
                scores.append(p)
                walls.append(took)
                cpus.append(cpu)
                line = (
                    f"  {method:10s} seed {seed}: precision@{len(flipped)} = {p:.3f}; "
                    f"review {took:.1f} s wall, {cpu:.1f} s CPU"
                )
                if method == "combined" and seed == int(args.seeds.split(",")[0]):
                    entry["review_after_embedding_s"] = round(took, 2)
                    entry["review_after_embedding_cpu_s"] = round(cpu, 2)
                    R.clear_memory_cache()
                    t = time.perf_counter()
                    R.review(frame, method=method, **extra)
                    entry["warm_second_review_disk_s"] = round(time.perf_counter() - t, 2)
                    t = time.perf_counter()
                    R.review(frame, method=method, **extra)
                    entry["warm_second_review_memory_s"] = round(time.perf_counter() - t, 3)
                    edited = frame.copy()
                    edited.loc[0, "label"] = next(c for c in sorted(set(noisy)) if c != noisy[0])
                    t = time.perf_counter()
                    R.review(edited, method=method, **extra)
                    entry["review_after_one_edit_s"] = round(time.perf_counter() - t, 2)
                    line += (
                        f"; warm again {entry['warm_second_review_disk_s']} s (disk), "
                        f"{entry['warm_second_review_memory_s']} s (memory); after one edit "
                        f"{entry['review_after_one_edit_s']} s; found {result.summary['likely_mislabels']} "
                        f"likely mislabels"
                    )
                print(line, flush=True)
            precision[method] = {"mean": round(float(np.mean(scores)), 3), "per_seed": [round(s, 3) for s in scores]}
            timings[method] = {
                "review_wall_s": [round(v, 1) for v in walls],
                "review_cpu_s": [round(v, 1) for v in cpus],
                "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            }
        entry["precision_at_k"] = precision
        entry["timings"] = timings
        report["sets"][name] = entry
        print(json.dumps({name: entry}, indent=1), flush=True)
    out = Path(args.out) if args.out else REPO / "bench" / "out" / "review_quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
