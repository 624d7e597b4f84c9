"""Security: names from the browser cannot reach outside the runs folder, weights are never
unpickled, model code is never run, local model folders can be limited, exports neutralise
spreadsheet formulas, uploads are capped, and the app listens on localhost."""

from __future__ import annotations

import io
import os
import pickle
import re
import shutil
import stat
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.reliability import PICKLE_SUFFIXES, baseline_config, reviews, tiny_config
from helpers.small_data import small_frame

from textclf_core import data
from textclf_core.errors import DataError, ModelLoadError, RunStoreError, TextclfError
from textclf_core.labels import LabelSpace
from textclf_core.models.predict import load_predictor, predict_file
from textclf_core.pipeline.runner import execute
from textclf_core.store import catalog as models
from textclf_core.store.runs import RunStore

ROOT = Path(__file__).resolve().parents[2]
BAD_IDS = [
    "..",
    ".",
    "../",
    "../outside",
    "../../etc/passwd",
    "/etc/passwd",
    "/tmp",
    "a/../../b",
    "run/../..",
    "..\\..\\windows",
    "C:\\Windows",
    "x\x00y",
    "",
    " ",
    "~root",
    "run id with spaces",
    "a/b",
    ".hidden",
    "-rf",
    "%2e%2e%2f",
    "a" * 200,
]


@pytest.fixture()
def store(tmp_path) -> RunStore:
    store = RunStore(tmp_path / "home" / "runs")
    store.create(baseline_config(), run_id="victim").set_status("finished", "Finished")
    (tmp_path / "home" / "outside").mkdir()
    (tmp_path / "home" / "outside" / "config.json").write_text("{}")  # looks like a run, but is not in runs/
    return store


def _outside_untouched(store: RunStore) -> None:
    outside = store.root.parent / "outside"
    assert sorted(p.name for p in outside.iterdir()) == ["config.json"]
    assert store.get("victim").status()["state"] == "finished"


# --- run ids and file names ---------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IDS)
def test_unsafe_run_ids_are_refused_by_every_operation(store, tmp_path, bad):
    for operation in (store.get, store.delete, lambda r: store.export_zip(r, tmp_path / "x.zip"), store.path_for):
        with pytest.raises(RunStoreError):
            operation(bad)
    with pytest.raises(TextclfError):  # what the Predict page does with a run id from the browser
        load_predictor(store.get(bad))
    assert not (tmp_path / "x.zip").exists()
    _outside_untouched(store)


def test_a_run_folder_that_is_a_link_outside_is_refused(store):
    (store.root / "sneaky").symlink_to(store.root.parent / "outside", target_is_directory=True)
    for operation in (store.get, store.delete, lambda r: store.export_zip(r, store.root.parent / "s.zip")):
        with pytest.raises(RunStoreError, match="outside"):
            operation("sneaky")
    _outside_untouched(store)


def test_export_leaves_out_links_inside_a_run(store, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (store.get("victim").path / "notes.txt").symlink_to(secret)
    with zipfile.ZipFile(store.export_zip("victim", tmp_path / "out.zip")) as zf:
        assert not [n for n in zf.namelist() if n.endswith("notes.txt")]
        assert all(b"password" not in zf.read(n) for n in zf.namelist())


def _zip_with(tmp_path: Path, extra: dict[str, bytes], links: dict[str, str] = ()) -> Path:
    path = tmp_path / f"evil-{len(list(tmp_path.glob('evil-*')))}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("r1/config.json", baseline_config().to_json())
        for name, payload in extra.items():
            zf.writestr(name, payload)
        for name, target in dict(links).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


@pytest.mark.parametrize(
    "extra,links",
    [
        ({"r1/../../outside/evil.txt": b"x"}, {}),
        ({"../outside/evil.txt": b"x"}, {}),
        ({"/tmp/evil-textclf.txt": b"x"}, {}),
        ({"r1/..\\..\\outside\\evil.txt": b"x"}, {}),
        ({"C:/evil.txt": b"x"}, {}),
        ({}, {"r1/model": "../../outside"}),
        ({}, {"r1/status.json": "/etc/passwd"}),
    ],
)
def test_imported_zips_cannot_write_or_link_outside(store, tmp_path, extra, links):
    before = {p.name for p in store.root.iterdir()}
    with pytest.raises(RunStoreError):
        store.import_zip(_zip_with(tmp_path, extra, links))
    assert {p.name for p in store.root.iterdir()} == before  # nothing half-imported
    assert not Path("/tmp/evil-textclf.txt").exists()
    _outside_untouched(store)


def test_a_zip_member_with_a_nul_byte_stays_inside(store, tmp_path):
    path = _zip_with(tmp_path, {"r1/model\x00/../../../outside/evil.txt": b"x"})
    try:
        run = store.import_zip(path)
    except RunStoreError:
        run = None
    if run is not None:
        assert store.root.resolve() in run.path.resolve().parents
    _outside_untouched(store)


# --- weights: safetensors only, never pickle ------------------------------------------------


@pytest.fixture(scope="module")
def strategy_runs(tiny_bert, tmp_path_factory):
    """One finished run per strategy, in one store (trained once for the tests below)."""
    store = RunStore(tmp_path_factory.mktemp("strategies") / "runs")
    frame = reviews(3)
    out = {"baseline": execute(baseline_config(), small_frame(20), store=store)}
    for strategy in ("full", "partial", "lora", "feature-extraction"):
        out[strategy] = execute(tiny_config(tiny_bert, strategy=strategy, layers=1, head="linear"), frame, store=store)
    for strategy, run in out.items():
        assert run.status()["state"] == "finished", (strategy, run.status())
    return out


def test_every_strategy_saves_without_pickle_and_reloads(strategy_runs):
    for strategy, run in strategy_runs.items():
        files = [p for p in run.path.rglob("*") if p.is_file()]
        pickled = [p.name for p in files if p.suffix.lower() in PICKLE_SUFFIXES]
        assert not pickled, (strategy, pickled)
        model_files = {p.relative_to(run.model_dir).as_posix() for p in run.model_dir.rglob("*") if p.is_file()}
        if strategy == "baseline":
            with np.load(run.model_dir / "arrays.npz", allow_pickle=False) as npz:
                assert npz.files  # loads with pickle disabled
        elif strategy == "feature-extraction":
            assert "head.safetensors" in model_files
        else:
            assert "model.safetensors" in model_files, (strategy, model_files)
        if strategy == "lora":
            assert not [
                f for f in model_files if f.startswith("adapter/") and not f.endswith((".safetensors", ".json", ".md"))
            ], model_files
        proba = load_predictor(run).predict_proba(["great fun", "awful plot"])
        np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)


