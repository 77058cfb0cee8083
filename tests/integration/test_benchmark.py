"""The side-by-side benchmark runs, and the request count the README states holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import MlflowServer

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from bench_projects import bench, table  # noqa: E402
from project_generator import EXPERIMENT, Size, generate  # noqa: E402

#: pipeline.json and pipeline.svg, uploaded with every run.
STRUCTURE_ARTIFACTS = 2
#: The README's claim for the default-size project over HTTP: at most 10 requests
#: plus one per artifact (5, and the 2 of the pipeline's structure), measured at 15.
MAX_REQUESTS_DEFAULT_SIZE = 10 + Size.times(1).artifacts + STRUCTURE_ARTIFACTS


def test_the_benchmark_runs_and_checks_what_landed() -> None:
    results = bench(
        sizes=[1],
        stores=["sqlite"],
        tools=["untracked", "pipelinex_mlflow"],
        repeat=1,
        pythons={},
    )
    tracked = results[(1, "sqlite", "pipelinex_mlflow")]
    assert tracked.landed == (
        # 24 metric keys of the project's, 8 system metrics; 5 artifacts, 2 structure.
        "FINISHED, 102 params, 32 metric keys, 500 history points, 7 artifacts"
    )
    assert "| 1x | sqlite | pipelinex_mlflow |" in table(results)


@pytest.mark.server
def test_default_size_project_requests_over_http(
    mlflow_server_process: MlflowServer, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    project = generate(tmp_path / "project", "pipelinex_mlflow", size=1)
    offset = mlflow_server_process.log_offset()
    subprocess.run(
        [sys.executable, "-m", "kedro", "run"],
        cwd=project,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": mlflow_server_process.url,
            "KEDRO_DISABLE_TELEMETRY": "1",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        },
        check=True,
        capture_output=True,
        timeout=600,
    )
    requests = mlflow_server_process.requests_since(offset)
    assert len(requests) <= MAX_REQUESTS_DEFAULT_SIZE, requests
    uploads = [r for r in requests if r.startswith("PUT /api/2.0/mlflow-artifacts/")]
    assert len(uploads) == 5 + STRUCTURE_ARTIFACTS, requests
    client = MlflowClient(tracking_uri=mlflow_server_process.url)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert len(run.data.params) == 102
    assert len(client.get_metric_history(run.info.run_id, "loss_history")) == 500
