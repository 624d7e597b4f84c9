"""Cold start: suggestions and a queue order from the class names and descriptions, before any label.

Two ways to guess a class without labels were measured by ``bench/coldstart.py`` on the bundled
samples (BBC news, movie reviews) with the bundled MiniLM encoder:

- ``similarity``: each class is the mean embedding of a few templates ("This text is about
  {name}: {description}") and of the guidelines' example texts; a text's scores are its cosine
  similarities to the classes, turned into probabilities by a softmax with a fixed scale;
- ``synthetic`` (SetFit-style): the same templates and examples are training rows of a logistic
  regression head on the frozen embeddings.

:data:`DEFAULT_METHOD` is the one that won: on the test splits, with one-line descriptions, 0.899
against 0.881 accuracy on BBC news (names only: 0.811 against 0.796) and 0.657 against 0.655 on movie
reviews; and its confidence was honest out of the box on BBC news (ECE 0.048, the synthetic head's
0.465: it says 30% when it is right 90% of the time). The guesses are honest
about what they are: a :class:`Guide` from the zero-shot alone says ``source == "zero-shot"`` (the
page labels it "zero-shot guess, not trained"), and once labels exist its temperature is fitted on
them (:func:`calibrated`), so "80% sure" means what it says on this data. As labels arrive the
suggestions are a blend of the zero-shot and the fast model (:func:`blend`), weighted towards the
fast model as labels accumulate; it takes over completely once its cross-validated accuracy beats
the zero-shot's accuracy on the labels made.

The bundled encoders read English only. :func:`readability` checks the texts cheaply (the share of
letters in Latin script); for text they cannot read the cold start says so and falls back to
string matching of the class names and description words (:func:`keyword_proba`), which gives no
suggestion for a text that mentions none of them.

Nothing here imports streamlit or :mod:`textclf_core.labelling.active` (which imports this module).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from textclf_core.errors import TextclfError

METHODS = ("similarity", "synthetic")
DEFAULT_METHOD = "similarity"
ZERO_SHOT_NOTE = "zero-shot guess, not trained"
# Templates filled per class; the description ones only when the class has a description.
NAME_TEMPLATES = ("{name}", "This text is about {name}.")
DESCRIPTION_TEMPLATES = ("This text is about {name}: {description}", "{description}")
# Softmax scale of cosine similarities before any label: fitted once on the bundled samples
# (bench/coldstart.py, temperature minimising the log loss); replaced by a fit on the user's own
# labels as soon as there are CALIBRATE_AFTER of them.
SIMILARITY_SCALE = 30.0
CALIBRATE_AFTER = 10
# The zero-shot's weight in the blend is HANDOVER_LABELS / (HANDOVER_LABELS + labels made)
# (bench/coldstart.py measured 10, 30 and 100: 10 reached 95% of the final BBC accuracy soonest).
HANDOVER_LABELS = 10
# Embedding every text of a big table would hold the first suggestion for minutes on a CPU: at most
# this many rows (a seeded sample) get a zero-shot guess; the rest wait for the fast model.
MAX_ROWS = 5000
# Below this share of Latin-script letters the English encoder cannot read the texts.
MIN_LATIN_SHARE = 0.5


@dataclass
class ClassDescription:
    """A class as the cold start sees it: its name, a description, example texts (all optional but the name)."""

    name: str
    description: str = ""
    examples: tuple[str, ...] = ()


@dataclass
class Readability:
    readable: bool
    latin_share: float
    message: str


@dataclass
class ZeroShot:
    """Zero-shot probabilities for the session's rows: ``proba`` (n, k), ``known`` rows that have a guess."""

    classes: list[str]
    proba: np.ndarray
    known: np.ndarray  # bool (n,)
    method: str  # "similarity", "synthetic", "keywords" or "none"
    message: str
    temperature: float = 1.0
    seconds: float = 0.0
    words: np.ndarray | None = None  # bool (n,): guessed from class words (text the encoder cannot read)


