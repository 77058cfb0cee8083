"""Shared machinery of the Kedro conformance suite: write, run and read projects.

Each case writes a small Kedro 1.x project the way people write them (a package
under ``src/`` with ``pipelines/<name>/{nodes,pipeline}.py``, a pipeline
registry, ``conf/base`` and ``conf/local``), runs it with ``kedro run`` in a
subprocess, and reads what landed in the project's real SQLite store
(``sqlite:///<project>/mlflow.db``, the package's default) with ``MlflowClient``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests._kedro import artifact_paths
from tests.kedro_project import write_skeleton

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

#: A ``kedro run`` here takes 4 to 10 s; a hung one fails its case, not the suite.
KEDRO_TIMEOUT_S = 240

#: Params the hooks add to every run: the run's start and end times.
TIME_PARAMS = frozenset({"__time_begin", "__time_end"})
#: Metrics the hooks add to every run.
TIME_METRICS = frozenset({"__time_begin", "__time_end", "__time"})
#: Prefix of MLflowTimeLoggerHook's node timings.
TIMING_PREFIX = "_time_to_run "

#: Every runner a project is run with; ``spawn`` is ParallelRunner with
#: ``KEDRO_MP_CONTEXT=spawn`` (the default of macOS, Windows, Python 3.14).
RUNNERS = ("SequentialRunner", "ThreadRunner", "ParallelRunner", "spawn")


# --------------------------------------------------------------------------------------
# Writing projects
# --------------------------------------------------------------------------------------
def write_project(
    folder: Path, package: str, files: Mapping[str, str | Mapping[str, Any]]
) -> Path:
    """Write a Kedro project into ``folder`` (created) and return ``folder``.

    ``files`` maps paths relative to the project to their text (dedented) or to
    a mapping, written as YAML. ``{package}`` in a path is the package folder.
    """
    write_skeleton(folder, package)
    write_files(folder, {path.format(package=package): t for path, t in files.items()})
    return folder


def write_files(folder: Path, files: Mapping[str, str | Mapping[str, Any]]) -> None:
    """Write (or overwrite) files under ``folder``, as :func:`write_project` does."""
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            text = textwrap.dedent(content).lstrip("\n")
        else:
            text = yaml.safe_dump(dict(content), sort_keys=False)
        path.write_text(text)


def pipeline_package(name: str, nodes: str, pipeline: str) -> dict[str, str]:
    """The three files of ``src/<package>/pipelines/<name>/``."""
    folder = f"src/{{package}}/pipelines/{name}"
    return {
        f"{folder}/__init__.py": "from .pipeline import create_pipeline\n",
        f"{folder}/nodes.py": nodes,
        f"{folder}/pipeline.py": pipeline,
    }


#: The registry of kedro-starters (``kedro new``): every pipeline package found.
FIND_PIPELINES_REGISTRY = """
    from kedro.framework.project import find_pipelines
    from kedro.pipeline import Pipeline


    def register_pipelines() -> dict[str, Pipeline]:
        pipelines = find_pipelines(raise_errors=True)
        pipelines["__default__"] = sum(pipelines.values())
        return pipelines
"""


# --------------------------------------------------------------------------------------
# Running projects
# --------------------------------------------------------------------------------------
def kedro_env(**extra: str) -> dict[str, str]:
    """The environment of a ``kedro`` command: offline, the project's default store.

    ``MLFLOW_TRACKING_URI`` is unset, so the store is ``<project>/mlflow.db``.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "MLFLOW_TRACKING_URI" and not key.startswith("PIPELINEX_MLFLOW_")
    }
    env.pop("MLFLOW_RUN_ID", None)
    env.update(
        KEDRO_DISABLE_TELEMETRY="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        PYTHONUNBUFFERED="1",
        # Rich wraps log lines at the terminal width; assertions read whole lines.
        COLUMNS="400",
        KEDRO_MP_CONTEXT="fork",
    )
    env.update(extra)
    return env


def runner_args(runner: str) -> tuple[list[str], dict[str, str]]:
    """The ``kedro run`` arguments and extra environment of one of :data:`RUNNERS`."""
    if runner == "spawn":
        return ["--runner", "ParallelRunner"], {"KEDRO_MP_CONTEXT": "spawn"}
    return ["--runner", runner], {}


