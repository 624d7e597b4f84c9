"""Is run B really better than run A, and on which texts?

Two runs scored on the same test rows are compared text by text: the 2x2 table of right and
wrong, McNemar's exact test on the texts where exactly one run is right (a two-sided binomial
test of those discordant texts, scipy.stats.binomtest; exact at any size, unlike the
chi-squared version), per-class differences and the texts the runs label differently.
Runs tested on different rows cannot be compared this way: :func:`compare_runs` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from textclf_core.errors import TextclfError

SIGNIFICANT = 0.05


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: the chance of a split at least this uneven of the
    ``only_a + only_b`` texts where exactly one run is right, if both runs were equally good."""
    from scipy.stats import binomtest

    n = int(only_a) + int(only_b)
    if n == 0:
        return 1.0
    return float(min(1.0, binomtest(int(only_b), n, 0.5, alternative="two-sided").pvalue))


def verdict(only_a: int, only_b: int, p_value: float, name_a: str = "A", name_b: str = "B") -> str:
    """The plain sentence, e.g. "B is better on 31 texts and worse on 12; a difference this large
    happens by chance with probability 0.004"."""
    if only_a == only_b == 0:
        return f"{name_a} and {name_b} are right and wrong on exactly the same texts."
    if only_a == only_b:
        return (
            f"{name_b} is better on {only_b} texts and worse on {only_a}: a tie, no evidence that either run is better."
        )
    better, worse, winner = (only_b, only_a, name_b) if only_b > only_a else (only_a, only_b, name_a)
    chance = f"{p_value:.3f}" if p_value >= 0.001 else "below 0.001"
    sentence = (
        f"{winner} is better on {better} text{'s' * (better != 1)} and worse on {worse}; a difference "
        f"this large happens by chance with probability {chance}"
    )
    if p_value < SIGNIFICANT:
        return sentence + f", so {winner} is very likely the better run on texts like these."
    return sentence + ", so it may well be luck: more test texts would tell."


@dataclass
class Comparison:
    """Run A against run B on the same test texts."""

    name_a: str
    name_b: str
    table: pd.DataFrame  # 2x2: rows "A right"/"A wrong", columns "B right"/"B wrong" (counts)
    both_right: int
    only_a: int
    only_b: int
    both_wrong: int
    p_value: float
    sentence: str
    per_class: pd.DataFrame  # class, n, A/B recall and F1, their differences, only A / only B right
    disagreements: pd.DataFrame  # row, text, gold, A/B prediction + confidence, who is right
    n: int
    accuracy_a: float | None
    accuracy_b: float | None

    def filter_disagreements(self, cls: str | None = None) -> pd.DataFrame:
        """Disagreements that involve ``cls`` (as the gold label or either prediction); all when None."""
        frame = self.disagreements
        if not cls:
            return frame
        return frame[(frame["gold"] == cls) | (frame["predicted A"] == cls) | (frame["predicted B"] == cls)]

    def to_dict(self) -> dict:
        return {
            "name_a": self.name_a,
            "name_b": self.name_b,
            "n": self.n,
            "both_right": self.both_right,
            "only_a_right": self.only_a,
            "only_b_right": self.only_b,
            "both_wrong": self.both_wrong,
            "p_value": self.p_value,
            "sentence": self.sentence,
            "accuracy_a": self.accuracy_a,
            "accuracy_b": self.accuracy_b,
            "per_class": self.per_class.to_dict(orient="records"),
            "disagreements": int(len(self.disagreements)),
        }


def _f1(gold: pd.Series, pred: pd.Series, cls: str) -> float:
    tp = float(((gold == cls) & (pred == cls)).sum())
    support, predicted = float((gold == cls).sum()), float((pred == cls).sum())
    return 2 * tp / (support + predicted) if support + predicted else 0.0


def _per_class_table(gold, pred_a, pred_b, right_a, right_b, classes) -> pd.DataFrame:
    """One row per class (``classes``, or every gold label): its texts, recall and F1 of each run and their
    differences, and how many of its texts only one run gets right."""
    classes = [str(c) for c in classes] if classes else sorted(set(gold))
    rows = []
    for cls in classes:
        mask = (gold == cls).to_numpy()
        n_cls = int(mask.sum())
        rec_a = float(right_a[mask].mean()) if n_cls else None
        rec_b = float(right_b[mask].mean()) if n_cls else None
        f1_a, f1_b = _f1(gold, pred_a, cls), _f1(gold, pred_b, cls)
        rows.append(
            {
                "class": cls,
                "texts": n_cls,
                "recall A": rec_a,
                "recall B": rec_b,
                "recall B − A": None if rec_a is None else rec_b - rec_a,
                "F1 A": f1_a,
                "F1 B": f1_b,
                "F1 B − A": f1_b - f1_a,
                "only A right": int((mask & right_a & ~right_b).sum()),
                "only B right": int((mask & ~right_a & right_b).sum()),
            }
        )
    per_class = pd.DataFrame(
        rows,
        columns=[
            "class",
            "texts",
            "recall A",
            "recall B",
            "recall B − A",
            "F1 A",
            "F1 B",
            "F1 B − A",
            "only A right",
            "only B right",
        ],
    )
    return per_class