@dataclass
class Guide:
    """What suggestions and the queue come from: the zero-shot, the fast model, or a blend of both.

    Duck-types the fast model where the queue needs it (``classes``, ``multi_label``, ``proba``,
    ``version``); ``source`` is ``"zero-shot"``, ``"blend"`` or ``"trained"``.
    """

    classes: list[str]
    proba: np.ndarray
    known: np.ndarray
    source: str
    weight: float  # the zero-shot's share of the blend (1.0: zero-shot only, 0.0: handed over)
    version: int = 0
    multi_label: bool = False
    note: str = ""
    n_labels: int = 0
    extra: dict = field(default_factory=dict)

    def suggestion(self, row: int) -> tuple[str, float] | None:
        row = int(row)
        if not self.known[row]:
            return None
        p = self.proba[row]
        j = int(np.argmax(p))
        return self.classes[j], float(p[j])


# ----------------------------------------------------------------------------- what the classes say
def describe_classes(
    classes: Sequence[str], descriptions: Mapping[str, object] | None = None
) -> list[ClassDescription]:
    """The classes with what is known of them; ``descriptions`` maps a name to a text, a dict
    (``description``, ``examples``) or a :class:`ClassDescription` (e.g. from the guidelines)."""
    out = []
    for name in classes:
        item = (descriptions or {}).get(name)
        if isinstance(item, ClassDescription):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(
                ClassDescription(
                    str(name),
                    str(item.get("description") or ""),
                    tuple(str(e) for e in item.get("examples") or () if str(e).strip()),
                )
            )
        else:
            out.append(ClassDescription(str(name), "" if item is None else str(item)))
    return out


def prompts(classes: Sequence[ClassDescription]) -> tuple[list[str], np.ndarray]:
    """The texts that stand for each class (templates filled, then examples) and their class ids."""
    texts, owner = [], []
    for j, c in enumerate(classes):
        name = c.name.replace("_", " ").strip()
        filled = [t.format(name=name) for t in NAME_TEMPLATES]
        if c.description.strip():
            filled += [t.format(name=name, description=c.description.strip()) for t in DESCRIPTION_TEMPLATES]
        filled += list(c.examples)
        texts += filled
        owner += [j] * len(filled)
    return texts, np.asarray(owner, dtype=np.int64)


# ----------------------------------------------------------------------------- can the encoder read it
def latin_share(text: str, limit: int = 2000) -> float:
    """The share of the letters of ``text`` (its first ``limit`` characters) in Latin script; 0 without letters
    (scripts counted by data.language, the one owner of the language of a text)."""
    from textclf_core.data.language import script_counts

    counts = script_counts(str(text or "")[:limit])
    total = sum(counts.values())
    return counts.get("Latin", 0) / total if total else 0.0


def readable_rows(texts: Sequence[str]) -> np.ndarray:
    """Per text: can the bundled (English) encoders read it (mostly Latin-script letters)? bool (n,).

    The tokenizer's unknown-token share does not tell: MiniLM's vocabulary holds single CJK
    characters, so Chinese text tokenizes with almost no unknown tokens yet means nothing to it.
    Latin script does not prove English (French passes); nothing here claims it does.
    """
    return np.asarray([latin_share(t) >= MIN_LATIN_SHARE for t in texts], dtype=bool)


def readability(texts: Sequence[str], *, sample: int = 300, seed: int = 0) -> Readability:
    """A summary for the page: the share of (a sample of) texts the encoder can read, and what that means."""
    texts = ["" if t is None else str(t) for t in texts]
    if len(texts) > sample:
        idx = np.random.default_rng(seed).choice(len(texts), sample, replace=False)
        texts = [texts[i] for i in idx]
    share = float(readable_rows(texts).mean()) if texts else 0.0
    if share >= 0.5:
        return Readability(True, share, "")
    return Readability(
        False,
        share,
        f"Most texts ({1 - share:.0%}) are not in Latin script, which the bundled "
        "English encoder cannot read: their first suggestions only match the class "
        "names and description words.",
    )


# ----------------------------------------------------------------------------- the guesses
def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


def similarity_proba(
    text_vectors: np.ndarray, prompt_vectors: np.ndarray, owner: np.ndarray, k: int, scale: float = SIMILARITY_SCALE
) -> np.ndarray:
    """Softmax over classes of the cosine similarity to each class's mean prompt vector. Shapes (n, d) → (n, k)."""
    t = _unit(text_vectors)
    p = _unit(prompt_vectors)
    centres = _unit(np.stack([p[owner == j].mean(axis=0) for j in range(k)]))
    return _softmax(scale * (t @ centres.T))


