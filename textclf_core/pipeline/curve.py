"""Will more labels help? A learning curve from nested subsets of the training rows.

The fast members are trained on 10, 25, 50 and 100% of the training rows — each subset contains
the smaller ones, drawn in one class-balanced random order — and scored on the same validation
rows, so the points differ only in how many labels the model saw. Members: the TF-IDF baseline
(``baseline.train_baseline``) always, and a logistic head on frozen sentence embeddings when
every text is already in the embedding cache (``features.embed``; nothing is computed).

Scores usually grow about linearly in log(number of labels), so a line through
(log2 n, macro-F1) gives the gain per doubling: "doubling your labels would add about 2 macro-F1
points". It is a trend of four points, not a promise; a flat line says "label better, not more".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import DataError, TextclfError
from textclf_core.labels import LabelSpace

FRACTIONS = (0.1, 0.25, 0.5, 1.0)
FLAT = 0.005  # below half a point per doubling the curve counts as flat
SMALL_VALIDATION = 100  # as evaluation.SMALL_TEST: fewer texts make every point noisy
TFIDF, EMBEDDINGS = "TF-IDF", "frozen embeddings"


def nested_subsets(
    labels: Sequence, fractions: Sequence[float] = FRACTIONS, *, seed: int = 0, multi_label: bool = False
) -> list[np.ndarray]:
    """Row positions of each subset, smallest first; every subset is a prefix of one order, so each
    contains the smaller ones. Single-label: the order interleaves the classes (each class spread
    evenly, in random order within it), so every subset keeps the class mix of the whole."""
    n = len(labels)
    rng = np.random.default_rng(seed)
    if multi_label or n == 0:
        order = rng.permutation(n)
    else:
        keys = np.empty(n)
        values = pd.Series([str(v) for v in labels])
        for _, positions in values.groupby(values, sort=True).indices.items():
            positions = rng.permutation(positions)
            keys[positions] = (np.arange(len(positions)) + rng.random(len(positions))) / len(positions)
        order = np.argsort(keys, kind="stable")
    sizes = sorted({max(1, min(n, int(round(f * n)))) for f in fractions})
    return [order[:m] for m in sizes]


@dataclass
class LearningCurve:
    """Scores per member and subset size, the fitted trend and the sentence."""

    points: pd.DataFrame  # member, fraction, n_train, macro_f1, accuracy
    trends: dict = field(default_factory=dict)  # member -> {"per_doubling", "intercept", "points"}
    sentence: str = ""
    n_val: int = 0
    skipped: dict = field(default_factory=dict)  # member -> why it was left out

    def to_dict(self) -> dict:
        return {
            "points": self.points.to_dict(orient="records"),
            "trends": self.trends,
            "sentence": self.sentence,
            "n_val": self.n_val,
            "skipped": self.skipped,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LearningCurve":
        points = pd.DataFrame(
            data.get("points") or [], columns=["member", "fraction", "n_train", "macro_f1", "accuracy"]
        )
        return cls(
            points,
            dict(data.get("trends") or {}),
            data.get("sentence", ""),
            int(data.get("n_val", 0)),
            dict(data.get("skipped") or {}),
        )


def fit_trend(n_train: Sequence[float], scores: Sequence[float]) -> dict | None:
    """Least-squares line score = a + b·log2(n): ``per_doubling`` is b. None with fewer than 3 points."""
    x = np.log2(np.asarray(n_train, dtype=float))
    y = np.asarray(scores, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0:
        return None
    b, a = np.polyfit(x[ok], y[ok], 1)
    return {"per_doubling": float(b), "intercept": float(a), "points": int(ok.sum())}


def sentence_for(trends: dict, points: pd.DataFrame) -> str:
    if not trends:
        return "Too few subset sizes could be scored to fit a trend."
    # The member that scores best on all the labels is the one a user would keep.
    full = points.sort_values("n_train").groupby("member").tail(1)
    full = full[full["member"].isin(trends)]
    member = full.sort_values("macro_f1", ascending=False)["member"].iloc[0]
    gain = trends[member]["per_doubling"]
    n = int(points["n_train"].max())
    if gain < -FLAT:
        return (
            f"The {member} scores did not grow with more labels ({gain * 100:+.1f} macro-F1 points per doubling): "
            f"more labels of the same kind are unlikely to help; check the labels, or try a stronger model."
        )
    if gain < FLAT:
        return (
            f"The {member} curve is flat: doubling your labels (from {n:,} to {2 * n:,}) would add little "
            f"({gain * 100:+.1f} macro-F1 points). Cleaner labels or a stronger model will help more."
        )
    sentence = (
        f"Doubling your labels (from {n:,} to {2 * n:,}) would add about {gain * 100:.0f} macro-F1 point"
        f"{'s' * (round(gain * 100) != 1)} ({member} trend over {trends[member]['points']} sizes, "
        f"{gain * 100:.1f} per doubling"
    )
    last = points[points["member"] == member].sort_values("n_train").tail(2)
    if len(last) == 2:  # a curve that bends over says so: the trend alone would promise too much
        f = last["macro_f1"].to_numpy()
        steps = np.log2(last["n_train"].to_numpy()[1] / last["n_train"].to_numpy()[0])
        recent = (f[1] - f[0]) / steps if steps > 0 else None
        if recent is not None and recent < gain / 2:
            sentence += f"; the last doubling added only {recent * 100:.1f}, so expect less"
    return sentence + ")."


def _scores(y_val, proba, label_space: LabelSpace) -> dict:
    from textclf_core.evaluation.metrics import space_metrics

    m = space_metrics(y_val, proba, label_space)
    return {"macro_f1": m.get("macro_f1"), "accuracy": m.get("accuracy")}


def _embedding_member(config, train_df, val_df):
    """Cached embeddings of train and validation texts for the run's encoder, or the reason there are none."""
    from textclf_core.config import DEFAULT_MODEL

    model = config.model or DEFAULT_MODEL
    texts = train_df["text"].tolist() + val_df["text"].tolist()
    try:
        from textclf_core.engine.encoders import cached_mask, embed

        kw = dict(max_length=config.max_length, pooling=getattr(config, "pooling", "mean") or "mean")
        if not cached_mask(texts, model, **kw).all():
            return (
                None,
                f"the embeddings of {model} are not cached for these texts (train a feature-extraction run first)",
            )
        x = embed(texts, model, **kw)
    except ImportError:
        return None, "the transformer engine is not installed"
    except TextclfError as exc:
        return None, str(exc)
    return (x[: len(train_df)], x[len(train_df) :]), None


