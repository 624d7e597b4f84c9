"""A team labels one project: who labels, who settles, how far they agree, and the consensus.

Every annotator's label is a line of the project's change log (:class:`textclf_core.store.projects.
ProjectChangeLog`): a ``relabel`` with ``finding="annotation"`` and the annotator in the line's
``by``, timed. Nobody's label replaces another's: :func:`annotations` reads each annotator's latest
label per text. A reviewer's decision is a ``relabel`` with ``finding="settled"``. Because both are
ordinary change-log lines, the project's label column (``Project.working_frame``) still shows the
latest label of a text, as before teams existed; a run that should learn the consensus instead sets
``RunConfig.label_source = "consensus"`` (:func:`training_labels`).

Overlap (Argilla's minimum responses per record, Prodigy's ``feed_overlap``): a seeded share of the
texts goes to ``per_text`` annotators, every other text to one; :func:`queue_for` interleaves the two.

Agreement: Cohen's κ per pair (scikit-learn), Krippendorff's α overall and per class (one class
against the rest; the ``krippendorff`` package), with bootstrap intervals over texts. Consensus:
majority vote, or CROWDLAB (``cleanlab.multiannotator``), which weighs each annotator by estimated
quality against cross-validated probabilities of label review's TF-IDF model (``review.oof``).
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import TextclfError

# The settings are stored with the project (store layer, below this one); re-exported here.
from textclf_core.store.projects import ROLES, Member, TeamSettings  # noqa: F401

ANNOTATION = "annotation"  # the change log's ``finding`` of an annotator's label
SETTLED = "settled"  # the change log's ``finding`` of a reviewer's decision
LABEL_PAGE = "labelled"  # labels the Label page wrote before teams (active.FINDING): one annotator's
COLUMNS = ["row", "annotator", "label", "time"]
SMALL_OVERLAP = 50  # texts labelled by two or more: below this the intervals are wide, and said so
BOOTSTRAP = 500  # resamples of the texts for each interval


# =============================================================================== annotations
def _log(project, by: str | None = None):
    return project.change_log(by=by).refresh()


def annotations(project, *, with_position: bool = False) -> pd.DataFrame:
    """Every annotator's own label per text: DataFrame[row, annotator, label, time], in labelling order.

    One row per (text, annotator): an annotator who changed their mind counts once, with the latest
    label. Labels the Label page wrote before a team existed count as their writer's (``by``, or
    "you" when nobody was signed in). ``with_position`` adds ``at``, each line's place in the log."""
    latest: dict[tuple[int, str], dict] = {}
    for entry in _log(project).entries():
        change = entry["change"]
        if change.finding not in (ANNOTATION, LABEL_PAGE):
            continue
        annotator = entry["by"] or "you"
        key = (int(change.row), annotator)
        latest.pop(key, None)  # keep the order of the latest answer
        if change.action in ("accept", "relabel") and change.new_label is not None:
            latest[key] = {
                "row": int(change.row),
                "annotator": annotator,
                "label": str(change.new_label),
                "time": change.time,
                "at": entry["at"],
            }
        # a "keep" of one's own row (an undo written as an edit) takes one's label back
    frame = pd.DataFrame(list(latest.values()), columns=COLUMNS + ["at"])
    frame = frame.sort_values("at", kind="stable").reset_index(drop=True)
    return frame if with_position else frame.drop(columns="at")


def add_annotation(project, row: int, label: str, annotator: str):
    """Record ``annotator``'s label for ``row`` (a line of the change log; nobody else's is touched)."""
    annotator = str(annotator or "").strip()
    if not annotator:
        raise TextclfError("An annotation needs the annotator's name", hint="Sign in, or type a guest name")
    return _log(project, by=annotator).record(int(row), "relabel", new_label=label, finding=ANNOTATION)


def add_annotations(project, frame: pd.DataFrame, *, note: str = "import") -> int:
    """Record many annotations at once (an import): DataFrame[row, annotator, label, time], each
    keeping its own time; one append per annotator, one group each (one undo takes an import back)."""
    from textclf_core.review import Change

    count = 0
    for annotator, part in frame.groupby("annotator", sort=False):
        log = _log(project, by=str(annotator))
        with log.group(note) as group:
            changes = [
                Change(
                    row=int(r),
                    action="relabel",
                    new_label=str(lab),
                    finding=ANNOTATION,
                    note=note,
                    group=group,
                    **({"time": str(t)} if isinstance(t, str) and t else {}),
                )
                for r, lab, t in zip(part["row"], part["label"], part.get("time", [None] * len(part)))
            ]
        count += log.add_changes(changes)
    return count