def synthetic_proba(
    text_vectors: np.ndarray, prompt_vectors: np.ndarray, owner: np.ndarray, k: int, seed: int = 0
) -> np.ndarray:
    """SetFit-style: a logistic regression head trained on the prompts' embeddings, applied to the texts."""
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=10.0, max_iter=2000, random_state=seed)
    head.fit(_unit(prompt_vectors), owner)
    out = np.zeros((len(text_vectors), k))
    out[:, head.classes_.astype(int)] = head.predict_proba(_unit(text_vectors))
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def keyword_proba(texts: Sequence[str], classes: Sequence[ClassDescription]) -> tuple[np.ndarray, np.ndarray]:
    """String match for texts the encoder cannot read: hits of each class's name and description words.

    The description's words come from :func:`textclf_core.data.language.segment` (a word segmenter where the
    script has no spaces: "关于足球比赛的报道" gives 关于, 足球, 比赛, 报道); words shorter than two characters
    are ignored. Returns (proba, known): a text with no hit has no guess.
    """
    from textclf_core.data.language import segment

    terms = []
    for c in classes:
        words = {c.name.casefold()} | {w.casefold() for w in segment(c.description) if len(w) >= 2}
        terms.append([w for w in words if w])
    hits = np.zeros((len(texts), len(classes)))
    for i, text in enumerate(texts):
        folded = ("" if text is None else str(text)).casefold()
        for j, words in enumerate(terms):
            hits[i, j] = sum(folded.count(w) for w in words if w)
    known = hits.sum(axis=1) > 0
    proba = np.full(hits.shape, 1.0 / max(1, len(classes)))
    proba[known] = (hits[known] + 0.5) / (hits[known] + 0.5).sum(axis=1, keepdims=True)
    return proba, known


def zero_shot(
    texts: Sequence[str],
    classes: Sequence[ClassDescription],
    *,
    model: str | None = None,
    method: str = DEFAULT_METHOD,
    embed: Callable | None = None,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
    cache_dir=None,
) -> ZeroShot:
    """Zero-shot guesses for ``texts`` from the class descriptions (one call, before any label).

    ``embed(texts) -> (n, d)`` defaults to :func:`textclf_core.engine.encoders.embed` with ``model`` (the
    bundled MiniLM when None), cached on disk. Unreadable texts: :func:`keyword_proba`.
    """
    if method not in METHODS:
        raise TextclfError(f"Unknown cold-start method {method!r}", hint=f"Use one of: {', '.join(METHODS)}")
    start = time.perf_counter()
    texts = ["" if t is None else str(t) for t in texts]
    names = [c.name for c in classes]
    n, k = len(texts), len(classes)
    if k < 2:
        return ZeroShot(
            names,
            np.full((n, max(k, 1)), 1.0),
            np.zeros(n, bool),
            "none",
            "Suggestions start once there are two classes.",
        )
    readable = readable_rows(texts)
    proba, known = keyword_proba(texts, classes)  # texts the encoder cannot read: class names and words only
    proba[readable], known[readable] = 1.0 / k, False
    rows = np.flatnonzero(readable)
    if len(rows) > max_rows:  # a seeded sample gets guesses; the rest wait for the fast model
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    if len(rows):
        embed = embed or _default_embed(model, cache_dir)
        prompt_texts, owner = prompts(classes)
        vectors = np.asarray(embed([texts[i] for i in rows] + prompt_texts), dtype=np.float64)
        text_vectors, prompt_vectors = vectors[: len(rows)], vectors[len(rows) :]
        proba[rows] = (
            similarity_proba(text_vectors, prompt_vectors, owner, k)
            if method == "similarity"
            else synthetic_proba(text_vectors, prompt_vectors, owner, k, seed=seed)
        )
        known[rows] = True
    return ZeroShot(
        names,
        proba,
        known,
        method if len(rows) else "keywords",
        _message(readable, rows, n),
        seconds=time.perf_counter() - start,
        words=known & ~readable,
    )


