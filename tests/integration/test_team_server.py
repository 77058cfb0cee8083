"""A team's server: `mlflow server` backed by PostgreSQL, shared by concurrent runs.

The session's PostgreSQL and its server are started once (``conftest.py`` here);
each test uses its own experiment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import ThreadRunner

from pipelinex_mlflow import (
    MLflowBasicLoggerHook,
    MLflowDataSet,
    MLflowTimeLoggerHook,
)
from pipelinex_mlflow.tracking import (
    UNLOGGED_TAG,
    RunRef,
    end_run,
    open_run,
    set_current_run,
)
from tests._kedro import artifact_paths, run_with_hooks
from tests.slow_proxy import SlowProxy

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    from tests.integration.conftest import TeamServer

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from project_generator import Size, generate  # noqa: E402

pytestmark = pytest.mark.server

#: The generated project at its default size (``benchmarks/project_generator.py``).
SIZE = Size.times(1)
NODES = [f"work_{i}" for i in range(SIZE.nodes)]
NODES += ["history"] + [f"report_{j}" for j in range(SIZE.artifacts)]
#: Their timings' names, PipelineX's "<function> -- <outputs>".
TASKS = [f"work -- metric_{i}" for i in range(SIZE.nodes)]
TASKS += ["history -- loss_history"] + [
    f"report -- report_{j}" for j in range(SIZE.artifacts)
]
_STATUS = re.compile(r'"(?:GET|POST|PUT|PATCH|DELETE) \S+ HTTP/1\.1" (\d{3})')


def _fit(depth: int) -> tuple[float, list[float], str, dict[str, object], pd.DataFrame]:
    return (
        depth / 10,
        [1.0, 0.5, 0.25],
        f"tree-{depth}",
        {"depth": depth, "kind": "tree"},
        pd.DataFrame({"y": [1.0, 2.0]}),
    )


def _server_errors(team_server: TeamServer, offset: int) -> list[str]:
    """Access-log lines after ``offset`` that the server answered with a 5xx."""
    with team_server.server.log.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode("utf-8", "replace").splitlines()
    return [
        line
        for line in lines
        if (status := _STATUS.search(line)) and status.group(1).startswith("5")
    ]


def _rows_in_postgres(team_server: TeamServer, run_id: str) -> tuple[str, int, int]:
    """The run's status and its metric and param row counts, read with SQL.

    Proves the server really stored the run in PostgreSQL, not somewhere else.
    """
    import psycopg

    with psycopg.connect(team_server.postgres.conninfo) as connection:
        status = connection.execute(
            "SELECT status FROM runs WHERE run_uuid = %s", (run_id,)
        ).fetchone()
        metrics = connection.execute(
            "SELECT count(*) FROM latest_metrics WHERE run_uuid = %s", (run_id,)
        ).fetchone()
        params = connection.execute(
            "SELECT count(*) FROM params WHERE run_uuid = %s", (run_id,)
        ).fetchone()
    assert status is not None, f"run {run_id} is not in PostgreSQL"
    assert metrics is not None
    assert params is not None
    return str(status[0]), int(metrics[0]), int(params[0])


def test_round_trip_through_a_postgres_backed_server(team_server: TeamServer) -> None:
    from mlflow.tracking import MlflowClient

    offset = team_server.server.log_offset()
    pipeline = Pipeline(
        [
            node(
                _fit,
                "params:depth",
                ["score", "losses", "model_name", "config", "pred_df"],
                name="fit",
            )
        ]
    )
    catalog = DataCatalog(
        {
            "params:depth": MemoryDataset(5),
            "score": MLflowDataSet(dataset="m"),
            "losses": MLflowDataSet(dataset="m"),
            "model_name": MLflowDataSet(dataset="p"),
            "config": MLflowDataSet(dataset="a"),
            "pred_df": MLflowDataSet(dataset="csv", artifact_path="tables"),
        }
    )
    hooks = (
        MLflowBasicLoggerHook(
            uri=team_server.url,
            experiment_name="team_round_trip",
            run_name="round trip",
            tags={"team": "forecasting"},
        ),
        MLflowTimeLoggerHook(),
    )
    run_with_hooks(pipeline, catalog, hooks, runner=ThreadRunner())

    client = MlflowClient(tracking_uri=team_server.url)
    experiment = client.get_experiment_by_name("team_round_trip")
    assert experiment is not None
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    (run,) = client.search_runs([experiment.experiment_id])
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "round trip"
    assert run.data.tags["team"] == "forecasting"
    assert UNLOGGED_TAG not in run.data.tags
    assert run.data.metrics["score"] == 0.5
    assert run.data.metrics["config.depth"] == 5.0
    task = "_fit -- score - losses - model_name - config - pred_df"[:50]
    assert run.data.metrics[f"_time_to_run {task}"] >= 0
    assert [m.value for m in client.get_metric_history(run_id, "losses")] == [
        1.0,
        0.5,
        0.25,
    ]
    assert run.data.params["depth"] == "5"
    assert run.data.params["model_name"] == "tree-5"
    assert run.data.params["config.kind"] == "tree"
    assert {"tables/pred_df.csv", "gantt.html", "time_log.json"} <= artifact_paths(
        client, run_id
    )
    status, metric_rows, param_rows = _rows_in_postgres(team_server, run_id)
    assert status == "FINISHED"
    assert metric_rows == len(run.data.metrics)
    assert param_rows == len(run.data.params)

    # Read it all back from another run, as a later pipeline of the team would.
    later = client.create_run(experiment.experiment_id)
    set_current_run(RunRef(team_server.url, later.info.run_id))
    try:
        source = {"loading_run_id": run_id}
        assert MLflowDataSet(dataset="m", dataset_name="score", **source).load() == 0.5
        name = MLflowDataSet(dataset="p", dataset_name="model_name", **source)
        assert name.load() == "tree-5"
        frame = MLflowDataSet(
            dataset="csv", dataset_name="pred_df", artifact_path="tables", **source
        ).load()
        assert frame["y"].tolist() == [1.0, 2.0]
    finally:
        set_current_run(None)
        client.set_terminated(later.info.run_id)
    assert _server_errors(team_server, offset) == []


_SETTINGS = """
import os
import time
from pathlib import Path

