"""Use a trained run: predict texts or a whole file.

:func:`load_predictor` accepts a :class:`~textclf_core.store.runs.Run`, a run id, a run folder or a model
folder (:func:`textclf_core.store.runs.resolve_model`) and loads it with the loader registered for
``textclf.json``'s kind (:mod:`textclf_core.store.model_folder`; kinds that need torch are imported only
then, so the baseline works without it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from textclf_core.errors import DataError, ModelLoadError, TextclfError
from textclf_core.evaluation.calibration import apply_temperature
from textclf_core.labels import LabelSpace
from textclf_core.store import model_folder
from textclf_core.store.model_folder import PredictorBase
from textclf_core.store.runs import resolve_model

BATCH = 512


def clean_texts(texts) -> list[str]:
    """A list of str: one text becomes a list, None and NaN become ""."""
    if isinstance(texts, str):
        texts = [texts]
    return ["" if t is None or (isinstance(t, float) and t != t) else str(t) for t in texts]


class RunPredictor(PredictorBase):
    """A loaded model folder: the kind's own predictor (``.model``) plus what the folder and run say
    (``info``, ``kind``, multi-label ``thresholds``). Implements :class:`textclf_core.store.model_folder.Predictor`."""

    def __init__(self, model, info: dict, model_dir: Path, thresholds=None):
        self.model = model
        self.info = info
        self.model_dir = Path(model_dir)
        self.kind = info.get("kind")
        self.label_space = LabelSpace.from_dict(info["label_space"])
        self.thresholds = thresholds

    def __repr__(self) -> str:
        return f"RunPredictor(kind={self.kind!r}, classes={self.classes!r})"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, k) class probabilities."""
        texts = clean_texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes)))
        proba = np.asarray(self.model.predict_proba(texts), dtype=float)
        return apply_temperature(proba, self.info.get("temperature"), self.multi_label)  # fitted by the runner

    @property
    def training_language(self) -> dict | None:
        """The training texts' language profile (``textclf.json``'s ``language``; None for older models)."""
        return self.info.get("language")

    def language_warning(self, texts) -> str | None:
        """One sentence when ``texts`` (one text, or the rows of a file) are in a language the training data
        did not have: about the text, or the share of rows; None otherwise or for models without a profile."""
        from textclf_core.data import language

        return language.language_warning(self.training_language, clean_texts(texts))


Predictor = RunPredictor  # the name this class had before model_folder.Predictor (the protocol) existed


def load_predictor(run_or_dir) -> RunPredictor:
    """Load the model of a run (or a model folder); raises ModelLoadError with advice."""
    model_dir, run = resolve_model(run_or_dir)
    if run is not None:
        run.has_model  # noqa: B018 - puts back a model left aside by a crash mid-save
    if not model_folder.has_info(model_dir):
        name = run.id if run is not None else str(model_dir)
        state = run.status().get("state") if run is not None else None
        why = f" (the run is {state})" if state and state != "finished" else ""
        raise ModelLoadError(f"Run {name} has no saved model{why}", hint="Train it again or pick another run")
    info = model_folder.read_info(model_dir)
    model = model_folder.loader_for(info.kind, model_dir)(model_dir)
    thresholds = info.thresholds
    if thresholds is None and run is not None:  # multi-label thresholds tuned by the runner
        thresholds = (run.read_json("eval.json", default={}) or {}).get("thresholds")
    return RunPredictor(model, info.to_dict(), model_dir, thresholds=thresholds)


def predict_texts(run_or_dir, texts: Sequence[str]) -> pd.DataFrame:
    """``text`` plus the prediction columns."""
    texts = clean_texts(texts)
    predictor = load_predictor(run_or_dir)
    out = predictor.predict(texts)
    out.insert(0, "text", texts)
    warning = predictor.language_warning(texts)
    out.attrs["warnings"] = [warning] if warning else []
    return out


def _text_column(frame: pd.DataFrame, text_col: str | None, path) -> str:
    from textclf_core.data import guess_columns

    if text_col is None:
        text_col = guess_columns(frame).text_col
        if text_col is None:
            raise DataError(
                "No column with texts was found", where=Path(str(path)).name, hint="Name the text column (--text-col)"
            )
    elif text_col not in frame.columns:
        raise DataError(
            f"There is no column '{text_col}'",
            where=Path(str(path)).name,
            hint=f"Choose one of: {', '.join(map(str, frame.columns[:10]))}",
        )
    return text_col


def _predict_frame(
    predictor: RunPredictor, frame: pd.DataFrame, text_col: str, progress: Callable[[int], None] | None = None
) -> pd.DataFrame:
    """``frame`` with the prediction columns added; ``progress(rows)`` after every batch of BATCH rows."""
    texts = clean_texts(frame[text_col].tolist())
    parts = []
    for start in range(0, len(texts), BATCH):
        parts.append(predictor.predict_proba(texts[start : start + BATCH]))
        if progress is not None:
            progress(len(parts[-1]))
    proba = np.vstack(parts) if parts else np.zeros((0, len(predictor.classes)))
    pred = predictor.frame_from_proba(proba).rename(columns={"label": "predicted_label"})
    return pd.concat(
        [
            frame.reset_index(drop=True),
            pred.set_axis([c if c not in frame.columns else f"{c}_predicted" for c in pred.columns], axis=1),
        ],
        axis=1,
    )


