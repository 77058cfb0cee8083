"""``kedro mlflow`` commands, run in this process (click's runner) on a real project."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from pipelinex_mlflow.cli import commands
from pipelinex_mlflow.tracking import (
    PROCESS_TAG,
    SHARED_RUN_KEY_TAG,
    RunEnd,
    RunRef,
    ensure_experiment,
    start_run,
)
from pipelinex_mlflow.tracking.metric_point import MetricPoint
from pipelinex_mlflow.tracking.spool import Spooled, write_spool
from tests.reliability_project import EXPERIMENT, generate

if TYPE_CHECKING:
    from pathlib import Path

    from click.testing import Result
    from kedro.framework.startup import ProjectMetadata
    from mlflow.tracking import MlflowClient


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectMetadata:
    from kedro.framework.startup import bootstrap_project

    folder = generate(tmp_path / "project", steps=2)
    metadata = bootstrap_project(folder)
    monkeypatch.chdir(folder)
    return metadata


def _kedro_mlflow(metadata: ProjectMetadata | None, *args: str) -> Result:
    return CliRunner().invoke(commands, ["mlflow", *args], obj=metadata)


def test_replay_with_nothing_to_replay(project: ProjectMetadata) -> None:
    result = _kedro_mlflow(project, "replay")
    assert result.exit_code == 0, result.output
    assert "Nothing to replay" in result.output


def test_replay_sends_the_projects_spools_and_names_bad_files(
    project: ProjectMetadata, tracking_uri: str, client: MlflowClient, tmp_path: Path
) -> None:
    run = start_run(tracking_uri, "0")
    write_spool(
        run,
        Spooled(metrics=[MetricPoint("loss", 0.5, 0, 1)], end=RunEnd("FAILED", 2)),
        project.project_path / "mlflow_spool",
    )
    result = _kedro_mlflow(project, "replay")
    assert result.exit_code == 0, result.output
    assert f"into MLflow run {run.run_id}, ended it FAILED" in result.output
    assert client.get_run(run.run_id).info.status == "FAILED"

    bogus = tmp_path / "bogus.zip"
    bogus.write_text("not a zip")
    result = _kedro_mlflow(project, "replay", str(bogus))
    assert result.exit_code == 1
    assert "is not a readable pipelinex_mlflow spool file" in result.output


def test_replay_names_what_the_store_refused_and_does_not_retry_it(
    project: ProjectMetadata, tracking_uri: str, client: MlflowClient
) -> None:
    run = start_run(tracking_uri, "0")
    client.log_param(run.run_id, "lr", "0.1")  # the spool's 0.5 is refused for good
    write_spool(
        run,
        Spooled(params={"lr": "0.5"}, end=RunEnd("FINISHED", 2)),
        project.project_path / "mlflow_spool",
    )
    result = _kedro_mlflow(project, "replay")
    assert result.exit_code == 1, result.output
    assert f"into MLflow run {run.run_id}, ended it FINISHED" in result.output
    assert "1 value(s) were refused by the store" in result.output
    assert client.get_run(run.run_id).info.status == "FINISHED"
    again = _kedro_mlflow(project, "replay")
    assert again.exit_code == 0, again.output
    assert "Nothing to replay" in again.output


def test_replay_outside_a_project_needs_the_uri_to_send_to(
    tracking_uri: str, client: MlflowClient, tmp_path: Path
) -> None:
    run = start_run(tracking_uri, "0")
    path = write_spool(run, Spooled(params={"lr": "0.5"}), tmp_path / "spool")
    result = _kedro_mlflow(None, "replay", str(path))
    assert result.exit_code == 2, result.output
    assert "or pass --uri <uri>" in result.output
    assert client.get_run(run.run_id).data.params == {}
    sent = _kedro_mlflow(None, "replay", "--uri", tracking_uri, str(path))
    assert sent.exit_code == 0, sent.output
    assert client.get_run(run.run_id).data.params == {"lr": "0.5"}


def test_runs_before_the_first_run_says_how_to_start(project: ProjectMetadata) -> None:
    result = _kedro_mlflow(project, "runs")
    assert result.exit_code == 1
    assert f"Experiment {EXPERIMENT!r} does not exist" in result.output
    assert "`kedro run` creates it" in result.output


def test_runs_lists_running_runs_and_ends_dead_ones(
    project: ProjectMetadata, tracking_uri: str, client: MlflowClient
) -> None:
    experiment_id = ensure_experiment(tracking_uri, EXPERIMENT)
    gone = json.dumps(
        {
            "host": socket.gethostname(),
            "pid": 999_999_999,
            "boot": None,
            "started": None,
        }
    )
    dead = start_run(tracking_uri, experiment_id, tags={PROCESS_TAG: gone})
    shared = start_run(
        tracking_uri, experiment_id, tags={SHARED_RUN_KEY_TAG: "dag-1"}, run_name="dag"
    )
    write_spool(dead, Spooled(tags={"a": "b"}), project.project_path / "mlflow_spool")
    result = _kedro_mlflow(project, "runs", "--running")
    assert result.exit_code == 0, result.output
    assert f"Marked {dead.run_id} FAILED" in result.output
    assert f"{shared.run_id}  RUNNING" in result.output
    assert "shared by dag-1" in result.output
    assert dead.run_id not in result.output.split("FAILED:")[-1]
    assert "1 spool file(s) wait" in result.output
    because = client.get_run(dead.run_id).data.tags["pipelinex_mlflow.ended_because"]
    assert "holds what it could not send: replay it" in because
    listed = _kedro_mlflow(project, "runs")
    assert f"{dead.run_id}  FAILED" in listed.output


def test_runs_shows_the_recent_runs_as_a_table(
    project: ProjectMetadata, client: MlflowClient
) -> None:
    """What `kedro run` logged, checked without a browser."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.reliability_project import kedro_env

    kedro = Path(sys.executable).with_name("kedro")
    done = subprocess.run(
        [str(kedro), "run"],
        cwd=project.project_path,
        env=kedro_env(client.tracking_uri, RELIABILITY_PAUSE_S="0"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = _kedro_mlflow(project, "runs", "--limit", "5")
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()[:2]
    assert header.split() == [
        "RUN",
        "ID",
        "STATUS",
        "START",
        "(UTC)",
        "DURATION",
        "NAME",
        "PIPELINE",
        "METRICS",
    ]
    (run,) = client.search_runs(
        [client.get_experiment_by_name(EXPERIMENT).experiment_id]
    )
    assert row.startswith(f"{run.info.run_id}  FINISHED  ")
    assert "__default__" in row
    assert "score_0=" in row  # the first metrics, timings left out
    assert "__time" not in row


def test_end_run_ends_a_shared_run_with_its_times(
    project: ProjectMetadata, tracking_uri: str, client: MlflowClient
) -> None:
    experiment_id = ensure_experiment(tracking_uri, EXPERIMENT)
    shared = start_run(tracking_uri, experiment_id, tags={SHARED_RUN_KEY_TAG: "dag-2"})
    result = _kedro_mlflow(
        project, "end-run", "--status", "FINISHED", "--run-key", "dag-2"
    )
    assert result.exit_code == 0, result.output
    ended = client.get_run(shared.run_id)
    assert ended.info.status == "FINISHED"
    assert {"__time", "__time_end"} <= set(ended.data.metrics)
    by_id = _kedro_mlflow(
        project, "end-run", "--status", "FAILED", "--run-id", shared.run_id
    )
    assert by_id.exit_code == 0, by_id.output
    assert client.get_run(shared.run_id).info.status == "FAILED"


def test_end_run_needs_a_run(
    project: ProjectMetadata, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIPELINEX_MLFLOW_RUN_KEY", raising=False)
    result = _kedro_mlflow(project, "end-run", "--status", "FINISHED")
    assert result.exit_code == 2
    assert "--run-key" in result.output
    missing = _kedro_mlflow(
        project, "end-run", "--status", "KILLED", "--run-key", "nope"
    )
    assert missing.exit_code == 1
    assert "No MLflow run is shared by the steps of 'nope'" in missing.output


def test_outside_a_project_it_says_where_to_run() -> None:
    result = _kedro_mlflow(None, "runs")
    assert result.exit_code == 2
    assert "inside a Kedro project" in result.output


def test_a_shared_run_is_found_or_created_once(tracking_uri: str) -> None:
    from pipelinex_mlflow.tracking import open_shared_run

    first, experiment_id, created = open_shared_run(
        tracking_uri, experiment_name="orchestrated", key="dag-3"
    )
    again, _, created_again = open_shared_run(
        tracking_uri, experiment_name="orchestrated", key="dag-3"
    )
    assert (created, created_again) == (True, False)
    assert again == first
    assert isinstance(first, RunRef)
    assert experiment_id == ensure_experiment(tracking_uri, "orchestrated")


def test_an_ended_shared_run_is_reopened_and_bad_keys_are_refused(
    tracking_uri: str, client: MlflowClient
) -> None:
    from pipelinex_mlflow.tracking import TrackingError, check_run_key, open_shared_run

    run, _, _ = open_shared_run(
        tracking_uri, experiment_name="orchestrated", key="dag-4"
    )
    client.set_terminated(run.run_id, "FINISHED")
    again, _, created = open_shared_run(
        tracking_uri, experiment_name="orchestrated", key="dag-4"
    )
    assert (again, created) == (run, False)
    assert client.get_run(run.run_id).info.status == "RUNNING"
    with pytest.raises(TrackingError, match="cannot name a shared run"):
        check_run_key("it's; DROP TABLE runs")


def test_ui_starts_the_mlflow_ui_on_a_sqlite_store_and_stops_with_its_group(
    project: ProjectMetadata, tracking_uri: str
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from tests.conftest import _free_port
    from tests.reliability_project import kedro_env

    experiment_id = ensure_experiment(tracking_uri, EXPERIMENT)
    port = _free_port()
    kedro = Path(sys.executable).with_name("kedro")
    log = project.project_path / "ui.log"
    with log.open("w") as out:
        ui = subprocess.Popen(
            [str(kedro), "mlflow", "ui", "--port", str(port), "--no-browser"],
            cwd=project.project_path,
            env=kedro_env(tracking_uri),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert ui.poll() is None, log.read_text()
            try:
                url = f"{base}/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name={EXPERIMENT}"
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                    found = json.load(response)
                break
            except OSError:
                assert time.monotonic() < deadline, "the UI did not answer in 90 s"
                time.sleep(0.5)
        # The UI reads the project's store: it knows the project's experiment.
        assert found["experiment"]["experiment_id"] == experiment_id
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)
    assert f"{base}/#/experiments/{experiment_id}" in log.read_text()
    gone_by = time.monotonic() + 30
    while _group_alive(ui.pid):  # the mlflow server and its workers stop too
        assert time.monotonic() < gone_by, "the UI's process group outlived SIGTERM"
        time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    import os

    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ui_of_a_tracking_server_prints_its_experiment_url(
    project: ProjectMetadata, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment_id = ensure_experiment(mlflow_server, EXPERIMENT)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("BROWSER", "true")  # `true <url>`: a browser that opens nothing
    result = _kedro_mlflow(project, "ui")
    assert result.exit_code == 0, result.output
    assert f"{mlflow_server}/#/experiments/{experiment_id}" in result.output
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    unreachable = _kedro_mlflow(project, "ui", "--no-browser")
    assert unreachable.exit_code == 0, unreachable.output
    assert "http://127.0.0.1:9/" in unreachable.output
    assert "Warning:" in unreachable.output


def test_the_alias_is_reachable_and_unlisted_without_kedro_mlflow() -> None:
    """``kedro pipelinex-mlflow`` is ``kedro mlflow``; listed only beside kedro-mlflow."""
    from pipelinex_mlflow.cli import ALIAS

    listed = CliRunner().invoke(commands, ["--help"])
    aliased = CliRunner().invoke(commands, [ALIAS, "--help"])

    assert ALIAS not in listed.output, listed.output
    assert aliased.exit_code == 0, aliased.output
    for command in ("end-run", "init", "modelify", "replay", "runs", "ui"):
        assert f"  {command} " in aliased.output, aliased.output
