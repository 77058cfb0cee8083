"""Orchestrated steps: each node group its own `kedro run --nodes` process, one run.

As an Airflow DAG of three ``kedro run --nodes`` tasks and a last task that ends
the run: ``PIPELINEX_MLFLOW_RUN_KEY`` (the DAG run's id) carries the run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.reliability_project import (
    EXPERIMENT,
    generate,
    kedro,
    kedro_env,
    output_of,
    task_name,
)

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.tracking import MlflowClient

DAG_RUN = "manual__2026-12-02T01:00:00+00:00"


def test_three_steps_log_into_one_run_that_the_orchestrator_ends(
    tmp_path: Path, tracking_uri: str, client: MlflowClient
) -> None:
    project = generate(tmp_path / "project", steps=3)
    env = kedro_env(tracking_uri, PIPELINEX_MLFLOW_RUN_KEY=DAG_RUN)
    for step in ("step_0", "step_1", "step_2"):
        done = kedro(project, "run", "--nodes", step, env=env)
        assert done.returncode == 0, output_of(done)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "RUNNING"

    ended = kedro(project, "mlflow", "end-run", "--status", "FINISHED", env=env)
    assert ended.returncode == 0, output_of(ended)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    data = run.data
    assert {"start", "lr", "model.depth", "__time_begin", "__time_end"} <= set(
        data.params
    )
    # Parameters once: no step found another value for one.
    assert not [t for t in data.tags if t.startswith("pipelinex_mlflow.changed_param")]
    for i in range(3):
        assert {f"score_{i}", f"note_{i}", f"_time_to_run {task_name(i)}"} <= set(
            data.metrics
        )
        assert len(client.get_metric_history(run.info.run_id, f"score_{i}")) == 1
    assert "__time" in data.metrics
    # The timeline covers every step's process.
    local = client.download_artifacts(run.info.run_id, "time_log.json", str(tmp_path))
    nodes = json.loads((tmp_path / "time_log.json").read_text())["nodes"]
    assert local
    assert sorted(n["node"] for n in nodes) == ["step_0", "step_1", "step_2"]
    assert len({n["pid"] for n in nodes}) == 3
    client.download_artifacts(run.info.run_id, "gantt.html", str(tmp_path))
    gantt = (tmp_path / "gantt.html").read_text()
    assert all(task_name(i) in gantt for i in range(3))


def test_end_run_without_a_shared_run_says_so(
    tmp_path: Path, tracking_uri: str
) -> None:
    project = generate(tmp_path / "project", steps=1)
    env = kedro_env(tracking_uri, PIPELINEX_MLFLOW_RUN_KEY="no-such-dag-run")
    assert kedro(project, "run", env=kedro_env(tracking_uri)).returncode == 0
    ended = kedro(project, "mlflow", "end-run", "--status", "FAILED", env=env)
    assert ended.returncode == 1
    assert "No MLflow run is shared by the steps of 'no-such-dag-run'" in ended.stderr
