"""Saves never wait for the network: a slow server delays only the run's end.

A real `mlflow server` sits behind a loopback proxy that holds every request for
half a second, as a remote server would.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset, SharedMemoryDataCatalog
from kedro.pipeline import Pipeline, node
from kedro.runner import ParallelRunner, SequentialRunner, ThreadRunner

from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowDataSet
from tests._kedro import run_with_hooks
from tests.slow_proxy import SlowProxy

if TYPE_CHECKING:
    from kedro.runner import AbstractRunner

pytestmark = pytest.mark.server

DELAY_S = 0.5
N_NODES = 4


def fit(depth: int, index: int) -> tuple[float, dict[str, Any], pd.DataFrame]:
    score = depth / 10 + index
    return score, {"depth": depth, "kind": "tree"}, pd.DataFrame({"y": [score]})


class SaveTimer:
    """Times every dataset save in this process."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        self.started[dataset_name] = time.perf_counter()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        self.seconds[dataset_name] = time.perf_counter() - self.started[dataset_name]


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                fit,
                ["params:depth", f"params:index_{i}"],
                [f"score_{i}", f"config_{i}", f"table_{i}"],
                name=f"fit_{i}",
            )
            for i in range(N_NODES)
        ]
    )


def _catalog(parallel: bool) -> DataCatalog:
    datasets: dict[str, Any] = {"params:depth": MemoryDataset(5)}
    for i in range(N_NODES):
        datasets[f"params:index_{i}"] = MemoryDataset(i)
        datasets[f"score_{i}"] = MLflowDataSet(dataset="m")
        datasets[f"config_{i}"] = MLflowDataSet(dataset="a")
        datasets[f"table_{i}"] = MLflowDataSet(dataset="csv")
    return SharedMemoryDataCatalog(datasets) if parallel else DataCatalog(datasets)


RUNNERS: dict[str, type[AbstractRunner]] = {
    "sequential": SequentialRunner,
    "thread": ThreadRunner,
    "parallel": ParallelRunner,
}


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_saves_do_not_wait_and_everything_lands(
    runner: str, mlflow_server: str
) -> None:
    from mlflow.tracking import MlflowClient

    timer = SaveTimer()
    experiment = f"slow-{runner}"
    with SlowProxy(mlflow_server, DELAY_S) as proxy:
        # The run's extras (pipeline.json, system metrics) are counted by
        # tests/integration/test_benchmark.py; here the values' batching is.
        hook = MLflowBasicLoggerHook(
            uri=proxy.url,
            experiment_name=experiment,
            log_pipeline_structure=False,
            log_system_metrics=False,
        )
        started = time.perf_counter()
        run_with_hooks(
            _pipeline(),
            _catalog(runner == "parallel"),
            (hook, timer),
            runner=RUNNERS[runner](),
        )
        total = time.perf_counter() - started
        requests = list(proxy.requests)

    if runner != "parallel":  # worker processes time their own saves
        assert len(timer.seconds) == 3 * N_NODES
        # Not one save waited for a request (each takes DELAY_S at least).
        assert max(timer.seconds.values()) < DELAY_S / 2, timer.seconds
    # The run's start and end wait for the server, so the run takes longer...
    assert total >= 2 * DELAY_S
    # ...but the 8 value saves, the start and the end share a few requests, and
    # each file goes up once.
    # (ParallelRunner: each worker process sends its own.)
    senders = 1 + (min(N_NODES, os.cpu_count() or 1) if runner == "parallel" else 0)
    assert requests.count("POST /api/2.0/mlflow/runs/log-batch") <= 2 + senders
    uploads = [r for r in requests if r.startswith("PUT /api/2.0/mlflow-artifacts/")]
    assert len(uploads) == N_NODES, requests

    client = MlflowClient(tracking_uri=mlflow_server)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    (run,) = client.search_runs([found.experiment_id])
    assert run.info.status == "FINISHED"
    for i in range(N_NODES):
        assert run.data.metrics[f"score_{i}"] == 0.5 + i
        assert run.data.metrics[f"config_{i}.depth"] == 5.0
        assert run.data.params[f"config_{i}.kind"] == "tree"
    listed = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    assert listed == sorted(f"table_{i}.csv" for i in range(N_NODES))
    assert "pipelinex_mlflow.unlogged" not in run.data.tags
