"""Active learning on the sample data: each queue strategy against random order, and the retrain time.

A simulated labeller labels the rows the queue asks for (the gold labels stay hidden until a
row is asked for); the fast model retrains every 20 labels, as on the Label page. At 50, 100,
200 and 400 labels the fast model is scored on a held-out test split (macro-F1), for 5 seeds.
``entropy-nodiv`` is entropy without the diversity step (what diversity is worth).
Then a warm background retrain (features built, 5-fold estimate included) on 2,000 labelled
rows of the 12.7k movie reviews is timed: median of 5.

    nice .venv/bin/python bench/active.py                    # both sets, 5 seeds (a few minutes)
    nice .venv/bin/python bench/active.py --data bbc_news --seeds 0,1

Writes bench/results/active.json and prints the table in docs/labelling.md. Not run by `make test`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STRATEGIES = ["entropy", "margin", "entropy-nodiv", "random"]
BUDGETS = [50, 100, 200, 400]


def split(frame, seed: int = 0, test_size: float = 0.2):
    from sklearn.model_selection import train_test_split

    pool, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=frame["label"])
    return pool.reset_index(drop=True), test.reset_index(drop=True)


def run_data(name: str, seeds: list[int], strategies: list[str]) -> dict:
    import pandas as pd

    from textclf_core.labelling import active

    frame = pd.read_csv(REPO / "sample_data" / f"{name}.csv", keep_default_na=False)
    pool, test = split(frame)
    start = time.perf_counter()
    features = active.build_features(pool["text"].tolist())
    feature_s = time.perf_counter() - start
    X_test = features.transform(test["text"].tolist())
    out = {"rows": len(frame), "pool": len(pool), "test": len(test), "features_s": round(feature_s, 2), "scores": {}}
    for strategy in strategies:
        base, diversity = (strategy.split("-")[0], False) if strategy.endswith("-nodiv") else (strategy, True)
        per_budget = {b: [] for b in BUDGETS}
        t0 = time.perf_counter()
        for seed in seeds:
            for rec in active.simulate(
                pool["text"].tolist(),
                pool["label"].tolist(),
                test["text"].tolist(),
                test["label"].tolist(),
                strategy=base,
                budgets=BUDGETS,
                seed=seed,
                features=features,
                diversity=diversity,
                X_test=X_test,
            ):
                per_budget[min(BUDGETS, key=lambda b: abs(b - rec["labels"]))].append(rec["macro_f1"])
        out["scores"][strategy] = {
            str(b): {"mean": statistics.mean(v), "std": statistics.pstdev(v), "runs": v} for b, v in per_budget.items()
        }
        print(
            f"{name} {strategy}: "
            + ", ".join(f"{b}: {statistics.mean(v):.3f}±{statistics.pstdev(v):.3f}" for b, v in per_budget.items())
            + f"  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    return out


def time_retrain(repeats: int = 5) -> dict:
    """A warm retrain as the page runs it: fit on 2,000 labels, probabilities for all rows, 5-fold estimate."""
    import numpy as np
    import pandas as pd

    from textclf_core.labelling import active

    frame = pd.read_csv(REPO / "sample_data" / "movie_reviews.csv", keep_default_na=False)
    start = time.perf_counter()
    features = active.build_features(frame["text"].tolist())
    cold = time.perf_counter() - start
    session = active.LabellingSession(
        frame["text"].tolist(), sorted(set(frame["label"])), scheduler=active.ManualScheduler(), features=features
    )
    rows = np.random.default_rng(0).choice(len(frame), 2000, replace=False)
    for r in rows:
        session.log.append(int(r), "relabel", new_label=frame["label"][r])
    times = []
    for _ in range(repeats):
        session.request_retrain()
        t = time.perf_counter()
        session.scheduler.run_pending()
        times.append(time.perf_counter() - t)
        session.next_rows(20)  # the queue order for the new model is part of what the user waits for
        times[-1] = time.perf_counter() - t
    assert session.model is not None and session.model.n_labels == 2000
    return {
        "rows": len(frame),
        "labels": 2000,
        "features_cold_s": round(cold, 2),
        "retrain_warm_s_median": round(statistics.median(times), 3),
        "retrain_warm_s": [round(t, 3) for t in times],
        "estimate": session.model.estimate.to_dict(),
    }


def table(results: dict) -> str:
    lines = [
        "| data | strategy | " + " | ".join(f"{b} labels" for b in BUDGETS) + " |",
        "|---|---|" + "---|" * len(BUDGETS),
    ]
    for name, res in results["data"].items():
        for strategy, scores in res["scores"].items():
            cells = [f"{scores[str(b)]['mean']:.3f} ± {scores[str(b)]['std']:.3f}" for b in BUDGETS]
            lines.append(f"| {name} | {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", help="movie_reviews and/or bbc_news (default both)")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "active.json"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {"seeds": seeds, "budgets": BUDGETS, "retrain_every": 20, "data": {}}
    for name in args.data or ["movie_reviews", "bbc_news"]:
        results["data"][name] = run_data(name, seeds, args.strategies.split(","))
    if not args.no_timing:
        results["retrain"] = time_retrain()
        print(
            f"warm retrain on 2,000 of {results['retrain']['rows']:,} rows: "
            f"median {results['retrain']['retrain_warm_s_median']} s (target < 5 s)",
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
