"""Ctrl-C, SIGTERM and SIGKILL during a node, with real `kedro run` processes.

Ctrl-C and SIGTERM: every hook's buffer is sent before the run is marked KILLED,
no temporary folder stays, and a second Ctrl-C exits at once. SIGKILL leaves a
RUNNING run, which the next `kedro run` or `kedro mlflow runs` marks FAILED, and
never the run of a process that still lives.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import pytest

from tests.reliability_project import (
    EXPERIMENT,
    generate,
    kedro,
    kedro_env,
    output_of,
    start_kedro,
    task_name,
)
from tests.slow_proxy import SlowProxy

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient


def _wait_for_line(project: Path, text: str, timeout: float = 120) -> None:
    log = project / "out.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    pytest.fail(f"{text!r} never appeared:\n{log.read_text(errors='replace')[-3000:]}")


def _runs(client: MlflowClient) -> list[Run]:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id]))


def _stop(process: subprocess.Popen[str], how: int) -> int:
    process.send_signal(how)
    return process.wait(timeout=60)


@pytest.mark.parametrize(
    "how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"]
)
def test_an_interrupted_run_sends_every_hooks_values_before_it_is_killed(
    tmp_path: Path, tracking_uri: str, client: MlflowClient, how: int
) -> None:
    project = generate(tmp_path / "project")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = kedro_env(
        tracking_uri, RELIABILITY_ACTIONS="step_2=sleep:120", TMPDIR=str(scratch)
    )
    process = start_kedro(project, "run", env=env)
    _wait_for_line(project, "Running node: step_2")
    started = time.monotonic()
    assert _stop(process, how) != 0
    assert time.monotonic() - started < 30
    (run,) = _runs(client)
    assert run.info.status == "KILLED"
    metrics = set(run.data.metrics)
    # Buffered by MLflowCatalogLoggerHook and MLflowTimeLoggerHook until the end.
    assert {
        "note_0",
        "note_1",
        f"_time_to_run {task_name(0)}",
        f"_time_to_run {task_name(1)}",
    } <= metrics
    assert {"score_0", "score_1", "__time"} <= metrics
    assert "note_2" not in metrics
    paths = {info.path for info in client.list_artifacts(run.info.run_id)}
    assert {"time_log.json", "report_0.json", "report_1.json"} <= paths
    assert not [p.name for p in scratch.iterdir() if "pipelinex_mlflow" in p.name]


def test_a_second_ctrl_c_exits_at_once(tmp_path: Path, mlflow_server: str) -> None:
    project = generate(tmp_path / "project")
    with SlowProxy(mlflow_server, delay=3.0) as proxy:
        env = kedro_env(proxy.url, RELIABILITY_ACTIONS="step_1=sleep:120")
        process = start_kedro(project, "run", env=env)
        _wait_for_line(project, "Running node: step_1", timeout=240)
        process.send_signal(signal.SIGINT)
        _wait_for_line(project, "Process exiting mid-run")
        started = time.monotonic()
        code = _stop(process, signal.SIGINT)
        elapsed = time.monotonic() - started
    assert code == 128 + signal.SIGINT
    assert elapsed < 3, elapsed
    assert "interrupted again" in (project / "out.log").read_text()


def test_a_sigkilled_run_is_marked_failed_later_but_a_live_one_never(
    tmp_path: Path, tracking_uri: str, client: MlflowClient
) -> None:
    project = generate(tmp_path / "project", steps=3)
    live = start_kedro(
        project,
        "run",
        env=kedro_env(tracking_uri, RELIABILITY_ACTIONS="step_1=sleep:120"),
    )
    try:
        _wait_for_line(project, "Running node: step_1")
        killed = kedro(
            project,
            "run",
            env=kedro_env(tracking_uri, RELIABILITY_ACTIONS="step_1=kill:self"),
        )
        assert killed.returncode == -signal.SIGKILL, output_of(killed)
        statuses = {r.info.run_id: r.info.status for r in _runs(client)}
        assert sorted(statuses.values()) == ["RUNNING", "RUNNING"]

        listed = kedro(project, "mlflow", "runs", env=kedro_env(tracking_uri))
        assert listed.returncode == 0, output_of(listed)
        (dead,) = [r for r in _runs(client) if r.info.status == "FAILED"]
        assert f"Marked {dead.info.run_id} FAILED" in listed.stdout
        assert "no longer exists" in dead.data.tags["pipelinex_mlflow.ended_because"]
        (alive,) = [r for r in _runs(client) if r.info.status == "RUNNING"]
        assert alive.info.run_id in listed.stdout
    finally:
        live.kill()
        live.wait(timeout=30)
    # The next run of the project finds the other one dead too.
    after = kedro(project, "run", env=kedro_env(tracking_uri))
    assert after.returncode == 0, output_of(after)
    statuses = {r.info.run_id: r.info.status for r in _runs(client)}
    assert statuses[alive.info.run_id] == "FAILED"
    assert sorted(statuses.values()) == ["FAILED", "FAILED", "FINISHED"]
