"""Why did the model say that? Word attributions for one prediction.

- Baseline (TF-IDF + linear model): exact. The model's score for the label is a sum of
  feature value × weight; each feature's share goes to the words it came from (a word
  unigram to its word, a bigram half to each word, a character n-gram to the words it
  occurs in). The word scores add up to the score minus the bias.
- Transformer and feature-extraction runs: occlusion. Each word is deleted in turn, and
  its score is how much the label's probability drops without it. All deletions go
  through the model in a few batches, so a 128-token text takes a second or two on CPU.

Positive scores push towards the label, negative ones away from it.

Words are data.language's (segmented words for Chinese and other scripts without spaces);
punctuation and whitespace are never words, so they are never scored: a feature built on a
punctuation mark alone (a character n-gram such as "，" or "!") goes to the nearest word.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from textclf_core.errors import TextclfError

TOKEN_RE = re.compile(r"\w+", re.UNICODE)  # the word analyzer's tokens (token_pattern \b\w+\b)
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
        return {
            "text": self.text,
            "label": self.label,
            "probability": self.probability,
            "method": self.method,
            "words": self.words,
            "spans": [list(s) for s in self.spans],
            "scores": self.scores.tolist(),
            "probabilities": self.probabilities,
        }


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The words of ``text`` (data.language.segment: no punctuation, no whitespace; segmented words for
    scripts without spaces) with their character spans."""
    from textclf_core.data.language import segment

    words, spans, pos = [], [], 0
    for word in segment(text):
        at = text.find(word, pos)
        if at < 0:  # never expected: segment returns pieces of the text in order
            continue
        words.append(word)
        spans.append((at, at + len(word)))
        pos = at + len(word)
    return words, spans


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
    offset = 0
    for b, block in enumerate(model.features.blocks):
        params = block["params"]
        vocab = _hashed_terms(model.features, b, text) if block.get("hashing") else block["vocabulary"]
        tokens = _block_tokens(words, params)
        for j in [j for j in contrib if offset <= j < offset + len(vocab)]:
            hits = _term_hits(vocab[j - offset], params, text, spans, tokens)
            if hits:
                for i in hits:
                    scores[i] += contrib[j] / len(hits)
        offset += len(vocab)
    return Explanation(
        text,
        words,
        spans,
        scores,
        predictor.classes[t],
        float(proba[t]),
        "linear weights",
        dict(zip(predictor.classes, map(float, proba))),
    )


class _HashedTerms(dict):
    """column -> the text's n-gram hashed there (a hashed block has no vocabulary: the text's own n-grams are
    hashed again, so the contribution of a column goes to the n-gram that made it)."""

    def __init__(self, hasher, text: str):
        super().__init__()
        self.n = hasher.n_features
        for term in hasher.analyzer()(text):
            self.setdefault(hasher.column(term), term)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, j: int) -> str:
        return self.get(j, "")


def _hashed_terms(features, b: int, text: str) -> _HashedTerms:
    from textclf_core.engine.tfidf import Hasher

    return _HashedTerms(Hasher(features.blocks[b]["params"], int(features.blocks[b]["n_features"])), text)


def _strip_accents(word: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _normaliser(params: dict) -> Callable[[str], str]:
    """The block's own lower-casing and accent stripping."""
    lower = params.get("lowercase", True)
    strip = params.get("strip_accents") == "unicode"
    return lambda w: _strip_accents(w.lower() if lower else w) if strip else (w.lower() if lower else w)


def _block_tokens(words: list[str], params: dict) -> list[tuple[str, int]]:
    """(token, index of the word it belongs to) as the block's word analyzer sees the text: \\w+ pieces of each
    word for the plain word analyzer ("don't" -> "don", "t"), the lower-cased words for the segmented one."""
    from textclf_core.engine.tfidf import SEGMENTED

    if params.get("analyzer") == SEGMENTED:
        return [(w.lower(), i) for i, w in enumerate(words)]
    if params.get("analyzer") == "word":
        norm = _normaliser(params)
        return [(tok, i) for i, w in enumerate(words) for tok in TOKEN_RE.findall(norm(w))]
    return []


def _term_hits(term: str, params: dict, text: str, spans, tokens) -> list[int]:
    """The word indices a feature's contribution is shared among (a word once per occurrence)."""
    analyzer = params.get("analyzer")
    if tokens or analyzer not in ("char", "char_wb"):
        parts = term.split(" ")
        n = len(parts)
        hits: list[int] = []
        for k in range(len(tokens) - n + 1):  # n-grams of consecutive tokens (punctuation between them ignored)
            if all(tokens[k + m][0] == parts[m] for m in range(n)):
                hits += sorted({tokens[k + m][1] for m in range(n)})
        return hits
    norm = _normaliser(params)
    if analyzer == "char_wb":  # n-grams of each whitespace-separated chunk padded with spaces
        chunks = [(m.start(), f" {norm(m.group())} ", len(m.group()) + 2) for m in re.finditer(r"\S+", text)]
        shift = -1
    else:  # plain char n-grams over the whole text
        chunks = [(0, norm(text), len(text))]
        shift = 0
    hits = []
    for start, padded, expected_len in chunks:
        end = start + expected_len + 2 * shift
        inside = [i for i, (s, e) in enumerate(spans) if s >= start and e <= end] or [_nearest(spans, start, end)]
        inside = [i for i in inside if i is not None]
        if len(padded) != expected_len:  # normalising changed the length: share over the chunk
            hits += inside * padded.count(term)
            continue
        at = padded.find(term)
        while at >= 0:
            lo, hi = start + at + shift, start + at + shift + len(term)
            over = [i for i in inside if spans[i][0] < hi and spans[i][1] > lo]
            near = _nearest(spans, lo, hi)  # an n-gram of punctuation or spaces only: the nearest word has it
            hits += over or ([near] if near is not None else [])
            at = padded.find(term, at + 1)
    return hits


def _nearest(spans, lo: int, hi: int) -> int | None:
    """The word closest to characters [lo, hi) (None when the text has no word)."""
    if not spans:
        return None
    gaps = [max(s - hi, lo - e, 0) for s, e in spans]
    return int(np.argmin(gaps))


# --- transformers: batched occlusion -----------------------------------------------------------


def _proba_function(predictor, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    """Probabilities for many variants of a text, without filling the embedding cache with them."""
    model = getattr(predictor, "model", predictor)
    if hasattr(model, "logits_from_embeddings") and hasattr(model, "encoder"):
        from textclf_core.engine.encoders import embed
        from textclf_core.engine.losses import probabilities

        def run(texts):
            x = embed(
                texts,
                model.encoder,
                max_length=model.max_length,
                pooling=model.pooling,
                batch_size=batch_size,
                precision=model.precision,
                device=model.device,
                use_cache=False,
                windows=getattr(model, "windows", 1),
            )
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
    variants = [text] + [text[: spans[i][0]] + text[spans[i][1] :] for i in range(n)]
    proba = np.asarray(proba_of(variants), dtype=float)
    t = _target_index(predictor, proba[0], target)
    scores = np.zeros(len(words))
    scores[:n] = proba[0, t] - proba[1:, t]
    return Explanation(
        text,
        words,
        spans,
        scores,
        predictor.classes[t],
        float(proba[0, t]),
        "word occlusion",
        dict(zip(predictor.classes, map(float, proba[0]))),
    )


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
            out.append(
                f'<span style="background-color: rgba({rgb},{strength * max_alpha:.2f}); '
                f'border-radius: 3px; padding: 0 1px" title="{score:+.3f}">{piece}</span>'
            )
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
