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
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from textclf_core import events
from textclf_core.config import DEFAULT_MODEL
from textclf_core.engine import loop as engine
from textclf_core.engine.static import refuse_tuning
from textclf_core.errors import TextclfError
from textclf_core.events import Reporter
from textclf_core.labels import split_cell
from textclf_core.store import model_folder

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


def augment(
    texts: Sequence[str], labels: Sequence, *, copies: int = 1, p_delete: float = 0.1, n_swaps: int = 1, seed: int = 0
) -> tuple[list[str], list]:
    """The originals plus ``copies`` augmented variants of each, with their labels."""
    rng = np.random.default_rng(seed)
    out_texts, out_labels = list(map(str, texts)), list(labels)
    for _ in range(copies):
        for text, label in zip(texts, labels):
            out_texts.append(augment_text(text, rng, p_delete, n_swaps))
            out_labels.append(label)
    return out_texts, out_labels


AUGMENT_METHODS = ("off", "eda", "mlm")


def _mlm_model(model: str):
    """The masked-LM model and tokenizer for ``model``; a TextclfError when it has no trained masked-LM head."""
    from transformers import AutoModelForMaskedLM

    from textclf_core.store import catalog as models

    resolved = models.resolve(model)
    tokenizer = models.load_tokenizer(model)
    try:
        with models.quiet_transformers():
            net, info = AutoModelForMaskedLM.from_pretrained(
                resolved,
                use_safetensors=True,
                trust_remote_code=False,
                output_loading_info=True,
                **models.hub_kwargs(model, resolved),
            )
    except ValueError as exc:  # an architecture without any masked-LM class (GPT-2, ...)
        if "Unrecognized configuration class" in str(exc):
            raise TextclfError(
                f"Model '{model}' has no masked-language-model head, so it cannot paraphrase",
                hint='Use augmentation "eda" (word deletion and swap) instead',
            ) from None
        raise models.load_error(model, resolved, exc) from None
    except Exception as exc:  # noqa: BLE001
        raise models.load_error(model, resolved, exc) from None
    prefix = f"{net.base_model_prefix}."
    # Head weights missing from the checkpoint would be random: the "paraphrases" would be noise.
    head_missing = sorted(k for k in info.get("missing_keys", []) if not k.startswith(prefix))
    if head_missing or tokenizer.mask_token_id is None:
        raise TextclfError(
            f"Model '{model}' has no masked-language-model head (its checkpoint lacks "
            f"{head_missing[0] if head_missing else 'a mask token'}), so it cannot paraphrase",
            hint='Use augmentation "eda" (word deletion and swap) instead',
        )
    return net.eval(), tokenizer


