"""The textclf side of the benchmark, through textclf's public core only.

Run by bench/run.py as ``python bench/textclf_side.py task.json result.json``, one
measurement per process. Task kinds:

* ``train``: ``textclf_core.pipeline.runner.execute(RunConfig(...), frame, store=RunStore(...))``
  on the benchmark's fixed split (``split_col="split"``). The clock runs from the call
  to a saved model with eval.json written, the same end point as the Trainer side.
* ``predict``: ``textclf_core.models.predict.load_predictor(model_dir).predict(texts)``.
* ``review``: ``textclf_core.review`` over the whole labelled set (when that module exists).

The embedding cache lives under ``$TEXTCLF_HOME`` (set by run.py to a folder of its
own), which run.py empties before every cold measurement.
"""

from __future__ import annotations

from pathlib import Path

import bench_common as bc

bc.quiet()
bc.preload()

import pandas as pd  # noqa: E402
import transformers  # noqa: E402

# textclf's own modules, imported before the clock as the Trainer side imports Trainer (some for their import
# time only, not used by name).
import textclf_core.data  # noqa: E402, F401
import textclf_core.engine.encoders  # noqa: E402, F401
import textclf_core.engine.losses  # noqa: E402, F401
import textclf_core.evaluation.metrics  # noqa: E402, F401
import textclf_core.models.predictors  # noqa: E402, F401
import textclf_core.store.catalog  # noqa: E402, F401
import textclf_core.strategies.advice  # noqa: E402, F401
import textclf_core.strategies.transformer  # noqa: E402, F401
from textclf_core.config import RunConfig  # noqa: E402
from textclf_core.models.predict import load_predictor  # noqa: E402
from textclf_core.pipeline.runner import execute  # noqa: E402
from textclf_core.store.runs import RunStore  # noqa: E402

transformers.logging.set_verbosity_error()


def train(task: dict) -> dict:
    frame = pd.read_csv(task["data"], keep_default_na=False)
    n_train = int((frame.split == "train").sum())
    settings = dict(
        text_col="text",
        label_col="label",
        split_col="split",
        strategy=task["strategy"],
        model=task["model"],
        max_length=task["max_length"],
        epochs=task["epochs"],
        batch_size=task["batch_size"],
        lr=task["lr"],
        head_lr=task.get("head_lr", task["lr"]),  # one learning rate everywhere, as the Trainer has
        weight_decay=task.get("weight_decay", 0.01),
        warmup_ratio=task.get("warmup_ratio", 0.1),
        grad_clip=1.0,
        seed=task["seed"],
        num_threads=task["threads"],
        evals_per_epoch=1,
        early_stopping_patience=None,
        layers=task.get("layers", 2),
        name=task.get("name"),
    )
    settings.update(task.get("extra_settings", {}))
    config = RunConfig(**settings)
    store = RunStore(task["store"])
    with bc.Clock() as clock:
        run = execute(config, frame, store=store)
    status = run.status()
    if status.get("state") != "finished":
        raise SystemExit(f"textclf run ended {status.get('state')}: {status.get('message')}")
    evaluation = run.read_json("eval.json")
    return {
        "wall_s": clock.seconds,
        "examples_per_s": n_train * task["epochs"] / clock.seconds,
        "test_accuracy": float(evaluation["accuracy"]),
        "n_train": n_train,
        "run_id": run.id,
        "model_dir": str(run.model_dir),
    }


def predict(task: dict) -> dict:
    texts = Path(task["texts"]).read_text(encoding="utf-8").rstrip("\n").split("\n")
    predictor = load_predictor(task["model_dir"])
    predictor.predict(texts[:32])  # first-call setup, as on the pipeline side
    with bc.Clock() as clock:
        out = predictor.predict(texts)
    Path(task["labels_out"]).write_text("\n".join(str(x) for x in out["label"]), encoding="utf-8")
    return {"wall_s": clock.seconds, "texts_per_s": len(texts) / clock.seconds, "n_texts": len(texts)}


def review(task: dict) -> dict:
    """Label review of the whole set. ``edit``: change one label first, as a user fixing a
    mislabel would, so the review itself is recomputed (its own cache misses) while the
    embeddings cache stays warm."""
    from textclf_core.review import review as run_review

    frame = pd.read_csv(task["data"], keep_default_na=False)
    if task.get("edit"):
        other = sorted(set(frame.label) - {frame.label.iloc[0]})[0]
        frame.loc[0, "label"] = other
    with bc.Clock() as clock:
        found = run_review(
            frame, model=task["model"], text_col="text", label_col="label", max_length=task["max_length"]
        )
    return {
        "wall_s": clock.seconds,
        "examples_per_s": len(frame) / clock.seconds,
        "n_rows": len(frame),
        "likely_mislabels": found.summary.get("likely_mislabels"),
    }


def main() -> None:
    task, out = bc.read_task()
    bc.set_threads(task["threads"])
    result = {"train": train, "predict": predict, "review": review}[task["kind"]](task)
    result["side"] = "textclf"
    bc.write_result(out, result)


if __name__ == "__main__":
    main()
