"""One training setup: from a table and a :class:`RunConfig` to the rows every strategy trains on.

:func:`prepare_training` resolves the columns, prepares the rows, splits them (duplicates kept in
one split), builds the label space, checks the training rows and adds augmented copies of scarce
classes. The runner, the multi-process preflight and every worker of a launched run call this one
function (a test asserts it), so the processes of a launched run cannot drift apart: they see the
same rows, in the same order, or they would embed different texts or wait forever in a collective.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from textclf_core.config import RunConfig
from textclf_core.errors import DataError
from textclf_core.labels import LabelSpace


@dataclass
class TrainingSetup:
    """What :func:`prepare_training` hands to a strategy."""

    config: RunConfig  # with the columns resolved
    prepared: pd.DataFrame  # every row: row, text, label, split ("train"/"validation"/"test"/"unlabelled"/"excluded")
    label_space: LabelSpace
    train: pd.DataFrame  # training rows, augmented copies appended
    validation: pd.DataFrame
    test: pd.DataFrame
    n_original: int  # training rows before augmentation
    augmentation: dict = field(default_factory=dict)  # {"method", "added", "per_class", ...}
    # where the labels came from: {"source": "column"} or {"source": "consensus", "method", "texts",
    # "settled", "ties_left_out", "annotators", "project"} (RunConfig.label_source)
    label_source: dict = field(default_factory=lambda: {"source": "column"})

    @property
    def counts(self) -> dict:
        return self.prepared["split"].value_counts().to_dict()


def read_frame(config: RunConfig, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """``frame``, or the table at ``config.data_path``."""
    if frame is not None:
        return frame
    from textclf_core.data import read_table

    if not config.data_path:
        raise DataError("No data file is given", hint="Choose a file (textclf train --data FILE)")
    return read_table(config.data_path)


def resolve_columns(config: RunConfig, frame: pd.DataFrame) -> RunConfig:
    """Fill in text/label/split columns the user left to be guessed."""
    from textclf_core.data import guess_columns

    if config.text_col and config.label_col:
        return config
    guess = guess_columns(frame)
    text_col = config.text_col or guess.text_col
    label_col = config.label_col or guess.label_col
    if not text_col:
        raise DataError("No column with texts was found", hint="Choose the text column (--text-col)")
    if not label_col:
        raise DataError("No column with labels was found", hint="Choose the label column (--label-col)")
    split_col = config.split_col or guess.split_col
    return config.replace(text_col=text_col, label_col=label_col, split_col=split_col)


def prepare_splits(config: RunConfig, frame: pd.DataFrame) -> tuple[RunConfig, pd.DataFrame, LabelSpace]:
    """Columns resolved, rows prepared (``row``, ``text``, ``label``, ``split``) and the label space."""
    from textclf_core.data import assign_splits, duplicate_keys, prepare

    config = resolve_columns(config, frame)
    frame, source = apply_label_source(config, frame)
    prepared = prepare(frame, config.text_col, config.label_col, split_col=config.split_col)
    prepared.attrs["label_source"] = source  # read by prepare_training into TrainingSetup.label_source
    labelled = prepared["label"].notna().to_numpy()
    multi_label, separator = config.multi_label, config.label_sep
    if multi_label is None and source.get("multi_label"):  # a multi-label team's consensus: few cells may hold two
        multi_label, separator = True, separator or source.get("separator")
    label_space = LabelSpace.from_labels(
        prepared.loc[labelled, "label"].tolist(), multi_label=multi_label, separator=separator
    )
    # Rows without text teach nothing; keep them out of every split (shown as "excluded").
    has_text = prepared["text"].str.strip().ne("").to_numpy()
    if config.sample_rows:  # a stratified sample of the labelled rows, before the split (data/splits.py says why)
        from textclf_core.data import stratified_sample

        candidates = np.flatnonzero(has_text)
        keep = candidates[
            stratified_sample(
                prepared["label"].to_numpy()[candidates],
                config.sample_rows,
                seed=config.seed,
                multi_label=label_space.multi_label,
            )
        ]
        unlabelled = has_text & prepared["label"].isna().to_numpy()  # cost nothing to train: they stay
        has_text = unlabelled
        has_text[keep] = True
    usable = prepared[has_text]
    split_values = usable["split_value"].tolist() if "split_value" in usable.columns else None
    # Rows whose texts are the same (case and spacing aside) stay in one split: a duplicate in
    # both train and test would make the test score look better than it is.
    groups = duplicate_keys(usable["text"].tolist())
    splits = assign_splits(
        usable["label"].tolist(),
        val_size=config.val_size,
        test_size=config.test_size,
        seed=config.seed,
        split_values=split_values,
        multi_label=label_space.multi_label,
        groups=groups,
    )
    prepared["split"] = "excluded"
    prepared.loc[has_text, "split"] = np.asarray(splits, dtype=object)
    return config, prepared, label_space


def apply_label_source(config: RunConfig, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The table whose label column holds the labels ``config.label_source`` names, and what was done:
    ``"column"`` leaves it as it is; ``"consensus"`` puts the project's annotators' consensus in it
    (labelling.team.training_labels: a reviewer's decision wins, ties nobody settled are left out)."""
    if config.label_source != "consensus":
        return frame, {"source": "column"}
    from textclf_core.errors import TextclfError
    from textclf_core.labelling.team import training_labels
    from textclf_core.store.projects import project_of

    project = project_of(frame, config.data_path)
    if project is None:
        raise TextclfError(
            "Consensus labels come from a project's annotators, and this data is not a project",
            hint="Open the project and train from it, or train on the label column",
        )
    frame, summary = training_labels(project, frame, config.label_col)
    return frame, {"source": "consensus", **summary}


