"""MLflow tracking: a run read back from a real local sqlite store; an unreachable server only warns."""

from __future__ import annotations

import json
import socket

import pytest
from helpers.small_data import small_frame

from textclf_core.cli import commands as cli
from textclf_core.config import RunConfig
from textclf_core.pipeline import runner
from textclf_core.pipeline.tracking import TrackingWarning, tracking_uri
from textclf_core.store.runs import RunStore

pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def store_db(tmp_path_factory):
    """One sqlite store for the module: creating its tables is the slow part (MLflow's migrations)."""
    return tmp_path_factory.mktemp("mlflow") / "mlflow.db"


@pytest.fixture
def sqlite_uri(store_db, tmp_path, monkeypatch):
    uri = f"sqlite:///{store_db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # nothing may land in the current folder
    return uri


def _mlflow_run(uri, run):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    link = run.read_json("tracking.json")
    return client, client.get_run(link["mlflow_run_id"]), link


def test_a_run_is_read_back_from_a_sqlite_store(sqlite_uri, store_db, tmp_path):
    run = runner.execute(
        RunConfig(strategy="baseline", name="tracked"), small_frame(30), store=RunStore(tmp_path / "runs")
    )
    assert run.status()["state"] == "finished"
    client, logged, link = _mlflow_run(sqlite_uri, run)
    assert link["state"] == "finished" and logged.info.status == "FINISHED"
    # cross-linked both ways
    assert logged.data.tags["textclf.run_id"] == run.id and logged.info.run_name == run.id
    # configuration as params
    config = run.read_json("config.json")
    assert logged.data.params["strategy"] == "baseline" and logged.data.params["name"] == "tracked"
    assert logged.data.params["text_col"] == config["text_col"] == "review"
    assert int(logged.data.params["n_train"]) > 0
    # validation per evaluation with its step, and final test metrics
    history = client.get_metric_history(logged.info.run_id, "val_macro_f1")
    events = run.events(("evaluation",))
    assert [m.step for m in history] == [e["step"] for e in events] and len(history) >= 2
    assert [m.value for m in history] == pytest.approx([e["macro_f1"] for e in events])
    evaluation = run.read_json("eval.json")
    assert logged.data.metrics["test_accuracy"] == pytest.approx(evaluation["accuracy"])
    assert logged.data.metrics["test_macro_f1"] == pytest.approx(evaluation["macro_f1"])
    # confusion matrix and model folder as artifacts
    names = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"confusion_matrix.json", "eval.json", "model"} <= names
    assert "model/textclf.json" in {a.path for a in client.list_artifacts(logged.info.run_id, "model")}
    local = client.download_artifacts(logged.info.run_id, "confusion_matrix.json", str(tmp_path / "dl"))
    matrix = json.loads(open(local).read())
    assert matrix["rows_true_columns_predicted"] == evaluation["confusion_matrix"]
    assert not (tmp_path / "mlruns").exists() and (store_db.parent / "mlflow-artifacts").is_dir()


def test_an_unreachable_server_warns_and_training_succeeds(tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:pw@127.0.0.1:{port}")
    with pytest.warns(TrackingWarning, match="cannot be reached"):
        run = runner.execute(RunConfig(strategy="baseline"), small_frame(20), store=RunStore(tmp_path / "runs"))
    assert run.status()["state"] == "finished"
    link = run.read_json("tracking.json")
    assert link["state"] == "unavailable" and "pw" not in json.dumps(link)  # no password written


def test_tracking_is_opt_in(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(RunConfig()) is None
    assert tracking_uri(RunConfig(track="mlflow")).startswith("sqlite:///")
    assert tracking_uri(RunConfig(track="mlflow")).endswith("mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert tracking_uri(RunConfig()) == "http://tracking.example:5000"
    assert tracking_uri(RunConfig(track="off")) is None
    run = runner.execute(
        RunConfig(strategy="baseline", track="off"), small_frame(20), store=RunStore(tmp_path / "runs")
    )
    assert run.status()["state"] == "finished" and not (run.path / "tracking.json").exists()


def test_cli_track_flag(sqlite_uri, tmp_path):
    from mlflow import MlflowClient

    data = tmp_path / "d.csv"
    small_frame(20).to_csv(data, index=False)
    ids = []
    for track in ("off", "mlflow"):
        before = {s.id for s in RunStore().list()}
        assert (
            cli.main(["train", "--data", str(data), "--strategy", "baseline", "--track", track, "--no-progress"]) == 0
        )
        [new] = {s.id for s in RunStore().list()} - before  # two runs may start in the same second
        ids.append(new)
    off, on = (RunStore().get(i) for i in ids)
    assert off.config.track == "off" and not (off.path / "tracking.json").exists()
    assert on.config.track == "mlflow"
    client = MlflowClient(tracking_uri=sqlite_uri)
    found = client.search_runs(
        [client.get_experiment_by_name("textclf").experiment_id], filter_string=f"tags.`textclf.run_id` = '{on.id}'"
    )
    assert [r.info.run_id for r in found] == [on.read_json("tracking.json")["mlflow_run_id"]]
