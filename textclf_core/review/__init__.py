"""Label review: find the rows whose label the data itself disputes.

Before training, a person wants to see the few rows most likely to be wrong, with a
suggested fix. Everything here is plain functions over arrays and DataFrames, one
module per concern:

- :mod:`.oof` — :func:`out_of_sample_proba`: class probabilities for every labelled
  row from a model that never saw that row (k-fold logistic regression on frozen
  embeddings of the chosen encoder, naive Bayes on TF-IDF, or both);
  :mod:`.thorough` — ``method="thorough"`` also fine-tunes the encoder on each fold
  (:func:`finetuned_oof_proba`).
- :mod:`.issues` — :func:`find_label_errors`, :func:`label_quality`: confident
  learning (``cleanlab``) over those probabilities: likely mislabels ranked, with the
  given and the suggested label.
- :mod:`.duplicates` — :func:`find_near_duplicates`, :func:`find_conflicts`: groups of
  (near-)identical texts, and those of them whose labels disagree. Exact duplicates
  are keyed by :func:`textclf_core.data.duplicate_keys`, like the upload report and
  the leakage-safe split. :mod:`.similarity` holds the blockwise cosine search.
- :mod:`.outliers` — :func:`find_outliers`: texts unlike the rest of the data.
- :mod:`.label_next` — :func:`what_to_label_next`: unlabelled rows the model is least
  sure about.
- :mod:`.run` — :func:`review`: all of the above for a prepared frame (``row``,
  ``text``, ``label``), cached per data version, bundled in a :class:`ReviewResult`;
  every stage checks ``should_stop``. In the app it runs as a background job
  (:func:`textclf_core.pipeline.jobs.JobManager.submit_review`).
- :mod:`.changelog` — :class:`ChangeLog`: the edits a person makes while reviewing
  (accept the suggestion, relabel, drop, keep), grouped and undoable, applied to the
  original rows and exported beside the cleaned CSV.

Row ids (``row``) always refer to the rows of the user's original table, so a finding
can be traced back to the file it came from.
"""

from __future__ import annotations

from textclf_core.data.changelog import ACTIONS, Change, ChangeLog

from .common import (
    CONFLICT,
    DUPLICATE,
    FINDING_COLUMNS,
    FINDING_TYPES,
    LABEL_NEXT,
    METHODS,
    MISLABEL,
    OUTLIER,
    Emit,
    ShouldStop,
    check_stop,
)
from .duplicates import find_conflicts, find_near_duplicates, word_sets
from .issues import find_label_errors, label_quality
from .label_next import what_to_label_next
from .oof import blend_weight, out_of_sample_proba
from .outliers import find_outliers
from .run import (
    ReviewResult,
    cache_root,
    cached_review,
    clear_memory_cache,
    combine_findings,
    review,
    review_fingerprint,
    review_key,
)
from .similarity import knn_distance, neighbours, similar_pairs
from .thorough import THOROUGH_SETTINGS, finetuned_oof_proba
from .vectors import normalize_rows

__all__ = [
    "ACTIONS",
    "CONFLICT",
    "DUPLICATE",
    "FINDING_COLUMNS",
    "FINDING_TYPES",
    "LABEL_NEXT",
    "METHODS",
    "MISLABEL",
    "OUTLIER",
    "THOROUGH_SETTINGS",
    "Change",
    "ChangeLog",
    "Emit",
    "ReviewResult",
    "ShouldStop",
    "blend_weight",
    "cache_root",
    "cached_review",
    "check_stop",
    "clear_memory_cache",
    "combine_findings",
    "find_conflicts",
    "find_label_errors",
    "find_near_duplicates",
    "find_outliers",
    "finetuned_oof_proba",
    "knn_distance",
    "label_quality",
    "neighbours",
    "normalize_rows",
    "out_of_sample_proba",
    "review",
    "review_fingerprint",
    "review_key",
    "similar_pairs",
    "what_to_label_next",
    "word_sets",
]