from kedro.framework.hooks import hook_impl

from pipelinex_mlflow import (
    MLflowArtifactsLoggerHook,
    MLflowBasicLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowTimeLoggerHook,
)


class StartTogether:
    # Each run, once its MLflow run is open, waits for the other's: their
    # pipelines then overlap however late one process starts on a busy machine.
    @hook_impl
    def before_pipeline_run(self):
        folder = Path(os.environ["TEAM_BARRIER"])
        (folder / os.environ["TEAM_MEMBER"]).touch()
        deadline = time.monotonic() + 120
        while len(list(folder.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)


HOOKS = (
    MLflowBasicLoggerHook(experiment_name=__EXPERIMENT__),
    MLflowTimeLoggerHook(),
    MLflowArtifactsLoggerHook(filepaths_before_pipeline_run=["conf/base"]),
    MLflowEnvVarsLoggerHook(param_env_vars=["TEAM_MEMBER"]),
    StartTogether(),
)
"""


def _kedro_run(
    project: Path, team_server: TeamServer, member: str, p0: float, barrier: Path
) -> subprocess.Popen[str]:
    """Start ``kedro run`` in ``project`` as ``member``, with ``group_0.p0=p0``."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": team_server.url,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "TEAM_MEMBER": member,
        "TEAM_BARRIER": str(barrier),
        "COLUMNS": "400",  # so rich does not wrap the log lines we look for
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--params", f"group_0.p0={p0}"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _check_complete_run(client: MlflowClient, run: Run, p0: float) -> None:
    """Everything one run of the generated project logs is there, and its own."""
    run_id = run.info.run_id
    params, metrics = run.data.params, run.data.metrics
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None
    assert UNLOGGED_TAG not in run.data.tags
    assert run.data.tags["kedro.command"].endswith(f"group_0.p0={p0}")
    # Every parameter of the project, with this run's value of the one that differs.
    groups = SIZE.params // 10
    assert {f"group_{g}.p{k}" for g in range(groups) for k in range(10)} <= set(params)
    assert float(params["group_0.p0"]) == p0
    assert params["env..TEAM_MEMBER"] == ("alice" if p0 == 0 else "bob")
    # work_0 averages group_0 (p0 + 0.1 + ... + 0.9) and its index 0 over 11.
    assert metrics["metric_0"] == pytest.approx((p0 + 4.5) / 11)
    assert {f"metric_{i}" for i in range(SIZE.metric_saves)} <= set(metrics)
    assert {f"_time_to_run {task}" for task in TASKS} <= set(metrics)
    history = client.get_metric_history(run_id, "loss_history")
    assert len(history) == SIZE.history_points
    artifacts = artifact_paths(client, run_id)
    assert {f"report_{j}.json" for j in range(SIZE.artifacts)} <= artifacts
    assert {
        "gantt.html",
        "time_log.json",
        "conf/base/catalog.yml",
        "conf/base/parameters.yml",
    } <= artifacts
    time_log = json.loads(
        Path(client.download_artifacts(run_id, "time_log.json")).read_text()
    )
    assert sorted(entry["node"] for entry in time_log["nodes"]) == sorted(NODES)


def test_two_concurrent_kedro_runs_share_the_server(
    team_server: TeamServer, tmp_path: Path
) -> None:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    experiment_name = "team_concurrent"
    project = generate(tmp_path / "project", "pipelinex_mlflow", size=1)
    (project / "src" / "benchproj" / "settings.py").write_text(
        _SETTINGS.replace("__EXPERIMENT__", repr(experiment_name))
    )
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    client = MlflowClient(tracking_uri=team_server.url)
    assert client.get_experiment_by_name(experiment_name) is None  # both create it
    offset = team_server.server.log_offset()

    runs = [
        _kedro_run(project, team_server, "alice", 0.0, barrier),
        _kedro_run(project, team_server, "bob", 7.0, barrier),
    ]
    outputs = [process.communicate(timeout=300)[0] for process in runs]
    for process, output in zip(runs, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]

    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None
    logged = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL)
    assert len(logged) == 2, [r.info for r in logged]
    assert [r.info.status for r in logged] == ["FINISHED", "FINISHED"]
    by_p0 = {float(r.data.params["group_0.p0"]): r for r in logged}
    assert set(by_p0) == {0.0, 7.0}
    for p0, run in by_p0.items():
        _check_complete_run(client, run, p0)
        status, _, param_rows = _rows_in_postgres(team_server, run.info.run_id)
        assert status == "FINISHED"
        assert param_rows == len(run.data.params)
    # Each process said which run it tracked: not the other's.
    for output, p0 in zip(outputs, (0.0, 7.0), strict=True):
        assert f"MLflow run {by_p0[p0].info.run_id}" in output
    # Both were tracked at the same time.
    first, second = sorted(logged, key=lambda r: r.info.start_time)
    assert second.info.start_time < first.info.end_time
    assert _server_errors(team_server, offset) == []


def test_first_runs_racing_to_create_the_experiment(team_server: TeamServer) -> None:
    """Runs starting at once in a new experiment all start, in one experiment.

    Before the fix, those that lost the race to create it got
    RESOURCE_ALREADY_EXISTS and their `kedro run` failed.
    """
    starters = 4
    experiment_ids: list[str] = []
    started: list[RunRef] = []
    errors: list[Exception] = []
    # The team's server across a network: the latency (0.5 s a request) holds all
    # the look-ups, then all the creations, together, so the race happens each time
    # instead of now and then.
    with SlowProxy(team_server.url, delay=0.5) as remote:
        barrier = threading.Barrier(starters)

        def start() -> None:
            barrier.wait()
            try:
                run, experiment_id = open_run(
                    remote.url, experiment_name="team_first_runs"
                )
            except Exception as error:  # any error: the assertion names it
                errors.append(error)
            else:
                experiment_ids.append(experiment_id)
                started.append(run)

        threads = [threading.Thread(target=start) for _ in range(starters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for run in started:
            end_run(run, "FINISHED")
    assert errors == []
    assert len(experiment_ids) == starters
    assert len(set(experiment_ids)) == 1