def _disagreements(merged, key, gold, pred_a, pred_b, right_a, right_b, name_a, name_b) -> pd.DataFrame:
    """The rows where the two runs predict differently (row, text, gold, each run's call and confidence, who is
    right), the texts one run gets right first and the most confident calls on top."""
    differ = (pred_a != pred_b).to_numpy()
    who = np.where(right_a & ~right_b, f"only {name_a}", np.where(~right_a & right_b, f"only {name_b}", "neither"))
    text = merged["text A"] if "text A" in merged.columns else pd.Series([""] * len(merged), index=merged.index)
    dis = pd.DataFrame(
        {
            "row": merged[key] if key else merged.index,
            "text": text,
            "gold": gold,
            "predicted A": pred_a,
            "confidence A": merged.get("confidence A"),
            "predicted B": pred_b,
            "confidence B": merged.get("confidence B"),
            "right": who,
        }
    )[differ]
    # The texts one run gets right first (they decide the test), the most confident calls on top.
    order = dis["right"].map({f"only {name_b}": 0, f"only {name_a}": 1}).fillna(2)
    strength = pd.concat([dis["confidence A"], dis["confidence B"]], axis=1).astype(float).max(axis=1)
    dis = dis.assign(_o=order, _s=-strength).sort_values(["_o", "_s"], kind="stable").drop(columns=["_o", "_s"])
    return dis.reset_index(drop=True)


def compare_predictions(
    a: pd.DataFrame, b: pd.DataFrame, *, name_a: str = "A", name_b: str = "B", classes=None
) -> Comparison:
    """Compare two predictions frames (``row``, ``text``, ``gold``, ``predicted``, ``confidence``) of the
    same texts; rows are matched by ``row`` (by position when there is none). Only labelled rows count."""
    key = "row" if "row" in a.columns and "row" in b.columns else None
    a = a.reset_index(drop=True)
    b = b.reset_index(drop=True)
    if key:
        merged = a.merge(b, on=key, suffixes=(" A", " B"), how="inner", validate="one_to_one")
    else:
        merged = a.add_suffix(" A").join(b.add_suffix(" B"))
    merged = merged[merged["gold A"].astype(str) != ""]
    gold = merged["gold A"].astype(str)
    pred_a, pred_b = merged["predicted A"].astype(str), merged["predicted B"].astype(str)
    right_a, right_b = (pred_a == gold).to_numpy(), (pred_b == gold).to_numpy()
    both_right = int((right_a & right_b).sum())
    only_a = int((right_a & ~right_b).sum())
    only_b = int((~right_a & right_b).sum())
    both_wrong = int((~right_a & ~right_b).sum())
    p_value = mcnemar_exact(only_a, only_b)
    table = pd.DataFrame(
        [[both_right, only_a], [only_b, both_wrong]],
        index=[f"{name_a} right", f"{name_a} wrong"],
        columns=[f"{name_b} right", f"{name_b} wrong"],
    )

    per_class = _per_class_table(gold, pred_a, pred_b, right_a, right_b, classes)
    dis = _disagreements(merged, key, gold, pred_a, pred_b, right_a, right_b, name_a, name_b)
    n = len(merged)
    return Comparison(
        name_a,
        name_b,
        table,
        both_right,
        only_a,
        only_b,
        both_wrong,
        p_value,
        verdict(only_a, only_b, p_value, name_a, name_b),
        per_class,
        dis,
        n,
        (both_right + only_a) / n if n else None,
        (both_right + only_b) / n if n else None,
    )


def _test_rows(run) -> tuple[pd.DataFrame, str]:
    from .slices import read_run_predictions

    ev = run.read_json("eval.json", default=None)
    if not ev:
        raise TextclfError(f"Run {run.id} has no evaluation", hint="Pick a run that finished training")
    if ev.get("multi_label"):
        raise TextclfError(
            f"Run {run.id} is multi-label; run-vs-run comparison handles single-label runs",
            hint="Compare their per-class scores on the Evaluation page instead",
        )
    return read_run_predictions(run), ev.get("split") or "test"


