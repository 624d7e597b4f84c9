"""Large inputs in chunks: embedding resumes after a cancel or a kill, prediction streams to its file,
and the embedding cache stays correct and small in file count with many shards."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from textclf_core.engine import encoders as features
from textclf_core.errors import CancelledError

TEXTS = [f"the team won match number {i} with a late goal" for i in range(40)]


@pytest.fixture()
def tokenized(monkeypatch):
    """Counts the texts handed to the encoder's tokenizer (= texts embedded, not read from the cache)."""
    seen: list[int] = []
    real = features.tokenize_windows

    def counting(tokenizer, texts, *args, **kwargs):
        seen.append(len(texts))
        return real(tokenizer, texts, *args, **kwargs)

    monkeypatch.setattr(features, "tokenize_windows", counting)
    return seen


def test_cancel_after_two_chunks_then_resume_embeds_only_the_rest(tiny_bert, tmp_path, tokenized):
    reference = features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path / "ref", precision="fp32", use_cache=False)
    tokenized.clear()
    chunks_done = []

    def emit(event):
        if event["done"] in (8, 16, 24, 32, 40):
            chunks_done.append(event["done"])

    def stop():  # asked before every batch; batch 4 = the first of chunk 3 (chunks of 8, batches of 4)
        stop.calls += 1
        return stop.calls > 4

    stop.calls = 0

    with pytest.raises(CancelledError):
        features.embed(
            TEXTS,
            str(tiny_bert),
            cache_dir=tmp_path,
            precision="fp32",
            batch_size=4,
            chunk_size=8,
            emit=emit,
            should_stop=stop,
        )
    assert chunks_done == [8, 16]
    assert tokenized == [8, 8, 8]  # the third chunk was started, none of it finished
    tokenized.clear()
    resumed = features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path, precision="fp32", batch_size=4, chunk_size=8)
    assert sum(tokenized) == 24  # 16 texts were cached by the cancelled call
    np.testing.assert_allclose(resumed, reference, atol=1e-5)
    tokenized.clear()
    again = features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path, precision="fp32", chunk_size=8)
    assert tokenized == []
    np.testing.assert_allclose(again, reference, atol=1e-5)


