"""What one flush costs over HTTP, counted in a real `mlflow server`'s access log."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import RunLogger, RunRef

if TYPE_CHECKING:
    from tests.conftest import MlflowServer

pytestmark = pytest.mark.server

LOG_BATCH = "POST /api/2.0/mlflow/runs/log-batch"


@pytest.fixture
def server_run(mlflow_server_process: MlflowServer) -> RunRef:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server_process.url)
    experiment_id = client.create_experiment(f"requests-{id(client)}")
    run_id = client.create_run(experiment_id).info.run_id
    return RunRef(mlflow_server_process.url, run_id)


def _landed(run: RunRef) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    from mlflow.tracking import MlflowClient

    data = MlflowClient(tracking_uri=run.tracking_uri).get_run(run.run_id).data
    return data.params, data.metrics, data.tags


def _flush_and_count(server: MlflowServer, logger: RunLogger) -> tuple[list[str], int]:
    offset = server.log_offset()
    logger.flush(wait=True)
    requests = server.requests_since(offset)
    return requests, requests.count(LOG_BATCH)


def test_one_flush_of_a_thousand_values_is_one_request(
    mlflow_server_process: MlflowServer, server_run: RunRef
) -> None:
    logger = RunLogger(server_run)
    logger.log_params({f"p{i}": i for i in range(100)})
    logger.log_metrics({f"m{i}": i for i in range(890)})
    logger.set_tags({f"t{i}": i for i in range(10)})
    requests, batches = _flush_and_count(mlflow_server_process, logger)
    assert requests == [LOG_BATCH]
    assert batches == 1
    params, metrics, tags = _landed(server_run)
    assert (len(params), len(metrics)) == (100, 890)
    assert {f"t{i}" for i in range(10)} <= set(tags)


def test_thousands_of_values_go_through_chunked_batches(
    mlflow_server_process: MlflowServer, server_run: RunRef
) -> None:
    logger = RunLogger(server_run)
    logger.log_params({f"p{i}": i for i in range(250)})
    logger.log_metrics({f"m{i}": i for i in range(2500)})
    requests, batches = _flush_and_count(mlflow_server_process, logger)
    # MLflow's limits: 100 params and 1000 entities per request, so 2750 values
    # need 3 requests at least, and the client packs them into exactly 3.
    assert requests == [LOG_BATCH] * 3
    assert batches == 3
    params, metrics, _ = _landed(server_run)
    assert (len(params), len(metrics)) == (250, 2500)


def test_an_empty_flush_sends_nothing(
    mlflow_server_process: MlflowServer, server_run: RunRef
) -> None:
    requests, _ = _flush_and_count(mlflow_server_process, RunLogger(server_run))
    assert requests == []