def augment_mlm(
    texts: Sequence[str],
    labels: Sequence,
    model,
    *,
    copies: int = 1,
    p_mask: float = 0.15,
    top_k: int = 10,
    seed: int = 0,
    max_length: int = 128,
    batch_size: int = 32,
) -> tuple[list[str], list]:
    """The originals plus ``copies`` variants of each in which ~``p_mask`` of the word pieces are replaced by
    one of the model's own top-``top_k`` masked-LM predictions (sampled), with the label of the original.

    ``model`` is a model name or folder, or a ``(masked_lm_model, tokenizer)`` pair already loaded.
    Replacements are spliced into the original text at the piece's character span, so casing,
    spacing and any part past ``max_length`` tokens stay as they were.
    """
    import torch

    texts = [str(t) for t in texts]
    out_texts, out_labels = list(texts), list(labels)
    if not texts or copies < 1:
        return out_texts, out_labels
    net, tokenizer = model if isinstance(model, tuple) else _mlm_model(model)
    encoded = tokenizer(
        texts, truncation=True, max_length=max_length, return_offsets_mapping=True, return_special_tokens_mask=True
    )
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for _ in range(copies):
        for start in range(0, len(texts), batch_size):
            rows = range(start, min(start + batch_size, len(texts)))
            width = max(len(encoded["input_ids"][i]) for i in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            chosen = []
            for r, i in enumerate(rows):
                row_ids = encoded["input_ids"][i]
                ids[r, : len(row_ids)] = torch.tensor(row_ids)
                mask[r, : len(row_ids)] = 1
                offsets = encoded["offset_mapping"][i]
                # Only pieces that cover characters of the text (not [CLS], [SEP], padding).
                candidates = [
                    j
                    for j, s in enumerate(encoded["special_tokens_mask"][i])
                    if not s and offsets[j][1] > offsets[j][0]
                ]
                picked = [j for j in candidates if rng.random() < p_mask]
                if not picked and candidates:
                    picked = [candidates[int(rng.integers(len(candidates)))]]
                chosen.append(picked)
                for j in picked:
                    ids[r, j] = tokenizer.mask_token_id
            with torch.inference_mode():
                logits = net(input_ids=ids, attention_mask=mask).logits
            for r, i in enumerate(rows):
                if not chosen[r]:
                    out_texts.append(texts[i])
                    out_labels.append(labels[i])
                    continue
                scores = logits[r, chosen[r]].float()
                scores[:, special] = float("-inf")  # never write [CLS], [MASK], ... into a text
                original = torch.tensor([encoded["input_ids"][i][j] for j in chosen[r]])
                scores[torch.arange(len(original)), original] = float("-inf")  # a real change, not a copy
                top = scores.topk(min(top_k, scores.shape[1]), dim=1)
                pick = torch.multinomial(torch.softmax(top.values, dim=1), 1, generator=generator).squeeze(1)
                new_ids = top.indices[torch.arange(len(pick)), pick].tolist()
                text = texts[i]
                offsets = encoded["offset_mapping"][i]
                for j, token_id in sorted(zip(chosen[r], new_ids), reverse=True):  # right to left: spans stay valid
                    piece = tokenizer.decode([token_id]).strip()
                    piece = piece[2:] if piece.startswith("##") else piece
                    a, b = offsets[j]
                    text = text[:a] + piece + text[b:]
                out_texts.append(text)
                out_labels.append(labels[i])
    return out_texts, out_labels


def scarce_rows(labels: Sequence, max_per_class: int, separator: str | None = None) -> tuple[np.ndarray, dict]:
    """Which rows belong to a class with fewer than ``max_per_class`` rows (any of its classes when
    ``separator`` splits multi-label cells), and the row count of each class."""
    split = [split_cell(v, separator) if separator else [str(v)] for v in labels]
    counts: dict[str, int] = {}
    for classes in split:
        for c in classes:
            counts[c] = counts.get(c, 0) + 1
    scarce = {c for c, n in counts.items() if n < max_per_class}
    return np.array([any(c in scarce for c in classes) for classes in split], dtype=bool), counts


def augment_scarce(
    texts: Sequence[str],
    labels: Sequence,
    method: str,
    *,
    copies: int = 2,
    max_per_class: int = 64,
    model=None,
    seed: int = 0,
    separator: str | None = None,
    max_length: int = 128,
) -> tuple[list[str], list, list[int], dict]:
    """Only the NEW rows for classes with fewer than ``max_per_class`` training rows: their texts, labels,
    the index of the text each was made from, and a summary ``{"method", "added", "per_class"}``.
    ``method``: "eda" (word deletion + swap) or "mlm" (the model's masked-LM predictions)."""
    if method not in AUGMENT_METHODS:
        raise TextclfError(f"Augmentation '{method}' is not one of: {', '.join(AUGMENT_METHODS)}")
    texts, labels = [str(t) for t in texts], list(labels)
    rows, _ = scarce_rows(labels, max_per_class, separator)
    picked_texts = [t for t, keep in zip(texts, rows) if keep]
    picked_labels = [v for v, keep in zip(labels, rows) if keep]
    if method == "off" or copies < 1 or not picked_texts:
        return [], [], [], {"method": method, "added": 0, "per_class": {}}
    if method == "eda":
        all_texts, all_labels = augment(picked_texts, picked_labels, copies=copies, seed=seed)
    else:
        all_texts, all_labels = augment_mlm(
            picked_texts, picked_labels, model, copies=copies, seed=seed, max_length=max_length
        )
    new_texts, new_labels = all_texts[len(picked_texts) :], all_labels[len(picked_labels) :]
    per_class: dict[str, int] = {}
    for v in new_labels:
        per_class[str(v)] = per_class.get(str(v), 0) + 1
    picked = np.flatnonzero(rows).tolist()
    sources = [picked[k % len(picked)] for k in range(len(new_texts))]  # both augmenters: copy by copy, in order
    return new_texts, new_labels, sources, {"method": method, "added": len(new_texts), "per_class": per_class}


# --- contrastive pairs -----------------------------------------------------------------------------


def contrastive_pairs(
    labels: Sequence, *, pairs_per_example: int = 10, max_pairs: int = 1000, seed: int = 0
) -> list[tuple[int, int, float]]:
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

    from textclf_core.engine.encoders import pad_batch, pool, sorted_batches, tokenize

    ids = tokenize(tokenizer, texts, max_length)
    out = None
    encoder.eval()
    device = next(encoder.parameters()).device
    for batch in sorted_batches([len(s) for s in ids], batch_size):
        inputs = {k: v.to(device) for k, v in pad_batch([ids[j] for j in batch], tokenizer.pad_token_id).items()}
        with torch.inference_mode():
            vec = pool(encoder(**inputs).last_hidden_state, inputs["attention_mask"], "mean").float().cpu().numpy()
        if out is None:
            out = np.zeros((len(ids), vec.shape[1]), dtype=np.float32)
        out[batch] = vec
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def train_fewshot(
    texts: Sequence[str],
    labels: Sequence,
    model: str = DEFAULT_MODEL,
    *,
    pairs_per_example: int = 10,
    max_pairs: int = 1000,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 2e-5,
    max_length: int = 64,
    seed: int = 0,
    head_c: float = 1.0,
    device: str = "cpu",
    emit: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FewShotModel:
    """SetFit-style training: contrastive encoder tuning on bounded pairs, then a logistic head.

    ``device`` is a torch device name ("cpu", "cuda"); ``emit`` gets ``step`` events (or pass a
    :class:`events.Reporter`), ``should_stop()`` is checked before every step (raises :class:`CancelledError`).
    Optimiser and warmup schedule are the engine's (AdamW, linear warmup over 10% of the steps, then linear decay).
    """
    import torch
    import torch.nn.functional as F
    from sklearn.linear_model import LogisticRegression

    from textclf_core.engine.encoders import pad_batch, pool, tokenize
    from textclf_core.store import catalog as models

    texts = [str(t) for t in texts]
    labels = [str(v) for v in labels]
    torch.manual_seed(seed)
    tokenizer = models.load_tokenizer(model)
    encoder = models.load_encoder(model).to(device)
    ids = tokenize(tokenizer, texts, max_length)
    pairs = contrastive_pairs(labels, pairs_per_example=pairs_per_example, max_pairs=max_pairs, seed=seed)
    reporter = Reporter.of(emit, should_stop)
    optimizer = engine.make_optimizer(encoder.parameters(), "adamw", lr, weight_decay=0.01)
    steps = epochs * ((len(pairs) + batch_size - 1) // batch_size)
    scheduler = engine.make_scheduler(optimizer, "linear", steps, warmup_ratio=0.1)
    rng = np.random.default_rng(seed)
    encoder.train()
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(pairs))
        for start in range(0, len(order), batch_size):
            reporter.check_stop()
            chosen = [pairs[k] for k in order[start : start + batch_size]]
            a = {k: v.to(device) for k, v in pad_batch([ids[i] for i, _, _ in chosen], tokenizer.pad_token_id).items()}
            b = {k: v.to(device) for k, v in pad_batch([ids[j] for _, j, _ in chosen], tokenizer.pad_token_id).items()}
            target = torch.tensor([t for _, _, t in chosen], dtype=torch.float32, device=device)
            u = pool(encoder(**a).last_hidden_state, a["attention_mask"], "mean")
            v = pool(encoder(**b).last_hidden_state, b["attention_mask"], "mean")
            loss = F.mse_loss(F.cosine_similarity(u, v), target)  # SetFit's CosineSimilarityLoss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            reporter.emit(events.step(step=step, total_steps=steps, epoch=None, loss=float(loss.detach())))
    classes = sorted(set(labels))
    x = _embed(encoder, tokenizer, texts, max_length)
    head = LogisticRegression(C=head_c, max_iter=2000).fit(x, [classes.index(v) for v in labels])
    return FewShotModel(encoder.eval(), tokenizer, head, classes, max_length)


# --- the "fewshot" strategy of runner.execute --------------------------------------------------------

ENCODER_DIR = "encoder"  # the tuned encoder's folder inside the model folder (a relative reference)


def linear_head(lr_head, lr_classes: Sequence[str], classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) giving softmax logits over ``classes`` from a fitted sklearn LogisticRegression whose
    ``classes_`` index ``lr_classes``: :func:`engine.sklearn_linear_head` (binary and classes never seen in
    training handled there, the same way for every head)."""
    class_ids = [list(classes).index(lr_classes[int(c)]) for c in lr_head.classes_]
    weight, bias = engine.sklearn_linear_head(lr_head, len(classes), class_ids)
    return weight.astype(np.float32), bias.astype(np.float32)


def _save_model(run, trained, weight, bias, config, label_space, max_pairs: int, n_texts: int) -> Path:
    """Write the few-shot model folder (tuned encoder and tokenizer in ``encoder/``, the linear head in
    ``head.safetensors``, ``textclf.json``) through ``engine.output_folder(run)``; returns the folder written."""
    from safetensors.numpy import save_file

    from textclf_core.store import catalog as models

    info = {
        "kind": "features",
        "label_space": label_space.to_dict(),
        "max_length": config.max_length,
        "strategy": "fewshot",
        "config": config.to_dict(),
        "thresholds": None,
        "encoder": ENCODER_DIR,
        "encoder_relative": True,
        "base_model": models.resolve(config.model),
        "pooling": "mean",
        "precision": "fp32",  # the head was fitted on fp32 embeddings
        "head": {"type": "linear", "c": config.head_c, "trained_as": "fewshot-logreg"},
        "fewshot": {"max_pairs": max_pairs, "train_texts": n_texts},
    }
    with engine.output_folder(run) as folder:
        with models.quiet_transformers():  # no progress bars in the CLI's output
            trained.encoder.to("cpu").save_pretrained(str(folder / ENCODER_DIR))
            trained.tokenizer.save_pretrained(str(folder / ENCODER_DIR))
        save_file({"weight": weight, "bias": bias}, str(folder / "head.safetensors"))
        model_folder.write_info(folder, info)
        staged = folder
    return staged


def _validate(predictor, val_df, label_space, config, reporter) -> tuple[list[dict], float | None]:
    """One validation pass of the saved model (the same event shape as other strategies, emitted); returns
    ``(history, metric)``: the evaluation events and the value of ``config.metric_for_best`` (None without
    labelled validation rows)."""
    history, metric = [], None
    y_val, keep_val = engine.targets(val_df, label_space) if val_df is not None and len(val_df) else (None, None)
    if y_val is not None and keep_val.any():  # one validation pass: the same event shape as other strategies
        proba = predictor.predict_proba([t for t, k in zip(val_df["text"], keep_val) if k])
        event = engine.evaluation_event(proba, y_val[keep_val], label_space, step=1, epoch=float(config.epochs))
        history.append(event)
        reporter.emit(event)
        metric = event["val_loss"] if config.metric_for_best == "val_loss" else event.get(config.metric_for_best)
    return history, metric


def fit(
    config,
    train_df,
    val_df,
    label_space,
    *,
    run=None,
    emit: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
):
    """Few-shot strategy for :func:`runner.execute`: train, save a ``features`` model folder, return a FitResult.

    The folder holds the tuned encoder and tokenizer (``encoder/``, safetensors) and the logistic
    head (``head.safetensors``); ``textclf.json`` names the encoder by a path relative to the
    folder, so a moved, exported or imported run still loads with the ordinary FeaturePredictor.
    """
    import time

    from textclf_core import hardware
    from textclf_core.models.predictors import FeaturePredictor

    reporter = Reporter.of(emit, should_stop)
    refuse_tuning(config.model, "few-shot mode")
    if label_space.multi_label:
        raise TextclfError(
            "Few-shot mode handles one label per text, but this data has several labels per text",
            hint="Use feature extraction or fine-tuning for multi-label data",
        )
    start = time.perf_counter()
    hardware.configure_threads(config.num_threads)
    engine.seed_everything(config.seed)
    device = hardware.detect(config.device).device
    y_train, keep = engine.targets(train_df, label_space)
    texts = [t for t, k in zip(train_df["text"], keep) if k]
    labels = [label_space.classes[int(i)] for i in y_train[keep]]
    max_pairs = int(getattr(config, "fewshot_max_pairs", 1000))

    def relay(event: dict) -> None:
        total = max(1, int(event["total_steps"]))
        elapsed = time.perf_counter() - start
        done = event["step"] / total
        reporter.emit(
            events.step(
                step=event["step"],
                total_steps=event["total_steps"],
                epoch=config.epochs * done,
                loss=event["loss"],
                lr=config.lr,
                elapsed_s=elapsed,
                eta_s=elapsed * (1 - done) / max(done, 1e-9),
                stage="contrastive pairs",
            )
        )

    trained = train_fewshot(
        texts,
        labels,
        config.model,
        pairs_per_example=20,
        max_pairs=max_pairs,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        max_length=config.max_length,
        seed=config.seed,
        head_c=config.head_c,
        device=device,
        emit=relay,
        should_stop=reporter.should_stop,
    )
    weight, bias = linear_head(trained.head, trained.classes, label_space.classes)
    staged = _save_model(run, trained, weight, bias, config, label_space, max_pairs, len(texts))
    model_dir = engine.model_dir(run, staged)
    predictor = FeaturePredictor(model_dir, device=config.device)
    history, metric = _validate(predictor, val_df, label_space, config, reporter)
    params = sum(p.numel() for p in trained.encoder.parameters())
    return engine.FitResult(
        predictor,
        metric,
        float(config.epochs),
        history,
        time.perf_counter() - start,
        Path(model_dir),
        None,
        (int(params), int(params)),
    )