def undo_annotation(project, annotator: str) -> list:
    """Take back ``annotator``'s latest label (another annotator's labels stay). Returns the edits undone."""
    return _log(project, by=annotator).undo_action(by=annotator, where=lambda c: c.finding in (ANNOTATION, LABEL_PAGE))


def settlements(project) -> dict[int, str]:
    """The reviewers' decisions in force: row -> label."""
    out: dict[int, str] = {}
    for entry in _log(project).entries():
        change = entry["change"]
        if change.finding == SETTLED and change.new_label is not None:
            out[int(change.row)] = str(change.new_label)
    return out


def settle(project, row: int, label: str, reviewer: str):
    """A reviewer's decision on a disputed text: it wins over every annotator's label, in training
    and in the label column. Only reviewers and owners may settle once a team is set."""
    settings = project.team()
    if settings.members and reviewer not in settings.reviewers:
        raise TextclfError(
            f"{reviewer} is not a reviewer of this project", hint="The owner can make them a reviewer on the Team page"
        )
    return _log(project, by=reviewer).record(int(row), "relabel", new_label=label, finding=SETTLED)


# =============================================================================== assignment
def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64: a fixed, well-spread hash of whole numbers (same on every machine and version)."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _unit(rows: np.ndarray, seed: int, salt: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        key = _mix(
            rows.astype(np.uint64) * np.uint64(1_000_003)
            + np.uint64(seed % (1 << 32)) * np.uint64(7919)
            + np.uint64(salt)
        )
    return (key >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assignment(settings: TeamSettings, rows: Sequence[int]) -> dict[int, list[str]]:
    """Who labels each row: overlap rows get ``per_text`` annotators, the rest one each (seeded)."""
    people = settings.annotators
    rows_arr = np.asarray(list(rows), dtype=np.int64)
    if not people or not len(rows_arr):
        return {int(r): list(people) for r in rows_arr}
    overlap = _unit(rows_arr, settings.seed, 1) < settings.overlap_share
    per_text = min(settings.per_text, len(people))
    # One score per (row, person), keyed by the person's name: the row's people are those with the
    # lowest scores (rendezvous hashing), so a new annotator only takes rows over, nobody else's move.
    scores = np.stack([_unit(rows_arr, settings.seed, 100 + zlib.crc32(p.encode("utf-8"))) for p in people], axis=1)
    order = np.argsort(scores, axis=1, kind="stable")
    out = {}
    for i, row in enumerate(rows_arr.tolist()):
        take = per_text if overlap[i] else 1
        out[row] = [people[j] for j in order[i, :take]]
    return out


def overlap_rows(settings: TeamSettings, rows: Sequence[int]) -> set[int]:
    """The rows that go to more than one annotator."""
    return {r for r, people in assignment(settings, rows).items() if len(people) > 1}


def queue_for(project_or_settings, annotator: str, rows: Sequence[int]) -> list[int]:
    """The rows ``annotator`` should label, in the order of ``rows`` (e.g. the active-learning queue),
    with their overlap rows spread evenly among their own share.

    Someone who is not an annotator of the team (or a project without a team) gets ``rows`` unchanged.
    """
    settings = project_or_settings if isinstance(project_or_settings, TeamSettings) else project_or_settings.team()
    rows = [int(r) for r in rows]
    if annotator not in settings.annotators:
        return rows
    who = assignment(settings, rows)
    own = [r for r in rows if who[r] == [annotator]]
    shared = [r for r in rows if len(who[r]) > 1 and annotator in who[r]]
    return interleave(own, shared)


def interleave(own: list[int], shared: list[int]) -> list[int]:
    """Both lists in their own order, each item placed at its even share of the queue
    (own[i] at (i + ½) / len(own), shared[j] at (j + ½) / len(shared)): the shared rows spread evenly."""
    keyed = [((i + 0.5) / len(own), 0, r) for i, r in enumerate(own)]
    keyed += [((j + 0.5) / len(shared), 1, r) for j, r in enumerate(shared)]
    return [r for _, _, r in sorted(keyed, key=lambda t: (t[0], t[1]))]


def suggestion_hidden(row: int, annotator: str | None, settings: TeamSettings | None) -> bool:
    """True where the Label page shows ``annotator`` no model suggestion: a text that also goes to another
    annotator (an overlap row). Answers there are blind to the model as well as to colleagues, so agreement
    measures the people, not how often each accepted the same guess. Without a team nothing is hidden."""
    if annotator is None or settings is None or annotator not in settings.annotators:
        return False
    return int(row) in overlap_rows(settings, [int(row)])


def visible_label(
    row: int, annotator: str, annotations_frame: pd.DataFrame, settings: TeamSettings | None = None
) -> str | None:
    """What the Label page may show ``annotator`` on ``row``: their own label once given; before it,
    nothing from others on an overlap row (so their answer is their own); on any other row the
    latest label. Without ``settings`` every row someone else labelled counts as an overlap row."""
    frame = annotations_frame
    here = frame[frame["row"] == int(row)] if len(frame) else frame
    mine = here[here["annotator"] == annotator]
    if len(mine):
        return str(mine["label"].iloc[-1])
    if not len(here):
        return None
    if settings is None or int(row) in overlap_rows(settings, [int(row)]):
        return None
    return str(here["label"].iloc[-1])


# =============================================================================== agreement
def _matrix(frame: pd.DataFrame, classes: Sequence[str]) -> tuple[np.ndarray, list[int], list[str]]:
    """Annotators x rows of class ids (NaN where one did not label), only rows labelled twice or more."""
    index = {c: i for i, c in enumerate(classes)}
    known = frame[frame["label"].isin(index)]
    counts = known.groupby("row")["annotator"].nunique()
    rows = sorted(counts[counts >= 2].index.tolist())
    people = sorted(known["annotator"].unique().tolist())
    mat = np.full((len(people), len(rows)), np.nan)
    if rows:
        r_at = {r: i for i, r in enumerate(rows)}
        p_at = {p: i for i, p in enumerate(people)}
        sub = known[known["row"].isin(r_at)]
        mat[sub["annotator"].map(p_at).to_numpy(), sub["row"].map(r_at).to_numpy()] = (
            sub["label"].map(index).to_numpy(dtype=float)
        )
    return mat, rows, people


def krippendorff_alpha(matrix: np.ndarray, n_values: int) -> float:
    """Nominal Krippendorff's α of an annotators x texts matrix of class ids (NaN = not labelled);
    NaN when it is undefined (fewer than two pairable values, or a single value used throughout)."""
    import krippendorff

    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    m = matrix[:, pairable]
    if m.shape[1] == 0 or len(np.unique(m[~np.isnan(m)])) < 2:
        return float("nan")
    return float(
        krippendorff.alpha(reliability_data=m, level_of_measurement="nominal", value_domain=list(range(n_values)))
    )


def _kappa_from_counts(table: np.ndarray) -> np.ndarray:
    """Cohen's κ from confusion counts, shape (..., K, K) (vectorised for the bootstrap)."""
    n = table.sum(axis=(-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p_o = np.trace(table, axis1=-2, axis2=-1) / n
        p_e = (table.sum(axis=-1) * table.sum(axis=-2)).sum(axis=-1) / n**2
        return np.where(p_e < 1, (p_o - p_e) / (1 - p_e), np.nan)


def resamples_for(n: int, base: int) -> int:
    """Bootstrap resamples for ``n`` texts: ``base`` up to 1,000 texts, fewer beyond (the interval of a
    large overlap is narrow anyway, and the resamples' cost grows with n), at least 30."""
    return base if n <= 1000 else max(30, base * 1000 // n)


def _interval(samples: np.ndarray) -> tuple[float, float]:
    good = samples[np.isfinite(samples)]
    if len(good) < 10:
        return float("nan"), float("nan")
    return float(np.quantile(good, 0.025)), float(np.quantile(good, 0.975))


def pair_kappas(frame: pd.DataFrame, classes: Sequence[str], *, seed: int = 0) -> pd.DataFrame:
    """Cohen's κ of every pair of annotators on the texts both labelled, with a 95% bootstrap interval:
    DataFrame[annotator_a, annotator_b, n, agreement, kappa, low, high]."""
    from sklearn.metrics import cohen_kappa_score

    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    wide = frame[frame["label"].isin(index)].pivot_table(
        index="row", columns="annotator", values="label", aggfunc="last"
    )
    rng = np.random.default_rng(seed)
    out = []
    for a, b in itertools.combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        n = len(both)
        if n == 0:
            continue
        ya, yb = both[a].map(index).to_numpy(), both[b].map(index).to_numpy()
        kappa = float(cohen_kappa_score(ya, yb, labels=list(range(k)))) if len(set(ya) | set(yb)) > 1 else float("nan")
        codes = ya * k + yb
        draws = resamples_for(n, BOOTSTRAP)
        picks = rng.integers(0, n, size=(draws, n))
        counts = np.zeros((draws, k * k))
        np.add.at(counts, (np.repeat(np.arange(draws), n), codes[picks].ravel()), 1)
        low, high = _interval(_kappa_from_counts(counts.reshape(draws, k, k)))
        out.append(
            {
                "annotator_a": a,
                "annotator_b": b,
                "n": n,
                "agreement": float((ya == yb).mean()),
                "kappa": kappa,
                "low": low,
                "high": high,
            }
        )
    return pd.DataFrame(out, columns=["annotator_a", "annotator_b", "n", "agreement", "kappa", "low", "high"])


def alpha_samples(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Nominal Krippendorff's α of many weighted copies of the same texts at once (the bootstrap).

    counts : (U, K) how many annotators gave each value to each pairable text (two values or more).
    weights : (B, U) how often each text is drawn in each resample.
    From the coincidence matrix: a text with m values of which n_c are c adds (m² - Σ n_c²) / (m - 1)
    to the disagreeing coincidences and n_c to the total of c; α = 1 - (n - 1) D_o / (n² - Σ_c n_c²).
    Equal to the ``krippendorff`` package on the same data (tested).
    """
    m = counts.sum(axis=1)
    d_o = (m**2 - (counts**2).sum(axis=1)) / np.maximum(m - 1, 1)
    totals = weights @ counts  # (B, K)
    n = totals.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - (n - 1) * (weights @ d_o) / (n**2 - (totals**2).sum(axis=1))


def _value_counts(mat: np.ndarray, n_values: int) -> np.ndarray:
    """(texts, values) counts of an annotators x texts matrix, pairable texts only."""
    pairable = (~np.isnan(mat)).sum(axis=0) >= 2
    m = mat[:, pairable]
    return np.stack([(m == v).sum(axis=0) for v in range(n_values)], axis=1).astype(float)


def _alpha_with_interval(mat: np.ndarray, n_values: int, rng, resamples: int) -> tuple[float, float, float]:
    alpha = krippendorff_alpha(mat, n_values)
    if not math.isfinite(alpha) or mat.shape[1] < 2:
        return alpha, float("nan"), float("nan")
    counts = _value_counts(mat, n_values)
    texts = len(counts)
    b = resamples_for(texts, resamples)
    weights = np.zeros((b, texts))
    np.add.at(weights, (np.repeat(np.arange(b), texts), rng.integers(0, texts, size=b * texts)), 1)
    low, high = _interval(alpha_samples(counts, weights))
    return alpha, low, high


def class_alphas(mat: np.ndarray, classes: Sequence[str], *, seed: int = 0, resamples: int = 200) -> pd.DataFrame:
    """Krippendorff's α of each class against the rest (do people agree on *this* class?), with
    intervals: DataFrame[class, alpha, low, high, n] (n: texts anyone put in the class)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, name in enumerate(classes):
        binary = np.where(np.isnan(mat), np.nan, (mat == i).astype(float))
        alpha, low, high = _alpha_with_interval(binary, 2, rng, resamples)
        out.append({"class": name, "alpha": alpha, "low": low, "high": high, "n": int((mat == i).any(axis=0).sum())})
    return pd.DataFrame(out, columns=["class", "alpha", "low", "high", "n"])


def confused_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """The pairs of classes people split on, most first: DataFrame[class_a, class_b, count, share]
    (count: pairs of annotators' labels on one text; share: of all disagreeing pairs)."""
    counts: dict[tuple[str, str], int] = {}
    for _, labels in frame.groupby("row")["label"]:
        for a, b in itertools.combinations(labels.tolist(), 2):
            if a != b:
                key = tuple(sorted((str(a), str(b))))
                counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    rows = [{"class_a": a, "class_b": b, "count": c, "share": c / total} for (a, b), c in counts.items()]
    out = pd.DataFrame(rows, columns=["class_a", "class_b", "count", "share"])
    return out.sort_values(["count", "class_a", "class_b"], ascending=[False, True, True]).reset_index(drop=True)


def agreement_trend(frame: pd.DataFrame, classes: Sequence[str], *, windows: int = 5) -> pd.DataFrame:
    """Agreement as labelling goes on: the texts labelled twice or more, in the order their second
    label came, cut into up to ``windows`` equal parts: DataFrame[window, texts, until, agreement, alpha]
    (agreement: share of annotator pairs that agree)."""
    shared = frame.groupby("row").filter(lambda g: g["annotator"].nunique() >= 2)
    if shared.empty:
        return pd.DataFrame(columns=["window", "texts", "until", "agreement", "alpha"])
    second = (
        shared.sort_values("time", kind="stable")
        .groupby("row")["time"]
        .apply(lambda t: t.iloc[1])
        .sort_values(kind="stable")
    )
    parts = [p for p in np.array_split(second.index.to_numpy(), min(windows, len(second))) if len(p)]
    out = []
    for i, rows in enumerate(parts, start=1):
        part = shared[shared["row"].isin(rows)]
        agree = [a == b for _, g in part.groupby("row")["label"] for a, b in itertools.combinations(g.tolist(), 2)]
        mat, _, _ = _matrix(part, classes)
        out.append(
            {
                "window": i,
                "texts": len(rows),
                "until": str(second.loc[rows].max()),
                "agreement": float(np.mean(agree)),
                "alpha": krippendorff_alpha(mat, len(classes)),
            }
        )
    return pd.DataFrame(out)


def strength(alpha: float) -> str:
    """Words for an agreement coefficient (Landis & Koch's bands)."""
    if not math.isfinite(alpha):
        return "not measurable yet"
    for limit, word in (
        (0.0, "worse than chance"),
        (0.2, "slight"),
        (0.4, "fair"),
        (0.6, "moderate"),
        (0.8, "substantial"),
    ):
        if alpha < limit:
            return word
    return "almost perfect"


@dataclass
class Agreement:
    """How far the annotators agree, in tables a person can read (see :func:`agreement`)."""

    n_overlap: int  # texts labelled by two or more annotators
    alpha: float  # Krippendorff's α, nominal, over every text labelled twice or more
    alpha_low: float
    alpha_high: float
    pairs: pd.DataFrame  # [annotator_a, annotator_b, n, agreement, kappa, low, high]
    per_class: pd.DataFrame  # [class, alpha, low, high, n]
    confused: pd.DataFrame  # [class_a, class_b, count, share]
    trend: pd.DataFrame  # [window, texts, until, agreement, alpha]
    sentence: str

    @property
    def small(self) -> bool:
        return self.n_overlap < SMALL_OVERLAP

    def to_dict(self) -> dict:
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        tables = {
            name: [{k: clean(v) for k, v in r.items()} for r in getattr(self, name).to_dict("records")]
            for name in ("pairs", "per_class", "confused", "trend")
        }
        return {
            "n_overlap": self.n_overlap,
            "alpha": clean(self.alpha),
            "alpha_low": clean(self.alpha_low),
            "alpha_high": clean(self.alpha_high),
            "small": self.small,
            "sentence": self.sentence,
            **tables,
        }


def agreement(annotations_frame: pd.DataFrame, classes: Sequence[str], *, seed: int = 0) -> Agreement:
    """Cohen's κ per pair, Krippendorff's α overall and per class (95% bootstrap intervals over the
    texts), the classes people confuse, the trend over labelling order, and one sentence."""
    classes = [str(c) for c in classes]
    frame = annotations_frame
    mat, rows, _ = _matrix(frame, classes)
    rng = np.random.default_rng(seed)
    alpha, low, high = _alpha_with_interval(mat, len(classes), rng, 300)
    shared = frame[frame["row"].isin(rows)]
    confused = confused_pairs(shared)
    result = Agreement(
        n_overlap=len(rows),
        alpha=alpha,
        alpha_low=low,
        alpha_high=high,
        pairs=pair_kappas(frame, classes, seed=seed),
        per_class=class_alphas(mat, classes, seed=seed),
        confused=confused,
        trend=agreement_trend(shared, classes),
        sentence="",
    )
    result.sentence = agreement_sentence(result)
    return result


def agreement_sentence(result: Agreement) -> str:
    """ "Agreement is moderate (α = 0.58); most disagreements are between Neutral and Positive"."""
    if result.n_overlap == 0:
        return "No text has been labelled by two people yet, so agreement cannot be measured"
    if not math.isfinite(result.alpha):
        return (
            f"Agreement cannot be measured yet: the {result.n_overlap} texts labelled twice all got "
            "the same single class"
        )
    text = f"Agreement is {strength(result.alpha)} (α = {result.alpha:.2f})"
    if len(result.confused):
        top = result.confused.iloc[0]
        text += f"; most disagreements are between {top['class_a']} and {top['class_b']}"
    else:
        text += "; the annotators gave the same label on every shared text"
    if result.small and math.isfinite(result.alpha_low):
        text += (
            f". Only {result.n_overlap} texts were labelled twice, so it could be anywhere from "
            f"{result.alpha_low:.2f} to {result.alpha_high:.2f}"
        )
    return text


def trend_figure(trend: pd.DataFrame):
    """Agreement and α per stretch of labelling (plotly figure; data from :func:`agreement_trend`)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_scatter(
        x=trend["window"],
        y=trend["agreement"],
        mode="lines+markers",
        name="pairs that agree",
        customdata=trend[["texts", "until"]],
        hovertemplate="%{y:.0%} of pairs agree<br>%{customdata[0]} texts, until %{customdata[1]}<extra></extra>",
    )
    fig.add_scatter(x=trend["window"], y=trend["alpha"], mode="lines+markers", name="Krippendorff's α")
    fig.update_layout(
        height=280,
        margin=dict(l=10, r=10, t=30, b=10),
        title="Agreement as labelling goes on",
        xaxis=dict(title="stretch of shared texts, in labelling order", dtick=1),
        yaxis=dict(range=[min(0.0, float(trend["alpha"].min(skipna=True) or 0)), 1.02]),
    )
    return fig


# =============================================================================== consensus
def _votes(frame: pd.DataFrame, classes: Sequence[str]) -> tuple[list[int], np.ndarray]:
    index = {c: i for i, c in enumerate(classes)}
    known = frame[frame["label"].isin(index)]
    rows = sorted(known["row"].unique().tolist())
    r_at = {r: i for i, r in enumerate(rows)}
    votes = np.zeros((len(rows), len(classes)))
    np.add.at(votes, (known["row"].map(r_at).to_numpy(), known["label"].map(index).to_numpy()), 1)
    return rows, votes


def majority(annotations_frame: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Majority vote per text: DataFrame[row, label, confidence, method, n, tie]. confidence: the
    winner's share of the votes; a tie goes to the class more annotations chose overall (``tie`` True)."""
    classes = [str(c) for c in classes]
    rows, votes = _votes(annotations_frame, classes)
    overall = votes.sum(axis=0)
    # among tied classes, the one chosen more often overall (then the first in the class list) wins
    tie_break = votes + (overall / (overall.sum() + 1.0) if len(rows) else 0) * 1e-3
    best = tie_break.argmax(axis=1) if len(rows) else np.zeros(0, dtype=int)
    n = votes.sum(axis=1)
    top = votes.max(axis=1) if len(rows) else np.zeros(0)
    return pd.DataFrame(
        {
            "row": rows,
            "label": [classes[i] for i in best],
            "confidence": top / np.maximum(n, 1),
            "method": "majority",
            "n": n.astype(int),
            "tie": (votes == top[:, None]).sum(axis=1) > 1 if len(rows) else [],
        }
    )


def crowdlab(
    annotations_frame: pd.DataFrame, classes: Sequence[str], pred_probs: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CROWDLAB consensus and annotator quality (``cleanlab.multiannotator``).

    pred_probs : np.ndarray (N, K), out-of-sample probabilities for the N rows anyone labelled, in the
      order of ``sorted(rows)``, columns in ``classes`` order (see :func:`out_of_sample_probs`).
    Returns (DataFrame[row, label, confidence, method, n], DataFrame[annotator, quality, n, agreement]).

    The consensus is the given answer with the highest CROWDLAB label quality, the model's
    probabilities calibrated first (``calibrate_probs``): a weak model neither overrides annotators
    who agree nor picks a class nobody gave. bench/teams.py (1,000 texts, before this rule):
    CROWDLAB's own best-quality consensus lost to majority on movie reviews at 2 annotators per
    text (0.68 vs 0.77, the TF-IDF model alone at 0.64); the given-answer rule beat majority in all
    8 cases tried (e.g. 0.82 vs 0.77; BBC 0.91 vs 0.70). The annotator quality of the calibrated fit
    ranked the four simulated annotators right in 4 of 5 seeds on movie reviews at 2 per text
    (Spearman 0.96 mean) against 3 of 5 uncalibrated (0.88).
    """
    from cleanlab.multiannotator import get_label_quality_multiannotator

    classes = [str(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    known = annotations_frame[annotations_frame["label"].isin(index)]
    wide = known.pivot_table(index="row", columns="annotator", values="label", aggfunc="last").sort_index()
    if wide.shape[1] < 2 or (wide.notna().sum(axis=1) >= 2).sum() == 0:
        raise TextclfError(
            "CROWDLAB needs texts labelled by two or more annotators",
            hint="Set an overlap on the Team page and label some shared texts",
        )
    probs = np.asarray(pred_probs, dtype=float)
    if probs.shape != (len(wide), len(classes)):
        raise TextclfError(f"pred_probs has shape {probs.shape}, expected {(len(wide), len(classes))}")
    labels = wide.apply(lambda col: col.map(index)).astype(float)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calibrated = get_label_quality_multiannotator(labels, probs, calibrate_probs=True, verbose=False)
    given = labels.to_numpy()
    scores = np.where(np.isnan(given), -1.0, calibrated["detailed_label_quality"].to_numpy(dtype=float))
    best = scores.argmax(axis=1)
    picked = given[np.arange(len(given)), best].astype(int)
    cons = pd.DataFrame(
        {
            "row": wide.index.to_numpy(),
            "label": [classes[i] for i in picked],
            "confidence": scores[np.arange(len(given)), best],
            "method": "crowdlab",
            "n": (~np.isnan(given)).sum(axis=1),
        }
    )
    stats = calibrated["annotator_stats"]
    people = pd.DataFrame(
        {
            "annotator": stats.index.astype(str),
            "quality": stats["annotator_quality"].to_numpy(float),
            "n": stats["num_examples_labeled"].to_numpy(int),
            "agreement": stats["agreement_with_consensus"].to_numpy(float),
        }
    )
    return cons, people.sort_values("quality", ascending=False).reset_index(drop=True)


def out_of_sample_probs(
    texts: Sequence[str], annotations_frame: pd.DataFrame, classes: Sequence[str], *, seed: int = 0, folds: int = 5
) -> np.ndarray:
    """CROWDLAB's ``pred_probs``: cross-validated probabilities of every row anyone labelled, in
    ``sorted(rows)`` order, from label review's TF-IDF model (``review.oof.fit_predict`` on
    ``review.vectors.as_features``), folds cut by text. ``texts``: all the project's texts, by row.

    The model learns from every annotation (a text labelled twice is two examples), not from a
    majority with ties broken by chance: bench/teams.py, 1,000 BBC texts, 2 annotators per text:
    0.98 consensus accuracy against 0.84 trained on the majority labels."""
    from sklearn.model_selection import KFold

    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.review.oof import fit_predict
    from textclf_core.review.vectors import as_features, take_rows

    classes = [str(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    known = annotations_frame[annotations_frame["label"].isin(index)]
    rows = np.array(sorted(known["row"].unique()), dtype=np.int64)
    at = {int(r): i for i, r in enumerate(rows)}
    where = known["row"].map(at).to_numpy()
    y = known["label"].map(index).to_numpy()
    x = as_features([str(texts[r]) for r in rows], "tfidf", DEFAULT_MODEL)
    probs = np.zeros((len(rows), len(classes)))
    for train, test in KFold(n_splits=max(2, min(folds, len(rows))), shuffle=True, random_state=seed).split(rows):
        mask = np.isin(where, train)
        probs[test] = fit_predict(take_rows(x, where[mask]), y[mask], take_rows(x, test), len(classes), False)
    probs = np.clip(probs, 1e-4, None)
    return probs / probs.sum(axis=1, keepdims=True)


def consensus(
    annotations_frame: pd.DataFrame,
    classes: Sequence[str],
    pred_probs: np.ndarray | None = None,
    *,
    method: str | None = None,
    settled: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """The consensus label of every text anyone labelled: DataFrame[row, label, confidence, method, n].

    method : "majority" or "crowdlab" (default: "crowdlab" when ``pred_probs`` is given, else "majority").
    settled : a reviewer's decisions (row -> label), which win (method "settled", confidence 1).
    """
    method = method or ("crowdlab" if pred_probs is not None else "majority")
    if method == "crowdlab":
        if pred_probs is None:
            raise TextclfError(
                "CROWDLAB needs out-of-sample probabilities (pred_probs)",
                hint="Use out_of_sample_probs(texts, annotations, classes)",
            )
        out = crowdlab(annotations_frame, classes, pred_probs)[0]
    elif method == "majority":
        out = majority(annotations_frame, classes)[["row", "label", "confidence", "method", "n"]]
    else:
        raise TextclfError(f"Unknown consensus method {method!r}; use majority or crowdlab")
    if settled:
        out = out.set_index("row")
        for row, label in settled.items():
            out.loc[int(row), ["label", "confidence", "method"]] = [str(label), 1.0, "settled"]
        out["n"] = out["n"].fillna(0).astype(int)
        out = out.reset_index().sort_values("row").reset_index(drop=True)
    return out


def annotator_quality(
    annotations_frame: pd.DataFrame, classes: Sequence[str], pred_probs: np.ndarray | None = None
) -> pd.DataFrame:
    """Each annotator's estimated quality: DataFrame[annotator, quality, n, method].

    With ``pred_probs``: CROWDLAB's annotator quality (agreement with the consensus and with the model,
    weighted). Without: the share of their labels on shared texts that match the majority of the *others*."""
    if pred_probs is not None:
        people = crowdlab(annotations_frame, classes, pred_probs)[1]
        return people.assign(method="crowdlab")[["annotator", "quality", "n", "method"]]
    frame = annotations_frame
    rows = []
    for person, mine in frame.groupby("annotator"):
        others = frame[(frame["annotator"] != person) & frame["row"].isin(mine["row"])]
        if others.empty:
            rows.append({"annotator": person, "quality": float("nan"), "n": len(mine), "method": "majority"})
            continue
        maj = majority(others, classes).set_index("row")["label"]
        shared = mine[mine["row"].isin(maj.index)]
        hits = (shared["label"].to_numpy() == maj.loc[shared["row"]].to_numpy()).mean()
        rows.append({"annotator": person, "quality": float(hits), "n": len(mine), "method": "majority"})
    return (
        pd.DataFrame(rows, columns=["annotator", "quality", "n", "method"])
        .sort_values("quality", ascending=False, na_position="last")
        .reset_index(drop=True)
    )


# =============================================================================== reviewer's queue
def disagreements(annotations_frame: pd.DataFrame, settled: Iterable[int] = ()) -> list[int]:
    """Texts the annotators gave different labels, not yet settled: the reviewer's queue, in the
    order the disagreement arose."""
    frame = annotations_frame
    done = {int(r) for r in settled}
    split = frame.groupby("row")["label"].nunique()
    rows = set(split[split > 1].index.astype(int)) - done
    order = frame[frame["row"].isin(rows)].groupby("row")["time"].max().sort_values(kind="stable")
    return [int(r) for r in order.index]


def disagreement_table(
    annotations_frame: pd.DataFrame, rows: Sequence[int], texts: Sequence[str] | None = None
) -> pd.DataFrame:
    """The reviewer's queue as a table: row, text, and each annotator's label in a column."""
    sub = annotations_frame[annotations_frame["row"].isin(list(rows))]
    wide = sub.pivot_table(index="row", columns="annotator", values="label", aggfunc="last")
    wide = wide.reindex(list(rows)).reset_index()
    if texts is not None:
        wide.insert(1, "text", [str(texts[r]) for r in wide["row"]])
    return wide


# =============================================================================== training
MIN_CROWDLAB_OVERLAP = 10  # texts labelled twice or more before CROWDLAB weighs the annotators


def consensus_labels(project, *, method: str = "auto") -> tuple[dict[int, str | None], dict]:
    """The labels a run trains on with ``label_source="consensus"``: row -> label for every text an
    annotator labelled (settled texts: the reviewer's label; majority ties nobody settled: None, left
    out), and a summary ``{"method", "texts", "settled", "ties_left_out", "annotators"}``.

    method : "auto" (CROWDLAB once two annotators share ``MIN_CROWDLAB_OVERLAP`` texts, as it beat
      majority in bench/teams.py; majority before), "crowdlab" or "majority"."""
    frame = annotations(project)
    if frame.empty:
        raise TextclfError(
            "No annotator has labelled a text in this project yet, so there is no consensus",
            where=project.name,
            hint="Label texts on the Label page, or train on the label column",
        )
    classes = sorted(frame["label"].unique().tolist())
    done = settlements(project)
    if method == "auto":
        shared = int((frame.groupby("row")["annotator"].nunique() >= 2).sum())
        method = "crowdlab" if shared >= MIN_CROWDLAB_OVERLAP and len(classes) >= 2 else "majority"
    if method == "crowdlab":
        texts = project.frame()[project.meta.get("text_col")].astype(str).tolist()
        table = consensus(frame, classes, out_of_sample_probs(texts, frame, classes), settled=done)
        ties = set()
    else:
        table = majority(frame, classes)
        ties = set(table.loc[table["tie"], "row"].astype(int)) - set(done)
        table = consensus(frame, classes, method="majority", settled=done)
    labels = {int(r): (None if int(r) in ties else str(lab)) for r, lab in zip(table["row"], table["label"])}
    summary = {
        "method": method,
        "texts": len(labels),
        "settled": len(done),
        "ties_left_out": len(ties),
        "annotators": int(frame["annotator"].nunique()),
    }
    return labels, summary


def training_labels(project, frame: pd.DataFrame, label_col: str) -> tuple[pd.DataFrame, dict]:
    """``frame`` with ``label_col`` replaced by the consensus where annotators labelled (rows matched by
    the table's index, the project's row numbers), and what was done (recorded in the run).
    ``RunConfig.label_source == "consensus"`` (``training_setup.apply_label_source``) calls it."""
    labels, summary = consensus_labels(project)
    out = frame.copy()
    if label_col not in out.columns:
        out[label_col] = pd.Series([None] * len(out), index=out.index, dtype=object)
    values = out[label_col].astype(object)
    here = [r for r in labels if r in values.index]
    values.loc[here] = [labels[r] for r in here]
    out[label_col] = values
    summary["project"] = project.id
    return out, summary
