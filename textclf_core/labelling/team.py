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

Multi-label projects (:func:`label_space`; the functions take the cells' ``separator``, None for
single-label): a cell is a set of classes, its order and the spaces around its parts never matter.
Agreement is Krippendorff's α with the MASI distance between sets (Passonneau 2006) overall, binary α
(class given or not) per class, mean Jaccard and Cohen's κ on each class's presence (averaged over the
classes) per pair; the consensus is the per-class majority (CROWDLAB is single-label only).
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
from textclf_core.labels import MULTI_LABEL_SEPARATORS, LabelSpace, detect_separator, split_cell

# The settings are stored with the project (store layer, below this one); re-exported here.
from textclf_core.store.projects import ROLES, Member, TeamSettings  # noqa: F401

ANNOTATION = "annotation"  # the change log's ``finding`` of an annotator's label
SETTLED = "settled"  # the change log's ``finding`` of a reviewer's decision
LABEL_PAGE = "labelled"  # labels the Label page wrote before teams (active.FINDING): one annotator's
COLUMNS = ["row", "annotator", "label", "time"]
SMALL_OVERLAP = 50  # texts labelled by two or more: below this the intervals are wide, and said so
BOOTSTRAP = 500  # resamples of the texts for each interval
CROWDLAB_SINGLE_ONLY = (
    "CROWDLAB weighs annotators on single-label data only, so this multi-label project's consensus is the "
    "per-class majority"
)


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


# =============================================================================== single- or multi-label
def label_space(project, frame: pd.DataFrame | None = None) -> LabelSpace:
    """What the team's labels are: the classes, and for a multi-label project the separator of its cells.

    Multi-label when the Label page's settings (``labelling.json``) say so; where they say nothing (annotations
    imported, never labelled on the page), when the annotators' cells are joined by a separator
    (:func:`textclf_core.labels.detect_separator`: 5% of the cells or more, never one row). Classes: single-label,
    the labels given, by name; multi-label, the classes given, in the project's class order (the Label page's
    list), then any other by name. ``frame``: :func:`annotations` (read when None)."""
    from .active import ProjectLabelLog

    cells = (annotations(project) if frame is None else frame)["label"].tolist()
    meta = ProjectLabelLog(project).meta()
    found = detect_separator(cells)
    multi = bool(meta["multi_label"]) if "multi_label" in meta else found is not None
    if not multi:
        return LabelSpace(sorted({str(c) for c in cells}))
    separator = found or MULTI_LABEL_SEPARATORS[0]
    given = {p for c in cells for p in split_cell(c, separator)}
    order = [c for c in dict.fromkeys(str(c) for c in meta.get("classes") or []) if c in given]
    return LabelSpace(order + sorted(given - set(order)), multi_label=True, separator=separator)


def label_set(cell, separator: str) -> frozenset[str]:
    """The classes of a multi-label cell: "bug; billing" and "billing;bug" are the same set."""
    return frozenset(split_cell(cell, separator))


def canonical_cell(cell, separator: str, classes: Sequence[str] = (), *, join: str | None = None) -> str:
    """A multi-label cell written one way: its classes in ``classes`` order (any other after, by name), joined by
    ``join`` (default ``separator``)."""
    order = {c: i for i, c in enumerate(classes)}
    parts = sorted(split_cell(cell, separator), key=lambda p: (order.get(p, len(order)), p))
    return (separator if join is None else join).join(parts)


