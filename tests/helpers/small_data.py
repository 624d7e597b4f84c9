"""Small labelled tables written for the run-store, baseline, runner, predict and CLI tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

WORDS = {
    "pos": ["great", "wonderful", "loved", "superb", "delightful", "brilliant", "moving", "fun"],
    "neg": ["awful", "boring", "hated", "dull", "terrible", "mess", "tedious", "poor"],
    "neutral": ["film", "movie", "plot", "actor", "scene", "story", "camera", "script"],
}


def small_frame(n_per_class: int = 30, classes=("pos", "neg"), seed: int = 0) -> pd.DataFrame:
    """Texts that a bag of words separates easily: each class has its own words plus shared filler."""
    rng = np.random.default_rng(seed)
    rows = []
    for cls in classes:
        own = WORDS.get(cls, [f"{cls}word{i}" for i in range(8)])
        for _ in range(n_per_class):
            words = list(rng.choice(own, 3)) + list(rng.choice(WORDS["neutral"], 3))
            rng.shuffle(words)
            rows.append({"review": "the " + " ".join(words), "sentiment": cls})
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def multi_label_frame(n: int = 90, seed: int = 0) -> pd.DataFrame:
    """Texts with one or two of three topics, labels joined by ';'."""
    rng = np.random.default_rng(seed)
    topics = {
        "sport": ["goal", "match", "team"],
        "money": ["shares", "profit", "bank"],
        "tech": ["phone", "chip", "software"],
    }
    names = list(topics)
    rows = []
    for i in range(n):
        chosen = sorted(set(rng.choice(names, 1 + i % 2, replace=False)))
        words = [w for t in chosen for w in rng.choice(topics[t], 2)] + list(rng.choice(WORDS["neutral"], 2))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": ";".join(chosen)})
    return pd.DataFrame(rows)


def tiny_full_config(model, **overrides):
    """Full fine-tuning of a tiny local model in seconds (fp32, short texts, no early stop): the RunConfig the
    calibration, serving, export and runner tests train, with their own differences as ``overrides``."""
    from textclf_core.config import RunConfig

    settings = dict(
        strategy="full",
        model=str(model),
        epochs=2,
        batch_size=8,
        lr=3e-3,
        precision="fp32",
        seed=1,
        max_length=32,
        early_stopping_patience=None,
    )
    return RunConfig(**{**settings, **overrides})
