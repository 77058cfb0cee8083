"""Opening a project's SQLite store with real ``kedro run`` processes.

A store is either absent or complete: runs started together on a new project all
finish, a process killed while it creates the store leaves nothing that stops the
next run, and a store half-made by an older version is set aside and made anew,
unless it holds runs.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.kedro_project import write_skeleton

PACKAGE = "opening"
EXPERIMENT = "opening"
#: ``kedro run`` processes started together in each round.
PROCESSES = 4
ROUNDS = 2
KEDRO_TIMEOUT_S = 300

_SETTINGS = """
from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowTimeLoggerHook

# The default store: sqlite:///<project>/mlflow.db.
HOOKS = (
    MLflowBasicLoggerHook(experiment_name="opening"),
    MLflowTimeLoggerHook(),
)
"""

_REGISTRY = """
from kedro.pipeline import Pipeline, node


def double(x):
    return 2 * x


def register_pipelines():
    return {"__default__": Pipeline([node(double, "params:x", "score", name="double")])}
"""

_CATALOG = """
score:
  type: pipelinex_mlflow.MLflowDataset
  dataset: m
"""

# Creates a store as the package does, and stops for good inside MLflow's schema
# creation, right after the statement that creates ``registered_model_tags`` (a
# table of a later migration): the parent then kills it. SQLite commits each DDL
# statement at once, so what was made so far is on disk.
_CREATOR = """
import sys
import time

import sqlalchemy

uri = sys.argv[1]


@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "after_cursor_execute")
def _stop(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("CREATE TABLE REGISTERED_MODEL_TAGS"):
        print("stopped", flush=True)
        time.sleep(600)


{open_store}
"""
_OPEN_WITH_PACKAGE = """
from pipelinex_mlflow.tracking import get_client

get_client(uri)
"""
# What versions of the package before stores were created aside did: MLflow's own
# creation, in place.
_OPEN_IN_PLACE = """
from mlflow.tracking import MlflowClient

MlflowClient(tracking_uri=uri).search_experiments()
"""


def _write_project(folder: Path) -> Path:
    package = write_skeleton(folder, PACKAGE)
    (package / "settings.py").write_text(textwrap.dedent(_SETTINGS).lstrip())
    (package / "pipeline_registry.py").write_text(textwrap.dedent(_REGISTRY).lstrip())
    (folder / "conf" / "base" / "parameters.yml").write_text("x: 21\n")
    (folder / "conf" / "base" / "catalog.yml").write_text(_CATALOG.lstrip())
    return folder


def _env() -> dict[str, str]:
    """Offline, wide lines, and the project's default store (no tracking URI set)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID")
        and not key.startswith("PIPELINEX_MLFLOW_")
    }
    env.update(
        KEDRO_DISABLE_TELEMETRY="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        PYTHONUNBUFFERED="1",
        # rich wraps log lines at the terminal width; the paths in them are long
        # (under pytest-xdist, a worker folder more), and the tests read whole lines.
        COLUMNS="1000",
    )
    return env


def _start_kedro_run(
    project: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("kedro")), "run"],
        cwd=project,
        env=env or _env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _kedro_run(project: Path) -> tuple[int, str]:
    process = _start_kedro_run(project)
    output = process.communicate(timeout=KEDRO_TIMEOUT_S)[0]
    return process.returncode, output


def _uri(project: Path) -> str:
    return f"sqlite:///{(project / 'mlflow.db').as_posix()}"


def _finished_scores(project: Path) -> list[tuple[str, float]]:
    """Status and ``score`` of every run of the project's experiment."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=_uri(project))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    return [
        (run.info.status, run.data.metrics.get("score", float("nan")))
        for run in client.search_runs([experiment.experiment_id])
    ]


def _kill_while_creating(project: Path, open_store: str) -> None:
    """Start a process creating the project's store; SIGKILL it mid-creation."""
    creator = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_CREATOR).format(open_store=textwrap.dedent(open_store)),
            _uri(project),
        ],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert creator.stdout is not None
        seen = []
        for line in creator.stdout:  # MLflow's own log lines come first
            seen.append(line)
            if line.strip() == "stopped":
                break
        assert seen[-1:] == ["stopped\n"], "".join(seen)
    finally:
        creator.send_signal(signal.SIGKILL)
        creator.communicate(timeout=30)
    assert creator.returncode == -signal.SIGKILL


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return {name for (name,) in rows}


