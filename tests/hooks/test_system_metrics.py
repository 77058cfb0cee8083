"""MLflow's system metrics, sampled during the run and sent through the run's sender."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow import MLflowBasicLoggerHook
from tests.hooks._pipeline import EXPERIMENT, only_run, run

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

SYSTEM_METRICS = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/disk_usage_percentage",
    "system/network_receive_megabytes",
}


def test_a_short_run_still_gets_one_point_of_each(client: MlflowClient) -> None:
    run((MLflowBasicLoggerHook(experiment_name=EXPERIMENT),))
    logged = only_run(client)
    assert set(logged.data.metrics) >= SYSTEM_METRICS
    history = client.get_metric_history(
        logged.info.run_id, "system/cpu_utilization_percentage"
    )
    assert [m.step for m in history] == [0]


def test_samples_are_averaged_into_points_while_the_run_runs(
    client: MlflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    monkeypatch.setattr("tests.hooks._pipeline.PAUSE_S", 0.6)
    hook = MLflowBasicLoggerHook(
        experiment_name=EXPERIMENT, system_metrics_interval=0.2
    )
    run((hook,))
    history = client.get_metric_history(
        only_run(client).info.run_id, "system/system_memory_usage_megabytes"
    )
    steps = [m.step for m in history]
    assert steps == list(range(len(steps)))
    assert len(steps) >= 3


def test_system_metrics_can_be_switched_off(client: MlflowClient) -> None:
    run((MLflowBasicLoggerHook(experiment_name=EXPERIMENT, log_system_metrics=False),))
    assert not [k for k in only_run(client).data.metrics if k.startswith("system/")]
