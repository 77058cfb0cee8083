"""A value MLflow refuses costs only that value, on SQLite and on a real server.

Text that is not valid UTF-8 (a lone surrogate) is sent with a replacement
character rather than refused; a value the store still refuses is dropped alone,
named in the report and in the run's ``pipelinex_mlflow.unlogged`` tag.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import RunEnd, RunLogger, RunRef
from pipelinex_mlflow.tracking.metric_point import MetricPoint
from pipelinex_mlflow.tracking.sender import UNLOGGED_TAG, RunSender

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from tests.conftest import MlflowServer

LONE_SURROGATE = "\ud800"
#: A metric key MLflow refuses: it would climb out of the run's folder.
REFUSED_KEY = "a/../b"


@pytest.fixture
def server_run(mlflow_server_process: MlflowServer) -> RunRef:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server_process.url)
    experiment_id = client.create_experiment(f"refusals-{time.time_ns()}")
    return RunRef(
        mlflow_server_process.url, client.create_run(experiment_id).info.run_id
    )


def _client(run: RunRef) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=run.tracking_uri)


def _send_and_end(run: RunRef, **values: object) -> object:
    sender = RunSender(run)
    sender.submit(
        params=values.get("params", {}),  # type: ignore[arg-type]
        metrics=values.get("metrics", []),  # type: ignore[arg-type]
        tags=values.get("tags", {}),  # type: ignore[arg-type]
    )
    return sender.close(time.monotonic() + 60, RunEnd.now("FINISHED"))


@pytest.mark.parametrize("where", ["sqlite", "server"])
def test_a_lone_surrogate_is_sent_with_a_replacement_character(
    where: str, run: RunRef, request: pytest.FixtureRequest
) -> None:
    if where == "server":
        run = request.getfixturevalue("server_run")
    run_logger = RunLogger(run)
    run_logger.log_params({f"p{i}": f"value {i}" for i in range(90)})
    run_logger.log_params({"text": f"caf{LONE_SURROGATE}e"})
    run_logger.log_metrics({f"m{i}": float(i) for i in range(200)})
    run_logger.set_tags({"note": f"{LONE_SURROGATE} alone"})
    run_logger.flush(wait=True)  # raises if anything was lost
    data = _client(run).get_run(run.run_id).data
    assert data.params["text"] == "caf\ufffde"
    assert data.tags["note"] == "\ufffd alone"
    assert len(data.metrics) == 200
    assert len(data.params) == 91
    assert UNLOGGED_TAG not in data.tags


def test_a_key_mlflow_refuses_costs_only_its_value(run: RunRef) -> None:
    report = _send_and_end(
        run,
        params={"lr": "0.5"},
        tags={f"key{LONE_SURROGATE}": "x", "team": "a"},
        metrics=[MetricPoint("loss", 0.5, 0, 1)],
    )
    assert report.lost_values == 1, report  # type: ignore[attr-defined]
    assert "key\ufffd" in report.summary()  # type: ignore[attr-defined]
    data = _client(run).get_run(run.run_id).data
    assert (data.params, data.metrics, data.tags["team"]) == (
        {"lr": "0.5"},
        {"loss": 0.5},
        "a",
    )


@pytest.mark.parametrize("where", ["sqlite", "server"])
def test_a_refused_metric_costs_only_itself_and_is_named(
    where: str, run: RunRef, request: pytest.FixtureRequest
) -> None:
    if where == "server":
        run = request.getfixturevalue("server_run")
    metrics = [MetricPoint(f"m{i}", float(i), 0, 1_700_000_000_000) for i in range(300)]
    metrics.insert(150, MetricPoint(REFUSED_KEY, 1.0, 0, 1_700_000_000_000))
    report = _send_and_end(
        run, params={"lr": "0.5"}, metrics=metrics, tags={"team": "a"}
    )
    assert report.lost_values == 1, report  # type: ignore[attr-defined]
    assert REFUSED_KEY in report.summary()  # type: ignore[attr-defined]
    run_data = _client(run).get_run(run.run_id)
    data = run_data.data
    assert len(data.metrics) == 300
    assert data.params == {"lr": "0.5"}
    assert data.tags["team"] == "a"
    assert REFUSED_KEY in data.tags[UNLOGGED_TAG]
    assert "1 value(s)" in data.tags[UNLOGGED_TAG]
    assert run_data.info.status == "FINISHED"


def test_a_param_the_run_holds_with_another_value_costs_only_itself(
    run: RunRef, client: MlflowClient
) -> None:
    client.log_param(run.run_id, "depth", "3")
    params = {f"p{i}": str(i) for i in range(50)} | {"depth": "4"}
    report = _send_and_end(run, params=params, metrics=[MetricPoint("loss", 0.5, 0, 1)])
    assert report.lost_values == 1, report  # type: ignore[attr-defined]
    assert "depth" in report.summary()  # type: ignore[attr-defined]
    data = client.get_run(run.run_id).data
    assert data.params["depth"] == "3"
    assert len(data.params) == 51
    assert data.metrics == {"loss": 0.5}