def compare_runs(run_a, run_b) -> Comparison:
    """Compare two runs text by text; raises TextclfError (with the reason) when they were not
    tested on the same rows of the same data."""
    if run_a.id == run_b.id:
        raise TextclfError("Run A and run B are the same run", hint="Choose two different runs")
    pa, split_a = _test_rows(run_a)
    pb, split_b = _test_rows(run_b)
    data_a = (run_a.read_json("data.json", default={}) or {}).get("fingerprint")
    data_b = (run_b.read_json("data.json", default={}) or {}).get("fingerprint")
    hint = (
        "Train both runs on the same data with the same seed and validation/test shares "
        "(the Strategy page keeps them unless you change them)"
    )
    if data_a and data_b and data_a != data_b:
        raise TextclfError(
            f"Runs {run_a.id} and {run_b.id} were trained on different data (the files differ), "
            "so their test texts are not the same and a text-by-text comparison means nothing",
            hint=hint,
        )
    rows_a = set(pa["row"].tolist()) if "row" in pa.columns else None
    rows_b = set(pb["row"].tolist()) if "row" in pb.columns else None
    if split_a != split_b or rows_a is None or rows_a != rows_b:
        shared = len(rows_a & rows_b) if rows_a is not None and rows_b is not None else 0
        raise TextclfError(
            f"Runs {run_a.id} and {run_b.id} were tested on different rows ({len(pa)} and {len(pb)} "
            f"test texts, {shared} in common): a different seed or test share made another split",
            hint=hint,
        )
    key_a = pa.set_index("row")["text"].astype(str)
    key_b = pb.set_index("row")["text"].astype(str).reindex(key_a.index)
    if not key_a.equals(key_b):
        raise TextclfError(
            f"Runs {run_a.id} and {run_b.id} have the same test row numbers but different texts "
            "(the file was edited between them)",
            hint=hint,
        )
    classes = (run_a.read_json("eval.json", default={}) or {}).get("classes")
    name_a, name_b = "A", "B"
    return compare_predictions(pa, pb, name_a=name_a, name_b=name_b, classes=classes)


# --- a run's model, in words -------------------------------------------------------------------------
BASELINE_WORDS = {"logreg": "logistic regression", "svm": "linear SVM", "nb": "naive Bayes"}


def describe_config(config: dict) -> str:
    """One model's settings in words: 'TF-IDF + linear SVM', 'all-MiniLM-L6-v2 embeddings + logistic head
    (max length 128)', 'all-MiniLM-L6-v2 fine-tuned (full, max length 128)'."""
    from pathlib import PurePath

    strategy = config.get("strategy") or "baseline"
    if strategy == "baseline":
        return f"TF-IDF + {BASELINE_WORDS.get(config.get('baseline_model') or 'logreg', 'a linear model')}"
    model = PurePath(str(config.get("model") or "?")).name
    length = f"max length {config.get('max_length')}" if config.get("max_length") else ""
    if strategy == "feature-extraction":
        return f"{model} embeddings + {config.get('head') or 'logreg'} head" + (f" ({length})" if length else "")
    if strategy == "fewshot":
        return f"{model} few-shot" + (f" ({length})" if length else "")
    what = {"partial": f"top {config.get('layers') or 2} layers", "lora": "LoRA", "full": "full"}.get(
        strategy, strategy
    )
    return f"{model} fine-tuned ({what}{', ' + length if length else ''})"


def describe_model(run) -> str:
    """The model a run kept, in words, read from its model folder: for an auto run the members that carry
    weight ('TF-IDF + logistic regression' when one was kept alone; 'Ensemble of A (0.70) and B (0.30)'),
    never the default encoder its settings name; for other runs its own settings. '' without a model."""
    from textclf_core.errors import ModelLoadError
    from textclf_core.store import model_folder

    try:
        info = model_folder.read_info(run.model_dir)
    except (ModelLoadError, OSError, AttributeError):
        return describe_config(run.read_json("config.json", default={}) or {}) if hasattr(run, "read_json") else ""
    if info.kind == "ensemble":
        members = sorted(
            (m for m in info.extra.get("members", []) if float(m.get("weight", 0)) > 0),
            key=lambda m: -float(m.get("weight", 0)),
        )
        names = [str(m.get("label") or m.get("key")) for m in members]
        if len(names) == 1:
            return f"{names[0]} (auto kept one model)"
        parts = [f"{n} ({float(m['weight']):.2f})" for n, m in zip(names, members)]
        return "Ensemble of " + ", ".join(parts[:-1]) + " and " + parts[-1] if parts else "Ensemble"
    config = info.extra.get("config") or (run.read_json("config.json", default={}) if hasattr(run, "read_json") else {})
    return describe_config(config or {})
