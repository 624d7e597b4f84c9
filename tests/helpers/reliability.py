"""Shared pieces of the reliability tests: small data, fast settings, and a JobManager runner
whose cancel moment is chosen by the test (the n-th time the training loop asks "should I stop?")."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd

from textclf_core.config import RunConfig
from textclf_core.pipeline.runner import execute

POS = [
    "great movie loved it wonderful",
    "superb story excellent acting",
    "fun happy good fine",
    "loved the wonderful acting",
    "excellent fun story",
]
NEG = [
    "terrible film hated it awful",
    "boring plot bad acting dull",
    "sad poor rotten bad",
    "hated the awful plot",
    "dull boring bad film",
]

PICKLE_SUFFIXES = {".bin", ".pkl", ".pickle", ".pt", ".pth", ".joblib", ".ckpt", ".h5", ".msgpack"}


def reviews(n: int = 6) -> pd.DataFrame:
    """Two-class texts made of words the tiny BERT's vocabulary knows."""
    rows = [(t, "pos") for t in POS * n] + [(t, "neg") for t in NEG * n]
    return pd.DataFrame(rows, columns=["text", "label"]).sample(frac=1, random_state=0).reset_index(drop=True)


def tiny_config(model: str | Path, **overrides) -> RunConfig:
    """A fine-tuning run of the tiny BERT that takes a couple of seconds on one core."""
    settings = dict(
        strategy="full",
        model=str(model),
        epochs=1,
        batch_size=4,
        evals_per_epoch=2,
        lr=3e-3,
        precision="fp32",
        device="cpu",
        num_threads=1,
        seed=1,
        early_stopping_patience=None,
        val_size=0.2,
        test_size=0.2,
    )
    settings.update(overrides)
    return RunConfig(**settings)


def baseline_config(**overrides) -> RunConfig:
    settings = dict(strategy="baseline", seed=1, val_size=0.2, test_size=0.2, device="cpu")
    settings.update(overrides)
    return RunConfig(**settings)


class MomentRunner:
    """The real runner, but the job cancels itself the ``k``-th time it asks whether to stop.

    ``moments`` maps a run's ``config.name`` to k (absent: never cancels by itself). For each run it
    records how many events were written before the stop was first signalled, so a test can check
    what happened after it.
    """

    def __init__(self, moments: dict[str, int] | None = None):
        self.moments = dict(moments or {})
        self.calls: dict[str, int] = {}
        self.events_at_stop: dict[str, int | None] = {}
        self.lock = threading.Lock()

    def __call__(self, config, frame, *, store, run, emit, should_stop):
        name = config.name
        k = self.moments.get(name)
        seen: list[dict] = []
        self.events_at_stop[name] = None
        count = [0]

        def stop() -> bool:
            count[0] += 1
            if (k is not None and count[0] >= k) or should_stop():
                if self.events_at_stop[name] is None:
                    self.events_at_stop[name] = len(seen)
                return True
            return False

        def listen(event):
            seen.append(event)
            emit(event)

        try:
            return execute(config, frame, store=store, run=run, emit=listen, should_stop=stop)
        finally:
            with self.lock:
                self.calls[name] = count[0]