def _presence(frame: pd.DataFrame, classes: Sequence[str], separator: str, *, least: int = 2):
    """Annotators x texts x classes of a multi-label frame: 1 where the annotator gave the class, 0 where they
    labelled the text without it, NaN where they did not label it; only the texts ``least`` annotators or more
    labelled (parts outside ``classes`` are ignored, a cell without a known class is no label).
    Returns (presence, rows, people)."""
    index = {c: i for i, c in enumerate(classes)}
    parts = frame[["row", "annotator"]].assign(cls=frame["label"].map(lambda c: split_cell(c, separator)))
    parts = parts.explode("cls")
    parts = parts[parts["cls"].isin(index)]
    given = parts.drop_duplicates(["row", "annotator"])
    counts = given.groupby("row")["annotator"].nunique()
    rows = sorted(int(r) for r in counts[counts >= least].index)
    people = sorted(given["annotator"].unique().tolist())
    mat = np.full((len(people), len(rows), len(classes)), np.nan)
    if rows:
        r_at = {r: i for i, r in enumerate(rows)}
        p_at = {p: i for i, p in enumerate(people)}
        first, sub = given[given["row"].isin(r_at)], parts[parts["row"].isin(r_at)]
        mat[first["annotator"].map(p_at).to_numpy(), first["row"].map(r_at).to_numpy(), :] = 0.0
        mat[
            sub["annotator"].map(p_at).to_numpy(), sub["row"].map(r_at).to_numpy(), sub["cls"].map(index).to_numpy()
        ] = 1
    return mat, rows, people


def _labelled(presence: np.ndarray) -> np.ndarray:
    """Annotators x texts: True where the annotator labelled the text."""
    return ~np.isnan(presence).all(axis=-1)


def _jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard agreement of two (texts, classes) 0/1 arrays, per text (two empty sets agree: 1)."""
    a, b = a > 0, b > 0
    union = (a | b).sum(axis=-1)
    return np.where(union > 0, (a & b).sum(axis=-1) / np.maximum(union, 1), 1.0)


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


def pair_kappas(
    frame: pd.DataFrame, classes: Sequence[str], *, seed: int = 0, separator: str | None = None
) -> pd.DataFrame:
    """Cohen's κ of every pair of annotators on the texts both labelled, with a 95% bootstrap interval:
    DataFrame[annotator_a, annotator_b, n, agreement, kappa, low, high] (agreement: share of same labels).
    Multi-label (``separator``): agreement is the mean Jaccard, κ the mean over classes (:func:`_pair_sets`)."""
    from sklearn.metrics import cohen_kappa_score

    if separator is not None:
        presence, _, people = _presence(frame, [str(c) for c in classes], separator)
        return _pair_sets(presence, people, seed=seed)

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


def alpha_samples(counts: np.ndarray, weights: np.ndarray, distance: np.ndarray | None = None) -> np.ndarray:
    """Krippendorff's α of many weighted copies of the same texts at once (the bootstrap).

    counts : (U, V) how many annotators gave each value to each pairable text (two values or more).
    weights : (B, U) how often each text is drawn in each resample.
    distance : (V, V) the distance between two values, 0 on the diagonal (None: nominal, 1 between any two).
    From the coincidence matrix: a text with m values adds Σ_{i≠j} δ(v_i, v_j) / (m - 1) to the observed
    disagreement (nominal: (m² - Σ n_c²) / (m - 1)) and its values to the totals n_c;
    α = 1 - (n - 1) D_o / Σ_{c,k} n_c δ(c, k) n_k (nominal: n² - Σ_c n_c²).
    Equal to the ``krippendorff`` package on the same data, nominal and with a distance (tested).
    """
    m = counts.sum(axis=1)
    within = m**2 - (counts**2).sum(axis=1) if distance is None else ((counts @ distance) * counts).sum(axis=1)
    d_o = within / np.maximum(m - 1, 1)
    totals = weights @ counts  # (B, V)
    n = totals.sum(axis=1)
    expected = n**2 - (totals**2).sum(axis=1) if distance is None else ((totals @ distance) * totals).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - (n - 1) * (weights @ d_o) / expected


def _value_counts(mat: np.ndarray, n_values: int) -> np.ndarray:
    """(texts, values) counts of an annotators x texts matrix, pairable texts only."""
    pairable = (~np.isnan(mat)).sum(axis=0) >= 2
    m = mat[:, pairable]
    out = np.zeros((m.shape[1], n_values))
    people, texts = np.nonzero(~np.isnan(m))
    np.add.at(out, (texts, m[people, texts].astype(int)), 1)
    return out


def _alpha_of(mat: np.ndarray, n_values: int, distance: np.ndarray) -> float:
    """Krippendorff's α of an annotators x texts matrix of value ids with a distance between values (NaN when
    undefined: fewer than two pairable values, or one value throughout)."""
    counts = _value_counts(mat, n_values)
    if not len(counts) or (counts.sum(axis=0) > 0).sum() < 2:
        return float("nan")
    alpha = float(alpha_samples(counts, np.ones((1, len(counts))), distance)[0])
    return alpha if math.isfinite(alpha) else float("nan")


def _alpha_with_interval(
    mat: np.ndarray, n_values: int, rng, resamples: int, distance: np.ndarray | None = None
) -> tuple[float, float, float]:
    alpha = krippendorff_alpha(mat, n_values) if distance is None else _alpha_of(mat, n_values, distance)
    if not math.isfinite(alpha) or mat.shape[1] < 2:
        return alpha, float("nan"), float("nan")
    counts = _value_counts(mat, n_values)
    texts = len(counts)
    b = resamples_for(texts, resamples)
    weights = np.zeros((b, texts))
    np.add.at(weights, (np.repeat(np.arange(b), texts), rng.integers(0, texts, size=b * texts)), 1)
    low, high = _interval(alpha_samples(counts, weights, distance))
    return alpha, low, high


def class_alphas(mat: np.ndarray, classes: Sequence[str], *, seed: int = 0, resamples: int = 200) -> pd.DataFrame:
    """Krippendorff's α of each class against the rest (do people agree on *this* class?), with
    intervals: DataFrame[class, alpha, low, high, n] (n: texts anyone put in the class).

    mat : annotators x texts of class ids (single-label, :func:`_matrix`), or annotators x texts x classes
      of presence (multi-label, :func:`_presence`): then a class's α is the binary α of "given or not"."""
    rng = np.random.default_rng(seed)
    out = []
    for i, name in enumerate(classes):
        binary = mat[:, :, i] if mat.ndim == 3 else np.where(np.isnan(mat), np.nan, (mat == i).astype(float))
        alpha, low, high = _alpha_with_interval(binary, 2, rng, resamples)
        out.append({"class": name, "alpha": alpha, "low": low, "high": high, "n": int((binary == 1).any(axis=0).sum())})
    return pd.DataFrame(out, columns=["class", "alpha", "low", "high", "n"])


