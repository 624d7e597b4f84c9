"""Consensus and annotator quality with simulated annotators on the bundled samples.

Four simulated annotators label a random sample of each labelled set: three wrong at a known rate
(5%, 15%, 30%; a wrong answer is another class, uniformly) and one who answers at random. Each text
goes to 2 or 3 of them, drawn at random. Reported, per set and annotators per text, mean over seeds:

- consensus accuracy against the true labels: majority vote (ties to the class chosen more often
  overall) and CROWDLAB (cleanlab.multiannotator, with out-of-sample TF-IDF probabilities from
  ``review.oof.out_of_sample_proba``, as the Team page computes them);
- Spearman correlation between each annotator's estimated quality (CROWDLAB; and the agreement with
  the others' majority) and their true accuracy (1 - error rate; random: 1 - 1/K).

    nice .venv/bin/python bench/teams.py                       # both sets, 5 seeds, 1,000 texts (about 2 min)
    nice .venv/bin/python bench/teams.py --data bbc_news --seeds 0 --texts 500

Writes bench/results/teams.json and prints a markdown table. Not run by `make test`.
Targets (issue 26): CROWDLAB beats majority; Spearman >= 0.9.
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

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ERRORS = {"careful (5%)": 0.05, "good (15%)": 0.15, "hasty (30%)": 0.30, "random": None}
DATASETS = {
    "movie_reviews": REPO / "sample_data" / "movie_reviews.csv",
    "bbc_news": REPO / "sample_data" / "bbc_news.csv",
}


def simulate(truth: list[str], classes: list[str], per_text: int, seed: int) -> pd.DataFrame:
    """Each text labelled by ``per_text`` of the simulated annotators, drawn at random."""
    rng = np.random.default_rng(seed)
    people = list(ERRORS)
    rows = []
    for r, true in enumerate(truth):
        for who in rng.choice(people, size=per_text, replace=False):
            rate = ERRORS[who]
            if rate is None:
                label = classes[rng.integers(len(classes))]
            elif rng.random() < rate:
                label = rng.choice([c for c in classes if c != true])
            else:
                label = true
            rows.append({"row": r, "annotator": str(who), "label": str(label), "time": f"{r:06d}"})
    return pd.DataFrame(rows)


def spearman(quality: pd.DataFrame, classes: list[str]) -> float:
    from scipy.stats import spearmanr

    true_acc = {who: 1 - (rate if rate is not None else 1 - 1 / len(classes)) for who, rate in ERRORS.items()}
    q = quality.set_index("annotator")["quality"]
    return float(spearmanr([q[w] for w in ERRORS], [true_acc[w] for w in ERRORS]).statistic)


def one(name: str, per_text: int, seed: int, n_texts: int) -> dict:
    from textclf_core.labelling import team

    data = pd.read_csv(DATASETS[name])
    data = data.sample(min(n_texts, len(data)), random_state=seed).reset_index(drop=True)
    texts, truth = data["text"].astype(str).tolist(), data["label"].astype(str).tolist()
    classes = sorted(set(truth))
    frame = simulate(truth, classes, per_text, seed)
    gold = np.asarray(truth)
    started = time.perf_counter()
    maj = team.consensus(frame, classes, method="majority")
    t_major = time.perf_counter() - started
    started = time.perf_counter()
    probs = team.out_of_sample_probs(texts, frame, classes, seed=seed)
    crowd, quality = team.crowdlab(frame, classes, probs)
    t_crowd = time.perf_counter() - started
    return {
        "data": name,
        "per_text": per_text,
        "seed": seed,
        "texts": len(data),
        "majority_accuracy": float((maj["label"].to_numpy() == gold[maj["row"]]).mean()),
        "crowdlab_accuracy": float((crowd["label"].to_numpy() == gold[crowd["row"]]).mean()),
        "spearman_crowdlab": spearman(quality, classes),
        "spearman_majority": spearman(team.annotator_quality(frame, classes), classes),
        "quality": dict(zip(quality["annotator"], quality["quality"].round(3))),
        "seconds_majority": round(t_major, 3),
        "seconds_crowdlab": round(t_crowd, 2),
    }


def summarise(results: list[dict]) -> list[dict]:
    keys = ["majority_accuracy", "crowdlab_accuracy", "spearman_crowdlab", "spearman_majority", "seconds_crowdlab"]
    out = []
    for (name, k), group in pd.DataFrame(results).groupby(["data", "per_text"], sort=False):
        out.append(
            {
                "data": name,
                "per_text": int(k),
                "seeds": len(group),
                "texts": int(group["texts"].iloc[0]),
                **{key: round(statistics.mean(group[key]), 3) for key in keys},
                "spearman_crowdlab_min": round(float(group["spearman_crowdlab"].min()), 3),
            }
        )
    return out


def table(summary: list[dict]) -> str:
    lines = [
        "| data | annotators per text | texts | majority acc. | CROWDLAB acc. | Spearman (CROWDLAB) "
        "| Spearman (majority agreement) | CROWDLAB s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['data']} | {s['per_text']} | {s['texts']} | {s['majority_accuracy']:.3f} | "
            f"{s['crowdlab_accuracy']:.3f} | {s['spearman_crowdlab']:.2f} (min {s['spearman_crowdlab_min']:.2f}) | "
            f"{s['spearman_majority']:.2f} | {s['seconds_crowdlab']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=",".join(DATASETS))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "teams.json"))
    args = parser.parse_args()
    results = []
    for name in args.data.split(","):
        for per_text in (2, 3):
            for seed in (int(s) for s in args.seeds.split(",")):
                results.append(one(name, per_text, seed, args.texts))
                print(json.dumps(results[-1]), file=sys.stderr)
    summary = summarise(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"annotators": {k: v for k, v in ERRORS.items()}, "summary": summary, "runs": results},
            indent=1,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    print(table(summary))


if __name__ == "__main__":
    main()