class TestRunsStartedTogether:
    def test_first_runs_started_together_all_finish(self, tmp_path: Path) -> None:
        """No ``mlflow.db`` yet, 4 ``kedro run`` at once, in 2 rounds: all finish.

        Two of them share the temporary folder (so the creation lock), two have
        one each, as jobs of a batch scheduler or containers sharing the project
        do: nothing but the store's own publication keeps those apart. Before,
        every round lost runs (``table ... already exists``, 4 of 4 with a
        folder each).
        """
        for round_ in range(ROUNDS):
            project = _write_project(tmp_path / f"round{round_}")
            runs = []
            for index in range(PROCESSES):
                env = _env()
                if index >= PROCESSES // 2:
                    own = tmp_path / f"tmp{round_}-{index}"
                    own.mkdir()
                    env["TMPDIR"] = str(own)
                runs.append(_start_kedro_run(project, env))
            outputs = [run.communicate(timeout=KEDRO_TIMEOUT_S)[0] for run in runs]
            codes = [run.returncode for run in runs]
            failed = [
                out[-3000:] for code, out in zip(codes, outputs, strict=True) if code
            ]
            assert codes == [0] * PROCESSES, (round_, failed)
            assert _finished_scores(project) == [("FINISHED", 42.0)] * PROCESSES
            stores = [p.name for p in project.iterdir() if "mlflow.db" in p.name]
            assert stores == ["mlflow.db"]  # no temporary store left


class TestKilledWhileCreating:
    def test_a_run_after_a_creator_was_killed_finishes(self, tmp_path: Path) -> None:
        """SIGKILL in the middle of MLflow's schema creation, then ``kedro run``."""
        project = _write_project(tmp_path / "killed")

        _kill_while_creating(project, _OPEN_WITH_PACKAGE)

        assert not (project / "mlflow.db").exists()  # made aside, never in place
        code, output = _kedro_run(project)
        assert code == 0, output[-3000:]
        assert _finished_scores(project) == [("FINISHED", 42.0)]
        # The dead creator's temporary store (hidden) is gone with its journal.
        stores = [p.name for p in project.iterdir() if "mlflow.db" in p.name]
        assert stores == ["mlflow.db"]


class TestHalfMadeByAnOlderVersion:
    @pytest.fixture
    def half_made(self, tmp_path: Path) -> Path:
        """A project whose ``mlflow.db`` MLflow began in place and never finished."""
        project = _write_project(tmp_path / "half")
        _kill_while_creating(project, _OPEN_IN_PLACE)
        db = project / "mlflow.db"
        tables = _tables(db)
        assert {"experiments", "runs", "registered_model_tags"} <= tables
        assert "logged_models" not in tables  # a later migration never ran
        return project

    def test_the_next_run_sets_it_aside_and_finishes(self, half_made: Path) -> None:
        """Before: ``table registered_model_tags already exists`` on every run."""
        old = (half_made / "mlflow.db").read_bytes()

        code, output = _kedro_run(half_made)

        assert code == 0, output[-3000:]
        assert _finished_scores(half_made) == [("FINISHED", 42.0)]
        (aside,) = half_made.glob("mlflow.db.half-made-*")
        assert aside.read_bytes() == old
        (warning,) = [
            line for line in output.splitlines() if "was left half-made" in line
        ]
        assert str(aside) in warning

    def test_an_incomplete_store_holding_runs_is_refused_untouched(
        self, tmp_path: Path
    ) -> None:
        """MLflow's first tables only (an old store), with a run in it.

        Before, MLflow migrated it in place, unasked, on the run's first open. Now
        the run stops before any node, the file unchanged, and the command the
        message names makes the next run work, the old run kept.
        """
        from mlflow.store.tracking.dbmodels.initial_models import Base
        from sqlalchemy import create_engine

        project = _write_project(tmp_path / "old")
        db = project / "mlflow.db"
        engine = create_engine(_uri(project))
        Base.metadata.create_all(engine)
        engine.dispose()
        with sqlite3.connect(db) as connection:
            connection.execute(
                "INSERT INTO experiments (experiment_id, name, lifecycle_stage) "
                "VALUES (1, 'kept', 'active')"
            )
            connection.execute(
                "INSERT INTO runs (run_uuid, experiment_id, lifecycle_stage, status, "
                "source_type, source_name, entry_point_name, user_id, start_time) "
                "VALUES ('r1', 1, 'active', 'FINISHED', 'LOCAL', '', '', 'me', 0)"
            )
        before = db.read_bytes()

        code, output = _kedro_run(project)

        assert code != 0, output[-3000:]
        (line,) = [line for line in output.splitlines() if "TrackingError:" in line]
        assert "holds 1 run in 1 experiment" in line
        assert "delete" not in line.lower()
        assert "Completed node" not in output
        assert db.read_bytes() == before
        assert [p.name for p in project.iterdir() if "mlflow.db" in p.name] == [
            "mlflow.db"
        ]
        command = f"`mlflow db upgrade {_uri(project)}`"
        assert command in line

        upgraded = subprocess.run(
            [sys.executable, "-m", "mlflow", *command.strip("`").split()[1:]],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=KEDRO_TIMEOUT_S,
            check=False,
        )
        assert upgraded.returncode == 0, upgraded.stderr[-3000:]
        code, output = _kedro_run(project)
        assert code == 0, output[-3000:]
        assert _finished_scores(project) == [("FINISHED", 42.0)]
        from mlflow.tracking import MlflowClient

        kept = MlflowClient(tracking_uri=_uri(project)).get_run("r1")
        assert kept.info.experiment_id == "1"
