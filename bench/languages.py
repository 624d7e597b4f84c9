"""Every language read right: the TF-IDF baseline and label review on the Chinese, Russian and English samples.

For each sample set (sample_data/, exported by `make sample-data`):

- TF-IDF before (today's analyzers: word 1-2 + char_wb 2-5) and after (the analyzers chosen from the data's
  language: segmented words 1-2 + char 1-3 for scripts without spaces, unchanged otherwise), test accuracy
  and macro-F1 on one seeded 70/10/20 split, the same for both;
- label review with 5% of the labels flipped (seeded): precision@k of the ranking (k = number flipped), the
  method the review used (it falls back to TF-IDF when the encoder cannot read the texts), and the relabel
  suggestions that come from conflict groups whose texts share no word (after: the grouping's rule; before:
  the same embeddings grouped without it, as the review did until now);
- wall time of the whole set.

Auto at the default budget is not run here (too slow on a shared 2-core machine): its column says so.

    .venv/bin/python bench/languages.py                       # all four sets
    .venv/bin/python bench/languages.py --sets chinese_reviews --review-rows 2000

Writes bench/results/languages.json and prints a markdown table. Not run by `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SETS = ("chinese_reviews", "russian_senses", "movie_reviews", "bbc_news")


def baseline_scores(frame, seed: int = 0) -> dict:
    """Test accuracy / macro-F1 of the baseline with today's analyzers and with the language's, one split."""

    from textclf_core.config import RunConfig
    from textclf_core.data import assign_splits
    from textclf_core.evaluation.metrics import compute_metrics
    from textclf_core.labels import LabelSpace
    from textclf_core.strategies.baseline import train_baseline

    splits = assign_splits(frame["label"], val_size=0.1, test_size=0.2, seed=seed)
    train, val, test = (frame[splits == s] for s in ("train", "validation", "test"))
    space = LabelSpace.from_labels(frame["label"])
    out = {"split": {"train": len(train), "validation": len(val), "test": len(test)}}
    for name, extra in (("before", {"baseline_features": "words"}), ("after", {})):
        t = time.perf_counter()
        model = train_baseline(RunConfig(strategy="baseline", seed=seed, extra=extra), train, val, space)
        m = compute_metrics(
            space.encode(list(test["label"])), model.predict_proba(test["text"].tolist()), space.classes
        )
        out[name] = {
            "features": model.info["features"],
            "accuracy": round(float(m["accuracy"]), 4),
            "macro_f1": round(float(m["macro_f1"]), 4),
            "seconds": round(time.perf_counter() - t, 1),
        }
    out["gain_points"] = round(100 * (out["after"]["accuracy"] - out["before"]["accuracy"]), 2)
    return out


def unrelated_suggestions(conflicts, texts: list[str]) -> int:
    """Relabel suggestions (suggested label differs from the given one) in conflict groups holding two texts
    that share no word."""
    from textclf_core.review import word_sets

    count = 0
    for _, members in conflicts.groupby("group"):
        words = word_sets([texts[int(r)] for r in members["row"]])
        unrelated = any(a.isdisjoint(b) for i, a in enumerate(words) for b in words[i + 1 :])
        if unrelated:
            suggested = members["suggested_label"]
            count += int((suggested.notna() & (suggested != members["given_label"])).sum())
    return count


def review_scores(frame, seeds: list[int], before: bool) -> dict:
    """Label review with 5% flipped labels: precision@k, method used, unrelated suggestions."""
    import numpy as np
    import pandas as pd
    from label_noise import flip_labels, precision_at_k

    from textclf_core import review as R

    texts = frame["text"].astype(str).tolist()
    out: dict = {"rows": len(frame), "per_seed": []}
    for seed in seeds:
        noisy, flipped = flip_labels(frame["label"].tolist(), 0.05, seed=seed)
        data = pd.DataFrame({"row": range(len(frame)), "text": texts, "label": noisy})
        R.clear_memory_cache()
        t = time.perf_counter()
        result = R.review(data, method="combined", cache=False)
        entry = {
            "seed": seed,
            "precision_at_k": round(precision_at_k(result.quality, flipped), 3),
            "k": len(flipped),
            "method": result.summary["method"],
            "reads_note": result.summary.get("reads_note", ""),
            "likely_mislabels": result.summary["likely_mislabels"],
            "conflict_groups": result.summary["conflict_groups"],
            "unrelated_suggestions": unrelated_suggestions(result.conflicts, texts),
            "links_refused": result.summary.get("links_refused", 0),
            "seconds": round(time.perf_counter() - t, 1),
        }
        if before and seed == seeds[0]:
            entry["unrelated_suggestions_before"] = _suggestions_without_the_rule(texts, noisy)
        out["per_seed"].append(entry)
        print(f"    review seed {seed}: {entry}", flush=True)
    out["precision_at_k"] = round(float(np.mean([e["precision_at_k"] for e in out["per_seed"]])), 3)
    out["unrelated_suggestions"] = sum(e["unrelated_suggestions"] for e in out["per_seed"])
    out["method"] = out["per_seed"][0]["method"]
    return out


def _suggestions_without_the_rule(texts: list[str], labels: list[str]) -> int:
    """What the review suggested until now: the bundled encoder's embeddings grouped at 0.95 without the
    shared-word rule (texts not given to the grouping), conflicts and their suggestions counted."""
    from textclf_core import review as R
    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.engine import encoders as features

    x = R.normalize_rows(features.embed(texts, DEFAULT_MODEL))
    groups = R.find_near_duplicates(x, 0.95, labels=labels)
    return unrelated_suggestions(R.find_conflicts(groups), texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--seeds", default="0", help="flip seeds for the review, comma separated")
    parser.add_argument(
        "--review-rows",
        type=int,
        default=4000,
        help="seeded subset of this many rows for the review (the encoder pass bounds the time)",
    )
    parser.add_argument(
        "--no-before-review",
        action="store_true",
        help="skip the old grouping's count (one encoder pass over the review rows)",
    )
    parser.add_argument("--out", default=str(BENCH / "results" / "languages.json"))
    args = parser.parse_args()
    os.environ.setdefault("TEXTCLF_HOME", str(BENCH / "out" / "languages_home"))

    import pandas as pd

    from textclf_core import hardware
    from textclf_core.data.language import detect

    hardware.configure_threads()
    report = {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()[0], "auto": "not run", "sets": {}}
    for name in args.sets.split(","):
        start = time.perf_counter()
        frame = pd.read_csv(REPO / "sample_data" / f"{name}.csv")[["text", "label"]].astype(str)
        profile = detect(frame["text"])
        print(f"{name}: {len(frame):,} rows, {profile.sentence()}", flush=True)
        entry = {
            "rows": len(frame),
            "classes": int(frame["label"].nunique()),
            "language": profile.main,
            "needs_segmentation": profile.needs_segmentation,
        }
        entry["tfidf"] = baseline_scores(frame)
        print(f"  tfidf: {entry['tfidf']}", flush=True)
        subset = frame.sample(n=min(args.review_rows, len(frame)), random_state=0).reset_index(drop=True)
        entry["review"] = review_scores(
            subset, [int(s) for s in args.seeds.split(",")], before=not args.no_before_review
        )
        entry["wall_s"] = round(time.perf_counter() - start, 1)
        entry["load_average_at_end"] = os.getloadavg()[0]
        report["sets"][name] = entry
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(report))
    print(f"wrote {out}")
    return 0


def table(report: dict) -> str:
    """The results as a markdown table (the README's)."""
    lines = [
        "| set | rows | language | TF-IDF before | TF-IDF after | gain (points) | review precision@k (method) "
        "| suggestions from texts sharing no word (before → after) | auto (default budget) | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in report["sets"].items():
        tf, rv = e["tfidf"], e["review"]
        before = rv["per_seed"][0].get("unrelated_suggestions_before")
        shared = f"{before} → {rv['unrelated_suggestions']}" if before is not None else str(rv["unrelated_suggestions"])
        lines.append(
            f"| {name} | {e['rows']:,} | {e['language']} | {tf['before']['accuracy']:.3f} "
            f"({tf['before']['features']}) | {tf['after']['accuracy']:.3f} ({tf['after']['features']}) "
            f"| {tf['gain_points']:+.1f} | {rv['precision_at_k']:.3f} ({rv['method']}, {rv['rows']:,} rows) "
            f"| {shared} | {report.get('auto', 'not run')} | {e['wall_s']:.0f} s |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
