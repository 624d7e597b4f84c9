"""Why did the model say that? Word attributions for one prediction.

- Baseline (TF-IDF + linear model): exact. The model's score for the label is a sum of
  feature value × weight; each feature's share goes to the words it came from (a word
  unigram to its word, a bigram half to each word, a character n-gram to the words it
  occurs in). The word scores add up to the score minus the bias.
- Transformer and feature-extraction runs: occlusion. Each word is deleted in turn, and
  its score is how much the label's probability drops without it. All deletions go
  through the model in a few batches, so a 128-token text takes a second or two on CPU.

Positive scores push towards the label, negative ones away from it.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from textclf_core.errors import TextclfError

# Words as the baseline's tokenizer sees them (\w+), and each punctuation mark on its own.
WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
MAX_WORDS = 400  # longer texts: words after this are not explained (the model truncates them anyway)


@dataclass
class Explanation:
    """Word attributions of one prediction. ``spans`` are (start, end) character offsets in ``text``."""

    text: str
    words: list[str]
    spans: list[tuple[int, int]]
    scores: np.ndarray
    label: str
    probability: float
    method: str
    probabilities: dict = field(default_factory=dict)

    def top(self, n: int = 10, *, positive: bool | None = None) -> list[tuple[str, float]]:
        """The ``n`` words with the largest scores (by size; only positive/negative ones if asked)."""
        pairs = list(zip(self.words, self.scores.tolist()))
        if positive is True:
            pairs = [p for p in pairs if p[1] > 0]
        elif positive is False:
            pairs = [p for p in pairs if p[1] < 0]
        return sorted(pairs, key=lambda p: abs(p[1]), reverse=True)[:n]

    def to_dict(self) -> dict:
        return {"text": self.text, "label": self.label, "probability": self.probability, "method": self.method,
                "words": self.words, "spans": [list(s) for s in self.spans], "scores": self.scores.tolist(),
                "probabilities": self.probabilities}


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Words and punctuation marks of ``text`` with their character spans."""
    matches = list(WORD_RE.finditer(text))
    return [m.group() for m in matches], [m.span() for m in matches]


def _predictor(predictor_or_run):
    if hasattr(predictor_or_run, "predict_proba") and hasattr(predictor_or_run, "classes"):
        return predictor_or_run
    from .predict import load_predictor

    return load_predictor(predictor_or_run)


def _target_index(predictor, proba: np.ndarray, target) -> int:
    classes = list(predictor.classes)
    if target is None:
        return int(np.argmax(proba))
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and 0 <= target < len(classes):
        return int(target)
    if str(target) not in classes:
        raise TextclfError(f"'{target}' is not one of the classes", hint=f"Choose one of: {', '.join(classes)}")
    return classes.index(str(target))


def explain(predictor_or_run, text: str, target=None, *, batch_size: int = 64) -> Explanation:
    """Word attributions of ``text``'s prediction towards ``target`` (default: the predicted class).

    ``predictor_or_run`` is a loaded predictor (:func:`textclf_core.models.predict.load_predictor`),
    a run, a run id or a model folder.
    """
    predictor = _predictor(predictor_or_run)
    text = "" if text is None else str(text)
    model = getattr(predictor, "model", predictor)
    if hasattr(model, "coef") and hasattr(model, "features"):
        return _explain_linear(predictor, model, text, target)
    return _explain_occlusion(predictor, text, target, batch_size=batch_size)


# --- baseline: exact linear decomposition -----------------------------------------------------

def _class_weights(model, t: int) -> tuple[np.ndarray, float]:
    """Weight vector and bias whose dot product with the features moves class ``t``'s probability."""
    coef, bias = model.coef, model.intercept
    scale = np.asarray(getattr(model, "scale", np.ones(len(bias))), dtype=float)
    if model.link == "sigmoid":  # one output: the score of classes[1]; classes[0] is its opposite
        sign = 1.0 if t == 1 else -1.0
        return sign * scale[0] * coef[0], sign * scale[0] * bias[0]
    if model.link == "softmax":  # only differences between class scores matter: centre them
        w = coef * scale[:, None]
        b = bias * scale
        return w[t] - w.mean(axis=0), float(b[t] - b.mean())
    return scale[t] * coef[t], float(scale[t] * bias[t])


