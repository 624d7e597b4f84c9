"""Few-shot mode (SetFit-style) and simple text augmentation, for classes with few labels.

SetFit (Tunstall et al., 2022): fine-tune the sentence encoder contrastively on pairs of
labelled texts (same class → cosine similarity 1, different → 0), then fit a logistic
regression on the tuned embeddings. The pair count is bounded (``max_pairs``), so the cost
does not grow with the square of the examples.

Augmentation: random word deletion and swaps of neighbouring words (EDA-style), one or
more variants per training text, with the label of the original.

Both are measured in docs/advanced.md; neither is on by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .config import DEFAULT_MODEL
from .errors import CancelledError, TextclfError


# --- augmentation --------------------------------------------------------------------------------

def augment_text(text: str, rng: np.random.Generator, p_delete: float = 0.1, n_swaps: int = 1) -> str:
    """One variant of ``text``: each word dropped with probability ``p_delete``, ``n_swaps`` neighbour swaps."""
    words = str(text).split()
    if len(words) < 3:
        return str(text)
    kept = [w for w in words if rng.random() >= p_delete] or [words[int(rng.integers(len(words)))]]
    for _ in range(n_swaps):
        if len(kept) > 1:
            i = int(rng.integers(len(kept) - 1))
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return " ".join(kept)


def augment(texts: Sequence[str], labels: Sequence, *, copies: int = 1, p_delete: float = 0.1, n_swaps: int = 1,
            seed: int = 0) -> tuple[list[str], list]:
    """The originals plus ``copies`` augmented variants of each, with their labels."""
    rng = np.random.default_rng(seed)
    out_texts, out_labels = list(map(str, texts)), list(labels)
    for _ in range(copies):
        for text, label in zip(texts, labels):
            out_texts.append(augment_text(text, rng, p_delete, n_swaps))
            out_labels.append(label)
    return out_texts, out_labels


# --- contrastive pairs -----------------------------------------------------------------------------

def contrastive_pairs(labels: Sequence, *, pairs_per_example: int = 10, max_pairs: int = 1000,
                      seed: int = 0) -> list[tuple[int, int, float]]:
    """Balanced (i, j, target) pairs: half same-class (1.0), half different-class (0.0).

    ``pairs_per_example`` pairs per labelled text, at most ``max_pairs`` in all.
    """
    labels = np.asarray([str(v) for v in labels], dtype=object)
    if len(set(labels)) < 2:
        raise TextclfError("Few-shot training needs examples of at least two classes")
    rng = np.random.default_rng(seed)
    by_class = {c: np.flatnonzero(labels == c) for c in sorted(set(labels))}
    n = min(max_pairs, pairs_per_example * len(labels))
    pairs = []
    for k in range(n):
        i = int(rng.integers(len(labels)))
        same = by_class[labels[i]]
        if k % 2 == 0 and len(same) > 1:
            j = int(rng.choice(same[same != i]))
            pairs.append((i, j, 1.0))
        else:
            others = np.flatnonzero(labels != labels[i])
            pairs.append((i, int(rng.choice(others)), 0.0))
    return pairs


@dataclass
class FewShotModel:
    """A contrastively tuned encoder and a logistic-regression head."""

    encoder: object
    tokenizer: object
    head: object
    classes: list[str]
    max_length: int = 64

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return _embed(self.encoder, self.tokenizer, list(texts), self.max_length, batch_size)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.head.predict_proba(self.embed(texts))

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.classes[i] for i in self.predict_proba(texts).argmax(1)]


def _embed(encoder, tokenizer, texts: list[str], max_length: int, batch_size: int = 64) -> np.ndarray:
    import torch

    from .features import pad_batch, pool, sorted_batches, tokenize

    ids = tokenize(tokenizer, texts, max_length)
    out = None
    encoder.eval()
    for batch in sorted_batches([len(s) for s in ids], batch_size):
        inputs = pad_batch([ids[j] for j in batch], tokenizer.pad_token_id)
        with torch.inference_mode():
            vec = pool(encoder(**inputs).last_hidden_state, inputs["attention_mask"], "mean").numpy()
        if out is None:
            out = np.zeros((len(ids), vec.shape[1]), dtype=np.float32)
        out[batch] = vec
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def train_fewshot(texts: Sequence[str], labels: Sequence, model: str = DEFAULT_MODEL, *, pairs_per_example: int = 10,
                  max_pairs: int = 1000, epochs: int = 1, batch_size: int = 16, lr: float = 2e-5,
                  max_length: int = 64, seed: int = 0, head_c: float = 1.0,
                  emit: Callable[[dict], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> FewShotModel:
    """SetFit-style training: contrastive encoder tuning on bounded pairs, then a logistic head."""
    import torch
    import torch.nn.functional as F
    from sklearn.linear_model import LogisticRegression

    from . import models
    from .features import pad_batch, pool, tokenize

    texts = [str(t) for t in texts]
    labels = [str(v) for v in labels]
    torch.manual_seed(seed)
    tokenizer = models.load_tokenizer(model)
    encoder = models.load_encoder(model)
    ids = tokenize(tokenizer, texts, max_length)
    pairs = contrastive_pairs(labels, pairs_per_example=pairs_per_example, max_pairs=max_pairs, seed=seed)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * ((len(pairs) + batch_size - 1) // batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, steps // 10))
                                                  * max(0.0, 1 - s / max(1, steps)))
    rng = np.random.default_rng(seed)
    encoder.train()
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(pairs))
        for start in range(0, len(order), batch_size):
            if should_stop is not None and should_stop():
                raise CancelledError()
            chosen = [pairs[k] for k in order[start:start + batch_size]]
            a = pad_batch([ids[i] for i, _, _ in chosen], tokenizer.pad_token_id)
            b = pad_batch([ids[j] for _, j, _ in chosen], tokenizer.pad_token_id)
            target = torch.tensor([t for _, _, t in chosen], dtype=torch.float32)
            u = pool(encoder(**a).last_hidden_state, a["attention_mask"], "mean")
            v = pool(encoder(**b).last_hidden_state, b["attention_mask"], "mean")
            loss = F.mse_loss(F.cosine_similarity(u, v), target)  # SetFit's CosineSimilarityLoss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if emit is not None:
                emit({"type": "step", "step": step, "total_steps": steps, "loss": float(loss), "epoch": None})
    classes = sorted(set(labels))
    x = _embed(encoder, tokenizer, texts, max_length)
    head = LogisticRegression(C=head_c, max_iter=2000).fit(x, [classes.index(v) for v in labels])
    return FewShotModel(encoder.eval(), tokenizer, head, classes, max_length)