def predict_file(
    run, path, text_col: str | None = None, out=None, *, sheet=None, progress: Callable[[int, int], None] | None = None
) -> pd.DataFrame:
    """Predict every row of a file; the original columns come first, then
    ``predicted_label``, ``confidence`` and ``prob_<class>``.

    ``out`` (optional) is written as CSV (UTF-8 with BOM, formulas neutralised) or,
    for a .xlsx name, as Excel. ``progress(done, total)`` is called between batches.
    The whole file and its predictions are held in memory: for a large file use :func:`predict_to_file`.
    """
    from textclf_core.data import neutralize_formulas, read_table, write_csv

    predictor = load_predictor(run)
    frame = read_table(path, sheet=sheet)
    text_col = _text_column(frame, text_col, path)
    done = [0]

    def step(rows: int) -> None:
        done[0] += rows
        progress(done[0], len(frame))

    result = _predict_frame(predictor, frame, text_col, step if progress is not None else None)
    warning = predictor.language_warning(frame[text_col].tolist())
    result.attrs["warnings"] = [warning] if warning else []  # e.g. rows in a language the model never saw
    if out is not None:
        out = Path(out).expanduser()
        try:
            if out.suffix.lower() in (".xlsx", ".xlsm"):
                out.parent.mkdir(parents=True, exist_ok=True)
                neutralize_formulas(result).to_excel(out, index=False)
            else:
                write_csv(result, out, neutralize=True)
        except OSError as exc:
            raise _write_error(out, exc) from None
    return result


def _write_error(out: Path, exc: OSError) -> TextclfError:
    return TextclfError(
        f"Could not write {out} ({exc.strerror or exc})", hint="Check the folder exists and is writable"
    )


STREAM_ROWS = 16384  # rows read, predicted and written at a time by predict_to_file


def predict_to_file(
    run,
    path,
    out,
    text_col: str | None = None,
    *,
    sheet=None,
    progress: Callable[[int, int], None] | None = None,
    chunk_rows: int = STREAM_ROWS,
    on_warning: Callable[[str], None] | None = None,
) -> int:
    """Predict every row of ``path`` into the CSV ``out`` (the columns of :func:`predict_file`); returns rows written.

    A plain UTF-8 CSV/TSV is streamed: read, predicted and appended ``chunk_rows`` rows at a time, so memory
    is bounded by the chunk, not the file, and every row is written once, in order. Other inputs (Excel,
    JSON, Parquet, CSVs with title rows or another encoding) are read whole and written in chunks. ``out``
    appears only when complete (written to a temporary name, then renamed). An .xlsx ``out`` is built in
    memory as :func:`predict_file` does. ``progress(done, total)``: ``total`` is an estimate from the
    file's line count while streaming (quoted line breaks count too), exact at the end. ``on_warning(sentence)``
    is called once at the end when rows are in a language the training data did not have (their share).
    """
    from collections import Counter

    from textclf_core.data import language, neutralize_formulas, read_csv_chunks, read_table
    from textclf_core.fs import atomic_open

    out = Path(out).expanduser()
    if out.suffix.lower() in (".xlsx", ".xlsm"):
        return len(predict_file(run, path, text_col, out, sheet=sheet, progress=progress))
    predictor = load_predictor(run)
    source = Path(str(path)).expanduser()
    streamed = read_csv_chunks(source, max(1, int(chunk_rows))) if sheet is None else None
    if streamed is not None:
        sample, total, frames = streamed
        text_col = _text_column(sample, text_col, path)  # guessed from the first MB: the file is never read whole
    else:
        whole = read_table(path, sheet=sheet)
        total = len(whole)
        text_col = _text_column(whole, text_col, path)
        frames = (whole.iloc[i : i + chunk_rows] for i in range(0, len(whole), max(1, int(chunk_rows))))
    done = 0
    unfamiliar: Counter = Counter()  # rows per language the training data did not have

    def step(rows: int) -> None:
        nonlocal done
        done += rows
        if progress is not None:
            progress(done, max(total, done))

    try:
        with atomic_open(out, "w", encoding="utf-8-sig", newline="") as handle:
            first = True
            try:
                for frame in frames:
                    result = _predict_frame(predictor, frame, text_col, step)
                    unfamiliar.update(
                        language.unfamiliar_languages(
                            predictor.training_language, clean_texts(frame[text_col].tolist())
                        )
                    )
                    neutralize_formulas(result).to_csv(handle, index=False, header=first)
                    first = False
            except (pd.errors.ParserError, UnicodeDecodeError) as exc:  # past the first MB that was checked
                detail = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else "unreadable rows"
                raise DataError(
                    f"{source.name} could not be read after row {done:,} ({detail})",
                    where=source.name,
                    hint="Save the file from a spreadsheet as CSV UTF-8 and predict again",
                ) from None
            if first:
                raise DataError(
                    f"{source.name} has a header row but no data rows",
                    hint="Add at least one row of texts under the header",
                )
    except OSError as exc:
        raise _write_error(out, exc) from None
    if progress is not None:
        progress(done, done)
    warning = language.warning_sentence(predictor.training_language, unfamiliar, done)
    if warning and on_warning is not None:
        on_warning(warning)
    return done
