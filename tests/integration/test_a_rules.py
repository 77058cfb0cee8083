"""Dataset code ``a`` and ``MLflowCatalogLoggerHook(auto=True)`` log values alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from pipelinex_mlflow import (
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowDataSet,
)
from tests._kedro import run_with_hooks

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

VALUES: dict[str, Any] = {
    "count": 3,
    "rate": 0.25,
    "np_rate": np.float64(0.5),
    "flag": True,
    "np_flag": np.bool_(True),
    "name": "rf",
    "nothing": None,
    "ids": [np.int64(1), 2, np.float32(1.5), np.float64(0.5)],
    "pair": ("x", 1),
    "labels": {"b", "a"},
}


def _twice(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return values, values


def _run(client: MlflowClient, tracking_uri: str, catalog: DataCatalog) -> None:
    pipeline = Pipeline([node(_twice, "values", ["auto", "ds"], name="twice")])
    hooks = (
        MLflowBasicLoggerHook(uri=tracking_uri, experiment_name="rules"),
        MLflowCatalogLoggerHook(auto=True),
    )
    run_with_hooks(pipeline, catalog, hooks)


def test_both_paths_land_the_same_params_and_metrics(
    client: MlflowClient, tracking_uri: str
) -> None:
    catalog = DataCatalog(
        {
            "values": MemoryDataset(VALUES),
            "auto": MemoryDataset(),
            "ds": MLflowDataSet(dataset="a"),
        }
    )
    _run(client, tracking_uri, catalog)
    experiment = client.get_experiment_by_name("rules")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])

    def logged(prefix: str) -> tuple[dict[str, str], dict[str, float]]:
        cut = len(prefix) + 1
        params = {
            k[cut:]: v for k, v in run.data.params.items() if k.startswith(prefix)
        }
        metrics = {
            k[cut:]: v for k, v in run.data.metrics.items() if k.startswith(prefix)
        }
        return params, metrics

    auto, dataset = logged("auto"), logged("ds")
    assert auto == dataset
    params, metrics = dataset
    assert metrics == {"count": 3.0, "rate": 0.25, "np_rate": 0.5}
    assert params == {
        "flag": "True",
        "np_flag": "True",
        "name": "rf",
        "nothing": "None",
        "ids": "[1, 2, 1.5, 0.5]",
        "pair": "('x', 1)",
        "labels": "{'a', 'b'}",
    }
    # ...and the dataset reads back what was saved, numpy values as Python ones.
    loaded = MLflowDataSet(
        dataset="a", dataset_name="ds", loading_run_id=run.info.run_id
    ).load()
    assert loaded == {
        "count": 3.0,
        "rate": 0.25,
        "np_rate": 0.5,
        "flag": True,
        "np_flag": True,
        "name": "rf",
        "nothing": None,
        "ids": [1, 2, 1.5, 0.5],
        "pair": ("x", 1),
        "labels": {"a", "b"},
    }
    assert type(loaded["np_flag"]) is bool


def test_a_list_of_dataframes_is_refused_by_the_dataset_and_skipped_by_auto(
    client: MlflowClient, tracking_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The dataset cannot log it: a warning in a Kedro run, never a failed node."""
    frames = {"tables": [pd.DataFrame({"a": [1]})], "n": 1}
    catalog = DataCatalog(
        {
            "values": MemoryDataset(frames),
            "auto": MemoryDataset(),
            "ds": MLflowDataSet(dataset="a"),
        }
    )
    _run(client, tracking_uri, catalog)
    warned = [r.getMessage() for r in caplog.records if "'ds'" in r.getMessage()]
    assert len(warned) == 1
    assert "'ds.tables' is a list holding DataFrame" in warned[0]
    experiment = client.get_experiment_by_name("rules")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.metrics.get("auto.n") == 1.0
    assert not any(key.startswith("auto.tables") for key in run.data.params)
    assert not any(key.startswith("ds.") for key in run.data.params)
    assert "ds.n" not in run.data.metrics