def _message(readable: np.ndarray, rows: np.ndarray, n: int) -> str:
    parts = []
    foreign = int((~readable).sum())
    if foreign:
        parts.append(
            f"{foreign:,} of {n:,} texts are not in Latin script, which the bundled English encoder "
            "cannot read: their first suggestions only match the class names and description words "
            "(none when they mention neither)."
        )
    if len(rows) < int(readable.sum()):
        parts.append(
            f"Zero-shot guesses for a sample of {len(rows):,} of {int(readable.sum()):,} texts; "
            "the others get suggestions once the model has trained."
        )
    return " ".join(parts)


def _default_embed(model: str | None, cache_dir) -> Callable:
    from textclf_core.engine.encoders import embed
    from textclf_core.store.catalog import BUNDLED_KEY

    name = model or BUNDLED_KEY
    return lambda texts: embed(list(texts), name, cache_dir=cache_dir)


# ----------------------------------------------------------------------------- as labels arrive
def calibrated(zs: ZeroShot, labels: Mapping[int, str]) -> ZeroShot:
    """``zs`` with its temperature fitted on the labels made (from :data:`CALIBRATE_AFTER` labels on)."""
    rows = [r for r, v in labels.items() if v in zs.classes and zs.known[int(r)]]
    if len(rows) < CALIBRATE_AFTER or len({labels[r] for r in rows}) < 2:
        return zs
    from textclf_core.evaluation.calibration import apply_temperature, fit_temperature

    idx = np.asarray(rows, dtype=np.int64)
    t = float(fit_temperature(zs.proba[idx], [labels[r] for r in rows], zs.classes))
    proba = zs.proba.copy()
    proba[zs.known] = apply_temperature(zs.proba[zs.known], t)
    return ZeroShot(
        zs.classes, proba, zs.known, zs.method, zs.message, temperature=t, seconds=zs.seconds, words=zs.words
    )


def observed_accuracy(zs: ZeroShot, labels: Mapping[int, str]) -> tuple[float | None, int]:
    """The zero-shot's accuracy on the labels made (rows it guessed): (accuracy or None, rows)."""
    rows = [int(r) for r, v in labels.items() if zs.known[int(r)]]
    if not rows:
        return None, 0
    picked = np.asarray(zs.classes)[zs.proba[rows].argmax(axis=1)]
    return float(np.mean([p == labels[r] for p, r in zip(picked, rows)])), len(rows)


WEIGHTS = np.linspace(0.0, 1.0, 11)  # the zero-shot shares tried on the labels made


def blend_weight(
    n_labels: int,
    zero_shot_accuracy: float | None = None,
    model_accuracy: float | None = None,
    handover: int = HANDOVER_LABELS,
) -> float:
    """The zero-shot's share without out-of-fold probabilities: ``handover / (handover + n_labels)``;
    0 once the fast model's cross-validated accuracy is at least the zero-shot's on the same labels."""
    if zero_shot_accuracy is not None and model_accuracy is not None and model_accuracy >= zero_shot_accuracy:
        return 0.0
    return handover / (handover + max(0, int(n_labels)))


def fitted_weight(zero_proba: np.ndarray, oof_proba: np.ndarray, y: np.ndarray) -> float:
    """The zero-shot share (of :data:`WEIGHTS`) whose mix with the fast model's out-of-fold
    probabilities has the lowest log loss on the labels made: 0 hands over to the fast model.
    Shapes (n, k), (n, k), (n,) class ids. Ties go to the smaller share (the trained model)."""
    idx = np.arange(len(y))
    losses = [
        -np.mean(np.log(np.clip(w * zero_proba[idx, y] + (1 - w) * oof_proba[idx, y], 1e-12, 1.0))) for w in WEIGHTS
    ]
    return float(WEIGHTS[int(np.argmin(np.round(losses, 9)))])