def test_a_killed_process_resumes_with_at_most_one_chunk_repeated(tiny_bert, tmp_path, tokenized):
    """The process dies (os._exit, no clean-up) right after its third chunk was written."""
    script = textwrap.dedent(f"""
        import os, sys
        from textclf_core.engine import encoders as features
        texts = {TEXTS!r}
        def emit(event):
            if event["done"] >= 30:
                os._exit(3)
        features.embed(texts, {str(tiny_bert)!r}, cache_dir={str(tmp_path)!r}, precision="fp32",
                       chunk_size=10, emit=emit)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=120, capture_output=True)
    assert done.returncode == 3, done.stderr.decode()[-2000:]
    features.embed(TEXTS, str(tiny_bert), cache_dir=tmp_path, precision="fp32", chunk_size=10)
    assert sum(tokenized) == 10  # chunks 1-3 survived the kill


def test_cache_with_many_shards_reads_every_vector_and_keeps_few_files(tmp_path):
    cache = features.EmbeddingCache.for_key(tmp_path, model="m", max_length=8, pooling="mean", dtype="float32")
    rng = np.random.default_rng(0)
    stored = {}
    for shard in range(70):  # 70 chunks of 1..40 vectors, some texts stored twice
        n = int(rng.integers(1, 41))
        keys = [features.text_hash(f"text {int(k)}") for k in rng.integers(0, 1500, n)]
        vectors = rng.normal(size=(n, 6)).astype(np.float32)
        for key, vector in zip(keys, vectors):
            stored.setdefault(key, []).append(vector)
        cache.add(keys, vectors)
    files = cache.shards()
    assert len(files) <= 3 * features.MERGE_FANIN * 3  # a few per size tier, not one per add
    assert len(cache) <= sum(len(v) for v in stored.values())
    query = list(stored) + [features.text_hash("never stored")] + list(stored)[:5]
    vectors, found = cache.lookup(query)
    assert found.sum() == len(stored) + 5 and not found[len(stored)]
    for i, key in enumerate(query):
        if found[i]:
            assert any(np.array_equal(vectors[i], v) for v in stored[key])  # one of the vectors stored for it


def test_merged_shards_never_exceed_the_row_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "SHARD_MAX_ROWS", 50)
    cache = features.EmbeddingCache.for_key(tmp_path, model="m")
    for shard in range(30):
        cache.add([features.text_hash(f"{shard}-{i}") for i in range(10)], np.ones((10, 2), np.float32))
    rows = [cache.shard_rows(s) for s in cache.shards()]
    assert sum(rows) == 300 and max(rows) <= 50
    assert cache.lookup([features.text_hash("29-9"), features.text_hash("0-0")])[1].all()


# --- streaming prediction ----------------------------------------------------------
@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    from helpers.small_data import small_frame

    from textclf_core.config import RunConfig
    from textclf_core.pipeline import runner
    from textclf_core.store.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("stream") / "runs")
    run = runner.execute(RunConfig(strategy="baseline"), small_frame(30), store=store)
    assert run.status()["state"] == "finished"
    return run


def _big_table(n: int = 300):
    import pandas as pd
    from helpers.small_data import small_frame

    frame = small_frame(n // 2).rename(columns={"review": "text"})
    frame.insert(0, "id", range(n))
    frame.loc[5, "text"] = '=HYPERLINK("x") great, "loved" it\nover two lines'
    frame.loc[17, "text"] = None  # an empty text still gets a prediction
    return pd.DataFrame(frame)


def test_streamed_prediction_writes_every_row_once_in_order_like_the_in_memory_path(
    baseline_run, tmp_path, monkeypatch
):
    import pandas as pd

    from textclf_core import data
    from textclf_core.models.predict import predict_file, predict_to_file

    source = tmp_path / "big.csv"
    _big_table().to_csv(source, index=False)
    whole = predict_file(baseline_run, source, out=tmp_path / "whole.csv")
    real_read = data.read_table

    def no_whole_read(path_or_buffer, **kwargs):  # streaming may only sniff the first bytes
        assert isinstance(path_or_buffer, bytes), "the streamed file was read whole"
        return real_read(path_or_buffer, **kwargs)

    monkeypatch.setattr(data, "read_table", no_whole_read)
    calls = []
    written = predict_to_file(
        baseline_run,
        source,
        tmp_path / "streamed.csv",
        chunk_rows=37,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert written == 300
    streamed = pd.read_csv(tmp_path / "streamed.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    reference = pd.read_csv(tmp_path / "whole.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert streamed["id"].tolist() == [str(i) for i in range(300)]
    pd.testing.assert_frame_equal(streamed, reference)
    assert list(streamed.columns) == list(whole.columns)
    assert streamed.loc[5, "text"].startswith("'=") and "\n" in streamed.loc[5, "text"]
    assert calls[-1] == (300, 300) and [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_prediction_of_a_file_that_cannot_stream_is_read_whole_and_still_written(baseline_run, tmp_path):
    import pandas as pd

    from textclf_core.models.predict import predict_to_file

    source = tmp_path / "big.jsonl"
    _big_table(120).to_json(source, orient="records", lines=True)
    assert predict_to_file(baseline_run, source, tmp_path / "out.csv", chunk_rows=50) == 120
    back = pd.read_csv(tmp_path / "out.csv", encoding="utf-8-sig")
    assert back["id"].tolist() == list(range(120)) and back["predicted_label"].notna().all()


def test_cli_predict_to_a_file_streams_and_reports_rows(baseline_run, tmp_path, capsys):
    import pandas as pd

    from textclf_core.cli import main

    source = tmp_path / "big.csv"
    _big_table().to_csv(source, index=False)
    out = tmp_path / "preds.csv"
    assert main(["predict", str(baseline_run.path), "--data", str(source), "--out", str(out)]) == 0
    assert "Wrote 300 predictions" in capsys.readouterr().err
    assert pd.read_csv(out, encoding="utf-8-sig")["id"].tolist() == list(range(300))


def test_a_broken_row_past_the_checked_start_is_one_line_error_and_no_output(baseline_run, tmp_path, monkeypatch):
    from textclf_core.data import read
    from textclf_core.errors import DataError
    from textclf_core.models import predict

    monkeypatch.setattr(read, "SNIFF_BYTES", 200)  # only the first rows are checked before streaming
    source = tmp_path / "broken.csv"
    rows = ["id,text"] + [f"{i},the great film" for i in range(50)] + ["51,a,b,c,d"] + ["52,fine"]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "preds.csv"
    with pytest.raises(DataError, match="could not be read after row"):
        predict.predict_to_file(baseline_run, source, out, chunk_rows=10)
    assert not out.exists()


# --- review: similarity in small blocks, on threads ---------------------------------
def test_neighbours_in_small_threaded_blocks_equal_one_block(monkeypatch):
    import scipy.sparse as sp

    from textclf_core.review import similarity

    rng = np.random.default_rng(1)
    dense = rng.random((300, 12)).astype(np.float32)
    sparse = np.where(dense > 0.6, dense, 0)
    dense[10], sparse[10] = dense[3] * 2, sparse[3] * 2  # a copy in direction: similarity 1
    for x in (dense, sp.csr_matrix(sparse)):
        (i1, j1, s1), d1 = similarity.neighbours(x, 0.95, chunk_size=10_000, threads=1)
        monkeypatch.setattr(similarity, "BLOCK_CELLS", 300 * 16)  # 16 rows per block: 19 blocks
        assert similarity.block_rows(300) == 16
        (i2, j2, s2), d2 = similarity.neighbours(x, 0.95, threads=3)
        monkeypatch.undo()
        assert sorted(zip(i1.tolist(), j1.tolist())) == sorted(zip(i2.tolist(), j2.tolist()))
        assert (3, 10) in set(zip(i1.tolist(), j1.tolist()))
        np.testing.assert_allclose(d1, d2, atol=1e-6)


def test_cli_review_bar_shows_the_stage_and_time_left(capsys):
    from textclf_core.cli.printer import ReviewProgress

    bar = ReviewProgress()
    bar({"type": "progress", "stage": "embedding"})  # not a review stage: ignored
    bar({"type": "review_stage", "stage": "reading the texts (8,192 of 100,000, about 9 min left)", "progress": 0.04})
    bar({"type": "review_stage", "stage": "duplicates", "progress": 0.8})
    bar.close()
    err = capsys.readouterr().err
    assert "about 9 min left" in err and "review: duplicates" in err and "80%" in err
