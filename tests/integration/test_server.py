"""The HTTP path: a real `mlflow server` on 127.0.0.1, started by a fixture."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import ThreadRunner

from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowDataSet
from pipelinex_mlflow.tracking import RunRef, set_current_run
from tests._kedro import run_with_hooks

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.server


def _fit(depth: int) -> tuple[float, dict[str, object], pd.DataFrame]:
    return depth / 10, {"depth": depth, "kind": "tree"}, pd.DataFrame({"y": [1.0, 2.0]})


def test_pipeline_run_through_a_tracking_server(
    mlflow_server: str, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    pipeline = Pipeline(
        [node(_fit, "params:depth", ["score", "config", "pred_df"], name="fit")]
    )
    catalog = DataCatalog(
        {
            "params:depth": MemoryDataset(5),
            "score": MLflowDataSet(dataset="m"),
            "config": MLflowDataSet(dataset="a"),
            "pred_df": MLflowDataSet(dataset="csv", artifact_path="tables"),
        }
    )
    hook = MLflowBasicLoggerHook(
        uri=mlflow_server, experiment_name="over_http", run_name="http"
    )
    run_with_hooks(pipeline, catalog, (hook,), runner=ThreadRunner())

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("over_http")
    assert experiment is not None
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["score"] == 0.5
    assert run.data.metrics["config.depth"] == 5.0
    assert run.data.params["config.kind"] == "tree"
    assert run.data.params["depth"] == "5"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "tables")] == [
        "tables/pred_df.csv"
    ]

    # Load it all back over HTTP from another run, as a later pipeline would.
    later = client.create_run(experiment.experiment_id)
    set_current_run(RunRef(mlflow_server, later.info.run_id))
    try:
        source = {"loading_run_id": run.info.run_id}
        assert MLflowDataSet(dataset="m", dataset_name="score", **source).load() == 0.5
        assert MLflowDataSet(dataset="a", dataset_name="config", **source).load() == {
            "depth": 5.0,
            "kind": "tree",
        }
        frame = MLflowDataSet(
            dataset="csv", dataset_name="pred_df", artifact_path="tables", **source
        ).load()
        assert frame["y"].tolist() == [1.0, 2.0]
    finally:
        set_current_run(None)
        client.set_terminated(later.info.run_id)


def test_run_view_hint_is_the_run_url(
    mlflow_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = Pipeline([node(lambda x: x, "params:x", "y", name="n")])
    catalog = DataCatalog({"params:x": MemoryDataset(1)})
    hook = MLflowBasicLoggerHook(uri=mlflow_server, experiment_name="hint")
    run_with_hooks(pipeline, catalog, (hook,))
    assert f"to view it, {mlflow_server}/#/experiments/" in caplog.text


def test_a_model_logged_registered_and_loaded_through_a_server(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Model files go through the server's artifact proxy (mlflow-artifacts:/)."""
    import numpy as np
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LinearRegression

    # MLflow's process-wide store is elsewhere: every call must name the server.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'wrong.db'}")
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment_id = client.create_experiment("models_over_http")
    run = RunRef(mlflow_server, client.create_run(experiment_id).info.run_id)
    x = np.array([[1.0], [2.0], [3.0]])
    model = LinearRegression().fit(x, [2.0, 4.0, 6.0])
    set_current_run(run)
    try:
        MLflowDataSet(
            dataset="model",
            flavor="sklearn",
            dataset_name="line",
            registered_model_name="line-over-http",
            alias="champion",
        ).save(model)
    finally:
        set_current_run(None)
    (logged,) = client.search_logged_models([experiment_id])
    assert logged.artifact_location.startswith("mlflow-artifacts:")
    assert logged.status.name == "READY"
    version = client.get_model_version_by_alias("line-over-http", "champion")
    assert version.run_id == run.run_id
    # The server links the version to the model itself; it is listed once.
    import json

    listed = json.loads(logged.tags["mlflow.modelVersions"])
    assert [(v["name"], str(v["version"])) for v in listed] == [("line-over-http", "1")]

    loaded = MLflowDataSet(
        dataset="model",
        flavor="sklearn",
        model_uri="models:/line-over-http@champion",
        loading_tracking_uri=mlflow_server,
    ).load()
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))