def test_trust_remote_code_is_never_enabled_and_nothing_unpickles():
    sources = list((ROOT / "textclf_core").glob("*.py")) + list((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
    problems = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"trust_remote_code\s*=\s*(\w+)", text):
            if match.group(1) != "False":
                problems.append(f"{path.name}: {match.group(0)}")
        for pattern in (
            r"pickle\.loads?\(",
            r"joblib\.load\(",
            r"allow_pickle\s*=\s*True",
            r"use_safetensors\s*=\s*False",
            r"weights_only\s*=\s*False",
            r"torch\.load\((?![^)]*weights_only\s*=\s*True)",
        ):
            problems += [f"{path.name}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not problems, problems


class _Trap:
    """Unpickling this creates a marker file: proof that a pickle was loaded."""

    marker = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _pickled_only_folder(tiny_bert: Path, dest: Path, marker: Path) -> Path:
    shutil.copytree(tiny_bert, dest)
    for f in dest.glob("*.safetensors"):
        f.unlink()
    _Trap.marker = str(marker)
    with open(dest / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"weights": _Trap()}, fh)
    return dest


def test_a_model_folder_with_only_pickled_weights_is_refused(tiny_bert, tmp_path):
    marker = tmp_path / "pickle-was-loaded"
    folder = _pickled_only_folder(tiny_bert, tmp_path / "typed-folder", marker)
    space = LabelSpace.from_labels(["pos", "neg"])
    for load in (
        models.load_config,
        models.load_tokenizer,
        lambda m: models.load_for_classification(m, space),
        models.load_encoder,
    ):
        with pytest.raises(ModelLoadError, match="pickle"):
            load(str(folder))
    # Through a training run, as typed on the Strategy page.
    run = execute(tiny_config(folder), reviews(2), store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "failed" and "pickle" in run.status()["message"]
    assert not marker.exists()


def test_a_saved_run_model_with_pickled_weights_is_not_loaded(tiny_bert, tmp_path):
    marker = tmp_path / "pickle-was-loaded"
    folder = _pickled_only_folder(tiny_bert, tmp_path / "model", marker)
    (folder / "textclf.json").write_text('{"kind": "transformer", "label_space": {"classes": ["neg", "pos"]}}')
    with pytest.raises(ModelLoadError):
        load_predictor(folder)
    assert not marker.exists()


def test_model_code_shipped_with_a_folder_is_never_run(tiny_bert, tmp_path):
    folder = tmp_path / "with-code"
    shutil.copytree(tiny_bert, folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "custom_model.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "from transformers import BertForSequenceClassification as Custom\n"
    )
    config = (folder / "config.json").read_text()
    (folder / "config.json").write_text(
        config.replace(
            "{",
            '{"auto_map": {"AutoModelForSequenceClassification": "custom_model.Custom", '
            '"AutoModel": "custom_model.Custom", "AutoConfig": "custom_model.Custom"},',
            1,
        )
    )
    space = LabelSpace.from_labels(["pos", "neg"])
    try:
        models.load_for_classification(str(folder), space)
    except ModelLoadError:
        pass  # refusing is fine too; running the code is not
    assert not marker.exists()


# --- local model folders limited when the app is shared -----------------------------------


def test_local_model_folders_are_limited_to_the_allowed_directories(tiny_bert, tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    inside = allowed / "team" / "tiny"
    shutil.copytree(tiny_bert, inside)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(tiny_bert, elsewhere)
    (allowed / "link").symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.setenv("TEXTCLF_ALLOWED_MODEL_DIRS", f"{tmp_path / 'nonexistent'}{os.pathsep}{allowed}")
    assert models.resolve(str(inside)) == str(inside.resolve())
    for refused in (elsewhere, allowed / "link", allowed / "team" / ".." / ".." / "elsewhere"):
        with pytest.raises(ModelLoadError, match="outside the folders this server allows"):
            models.resolve(str(refused))
    assert Path(models.resolve(models.BUNDLED_KEY)).is_dir()  # the bundled model is always allowed
    run = execute(tiny_config(elsewhere), reviews(2), store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "failed" and "outside the folders" in run.status()["message"]

    monkeypatch.delenv("TEXTCLF_ALLOWED_MODEL_DIRS")
    monkeypatch.setenv("TEXTCLF_SHARED", "1")  # shared without a list: no local folders at all
    with pytest.raises(ModelLoadError, match="outside"):
        models.resolve(str(inside))
    assert Path(models.resolve(models.BUNDLED_KEY)).is_dir()
    monkeypatch.delenv("TEXTCLF_SHARED")
    assert models.resolve(str(elsewhere)) == str(elsewhere.resolve())  # a personal install: any folder


# --- exports neutralise formulas --------------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example","great fun")',
    "+cmd|' /C calc'!A0 great",
    "@SUM(1+1) wonderful",
    "-2+3+cmd|' /C calc'!A0 awful",
    "=1+1 boring dull",
]


def _formula_frame() -> pd.DataFrame:
    frame = small_frame(15)
    frame.loc[:4, "review"] = [f + " " + t for f, t in zip(FORMULAS, frame.loc[:4, "review"])]
    frame.loc[5:, "review"] = ["=" + t for t in frame.loc[5:, "review"]]
    return frame


def _assert_no_live_formula(path: Path) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    cells = [c for col in frame.columns for c in frame[col]] + list(frame.columns)
    live = [c for c in cells if c and c[0] in "=+@" or (c.startswith("-") and not re.fullmatch(r"-[\d.eE+-]+", c))]
    assert not live, live[:5]
    assert any(c[:2] in ("'=", "'+", "'@", "'-") for c in cells)


def test_predictions_and_prediction_files_neutralise_formulas(tmp_path):
    run = execute(baseline_config(test_size=0.5), _formula_frame(), store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "finished"
    _assert_no_live_formula(run.path / "predictions.csv")
    source = tmp_path / "new.csv"
    pd.DataFrame({"text": FORMULAS}).to_csv(source, index=False)
    predict_file(run, source, "text", out=tmp_path / "predicted.csv")
    _assert_no_live_formula(tmp_path / "predicted.csv")


def test_cleaned_data_export_neutralises_formulas(tmp_path):
    from textclf_core.review import ChangeLog

    frame = pd.DataFrame({"text": FORMULAS, "label": ["=pos", "neg", "pos", "neg", "pos"]})
    changes = ChangeLog()
    changes.relabel(1, "+neg", old_label="neg")
    changes.drop(2, old_label="pos")
    cleaned, log = changes.export(frame, tmp_path / "clean.csv")
    _assert_no_live_formula(cleaned)
    _assert_no_live_formula(log)
    assert len(pd.read_csv(cleaned)) == 4


# --- uploads and the app's server settings -----------------------------------------------------


def test_the_upload_limit_is_enforced_for_paths_and_uploads(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTCLF_MAX_UPLOAD_MB", "1")
    big = tmp_path / "big.csv"
    big.write_text("text,label\n" + "some words here,pos\n" * 70_000)
    assert big.stat().st_size > 1024**2
    with pytest.raises(DataError, match="limit"):
        data.read_table(big)
    upload = io.BytesIO(big.read_bytes())
    upload.name = "big.csv"
    with pytest.raises(DataError, match="limit"):
        data.read_table(upload)
    with pytest.raises(DataError, match="limit"):
        data.read_table(big, max_bytes=1000)


def test_streamlit_config_listens_on_localhost_with_limits():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server = config["server"]
    assert server["address"] in ("localhost", "127.0.0.1")
    assert server["maxUploadSize"] == data.MAX_UPLOAD_MB
    assert server.get("enableXsrfProtection", True) is True
    assert server.get("enableCORS", True) is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] in ("none", False)