def _explain_linear(predictor, model, text: str, target) -> Explanation:
    proba = np.asarray(predictor.predict_proba([text]), dtype=float)[0]
    t = _target_index(predictor, proba, target)
    words, spans = split_words(text)
    weights, _ = _class_weights(model, t)
    X = model.features.transform([text]).tocsr()
    contrib = {int(j): float(v) * float(weights[j]) for j, v in zip(X.indices, X.data)}
    scores = np.zeros(len(words))
    norm = [_normalise(w) for w in words]
    offset = 0
    for block in model.features.blocks:
        vocab = block["vocabulary"]
        analyzer = block["params"]["analyzer"]
        for j in [j for j in contrib if offset <= j < offset + len(vocab)]:
            term = vocab[j - offset]
            _spread(term, analyzer, contrib[j], text, spans, norm, scores)
        offset += len(vocab)
    return Explanation(text, words, spans, scores, predictor.classes[t], float(proba[t]), "linear weights",
                       dict(zip(predictor.classes, map(float, proba))))


def _strip_accents(word: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _spread(term: str, analyzer: str, value: float, text: str, spans, norm: list[str], scores: np.ndarray) -> None:
    """Give a feature's contribution to the words of the text it was built from."""
    hits: list[int] = []
    if analyzer == "word":
        parts = term.split(" ")
        words_only = [i for i, w in enumerate(norm) if re.fullmatch(r"\w+", w)]
        if len(parts) == 1:
            hits = [i for i in words_only if norm[i] == parts[0]]
        else:  # a bigram: the word pairs that form it (punctuation between words does not break it)
            for a, b in zip(words_only, words_only[1:]):
                if norm[a] == parts[0] and norm[b] == parts[1]:
                    hits += [a, b]
    else:  # char_wb: n-grams of each whitespace-separated chunk padded with spaces
        for chunk in re.finditer(r"\S+", text):
            padded = f" {_normalise(chunk.group())} "
            inside = [i for i, (s, e) in enumerate(spans) if s >= chunk.start() and e <= chunk.end()]
            if len(padded) != len(chunk.group()) + 2:  # normalising changed the length: share over the chunk
                hits += inside * padded.count(term)
                continue
            at = padded.find(term)
            while at >= 0:
                lo, hi = chunk.start() + at - 1, chunk.start() + at - 1 + len(term)
                hits += [i for i in inside if spans[i][0] < hi and spans[i][1] > lo] or inside
                at = padded.find(term, at + 1)
    if hits:
        share = value / len(hits)
        for i in hits:
            scores[i] += share


def _normalise(word: str) -> str:
    return _strip_accents(word.lower())


# --- transformers: batched occlusion -----------------------------------------------------------

def _proba_function(predictor, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    """Probabilities for many variants of a text, without filling the embedding cache with them."""
    model = getattr(predictor, "model", predictor)
    if hasattr(model, "logits_from_embeddings") and hasattr(model, "encoder"):
        from textclf_core.engine.encoders import embed
        from textclf_core.engine.losses import probabilities

        def run(texts):
            x = embed(texts, model.encoder, max_length=model.max_length, pooling=model.pooling,
                      batch_size=batch_size, precision=model.precision, device=model.device, use_cache=False,
                      windows=getattr(model, "windows", 1))
            return probabilities(model.logits_from_embeddings(x), model.multi_label)
        return run

    def run(texts):
        try:
            return np.asarray(model.predict_proba(texts, batch_size=batch_size), dtype=float)
        except TypeError:
            return np.asarray(predictor.predict_proba(texts), dtype=float)
    return run


def _read_chars(predictor, text: str) -> int | None:
    """How many characters of ``text`` the model reads before truncating (None: all, or unknown)."""
    model = getattr(predictor, "model", predictor)
    tokenizer = getattr(model, "tokenizer", None)
    max_length = getattr(model, "max_length", None)
    try:
        if tokenizer is None and hasattr(model, "encoder"):
            from textclf_core.store.catalog import load_tokenizer

            tokenizer = load_tokenizer(model.encoder)
        if tokenizer is None or not max_length:
            return None
        enc = tokenizer(text, truncation=True, max_length=int(max_length), return_offsets_mapping=True)
        full = tokenizer(text, truncation=False, return_attention_mask=False)["input_ids"]
        if len(full) <= len(enc["input_ids"]):
            return None
        return max(end for _, end in enc["offset_mapping"])
    except Exception:  # noqa: BLE001 - slow tokenizers have no offsets: explain every word
        return None


def _explain_occlusion(predictor, text: str, target, *, batch_size: int) -> Explanation:
    words, spans = split_words(text)
    proba_of = _proba_function(predictor, batch_size)
    n = min(len(words), MAX_WORDS)
    read = _read_chars(predictor, text)
    if read is not None:  # words past the truncation point change nothing: score 0 without running them
        n = min(n, sum(1 for s, _ in spans if s < read))
    variants = [text] + [text[:spans[i][0]] + text[spans[i][1]:] for i in range(n)]
    proba = np.asarray(proba_of(variants), dtype=float)
    t = _target_index(predictor, proba[0], target)
    scores = np.zeros(len(words))
    scores[:n] = proba[0, t] - proba[1:, t]
    return Explanation(text, words, spans, scores, predictor.classes[t], float(proba[0, t]), "word occlusion",
                       dict(zip(predictor.classes, map(float, proba[0]))))


# --- display -----------------------------------------------------------------------------------

def highlight_html(explanation: Explanation, *, max_alpha: float = 0.6) -> str:
    """The text as safe HTML: words pushing towards the label on green, against it on red.

    Every piece of the text is escaped; the colour strength is the score relative to the
    largest score in the text. Each word's score is in its ``title`` (hover).
    """
    text = explanation.text
    scores = np.asarray(explanation.scores, dtype=float)
    peak = float(np.abs(scores).max()) if len(scores) else 0.0
    out, pos = [], 0
    for word_span, score in zip(explanation.spans, scores):
        start, end = word_span
        out.append(html.escape(text[pos:start]))
        piece = html.escape(text[start:end])
        strength = abs(score) / peak if peak > 0 else 0.0
        if strength >= 0.05:
            rgb = "44,160,44" if score > 0 else "214,39,40"
            out.append(f'<span style="background-color: rgba({rgb},{strength * max_alpha:.2f}); '
                       f'border-radius: 3px; padding: 0 1px" title="{score:+.3f}">{piece}</span>')
        else:
            out.append(piece)
        pos = end
    out.append(html.escape(text[pos:]))
    body = "".join(out).replace("\n", "<br>")
    return f'<div style="line-height: 1.9; white-space: normal">{body}</div>'


def deletion_drop(predictor_or_run, text: str, positions: Sequence[int], target=None) -> float:
    """How much the label's probability drops when the words at ``positions`` are deleted together."""
    predictor = _predictor(predictor_or_run)
    words, spans = split_words(text)
    pieces, pos = [], 0
    drop = set(positions)
    for i, (s, e) in enumerate(spans):
        pieces.append(text[pos:s])
        if i not in drop:
            pieces.append(text[s:e])
        pos = e
    pieces.append(text[pos:])
    proba = np.asarray(_proba_function(predictor, 64)([text, "".join(pieces)]), dtype=float)
    t = _target_index(predictor, proba[0], target)
    return float(proba[0, t] - proba[1, t])
