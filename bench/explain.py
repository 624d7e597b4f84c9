"""Explanation speed and faithfulness on a trained run.

    .venv/bin/python bench/explain.py RUN_FOLDER [--texts 30] [--threads 1]

- seconds to explain one ~128-token text (median of 3);
- faithfulness: mean drop of the predicted class's probability when the 3 most attributed words
  are deleted vs 3 random words, over held-out movie reviews with at least 6 words.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--texts", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import numpy as np
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    from textclf_core.models import explain as ex
    from textclf_core.models.predict import load_predictor

    predictor = load_predictor(Path(args.run))
    words = pd.read_csv(ROOT / "sample_data" / "bbc_news.csv")["text"].iloc[0].split()
    long_text = " ".join(words[:100])
    if hasattr(predictor.model, "tokenizer"):  # about 128 tokens
        while len(predictor.model.tokenizer(long_text)["input_ids"]) > 128:
            long_text = long_text.rsplit(" ", 1)[0]
    n_tokens = len(predictor.model.tokenizer(long_text)["input_ids"]) if hasattr(predictor.model, "tokenizer") else None
    ex.explain(predictor, long_text)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        long_e = ex.explain(predictor, long_text)
        times.append(time.perf_counter() - t)
    texts = pd.read_csv(Path(args.run) / "predictions.csv")["text"].astype(str).tolist()
    rng = np.random.default_rng(0)
    top, rand = [], []
    for text in texts:
        e = ex.explain(predictor, text)
        words = [i for i, w in enumerate(e.words) if w.isalnum()]
        if len(words) < 6:
            continue
        best = sorted(words, key=lambda i: -e.scores[i])[:3]
        top.append(ex.deletion_drop(predictor, text, best, target=e.label))
        rand.append(ex.deletion_drop(predictor, text, list(rng.choice(words, 3, replace=False)), target=e.label))
        if len(top) >= args.texts:
            break
    print(
        json.dumps(
            {
                "method": long_e.method,
                "words": len(long_e.words),
                "tokens": n_tokens,
                "max_length": predictor.model.max_length,
                "threads": args.threads,
                "seconds_per_explanation": round(statistics.median(times), 2),
                "n_texts": len(top),
                "mean_drop_top3": round(float(np.mean(top)), 4),
                "mean_drop_random3": round(float(np.mean(rand)), 4),
                "share_top3_beats_random": round(float(np.mean(np.array(top) > np.array(rand))), 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