def _weight(
    zs: ZeroShot, model, labels: Mapping[int, str], zp: np.ndarray, handover: int
) -> tuple[float, float | None]:
    """(zero-shot share, the fast model's temperature) from its out-of-fold probabilities when it has
    them (enough labels), else (the schedule, None). The fast model is calibrated first: its one-vs-rest
    probabilities are flat (0.4 on the right class at 97% accuracy on BBC news), and a flat model
    loses any log-loss comparison it should win."""
    oof = getattr(model, "oof", None)
    rows = sorted(int(r) for r in getattr(model, "labelled_rows", ()) or ())
    if oof is not None and len(rows) == len(oof) and len(rows) >= CALIBRATE_AFTER:
        from textclf_core.evaluation.calibration import apply_temperature, fit_temperature

        classes = list(model.classes)
        keep = [i for i, r in enumerate(rows) if zs.known[r] and labels.get(r) in classes]
        if len(keep) >= CALIBRATE_AFTER:
            y = np.asarray([classes.index(labels[rows[i]]) for i in keep])
            oof = np.asarray(oof)[keep]
            t = float(fit_temperature(oof, y))
            return fitted_weight(zp[[rows[i] for i in keep]], apply_temperature(oof, t), y), t
    zs_acc, _ = observed_accuracy(zs, labels)
    est = getattr(model, "estimate", None)
    return blend_weight(len(labels), zs_acc, est.accuracy if est is not None else None, handover), None


def blend(zs: ZeroShot | None, model, labels: Mapping[int, str], *, handover: int = HANDOVER_LABELS) -> Guide | None:
    """The guide for suggestions and the queue: zero-shot alone, blended with ``model`` (the fast
    model, or None), or the fast model alone once it took over. None when there is neither."""
    usable = zs is not None and zs.method != "none" and zs.known.any()
    if model is None and not usable:
        return None
    if model is not None and (not usable or model.multi_label):
        return _trained(model)
    zs = calibrated(zs, labels)
    note = ZERO_SHOT_NOTE + (f", calibrated on {len(labels)} labels" if zs.temperature != 1.0 else "")
    if model is None:
        calibrated_on = len(labels) if zs.temperature != 1.0 else 0
        return Guide(
            list(zs.classes),
            zs.proba,
            zs.known.copy(),
            "zero-shot",
            1.0,
            note=note,
            n_labels=len(labels),
            extra={"method": zs.method, "calibrated_on": calibrated_on, "words": zs.words},
        )
    classes = list(model.classes)
    zp = np.zeros((len(zs.proba), len(classes)))
    for j, name in enumerate(zs.classes):
        if name in classes:
            zp[:, classes.index(name)] = zs.proba[:, j]
    w, temperature = _weight(zs, model, labels, zp, handover)
    if w == 0.0:
        return _trained(model)
    from textclf_core.evaluation.calibration import apply_temperature

    fast = apply_temperature(model.proba, temperature)
    # A class the zero-shot never heard of (added later) gets nothing from it; rows without a guess
    # take the fast model alone.
    mix = w * zp + (1 - w) * fast
    mix = np.where(zs.known[:, None], mix, fast)
    mix = mix / np.maximum(mix.sum(axis=1, keepdims=True), 1e-12)
    return Guide(
        classes,
        mix,
        np.ones(len(mix), bool),
        "blend",
        w,
        version=model.version,
        note=f"zero-shot {w:.0%} + model trained on {model.n_labels} labels",
        n_labels=len(labels),
        extra={"method": zs.method},
    )


def _trained(model) -> Guide:
    return Guide(
        list(model.classes),
        model.proba,
        np.ones(len(model.proba), bool),
        "trained",
        0.0,
        version=model.version,
        multi_label=model.multi_label,
        note=f"model trained on {model.n_labels} labels",
        n_labels=model.n_labels,
    )


def confident_order(guide: Guide, rows: Sequence[int], *, seed: int = 0) -> np.ndarray:
    """Rows in class turns, the most confident guess of each class first (round robin), then the rest
    at random: the first labels cover every class and are mostly one key (Enter) each."""
    rows = np.asarray(sorted(int(r) for r in rows), dtype=np.int64)
    known = rows[guide.known[rows]]
    rest = np.random.default_rng(seed).permutation(rows[~guide.known[rows]])
    if len(known) == 0:
        return rest
    p = guide.proba[known]
    picked, conf = p.argmax(axis=1), p.max(axis=1)
    queues = [known[picked == j][np.argsort(-conf[picked == j], kind="stable")] for j in range(p.shape[1])]
    out = []
    for i in range(max(len(q) for q in queues)):
        out += [int(q[i]) for q in queues if i < len(q)]
    return np.concatenate([np.asarray(out, dtype=np.int64), rest])
