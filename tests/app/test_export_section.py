"""Evaluation page, "Export for serving": build an int8/ONNX copy of a fine-tuned run, download it, check it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from helpers.small_data import small_frame, tiny_full_config

from textclf_core.config import RunConfig
from textclf_core.models import quantized as serving
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore


def _tiny_transformer_run(tiny_bert):
    config = tiny_full_config(tiny_bert, test_size=0.3)
    run = execute(config, small_frame(20), store=RunStore())
    assert run.status()["state"] == "finished", run.status()
    return run


def _open_evaluation(app):
    app.switch_page("app_pages/evaluation.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    assert "Export for serving" in [h.value for h in app.subheader]


def _downloads(app):
    return [d for d in app.get("download_button") if "export" in d.proto.label]


def test_int8_export_is_built_once_offered_as_zip_and_checked(app, tiny_bert):
    run = _tiny_transformer_run(tiny_bert)
    _open_evaluation(app)
    assert not _downloads(app)  # nothing is built before the button is pressed
    next(b for b in app.button if b.label == "Build the int8 export").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    [download] = _downloads(app)
    assert download.proto.label == "Download the int8 export (.zip)"
    folder = run.path / serving.SERVING_DIR / "int8"
    assert (folder / "int8.safetensors").is_file()
    assert any("on disk" in m.value for m in app.markdown)
    names = zipfile.ZipFile(io.BytesIO(serving.export_zip_bytes(folder, "x"))).namelist()
    assert "x/int8.safetensors" in names and "x/textclf.json" in names

    built_at = (folder / "int8.safetensors").stat().st_mtime_ns
    app.run()  # a rerun keeps the export and does not build it again
    assert _downloads(app) and (folder / "int8.safetensors").stat().st_mtime_ns == built_at

    next(b for b in app.button if b.label.startswith("Check it against the original")).click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Same label as the original"].endswith("%")
    assert "Texts per second" in metrics and "Size on disk" in metrics
    # the hidden export stays out of the run's own zip
    zipped = RunStore().export_zip(run.id, Path(run.path).parent.parent / "run.zip")
    assert not any(serving.SERVING_DIR in n for n in zipfile.ZipFile(zipped).namelist())


def test_baseline_run_gets_a_plain_explanation(app):
    execute(RunConfig(strategy="baseline", text_col="review", label_col="sentiment"), small_frame(20), store=RunStore())
    _open_evaluation(app)
    assert any("TF-IDF baseline" in i.value and "zip" in i.value for i in app.info)
    assert not any(b.label.startswith("Build the") for b in app.button)


def test_feature_extraction_run_gets_a_plain_explanation(app, tiny_bert):
    execute(
        RunConfig(
            strategy="feature-extraction", model=str(tiny_bert), text_col="review", label_col="sentiment", max_length=32
        ),
        small_frame(20),
        store=RunStore(),
    )
    _open_evaluation(app)
    assert any("pretrained encoder unchanged" in i.value and "zip" in i.value for i in app.info)
    assert not any(b.label.startswith("Build the") for b in app.button)


def test_compare_export_reports_agreement_speed_and_size(tiny_bert):
    run = _tiny_transformer_run(tiny_bert)
    folder = serving.cached_export(run, "onnx")
    assert serving.cached_export(run, "onnx") == folder  # cached: the same folder, not rebuilt
    result = serving.compare_export(run, folder, n=10)
    assert result["n"] == 10 and result["agreement"] >= 0.99 and result["max_prob_difference"] < 1e-3
    assert result["original_texts_per_s"] > 0 and result["export_texts_per_s"] > 0
    assert result["export_mb"] > 0 and result["original_mb"] > 0