def kedro_run(
    project: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m kedro run <args>`` in ``project`` (or ``cwd``); what it did."""
    return subprocess.run(
        [sys.executable, "-m", "kedro", "run", *args],
        cwd=cwd or project,
        env=kedro_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=KEDRO_TIMEOUT_S,
        check=False,
    )


def run_python(
    script: str, *, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a Python ``script`` (dedented) in a fresh interpreter in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        env=kedro_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=KEDRO_TIMEOUT_S,
        check=False,
    )


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    """Both streams of a finished command, for assertion messages."""
    return f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"[-12000:]


def warnings_in(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The WARNING lines a command logged (Python's ``Warning:`` lines left out)."""
    text = f"{result.stdout}\n{result.stderr}"
    return [
        line
        for line in text.splitlines()
        if "WARNING" in line and "Warning:" not in line
    ]


# --------------------------------------------------------------------------------------
# Reading the store
# --------------------------------------------------------------------------------------
def store_uri(project: Path) -> str:
    """The project's default store."""
    return f"sqlite:///{(project / 'mlflow.db').as_posix()}"


def client_of(project: Path) -> MlflowClient:
    """A client of the project's store."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=store_uri(project))


def store_runs(project: Path) -> list[Run]:
    """Every run of every experiment (deleted ones too), oldest first."""
    if not (project / "mlflow.db").exists():
        return []
    from mlflow.entities import ViewType

    client = client_of(project)
    experiments = [
        e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)
    ]
    runs = client.search_runs(
        experiments, run_view_type=ViewType.ALL, order_by=["attributes.start_time ASC"]
    )
    return list(runs)


@dataclass(frozen=True)
class Tracked:
    """One ``kedro run`` and the MLflow run it made."""

    result: subprocess.CompletedProcess[str]
    run: Run
    client: MlflowClient

    @property
    def output(self) -> str:
        return output_of(self.result)

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    @property
    def params(self) -> dict[str, str]:
        """The run's params, without the hooks' time params."""
        return {k: v for k, v in self.run.data.params.items() if k not in TIME_PARAMS}

    @property
    def tags(self) -> dict[str, str]:
        return self.run.data.tags

    @property
    def metrics(self) -> dict[str, float]:
        """The run's metrics, without the hooks' times and node timings."""
        return {
            k: v
            for k, v in self.run.data.metrics.items()
            if k not in TIME_METRICS
            and not k.startswith(("_time_to_run ", "_cpu_time ", "_peak_memory_mb "))
            and not k.startswith("system/")
        }

    @property
    def timed_nodes(self) -> set[str]:
        """The tasks MLflowTimeLoggerHook timed."""
        return {
            k.removeprefix(TIMING_PREFIX)
            for k in self.run.data.metrics
            if k.startswith(TIMING_PREFIX)
        }

    def history(self, key: str) -> list[float]:
        """Every value logged for metric ``key``, by step."""
        points = self.client.get_metric_history(self.run_id, key)
        return [p.value for p in sorted(points, key=lambda p: (p.step, p.timestamp))]

    def metric_once(self, key: str) -> float:
        """The value of metric ``key``, which must have been logged exactly once."""
        values = self.history(key)
        assert len(values) == 1, f"metric {key!r} logged {len(values)} times: {values}"
        return values[0]

    def artifacts(self) -> set[str]:
        """Every artifact path (folders included)."""
        return artifact_paths(self.client, self.run_id)

    def artifact_files(self, under: str | None = None) -> set[str]:
        """Every artifact file path (no folders), optionally under a folder."""
        found = set()
        for info in self.client.list_artifacts(self.run_id, under):
            if info.is_dir:
                found |= self.artifact_files(info.path)
            else:
                found.add(info.path)
        return found

    def artifact_text(self, path: str) -> str:
        """The text of one artifact file, downloaded from the store."""
        with tempfile.TemporaryDirectory() as folder:
            local = self.client.download_artifacts(self.run_id, path, folder)
            return Path(local).read_text()

    def artifact_json(self, path: str) -> Any:
        return json.loads(self.artifact_text(path))


def tracked_run(
    project: Path,
    result: subprocess.CompletedProcess[str],
    before: Mapping[str, Any] | set[str] = frozenset(),
    *,
    status: str = "FINISHED",
    exit_code: int = 0,
) -> Tracked:
    """Check a finished ``kedro run`` and return the one MLflow run it created.

    ``before``: the ids of the runs the store held before the command. Checks
    the exit code, that exactly one run is new, that it ended with ``status``,
    and that no run of the store is left RUNNING.
    """
    assert result.returncode == exit_code, output_of(result)
    runs = store_runs(project)
    new = [run for run in runs if run.info.run_id not in before]
    assert len(new) == 1, (
        f"{len(new)} new runs ({[r.info.run_name for r in new]}) instead of 1\n"
        + output_of(result)
    )
    assert_no_run_running(project, result)
    # Never MLflow's legacy file store, in the project or where it ran.
    assert not (project / "mlruns").exists(), output_of(result)
    (run,) = new
    assert run.info.status == status, output_of(result)
    return Tracked(result, run, client_of(project))


def run_ids(project: Path) -> set[str]:
    """The ids of every run of the project's store."""
    return {run.info.run_id for run in store_runs(project)}


def assert_no_run_running(
    project: Path, result: subprocess.CompletedProcess[str] | None = None
) -> None:
    """No run of the store is left RUNNING (or SCHEDULED)."""
    left = [
        (run.info.run_id, run.info.status)
        for run in store_runs(project)
        if run.info.status not in {"FINISHED", "FAILED", "KILLED"}
    ]
    assert left == [], output_of(result) if result else left


def track(
    project: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    status: str = "FINISHED",
    exit_code: int = 0,
) -> Tracked:
    """``kedro run <args>`` and the one run it created, checked (see :func:`tracked_run`)."""
    before = run_ids(project)
    result = kedro_run(project, *args, env=env, cwd=cwd)
    return tracked_run(project, result, before, status=status, exit_code=exit_code)


def copy_store(migrated_db: Path, project: Path) -> None:
    """Start the project's default store from a migrated copy (saves ~3 s a case)."""
    shutil.copy(migrated_db, project / "mlflow.db")