def check_training_rows(train: pd.DataFrame, label_space: LabelSpace) -> None:
    """A :class:`DataError` when the training rows cannot train a classifier."""
    if len(train) == 0:
        raise DataError(
            "No labelled rows are left for training", hint="Label more rows or lower the validation and test shares"
        )
    if not label_space.multi_label:
        present = set(train["label"])
        if len(present) < 2:
            raise DataError(
                f"The training rows contain only the class '{next(iter(present))}'",
                hint="Add examples of another class",
            )


def augment_training_rows(config: RunConfig, train: pd.DataFrame, label_space: LabelSpace) -> tuple[pd.DataFrame, dict]:
    """The training rows plus augmented copies of those of scarce classes (``config.augment``), and what was
    added (``{"method", "added", "per_class", ...}``). Validation and test rows are never augmented, so the
    scores stay honest. Seeded: every process of a launched run gets the same rows."""
    summary = {"method": config.augment, "added": 0, "per_class": {}}
    if config.augment == "off" or len(train) == 0:
        return train, summary
    from textclf_core.strategies.fewshot import augment_scarce

    texts, labels, sources, summary = augment_scarce(
        train["text"].tolist(),
        train["label"].tolist(),
        config.augment,
        copies=config.augment_copies,
        max_per_class=config.augment_max_per_class,
        model=config.model,
        seed=config.seed,
        separator=label_space.separator if label_space.multi_label else None,
        max_length=config.max_length,
    )
    summary.update(copies=config.augment_copies, max_per_class=config.augment_max_per_class)
    if not texts:
        return train, summary
    # Each new row keeps the row number of the text it was made from (for tracing, never for scoring).
    added = pd.DataFrame({"row": train["row"].to_numpy()[sources], "text": texts, "label": labels, "split": "train"})
    return pd.concat([train, added.reindex(columns=train.columns)], ignore_index=True), summary


def prepare_training(
    config: RunConfig, frame: pd.DataFrame, *, augment: bool = True, on_stage: Callable[[str], None] | None = None
) -> TrainingSetup:
    """Config resolved, rows prepared and split, label space built, training rows checked and augmented.

    ``augment=False`` stops before augmentation (the multi-process preflight only checks that every
    process can train). ``on_stage(message)`` hears the stages a person waits for.
    """
    config, prepared, label_space = prepare_splits(config, frame)
    parts = {
        name: prepared[prepared["split"] == name].reset_index(drop=True) for name in ("train", "validation", "test")
    }
    check_training_rows(parts["train"], label_space)
    n_original = len(parts["train"])
    train, augmentation = parts["train"], {"method": config.augment, "added": 0, "per_class": {}}
    if augment:
        if config.augment != "off" and on_stage is not None:
            on_stage("Augmenting scarce classes")
        train, augmentation = augment_training_rows(config, train, label_space)
    return TrainingSetup(
        config,
        prepared,
        label_space,
        train,
        parts["validation"],
        parts["test"],
        n_original,
        augmentation,
        label_source=dict(prepared.attrs.get("label_source") or {"source": "column"}),
    )
