"""The textclf command: exit codes, one-line errors, a full train → evaluate → predict round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.small_data import small_frame

from textclf_core.cli import main
from textclf_core.cli.commands import build_parser, config_from_args
from textclf_core.store.runs import RunStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def csv_file(tmp_path) -> Path:
    path = tmp_path / "reviews.csv"
    small_frame(30).to_csv(path, index=False)
    return path


@pytest.fixture
def binary_file(tmp_path) -> Path:
    path = tmp_path / "photo.csv"
    path.write_bytes(bytes(range(256)) * 40)
    return path


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_train_baseline_then_evaluate_predict_export_import_delete(csv_file, tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--data",
                str(csv_file),
                "--strategy",
                "baseline",
                "--no-progress",
                "--save-config",
                str(tmp_path / "run.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "test accuracy" in out and "macro F1" in out
    [summary] = RunStore().list()
    assert summary.state == "finished" and summary.strategy == "baseline"
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["strategy"] == "baseline" and saved["text_col"] == "review"

    assert main(["runs"]) == 0
    assert summary.id in capsys.readouterr().out

    assert main(["evaluate", summary.id, "--by", "gold"]) == 0
    out = capsys.readouterr().out
    assert "confusion matrix" in out and "by gold" in out

    assert main(["predict", summary.id, "--text", "great wonderful film", "--text", "awful boring mess"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["pos", "neg"]

    out_csv = tmp_path / "pred.csv"
    assert main(["predict", summary.id, "--data", str(csv_file), "--out", str(out_csv)]) == 0
    written = pd.read_csv(out_csv, encoding="utf-8-sig")
    assert {"predicted_label", "confidence", "prob_neg", "prob_pos"} <= set(written.columns)

    zip_path = tmp_path / "run.zip"
    assert main(["export", summary.id, "--out", str(zip_path)]) == 0 and zip_path.is_file()
    assert main(["import", str(zip_path)]) == 0
    assert len(RunStore().list()) == 2
    assert main(["delete", summary.id]) == 0
    assert len(RunStore().list()) == 1


def test_settings_file_and_flags(csv_file, tmp_path):
    (tmp_path / "base.json").write_text(json.dumps({"strategy": "baseline", "baseline_model": "nb", "seed": 7}))
    args = build_parser().parse_args(
        [
            "train",
            "--data",
            str(csv_file),
            "--config",
            str(tmp_path / "base.json"),
            "--seed",
            "3",
            "--class-weights",
            "--patience",
            "0",
        ]
    )
    config, reason = config_from_args(args)
    assert (config.strategy, config.baseline_model, config.seed) == ("baseline", "nb", 3)
    assert config.class_weights is True and config.early_stopping_patience is None
    assert config.data_path == str(csv_file) and reason is None
    args = build_parser().parse_args(["train", "--data", "x.csv", "--strategy", "lora", "--lora-r", "4"])
    config, _ = config_from_args(args)
    assert config.strategy == "lora" and config.lora_r == 4 and config.epochs == 3  # untouched default


def test_validate_good_file(csv_file, capsys):
    assert main(["validate", str(csv_file)]) == 0
    out = capsys.readouterr().out
    assert "review" in out and "sentiment" in out and "Ready to train" in out


def test_validate_binary_file_exits_2_with_one_line(binary_file, capsys):
    assert main(["validate", str(binary_file)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert _one_line(captured.err).startswith("textclf: ")


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.csv")]) == 2
    assert "does not exist" in _one_line(capsys.readouterr().err)
    assert main(["train", "--data", str(tmp_path / "nope.csv"), "--strategy", "baseline"]) == 2
    assert "does not exist" in _one_line(capsys.readouterr().err)


def test_blocking_problem_exits_2(tmp_path, capsys):
    path = tmp_path / "one_class.csv"
    pd.DataFrame({"text": ["a b", "c d", "e f"], "label": ["x", "x", "x"]}).to_csv(path, index=False)
    assert main(["validate", str(path)]) == 2
    assert "Not ready to train" in capsys.readouterr().err
    assert main(["train", "--data", str(path), "--strategy", "baseline"]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["bogus"],
        ["train", "--epochs", "many"],
        ["predict", "x"],
        ["train", "--data", "a.csv", "--strategy", "magic"],
        ["evaluate", "../etc"],
        ["delete", "no-such-run"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    _one_line(captured.err)


def test_models_and_empty_runs(capsys):
    assert main(["runs"]) == 0
    assert "No runs yet" in capsys.readouterr().out
    assert main(["models"]) == 0
    assert capsys.readouterr().out.strip()


def test_ctrl_c_exits_130(csv_file, monkeypatch, capsys):
    import textclf_core.pipeline.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "execute", interrupted)
    assert main(["train", "--data", str(csv_file), "--strategy", "baseline"]) == 130


def test_entry_point_on_a_binary_file(binary_file, tmp_path):
    """The installed command (or the module) exits 2 with a single line on stderr."""
    script = ROOT / ".venv" / "bin" / "textclf"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "textclf_core.cli"]
    env = dict(os.environ, TEXTCLF_HOME=str(tmp_path / "home"))
    done = subprocess.run(cmd + ["validate", str(binary_file)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "binary" in _one_line(done.stderr)
