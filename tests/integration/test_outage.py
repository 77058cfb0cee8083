"""A tracking server lost mid-run: the run does not wait for it, no values are lost.

Each test runs the reliability project (``tests/reliability_project.py``) with
``kedro run`` against its own `mlflow server` on 127.0.0.1, which a node SIGKILLs.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from tests.conftest import ServerProcess
from tests.reliability_project import (
    PLAIN_LOGGING,
    generate,
    kedro,
    kedro_env,
    output_of,
    task_name,
)

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.tracking import MlflowClient

STEPS = 6


def _client(url: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url)


def _expected_metrics(steps: int = STEPS) -> set[str]:
    names = {"__time", "__time_begin", "__time_end"}
    for i in range(steps):
        names |= {f"score_{i}", f"note_{i}", f"_time_to_run {task_name(i)}"}
    return names


def _artifacts(client: MlflowClient, run_id: str) -> set[str]:
    return {info.path for info in client.list_artifacts(run_id)}


def _assert_complete(client: MlflowClient, run_id: str, steps: int = STEPS) -> None:
    """Every value and artifact of the run landed, each metric exactly once."""
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert _expected_metrics(steps) <= set(run.data.metrics)
    assert {"lr", "model.depth", "__time_begin", "__time_end"} <= set(run.data.params)
    for key in _expected_metrics(steps):
        assert len(client.get_metric_history(run_id, key)) == 1, key
    assert {f"report_{i}.json" for i in range(steps)} | {
        "time_log.json",
        "gantt.html",
    } <= _artifacts(client, run_id)


def test_a_dead_server_is_not_waited_for_and_replay_sends_everything_once(
    tmp_path: Path, server: ServerProcess
) -> None:
    project = generate(tmp_path / "project", steps=STEPS)
    env = kedro_env(server.url)
    normal = kedro(project, "run", env=env)
    assert normal.returncode == 0, output_of(normal)

    assert server.process is not None
    (project / "logging.yml").write_text(PLAIN_LOGGING)
    # An hour to send what is left: only noticing that the server is gone (not
    # slow) ends the run, and a run that waited for it instead would outlast
    # kedro()'s timeout. The seconds this costs are not asserted (a loaded
    # machine stretches them); what the run did with the dead server is.
    killing = kedro_env(
        server.url,
        RELIABILITY_ACTIONS=f"step_3=killpg:{server.process.pid}",
        RELIABILITY_FLUSH_TIMEOUT="3600",
        KEDRO_LOGGING_CONFIG=str(project / "logging.yml"),  # whole lines
    )
    outage = kedro(project, "run", env=killing)
    assert outage.returncode == 0, output_of(outage)
    (spool,) = (project / "mlflow_spool").glob("*.zip")
    run_id = spool.stem
    # The end gave up on the server and kept the run's end for the replay.
    (kept,) = [
        line
        for line in output_of(outage).splitlines()
        if f"MLflow run {run_id}: the tracking store" in line
    ]
    assert "and the run's end in time" in kept, kept
    assert "kedro mlflow replay" in kept

    server.start()
    client = _client(server.url)
    assert client.get_run(run_id).info.status == "RUNNING"
    replayed = kedro(project, "mlflow", "replay", env=env)
    assert replayed.returncode == 0, output_of(replayed)
    assert f"into MLflow run {run_id}, ended it FINISHED" in replayed.stdout
    _assert_complete(client, run_id)

    # Twice adds nothing: nothing left to replay, and the replayed file again
    # changes no history.
    again = kedro(project, "mlflow", "replay", env=env)
    assert again.returncode == 0, output_of(again)
    assert "Nothing to replay" in again.stdout
    (done,) = (project / "mlflow_spool").glob("*.replayed.zip")
    explicit = kedro(project, "mlflow", "replay", str(done), env=env)
    assert explicit.returncode == 0, output_of(explicit)
    _assert_complete(client, run_id)


def test_a_server_back_after_seconds_loses_nothing(
    tmp_path: Path, server: ServerProcess
) -> None:
    project = generate(tmp_path / "project", steps=STEPS)
    assert server.process is not None
    # step_1 waits until the server is back, as a longer pipeline would.
    env = kedro_env(
        server.url,
        RELIABILITY_ACTIONS=f"step_0=killpg:{server.process.pid};"
        f"step_1=await:{server.url}",
    )
    killed = server.process

    def restart_after_the_kill() -> None:
        killed.wait(timeout=120)
        time.sleep(2)
        server.start()

    restarter = threading.Thread(target=restart_after_the_kill)
    restarter.start()
    result = kedro(project, "run", env=env)
    restarter.join()
    assert result.returncode == 0, output_of(result)
    assert not list(project.glob("mlflow_spool/*.zip")), output_of(result)
    client = _client(server.url)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("reliability").experiment_id]
    )
    _assert_complete(client, run.info.run_id)
