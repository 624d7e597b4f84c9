"""The Hugging Face side of the benchmark: ``transformers.Trainer`` and ``pipeline``.

Run by bench/run.py as ``python bench/hf_side.py task.json result.json``, one
measurement per process. Task kinds:

* ``train``: fine-tune the bundled MiniLM with ``Trainer``. ``variant`` is
  ``tutorial`` (as the Hugging Face "Fine-tune a pretrained model" tutorial writes it:
  ``padding="max_length"`` in ``dataset.map``, evaluation and checkpoint every epoch,
  default fp32) or ``tuned`` (what its documentation recommends: dynamic padding with
  ``DataCollatorWithPadding``, ``save_strategy="no"``, evaluation once per epoch, and
  ``bf16=True`` when ``precision`` says so). ``freeze``: ``none``, ``partial`` (all but
  the top ``layers`` encoder layers and the embeddings frozen) or ``encoder``
  (embeddings and every encoder layer frozen; pooler and classifier train).
  The clock runs from loading the model to a saved model with its test accuracy.
* ``predict``: ``pipeline("text-classification", batch_size=32)`` over a text file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import bench_common as bc

bc.quiet()
bc.preload()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    pipeline,
)

transformers.logging.set_verbosity_error()


def _freeze(model, freeze: str, layers: int) -> None:
    base = model.base_model
    if freeze == "none":
        return
    for param in base.embeddings.parameters():
        param.requires_grad = False
    blocks = base.encoder.layer
    keep = 0 if freeze == "encoder" else layers
    for block in blocks[: len(blocks) - keep]:
        for param in block.parameters():
            param.requires_grad = False


def _accuracy(eval_pred):
    logits, labels = eval_pred
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def train(task: dict) -> dict:
    train_df, val_df, test_df = bc.load_split(task["data"])
    classes = sorted(set(train_df.label) | set(val_df.label) | set(test_df.label))
    label2id = {c: i for i, c in enumerate(classes)}
    tutorial = task["variant"] == "tutorial"
    max_length = task["max_length"]
    use_cpu = not torch.cuda.is_available()
    bf16 = task.get("precision") == "bf16"
    work = Path(tempfile.mkdtemp(prefix="hf_", dir=task.get("workdir")))

    with bc.Clock() as clock:
        tokenizer = AutoTokenizer.from_pretrained(task["model"])
        model = AutoModelForSequenceClassification.from_pretrained(
            task["model"], num_labels=len(classes), id2label=dict(enumerate(classes)), label2id=label2id
        )
        _freeze(model, task.get("freeze", "none"), task.get("layers", 2))

        def tokenize(batch):
            if tutorial:
                return tokenizer(batch["text"], padding="max_length", truncation=True, max_length=max_length)
            return tokenizer(batch["text"], truncation=True, max_length=max_length)

        def dataset(frame):
            data = Dataset.from_dict({"text": list(frame.text), "label": [label2id[x] for x in frame.label]})
            return data.map(tokenize, batched=True, remove_columns=["text"])

        train_ds, val_ds, test_ds = dataset(train_df), dataset(val_df), dataset(test_df)
        args = TrainingArguments(
            output_dir=str(work / "checkpoints"),
            learning_rate=task["lr"],
            per_device_train_batch_size=task["batch_size"],
            per_device_eval_batch_size=task["batch_size"],
            num_train_epochs=task["epochs"],
            weight_decay=task.get("weight_decay", 0.01),
            warmup_steps=task.get("warmup_ratio", 0.1),  # a float below 1 is a ratio of the total steps
            max_grad_norm=1.0,
            eval_strategy="epoch",
            save_strategy="epoch" if tutorial else "no",
            logging_strategy="epoch",
            seed=task["seed"],
            use_cpu=use_cpu,
            bf16=bf16,
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=val_ds,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=_accuracy,
        )
        trainer.train()
        test = trainer.predict(test_ds)
        model_dir = work / "model"
        trainer.save_model(str(model_dir))
    accuracy = float((np.argmax(test.predictions, axis=-1) == test.label_ids).mean())
    n_examples = len(train_df) * task["epochs"]
    return {
        "wall_s": clock.seconds,
        "examples_per_s": n_examples / clock.seconds,
        "test_accuracy": accuracy,
        "n_train": len(train_df),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "precision": "bf16" if bf16 else "fp32",
        "model_dir": str(model_dir),
    }


def predict(task: dict) -> dict:
    texts = Path(task["texts"]).read_text(encoding="utf-8").rstrip("\n").split("\n")
    device = 0 if torch.cuda.is_available() else -1
    classifier = pipeline("text-classification", model=task["model_dir"], device=device)
    classifier(texts[:32], batch_size=32, truncation=True, max_length=task["max_length"])  # first-call setup
    with bc.Clock() as clock:
        out = classifier(texts, batch_size=32, truncation=True, max_length=task["max_length"])
    Path(task["labels_out"]).write_text("\n".join(o["label"] for o in out), encoding="utf-8")
    return {"wall_s": clock.seconds, "texts_per_s": len(texts) / clock.seconds, "n_texts": len(texts)}


def main() -> None:
    task, out = bc.read_task()
    bc.set_threads(task["threads"])
    result = {"train": train, "predict": predict}[task["kind"]](task)
    result["side"] = "hf"
    bc.write_result(out, result)


if __name__ == "__main__":
    main()