def masi_distances(sets: np.ndarray) -> np.ndarray:
    """MASI distance (Passonneau 2006) between every two label sets, rows of 0/1 over the classes: 1 - J·M,
    J the Jaccard agreement |A∩B| / |A∪B|, M 1 for equal sets, 0.67 when one holds the other, 0.33 when they
    only overlap, 0 when disjoint (the values of ``nltk.metrics.distance.masi_distance``)."""
    s = np.asarray(sets, dtype=float)
    inter = s @ s.T
    size = s.sum(axis=1)
    union = size[:, None] + size[None, :] - inter
    monotone = np.select(
        [
            inter == np.maximum(size[:, None], size[None, :]),
            inter == np.minimum(size[:, None], size[None, :]),
            inter > 0,
        ],
        [1.0, 0.67, 0.33],
        0.0,
    )
    return 1 - np.where(union > 0, inter / np.maximum(union, 1), 1.0) * monotone


def _set_ids(presence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each annotator's label set on each text as an id (annotators x texts, NaN where not labelled), and the
    distinct sets (V, classes) as 0/1."""
    labelled = _labelled(presence)
    ids = np.full(labelled.shape, np.nan)
    if not labelled.any():
        return ids, np.zeros((0, presence.shape[-1]))
    sets, inverse = np.unique(presence[labelled] > 0, axis=0, return_inverse=True)
    ids[labelled] = inverse.ravel()
    return ids, sets


def masi_alpha(presence: np.ndarray) -> float:
    """Krippendorff's α with the MASI distance of an annotators x texts x classes presence array (:func:`_presence`)."""
    ids, sets = _set_ids(presence)
    return _alpha_of(ids, len(sets), masi_distances(sets))


def _mean_over_classes(kappas: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the finite values (NaN where none is)."""
    ok = np.isfinite(kappas)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok.any(axis=-1), np.where(ok, kappas, 0).sum(axis=-1) / ok.sum(axis=-1), np.nan)


def _pair_sets(presence: np.ndarray, people: Sequence[str], *, seed: int = 0) -> pd.DataFrame:
    """Multi-label :func:`pair_kappas`: ``agreement`` the mean Jaccard agreement of the two annotators' sets,
    ``kappa`` Cohen's κ on each class's presence averaged over the classes (a class neither gave on their shared
    texts has no κ and is left out), with a 95% bootstrap interval over the texts."""
    rng = np.random.default_rng(seed)
    labelled, k = _labelled(presence), presence.shape[-1]
    out = []
    for a, b in itertools.combinations(range(len(people)), 2):
        both = labelled[a] & labelled[b]
        n = int(both.sum())
        if n == 0:
            continue
        xa, xb = presence[a, both] > 0, presence[b, both] > 0
        cells = np.eye(4)[xa.astype(int) * 2 + xb.astype(int)].reshape(n, k * 4)  # each class's 2x2 table
        draws = resamples_for(n, BOOTSTRAP)
        weights = np.zeros((draws, n))
        np.add.at(weights, (np.repeat(np.arange(draws), n), rng.integers(0, n, size=draws * n)), 1)
        samples = _mean_over_classes(_kappa_from_counts((weights @ cells).reshape(draws, k, 2, 2)))
        low, high = _interval(samples)
        kappa = float(_mean_over_classes(_kappa_from_counts(cells.sum(axis=0).reshape(k, 2, 2))))
        out.append(
            {
                "annotator_a": people[a],
                "annotator_b": people[b],
                "n": n,
                "agreement": float(_jaccard(xa, xb).mean()),
                "kappa": kappa,
                "low": low,
                "high": high,
            }
        )
    return pd.DataFrame(out, columns=["annotator_a", "annotator_b", "n", "agreement", "kappa", "low", "high"])


def one_sided_classes(presence: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Multi-label: the classes people split on, most first: DataFrame[class, count, share] (count: pairs of
    annotators on one text where one gave the class and the other did not; share: of all such splits)."""
    given = np.nansum(presence, axis=0)  # (texts, classes): how many gave each class
    labelled = _labelled(presence).sum(axis=0)[:, None]
    count = (given * (labelled - given)).sum(axis=0) if presence.size else np.zeros(len(classes))
    out = pd.DataFrame({"class": list(classes), "count": count.astype(int)})
    out = out[out["count"] > 0].assign(share=lambda d: d["count"] / max(int(d["count"].sum()), 1))
    return out.sort_values(["count", "class"], ascending=[False, True]).reset_index(drop=True)


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


def agreement_trend(
    frame: pd.DataFrame, classes: Sequence[str], *, windows: int = 5, separator: str | None = None
) -> pd.DataFrame:
    """Agreement as labelling goes on: the texts labelled twice or more, in the order their second
    label came, cut into up to ``windows`` equal parts: DataFrame[window, texts, until, agreement, alpha]
    (agreement: share of annotator pairs that agree; multi-label, their mean Jaccard, and α with MASI)."""
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
        agree, alpha = _window_agreement(shared[shared["row"].isin(rows)], classes, separator)
        out.append(
            {"window": i, "texts": len(rows), "until": str(second.loc[rows].max()), "agreement": agree, "alpha": alpha}
        )
    return pd.DataFrame(out)


def _window_agreement(part: pd.DataFrame, classes: Sequence[str], separator: str | None) -> tuple[float, float]:
    """(share of annotator pairs that agree, α) on some texts; multi-label: (mean Jaccard of the pairs, MASI α)."""
    if separator is None:
        agree = [a == b for _, g in part.groupby("row")["label"] for a, b in itertools.combinations(g.tolist(), 2)]
        mat, _, _ = _matrix(part, classes)
        return float(np.mean(agree)), krippendorff_alpha(mat, len(classes))
    presence, _, _ = _presence(part, classes, separator)
    labelled = _labelled(presence)
    scores = [
        _jaccard(presence[a, both], presence[b, both])
        for a, b in itertools.combinations(range(len(presence)), 2)
        if (both := labelled[a] & labelled[b]).any()
    ]
    return (float(np.concatenate(scores).mean()) if scores else float("nan")), masi_alpha(presence)


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
    alpha: float  # Krippendorff's α, nominal (multi-label: MASI distance), over every text labelled twice or more
    alpha_low: float
    alpha_high: float
    pairs: pd.DataFrame  # [annotator_a, annotator_b, n, agreement, kappa, low, high] (multi-label: _pair_sets)
    per_class: pd.DataFrame  # [class, alpha, low, high, n]
    confused: pd.DataFrame  # [class_a, class_b, count, share]; multi-label [class, count, share]
    trend: pd.DataFrame  # [window, texts, until, agreement, alpha]
    sentence: str
    multi_label: bool = False

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
            "multi_label": self.multi_label,
            "sentence": self.sentence,
            **tables,
        }


def agreement(
    annotations_frame: pd.DataFrame, classes: Sequence[str], *, seed: int = 0, separator: str | None = None
) -> Agreement:
    """Cohen's κ per pair, Krippendorff's α overall and per class (95% bootstrap intervals over the
    texts), the classes people confuse, the trend over labelling order, and one sentence.

    separator : a multi-label project's (:func:`label_space`): cells are sets of classes; α uses the MASI
      distance between sets, each class's α is binary (given or not), a pair's ``agreement`` is the mean
      Jaccard and its ``kappa`` the mean over classes of κ on presence, ``confused`` the classes given by one
      annotator of a pair and not the other."""
    classes = [str(c) for c in classes]
    frame = annotations_frame
    rng = np.random.default_rng(seed)
    if separator is None:
        mat, rows, _ = _matrix(frame, classes)
        alpha, low, high = _alpha_with_interval(mat, len(classes), rng, 300)
        pairs = pair_kappas(frame, classes, seed=seed)
        confused = confused_pairs(frame[frame["row"].isin(rows)])
    else:
        mat, rows, people = _presence(frame, classes, separator)
        ids, sets = _set_ids(mat)
        alpha, low, high = _alpha_with_interval(ids, len(sets), rng, 300, masi_distances(sets))
        pairs = _pair_sets(mat, people, seed=seed)
        confused = one_sided_classes(mat, classes)
    shared = frame[frame["row"].isin(rows)]
    result = Agreement(
        n_overlap=len(rows),
        alpha=alpha,
        alpha_low=low,
        alpha_high=high,
        pairs=pairs,
        per_class=class_alphas(mat, classes, seed=seed),
        confused=confused,
        trend=agreement_trend(shared, classes, separator=separator),
        sentence="",
        multi_label=separator is not None,
    )
    result.sentence = agreement_sentence(result)
    return result


def agreement_sentence(result: Agreement) -> str:
    """ "Agreement is moderate (α = 0.58); most disagreements are between Neutral and Positive"."""
    if result.n_overlap == 0:
        return "No text has been labelled by two people yet, so agreement cannot be measured"
    if not math.isfinite(result.alpha):
        return f"Agreement cannot be measured yet: the {result.n_overlap} texts labelled twice all got " + (
            "the same classes" if result.multi_label else "the same single class"
        )
    text = f"Agreement is {strength(result.alpha)} (α = {result.alpha:.2f}"
    text += ", label sets compared by MASI distance)" if result.multi_label else ")"
    if len(result.confused) and result.multi_label:
        text += f"; the class most often given by one annotator and not the other is {result.confused.iloc[0]['class']}"
    elif len(result.confused):
        top = result.confused.iloc[0]
        text += f"; most disagreements are between {top['class_a']} and {top['class_b']}"
    else:
        text += (
            "; the annotators gave the same " + ("classes" if result.multi_label else "label") + " on every shared text"
        )
    if result.small and math.isfinite(result.alpha_low):
        text += (
            f". Only {result.n_overlap} texts were labelled twice, so it could be anywhere from "
            f"{result.alpha_low:.2f} to {result.alpha_high:.2f}"
        )
    return text


def trend_figure(trend: pd.DataFrame, *, multi_label: bool = False):
    """Agreement and α per stretch of labelling (plotly figure; data from :func:`agreement_trend`;
    ``multi_label``: the agreement is the pairs' mean Jaccard)."""
    import plotly.graph_objects as go

    said = "classes in common (Jaccard)" if multi_label else "pairs that agree"
    fig = go.Figure()
    fig.add_scatter(
        x=trend["window"],
        y=trend["agreement"],
        mode="lines+markers",
        name=said,
        customdata=trend[["texts", "until"]],
        hovertemplate="%{y:.0%} " + said + "<br>%{customdata[0]} texts, until %{customdata[1]}<extra></extra>",
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


def majority(annotations_frame: pd.DataFrame, classes: Sequence[str], *, separator: str | None = None) -> pd.DataFrame:
    """Majority vote per text: DataFrame[row, label, confidence, method, n, tie]. confidence: the
    winner's share of the votes; a tie goes to the class more annotations chose overall (``tie`` True).
    Multi-label (``separator``): the per-class majority (:func:`majority_sets`)."""
    classes = [str(c) for c in classes]
    if separator is not None:
        return majority_sets(annotations_frame, classes, separator)
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


def majority_sets(annotations_frame: pd.DataFrame, classes: Sequence[str], separator: str) -> pd.DataFrame:
    """Multi-label consensus per text: DataFrame[row, label, confidence, method, n, tie]. A class is in the
    label when more than half of the text's annotators gave it; the label's classes are in ``classes`` order,
    joined by ``separator`` ("" when no class has a majority). A class exactly half of them gave (two
    annotators who split on it) is left out and the text marked ``tie``: it is the reviewer's to settle, and
    training leaves it out until then (:func:`consensus_labels`). confidence: for each class someone gave,
    the share of the annotators who agree with the decision on it, averaged over those classes."""
    presence, rows, _ = _presence(annotations_frame, classes, separator, least=1)
    votes = np.nansum(presence, axis=0)  # (texts, classes)
    n = _labelled(presence).sum(axis=0)[:, None]
    given = votes > 0
    agree = np.maximum(votes, n - votes) / np.maximum(n, 1)
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame(
        {
            "row": rows,
            "label": [separator.join(names[chosen]) for chosen in votes * 2 > n],
            "confidence": np.where(given, agree, 0).sum(axis=1) / np.maximum(given.sum(axis=1), 1),
            "method": "majority",
            "n": n[:, 0].astype(int),
            "tie": (given & (votes * 2 == n)).any(axis=1),
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
    separator: str | None = None,
) -> pd.DataFrame:
    """The consensus label of every text anyone labelled: DataFrame[row, label, confidence, method, n].

    method : "majority" or "crowdlab" (default: "crowdlab" when ``pred_probs`` is given, else "majority").
    settled : a reviewer's decisions (row -> label), which win (method "settled", confidence 1).
    separator : a multi-label project's: the per-class majority (:func:`majority_sets`); CROWDLAB is
      single-label only, so "crowdlab" falls back to it and says so in ``.attrs["note"]``.
    """
    method = method or ("crowdlab" if pred_probs is not None else "majority")
    note = None
    if separator is not None and method == "crowdlab":
        method, note = "majority", CROWDLAB_SINGLE_ONLY
    if method == "crowdlab":
        if pred_probs is None:
            raise TextclfError(
                "CROWDLAB needs out-of-sample probabilities (pred_probs)",
                hint="Use out_of_sample_probs(texts, annotations, classes)",
            )
        out = crowdlab(annotations_frame, classes, pred_probs)[0]
    elif method == "majority":
        out = majority(annotations_frame, classes, separator=separator)[["row", "label", "confidence", "method", "n"]]
    else:
        raise TextclfError(f"Unknown consensus method {method!r}; use majority or crowdlab")
    if settled:
        out = out.set_index("row")
        for row, label in settled.items():
            label = str(label) if separator is None else canonical_cell(label, separator, [str(c) for c in classes])
            out.loc[int(row), ["label", "confidence", "method"]] = [label, 1.0, "settled"]
        out["n"] = out["n"].fillna(0).astype(int)
        out = out.reset_index().sort_values("row").reset_index(drop=True)
    if note:
        out.attrs["note"] = note
    return out


def annotator_quality(
    annotations_frame: pd.DataFrame,
    classes: Sequence[str],
    pred_probs: np.ndarray | None = None,
    *,
    separator: str | None = None,
) -> pd.DataFrame:
    """Each annotator's estimated quality: DataFrame[annotator, quality, n, method].

    With ``pred_probs``: CROWDLAB's annotator quality (agreement with the consensus and with the model,
    weighted). Without: the share of their labels on shared texts that match the majority of the *others*.
    Multi-label (``separator``): :func:`quality_sets` (``pred_probs`` unused, said in ``.attrs["note"]``)."""
    if separator is not None:
        out = quality_sets(annotations_frame, [str(c) for c in classes], separator)
        if pred_probs is not None:
            out.attrs["note"] = CROWDLAB_SINGLE_ONLY
        return out
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


def quality_sets(annotations_frame: pd.DataFrame, classes: Sequence[str], separator: str) -> pd.DataFrame:
    """Multi-label annotator quality: DataFrame[annotator, quality, n, method]; quality is the mean Jaccard
    agreement of their sets with the per-class majority of the *others* on the texts they share (classes more
    than half of the others gave), n the texts they labelled."""
    presence, _, people = _presence(annotations_frame, classes, separator, least=1)
    labelled = _labelled(presence)
    votes, counts = np.nansum(presence, axis=0), labelled.sum(axis=0)
    rows = []
    for p, person in enumerate(people):
        mine = np.nan_to_num(presence[p])
        others_n = (counts - labelled[p])[:, None]
        shared = labelled[p] & (others_n[:, 0] > 0)
        others = (votes - mine) * 2 > others_n
        quality = float(_jaccard(mine[shared], others[shared]).mean()) if shared.any() else float("nan")
        rows.append({"annotator": person, "quality": quality, "n": int(labelled[p].sum()), "method": "majority"})
    return (
        pd.DataFrame(rows, columns=["annotator", "quality", "n", "method"])
        .sort_values("quality", ascending=False, na_position="last")
        .reset_index(drop=True)
    )


# =============================================================================== reviewer's queue
def disagreements(
    annotations_frame: pd.DataFrame, settled: Iterable[int] = (), *, separator: str | None = None
) -> list[int]:
    """Texts the annotators gave different labels, not yet settled: the reviewer's queue, in the
    order the disagreement arose. Multi-label (``separator``): different sets of classes (the order of a
    cell's classes and the spaces around them do not count)."""
    frame = annotations_frame
    done = {int(r) for r in settled}
    labels = frame["label"] if separator is None else frame["label"].map(lambda c: canonical_cell(c, separator))
    split = labels.groupby(frame["row"]).nunique()
    rows = set(split[split > 1].index.astype(int)) - done
    order = frame[frame["row"].isin(rows)].groupby("row")["time"].max().sort_values(kind="stable")
    return [int(r) for r in order.index]


def disagreement_table(
    annotations_frame: pd.DataFrame,
    rows: Sequence[int],
    texts: Sequence[str] | None = None,
    *,
    separator: str | None = None,
) -> pd.DataFrame:
    """The reviewer's queue as a table: row, text, and each annotator's label in a column (multi-label: each
    cell's classes by name, so equal sets read the same)."""
    sub = annotations_frame[annotations_frame["row"].isin(list(rows))]
    if separator is not None:
        sub = sub.assign(label=sub["label"].map(lambda c: canonical_cell(c, separator)))
    wide = sub.pivot_table(index="row", columns="annotator", values="label", aggfunc="last")
    wide = wide.reindex(list(rows)).reset_index()
    if texts is not None:
        wide.insert(1, "text", [str(texts[r]) for r in wide["row"]])
    return wide


# =============================================================================== training
MIN_CROWDLAB_OVERLAP = 10  # texts labelled twice or more before CROWDLAB weighs the annotators


def consensus_labels(
    project, *, method: str = "auto", separator: str | None = None
) -> tuple[dict[int, str | None], dict]:
    """The labels a run trains on with ``label_source="consensus"``: row -> label for every text an
    annotator labelled (settled texts: the reviewer's label; majority ties nobody settled: None, left
    out), and a summary ``{"method", "texts", "settled", "ties_left_out", "annotators"}``.

    method : "auto" (CROWDLAB once two annotators share ``MIN_CROWDLAB_OVERLAP`` texts, as it beat
      majority in bench/teams.py; majority before), "crowdlab" or "majority".
    A multi-label project (:func:`label_space`) gets :func:`consensus_labels_sets`; ``separator`` is the one
    its cells are written with (default: the annotations')."""
    frame = annotations(project)
    if frame.empty:
        raise TextclfError(
            "No annotator has labelled a text in this project yet, so there is no consensus",
            where=project.name,
            hint="Label texts on the Label page, or train on the label column",
        )
    space = label_space(project, frame)
    if space.multi_label:
        return consensus_labels_sets(project, frame, space, method=method, separator=separator)
    classes = space.classes
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


def consensus_labels_sets(
    project, frame: pd.DataFrame, space: LabelSpace, *, method: str = "auto", separator: str | None = None
) -> tuple[dict[int, str | None], dict]:
    """:func:`consensus_labels` of a multi-label project: the per-class majority (:func:`majority_sets`), each
    cell's classes in the project's class order joined by ``separator`` (default ``space.separator``); a
    reviewer's decision wins; texts with a tied class, or with no class more than half gave, are left out
    (None) until a reviewer settles them. CROWDLAB is single-label only: "auto" and "crowdlab" fall back to
    the per-class majority, and the summary's ``note`` says so."""
    if method not in ("auto", "crowdlab", "majority"):
        raise TextclfError(f"Unknown consensus method {method!r}; use majority or crowdlab")
    join = separator or space.separator
    done = settlements(project)
    table = majority_sets(frame, space.classes, space.separator)
    open_ = ~table["row"].isin(list(done))
    ties = set(table.loc[table["tie"] & open_, "row"].astype(int))
    empty = set(table.loc[(table["label"] == "") & ~table["tie"] & open_, "row"].astype(int))
    labels: dict[int, str | None] = {
        int(r): None if int(r) in ties | empty else canonical_cell(lab, space.separator, space.classes, join=join)
        for r, lab in zip(table["row"], table["label"])
    }
    labels.update({int(r): canonical_cell(lab, space.separator, space.classes, join=join) for r, lab in done.items()})
    summary = {
        "method": "majority",
        "texts": len(labels),
        "settled": len(done),
        "ties_left_out": len(ties),
        "no_majority_left_out": len(empty),
        "annotators": int(frame["annotator"].nunique()),
        "multi_label": True,
        "separator": join,
    }
    if method != "majority":
        summary["note"] = CROWDLAB_SINGLE_ONLY
    return dict(sorted(labels.items())), summary


def training_labels(project, frame: pd.DataFrame, label_col: str) -> tuple[pd.DataFrame, dict]:
    """``frame`` with ``label_col`` replaced by the consensus where annotators labelled (rows matched by
    the table's index, the project's row numbers), and what was done (recorded in the run).
    ``RunConfig.label_source == "consensus"`` (``training_setup.apply_label_source``) calls it.
    A multi-label consensus is written with the separator the label column already uses (else the
    annotations')."""
    column = frame[label_col].tolist() if label_col in frame.columns else []
    labels, summary = consensus_labels(project, separator=detect_separator(column))
    out = frame.copy()
    if label_col not in out.columns:
        out[label_col] = pd.Series([None] * len(out), index=out.index, dtype=object)
    values = out[label_col].astype(object)
    here = [r for r in labels if r in values.index]
    values.loc[here] = [labels[r] for r in here]
    out[label_col] = values
    summary["project"] = project.id
    return out, summary
