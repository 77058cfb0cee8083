"""Ctrl-C, SIGTERM and SIGKILL during a node, with real `kedro run` processes.

Ctrl-C and SIGTERM: every hook's buffer is sent before the run is marked KILLED,
no temporary folder stays, and a second Ctrl-C exits at once. Wherever the
signal lands (a node, a save, another hook's ``after_node_run``) and whatever the
runner, every node that finished has its timing, and the run its trace, with
the nodes it interrupted marked so. SIGKILL leaves a RUNNING run, which the next
`kedro run` or `kedro mlflow runs` marks FAILED, and never the run of a process
that still lives.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from tests import interruption_project
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


def _tracked_run_id(log: str) -> str:
    """The MLflow run a ``kedro run`` said it tracks, from its log."""
    (run_id,) = re.findall(r"Tracking this Kedro run as MLflow run (\w+)", log)
    return run_id


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
    assert _stop(process, how) != 0
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
        sent_before = len(proxy.requests)
        code = _stop(process, signal.SIGINT)  # its timeout is the hang guard
        # "At once": the process did not wait for what the first Ctrl-C was
        # sending (each request takes 3 s through the proxy), so the run's end
        # was never sent and the run is still RUNNING.
        ended = [r for r in proxy.requests[sent_before:] if r.endswith("/runs/update")]
    assert code == 128 + signal.SIGINT
    log = (project / "out.log").read_text()
    assert "interrupted again" in log
    assert ended == [], proxy.requests
    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri=mlflow_server).get_run(_tracked_run_id(log))
    assert run.info.status == "RUNNING"


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


class Interruption(NamedTuple):
    """Where a run of ``tests/interruption_project.py`` is interrupted, and how."""

    pause: str  # INTERRUPTION_ACTIONS: pauses "Pausing at <place>" logs first
    finished: tuple[str, ...]  # the nodes whose timing must land
    interrupted: tuple[str, ...] = ()  # the nodes whose span is interrupted
    runner: tuple[str, ...] = ()
    how: int = signal.SIGINT
    # A terminal's Ctrl-C signals the whole process group: ParallelRunner's
    # workers too. Otherwise only `kedro run` gets the signal.
    group: bool = False
    mp_context: str = "fork"


_PARALLEL = ("--runner", "ParallelRunner")
INTERRUPTIONS = {
    "sequential, in a node": Interruption("slow=60", ("first",), ("slow",)),
    "sequential, in another hook's after_node_run": Interruption(
        "after:first=60", ("first",)
    ),
    "sequential, SIGTERM in another hook's after_node_run": Interruption(
        "after:first=60", ("first",), how=signal.SIGTERM
    ),
    "sequential, in a save": Interruption("save:a=60", ("first",)),
    "sequential, in another hook's after_pipeline_run": Interruption(
        "after:pipeline=60", interruption_project.NODES
    ),
    "async, in a node": Interruption(
        "slow=60", ("first",), ("slow",), runner=("--async",)
    ),
    # ThreadRunner and ParallelRunner wait for the nodes running (Kedro's
    # executors are left with shutdown(wait=True)): they finish, and count.
    "thread, in a node": Interruption(
        "slow=2", ("first", "slow"), runner=("--runner", "ThreadRunner")
    ),
    "parallel, in a node": Interruption("slow=2", ("first", "slow"), runner=_PARALLEL),
    "parallel, Ctrl-C in a terminal, in a node": Interruption(
        "slow=60", ("first",), ("slow",), runner=_PARALLEL, group=True
    ),
    "parallel, Ctrl-C in a terminal, in another hook's after_node_run": Interruption(
        "after:first=60", ("first",), runner=_PARALLEL, group=True
    ),
    "parallel spawn, Ctrl-C in a terminal, in a node": Interruption(
        "slow=60",
        ("first",),
        ("slow",),
        runner=_PARALLEL,
        group=True,
        mp_context="spawn",
    ),
}


def _interrupt(
    project: Path, tracking_uri: str, case: Interruption
) -> subprocess.Popen[str]:
    """Run ``kedro run`` until it pauses where ``case`` says, then signal it."""
    env = kedro_env(
        tracking_uri,
        INTERRUPTION_ACTIONS=case.pause,
        KEDRO_MP_CONTEXT=case.mp_context,
    )
    with (project / "out.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", *case.runner],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:
        place = case.pause.partition("=")[0]
        _wait_for_line(project, f"Pausing at {place}")
        if case.group:
            os.killpg(process.pid, case.how)
        else:
            process.send_signal(case.how)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process


@pytest.mark.parametrize("case", INTERRUPTIONS.values(), ids=list(INTERRUPTIONS))
def test_an_interrupted_run_keeps_every_finished_nodes_timing_and_its_trace(
    tmp_path: Path, tracking_uri: str, client: MlflowClient, case: Interruption
) -> None:
    project = interruption_project.generate(tmp_path / "project")
    process = _interrupt(project, tracking_uri, case)
    output = (project / "out.log").read_text(errors="replace")
    assert process.returncode != 0, output
    experiment = client.get_experiment_by_name(interruption_project.EXPERIMENT)
    assert experiment is not None, output
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "KILLED", output
    assert "could not" not in output

    metrics = run.data.metrics
    timed = {
        name
        for name in interruption_project.NODES
        if f"_time_to_run {interruption_project.task_name(name)}" in metrics
    }
    assert timed == set(case.finished), output
    for name in case.finished:
        seconds = metrics[f"_time_to_run {interruption_project.task_name(name)}"]
        place, _, seconds_paused = case.pause.partition("=")
        pause = float(seconds_paused) if place == name else 0.0
        assert pause <= seconds < pause + 5, (name, seconds)

    (found,) = client.search_traces(
        locations=[experiment.experiment_id], run_id=run.info.run_id
    )
    trace = client.get_trace(found.info.trace_id)
    assert trace.info.state == "ERROR"
    spans = {span.name: span for span in trace.data.spans}
    assert spans["kedro run __default__"].status.description.startswith("interrupted")
    nodes = {n for n in interruption_project.NODES if n in spans}
    assert nodes == set(case.finished) | set(case.interrupted)
    for name in case.finished:
        assert spans[name].attributes["kedro.status"] == "completed"
        assert spans[name].status.status_code == "OK"
    for name in case.interrupted:
        assert spans[name].attributes["kedro.status"] == "interrupted"
        assert spans[name].status.status_code == "ERROR"
    if case.pause.startswith("save:a"):
        assert spans["save a"].attributes["kedro.status"] == "interrupted"

    local = client.download_artifacts(run.info.run_id, "time_log.json", tmp_path)
    logged = json.loads(Path(local).read_text(encoding="utf-8"))["nodes"]
    assert {entry["node"]: entry["status"] for entry in logged} == {
        **dict.fromkeys(case.finished, "completed"),
        **dict.fromkeys(case.interrupted, "interrupted"),
    }