def learning_curve(
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    label_space: LabelSpace,
    config=None,
    *,
    fractions: Sequence[float] = FRACTIONS,
    members: Sequence[str] = (TFIDF, EMBEDDINGS),
    emit: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LearningCurve:
    """Train each member on nested subsets of ``train_df`` and score them on ``val_df``
    (both with ``text`` and ``label``).

    Reports a ``curve_point`` event per subset size through ``emit`` (a callable or an
    :class:`~textclf_core.events.Reporter`); ``should_stop`` is checked between sizes and
    members and inside the TF-IDF fit (between its regularisation candidates), so Cancel
    takes effect within one baseline fit (under a second per fit on 10k rows)."""
    from textclf_core import events
    from textclf_core.config import RunConfig
    from textclf_core.strategies.baseline import train_baseline

    reporter = events.Reporter.of(emit, should_stop)
    config = config or RunConfig(strategy="baseline")
    if len(val_df) == 0:
        raise DataError(
            "The learning curve needs validation rows to score on", hint="Keep a validation share above 0 (e.g. 0.1)"
        )
    multi = label_space.multi_label
    subsets = nested_subsets(train_df["label"].tolist(), fractions, seed=config.seed, multi_label=multi)
    y_val = val_df["label"].tolist()
    rows, skipped = [], {}
    features = None
    if EMBEDDINGS in members:
        features, why = _embedding_member(config, train_df, val_df)
        if features is None:
            skipped[EMBEDDINGS] = why
    base_config = config.replace(strategy="baseline")
    if subsets:
        reporter.emit(events.curve_point(done=0, total=len(subsets), n_train=len(subsets[0])))
    for i, idx in enumerate(subsets):
        reporter.check_stop()
        part = train_df.iloc[idx]
        frac = len(idx) / len(train_df)
        scored = []
        if multi or part["label"].nunique() >= 2:  # one class cannot be told apart from anything: no point
            if TFIDF in members:
                try:
                    model = train_baseline(base_config, part, val_df, label_space, should_stop=reporter.should_stop)
                except TextclfError as exc:  # e.g. a multi-label class missing from a small subset
                    skipped.setdefault(f"{TFIDF} at {len(idx)} rows", str(exc))
                else:
                    scored.append(
                        {
                            "member": TFIDF,
                            "fraction": frac,
                            "n_train": int(len(idx)),
                            **_scores(y_val, model.predict_proba(val_df["text"].tolist()), label_space),
                        }
                    )
            if features is not None:
                reporter.check_stop()
                proba = _fit_head(features[0][idx], part["label"].tolist(), features[1], label_space, config.seed)
                if proba is not None:
                    scored.append(
                        {
                            "member": EMBEDDINGS,
                            "fraction": frac,
                            "n_train": int(len(idx)),
                            **_scores(y_val, proba, label_space),
                        }
                    )
        rows += scored
        best = max(scored, key=lambda r: r["macro_f1"] if r["macro_f1"] is not None else -1, default={})
        reporter.emit(
            events.curve_point(
                done=i + 1,
                total=len(subsets),
                n_train=len(idx),
                member=best.get("member"),
                macro_f1=best.get("macro_f1"),
                accuracy=best.get("accuracy"),
            )
        )
    points = pd.DataFrame(rows, columns=["member", "fraction", "n_train", "macro_f1", "accuracy"])
    trends = {}
    for member, part in points.groupby("member", sort=False):
        trend = fit_trend(part["n_train"], part["macro_f1"])
        if trend is not None:
            trends[member] = trend
    sentence = sentence_for(trends, points)
    if len(val_df) < SMALL_VALIDATION:
        sentence += (
            f" Scored on only {len(val_df)} validation texts, so each point moves by several points by "
            "chance: read the trend, not single points."
        )
    return LearningCurve(points, trends, sentence, int(len(val_df)), skipped)


def _fit_head(x_train, labels, x_val, label_space: LabelSpace, seed: int):
    """A logistic head on frozen embeddings (what the feature-extraction strategy trains, without the search)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = label_space.encode(labels)
    if label_space.multi_label:
        y = np.asarray(y).astype(int)
        if (y.sum(axis=0) == 0).any():
            return None
        est = OneVsRestClassifier(LogisticRegression(max_iter=1000, random_state=seed))
    else:
        est = LogisticRegression(max_iter=1000, random_state=seed)
    model = make_pipeline(StandardScaler(), est).fit(x_train, y)
    proba = model.predict_proba(x_val)
    if not label_space.multi_label and proba.shape[1] != label_space.num_classes:
        full = np.zeros((len(x_val), label_space.num_classes))
        full[:, model.classes_] = proba
        proba = full
    return proba


def _train_val(config, frame: pd.DataFrame, split: pd.DataFrame | None = None):
    from .setup import prepare_splits

    config, prepared, label_space = prepare_splits(config, frame)
    if split is not None:  # the run's own split, exactly as it trained
        prepared["split"] = prepared["row"].map(split.set_index("row")["split"]).fillna("excluded")
    train = prepared[prepared["split"] == "train"].reset_index(drop=True)
    val = prepared[prepared["split"] == "validation"].reset_index(drop=True)
    return config, train, val, label_space


def _run_frame(run, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """The table ``run`` was trained on: ``data`` when it is that table (same fingerprint; the app passes
    the session's dataset, since runs trained from the app have no file), else the run's data file."""
    from textclf_core.data import fingerprint
    from textclf_core.evaluation.slices import run_data

    expected = (run.read_json("data.json", default={}) or {}).get("fingerprint")
    if data is not None and (expected is None or fingerprint(data) == expected):
        return data
    frame = run_data(run)
    if frame is None:
        raise TextclfError(
            f"The table run {run.id} was trained on is not at hand (it came from the app, or its "
            "file moved or changed since training)",
            hint="Load the same file on the Upload page, or run `textclf curve --data FILE`",
        )
    return frame


def curve_for_run(run, data: pd.DataFrame | None = None, **kwargs) -> LearningCurve:
    """The learning curve on a run's own training and validation rows (``data``: the table it was trained on,
    when its file is not readable; see :func:`_run_frame`)."""
    frame = _run_frame(run, data)
    split = pd.read_csv(run.path / "split.csv") if (run.path / "split.csv").is_file() else None
    config, train, val, label_space = _train_val(run.config, frame, split)
    return learning_curve(train, val, label_space, config, **kwargs)


def curve_for_data(frame: pd.DataFrame, config=None, **kwargs) -> LearningCurve:
    """The learning curve on a table, split as a run with ``config`` (default settings) would split it."""
    from textclf_core.config import RunConfig

    config, train, val, label_space = _train_val(config or RunConfig(strategy="baseline"), frame)
    if len(train) == 0:
        raise DataError("No labelled rows are left for training", hint="Label more rows")
    return learning_curve(train, val, label_space, config, **kwargs)


CURVE_FILE = "curve.json"


def saved_curve(run) -> LearningCurve | None:
    """The curve computed earlier for ``run`` (kept in its ``curve.json``), or None."""
    data = run.read_json(CURVE_FILE, default=None)
    return LearningCurve.from_dict(data) if data else None


def run_curve(run, *, recompute: bool = False, **kwargs) -> LearningCurve:
    """:func:`curve_for_run`, computed once and kept in the run folder (a few baseline fits: seconds)."""
    if not recompute:
        saved = saved_curve(run)
        if saved is not None:
            return saved
    result = curve_for_run(run, **kwargs)
    run.write_json(CURVE_FILE, result.to_dict())
    return result
