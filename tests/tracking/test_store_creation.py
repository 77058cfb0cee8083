"""Creating a SQLite store: made aside and published whole, processes started
together, half-made and broken files, the lock."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipelinex_mlflow.tracking import TrackingError, get_client
from pipelinex_mlflow.tracking.store_creation import (
    create_store,
    creation_lock,
    creation_lock_path,
    sqlite_db_path,
    store_is_ready,
)
from pipelinex_mlflow.tracking.store_leftovers import host_id

PROCESSES = 4
# Each worker imports everything first, says it is ready, and waits for the go file,
# so all of them open the store within a millisecond or two of each other.
_WORKER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    uri, folder, index = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from pipelinex_mlflow.tracking import get_client

    (folder / f"ready-{index}").touch()
    while not (folder / "go").exists():
        time.sleep(0.001)
    try:
        client = get_client(uri)
        experiment_id = client.create_experiment(f"worker-{index}")
        run = client.create_run(experiment_id)
        client.log_metric(run.info.run_id, "index", float(index))
        client.set_terminated(run.info.run_id, "FINISHED")
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}))
        sys.exit(1)
    print(json.dumps({"run_id": run.info.run_id}))
    """
)


def _start_together(uri: str, folder: Path, count: int) -> list[tuple[int, str]]:
    """Run ``count`` workers on ``uri`` released at once; their exit codes and output."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, uri, str(folder), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(count)
    ]
    deadline = time.monotonic() + 120
    while len(list(folder.glob("ready-*"))) < count:
        assert time.monotonic() < deadline, "workers did not start"
        assert all(w.poll() is None for w in workers), [
            w.communicate() for w in workers
        ]
        time.sleep(0.01)
    (folder / "go").touch()
    return [
        (w.wait(timeout=180), w.communicate()[0].strip().splitlines()[-1])
        for w in workers
    ]


class TestProcessesStartedTogether:
    def test_four_processes_create_one_new_store_and_all_log_a_run(
        self, tmp_path: Path
    ) -> None:
        """Without the lock, MLflow's schema creation races (5 of 5 tries failed)."""
        folder = tmp_path / "project"
        folder.mkdir()
        uri = f"sqlite:///{folder / 'mlflow.db'}"

        outcomes = _start_together(uri, folder, PROCESSES)

        assert [code for code, _ in outcomes] == [0] * PROCESSES, outcomes
        client = MlflowClient(tracking_uri=uri)
        experiments = client.search_experiments()
        assert sorted(e.name for e in experiments) == [
            "Default",
            *(f"worker-{i}" for i in range(PROCESSES)),
        ]
        runs = client.search_runs([e.experiment_id for e in experiments])
        assert {r.info.run_id for r in runs} == {
            json.loads(out)["run_id"] for _, out in outcomes
        }
        assert {r.info.status for r in runs} == {"FINISHED"}
        assert sorted(r.data.metrics["index"] for r in runs) == [0.0, 1.0, 2.0, 3.0]


_PROJECT_FILES = {
    "pyproject.toml": """
        [tool.kedro]
        package_name = "race"
        project_name = "race"
        kedro_init_version = "1.7.0"
        source_dir = "src"
        """,
    "src/race/__init__.py": "",
    "src/race/settings.py": """
        from pipelinex_mlflow import MLflowBasicLoggerHook

        # The default store: sqlite:///<project>/mlflow.db, not there yet.
        HOOKS = (MLflowBasicLoggerHook(experiment_name="race"),)
        """,
    "src/race/pipeline_registry.py": """
        from kedro.pipeline import Pipeline, node


        def double(x):
            return 2 * x


        def register_pipelines():
            return {"__default__": Pipeline([node(double, "params:x", "score")])}
        """,
    "conf/base/parameters.yml": "x: 21\n",
    "conf/base/catalog.yml": """
        score:
          type: pipelinex_mlflow.MLflowDataset
          dataset: m
        """,
    "conf/local/.gitkeep": "",
}


def _write_project(folder: Path) -> Path:
    for name, text in _PROJECT_FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return folder


class TestKedroRunsStartedTogether:
    def test_two_kedro_runs_on_a_new_project_both_finish(self, tmp_path: Path) -> None:
        """The default setup, no ``mlflow.db`` yet: ``kedro run`` twice at once."""
        project = _write_project(tmp_path / "race")
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env["COLUMNS"] = "400"
        kedro = Path(sys.executable).with_name("kedro")
        runs = [
            subprocess.Popen(
                [str(kedro), "run"],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=300)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], [o[-3000:] for o in outputs]

        client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("race")
        assert experiment is not None
        finished = client.search_runs([experiment.experiment_id])
        assert [r.info.status for r in finished] == ["FINISHED", "FINISHED"]
        assert [r.data.metrics["score"] for r in finished] == [42.0, 42.0]


class TestReadyStore:
    def test_a_finished_store_is_ready(self, tracking_uri: str) -> None:
        db_path = sqlite_db_path(tracking_uri)
        assert db_path is not None
        assert store_is_ready(db_path)

    @pytest.mark.parametrize("content", [None, b"", b"not a database at all"])
    def test_missing_empty_or_foreign_files_are_not_ready(
        self, tmp_path: Path, content: bytes | None
    ) -> None:
        """A missing or empty file (``touch mlflow.db``) is created under the lock."""
        db = tmp_path / "new.db"
        if content is not None:
            db.write_bytes(content)
        assert not store_is_ready(db)
        assert db.exists() == (content is not None)  # never created by the check

    def test_half_created_stores_are_not_ready(
        self, tracking_uri: str, tmp_path: Path
    ) -> None:
        """Each of what MLflow adds last: the newest table, the version, ``Default``."""
        db_path = sqlite_db_path(tracking_uri)
        assert db_path is not None
        for step, sql in {
            "no_table": "DROP TABLE review_queues",
            "no_version": "DELETE FROM alembic_version",
            "no_default": "DELETE FROM experiments WHERE experiment_id = 0",
        }.items():
            copy = tmp_path / f"{step}.db"
            copy.write_bytes(db_path.read_bytes())
            with sqlite3.connect(copy) as db:
                db.execute("PRAGMA foreign_keys = OFF")
                db.execute(sql)
            assert not store_is_ready(copy), step

    def test_a_ready_store_opens_while_another_process_holds_the_lock(
        self, tracking_uri: str
    ) -> None:
        """An existing store never waits for the lock (it costs a few file reads)."""
        db_path = sqlite_db_path(tracking_uri)
        assert db_path is not None
        with creation_lock(db_path, tracking_uri):
            started = time.monotonic()
            client = get_client(tracking_uri)
            assert time.monotonic() - started < 5
        assert client.get_experiment("0").name == "Default"

    def test_uris_without_a_file(self) -> None:
        assert sqlite_db_path("sqlite://") is None
        assert sqlite_db_path("sqlite:///:memory:") is None
        assert sqlite_db_path("postgresql://u:p@db/mlflow") is None
        assert (
            sqlite_db_path("sqlite:///rel/m.db?timeout=5")
            == Path("rel/m.db").absolute()
        )


class TestCreationFailures:
    def test_a_file_that_is_not_a_store_is_one_clear_line(self, tmp_path: Path) -> None:
        db = tmp_path / "broken.db"
        db.write_bytes(b"SQLite format 2\0" + b"x" * 4096)
        with pytest.raises(
            TrackingError, match=r"Cannot open the MLflow store at"
        ) as err:
            get_client(f"sqlite:///{db}")
        message = str(err.value)
        assert "\n" not in message
        assert "file is not a database" in message
        assert "mlflow db upgrade" in message
        # No SQLAlchemy traceback chained to it.
        assert err.value.__cause__ is None
        assert err.value.__suppress_context__

    def test_a_store_of_another_schema_version_says_how_to_upgrade(
        self, tracking_uri: str, tmp_path: Path
    ) -> None:
        """Finished (no lock needed), yet MLflow refuses it: retried locked, reported."""
        db_path = sqlite_db_path(tracking_uri)
        assert db_path is not None
        old = tmp_path / "old.db"
        old.write_bytes(db_path.read_bytes())
        with sqlite3.connect(old) as db:
            db.execute("UPDATE alembic_version SET version_num = '0123456789ab'")
        assert store_is_ready(old)
        with pytest.raises(
            TrackingError,
            match=r"out-of-date database schema \(found version 0123456789ab.*"
            r"`mlflow db upgrade <uri>`",
        ):
            get_client(f"sqlite:///{old}")

    def test_a_temporary_folder_that_cannot_hold_the_lock(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        not_a_folder = tmp_path / "file"
        not_a_folder.write_text("")
        monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
        db = tmp_path / "new.db"
        with pytest.raises(
            TrackingError, match=r"Cannot create the lock file .*TMPDIR\) is writable"
        ):
            get_client(f"sqlite:///{db}")

    def test_a_password_in_the_uri_is_not_shown(self) -> None:
        with pytest.raises(TrackingError, match=r"bob:\*\*\*\*\*@") as err:
            get_client("postgresql://bob:hunter2@127.0.0.1:9/mlflow")
        assert "hunter2" not in str(err.value)

    def test_waiting_too_long_for_another_creator_says_what_to_do(
        self, tmp_path: Path
    ) -> None:
        db = tmp_path / "new.db"
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time, filelock\n"
                "lock = filelock.FileLock(sys.argv[1])\n"
                "lock.acquire()\n"
                "print('held', flush=True)\n"
                "time.sleep(60)\n",
                str(creation_lock_path(db)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            started = time.monotonic()
            with (
                pytest.raises(
                    TrackingError, match=r"Waited 0\.5 s for another process"
                ),
                creation_lock(db, f"sqlite:///{db}", timeout_s=0.5),
            ):
                pass
            assert time.monotonic() - started < 3
        finally:
            holder.kill()
            holder.communicate()
        # The lock dies with its holder: no stale lock to delete.
        with creation_lock(db, f"sqlite:///{db}", timeout_s=5):
            pass

    def test_lock_files_stay_out_of_the_project(self, tmp_path: Path) -> None:
        lock = creation_lock_path(tmp_path / "mlflow.db")
        assert tmp_path not in lock.parents
        assert lock != creation_lock_path(tmp_path / "other.db")
        # The same file by another path (a symlinked folder) shares the lock.
        (tmp_path / "link").symlink_to(tmp_path)
        assert creation_lock_path(tmp_path / "link" / "mlflow.db") == lock
        assert os.fspath(lock).endswith(".lock")


def _initial_tables_only(db: Path) -> None:
    """What MLflow creates first (and what a store of MLflow < 1.0 holds)."""
    from mlflow.store.tracking.dbmodels.initial_models import Base
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of the test's own (the test's store is ``tmp_path/mlflow.db``)."""
    path = tmp_path / "project"
    path.mkdir()
    return path


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".creating-" in p.name)


class TestCreatedAside:
    def test_the_store_never_exists_unfinished(self, folder: Path) -> None:
        """Watched while it is created: absent, then complete; nothing left over.

        Before, MLflow created it in place: for about 2 s ``mlflow.db`` existed
        half-made, which is what a process killed then left behind.
        """
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        db = folder / "mlflow.db"
        seen: set[str] = set()
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                seen.add(
                    "absent"
                    if not db.exists()
                    else "ready"
                    if store_is_ready(db)
                    else "unfinished"
                )
                time.sleep(0.002)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            client = get_client(f"sqlite:///{db}")
        finally:
            done.set()
            watcher.join()

        assert seen == {"absent", "ready"}
        assert client.get_experiment("0").name == "Default"
        assert _temporaries(folder) == []
        # MLflow's engine cache keeps no engine of the temporary file.
        assert not [uri for uri in SqlAlchemyStore._engine_map if ".creating-" in uri]

    def test_temporaries_of_dead_creators_are_removed(self, folder: Path) -> None:
        """A dead process's (with its journal), an old one of another host's."""
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        dead_pid = int(gone.stdout)
        here, other = host_id(), "0" * 8 if host_id() != "0" * 8 else "1" * 8
        names = {
            "dead": f".mlflow.db.creating-{here}-{dead_pid}-0000000a",
            "dead_journal": f".mlflow.db.creating-{here}-{dead_pid}-0000000a-journal",
            "alive": f".mlflow.db.creating-{here}-{os.getppid()}-0000000b",
            "other_host_recent": f".mlflow.db.creating-{other}-123-0000000c",
            "other_host_old": f".mlflow.db.creating-{other}-124-0000000d",
            "another_store": f".other.db.creating-{here}-{dead_pid}-0000000e",
        }
        for name in names.values():
            (folder / name).write_bytes(b"half")
        old = time.time() - 3600
        os.utime(folder / names["other_host_old"], (old, old))

        get_client(f"sqlite:///{folder / 'mlflow.db'}")

        assert _temporaries(folder) == sorted(
            names[key] for key in ("alive", "other_host_recent", "another_store")
        )

    def test_a_store_another_process_published_first_is_kept(
        self, folder: Path
    ) -> None:
        """A creator that did not share the lock (another TMPDIR) got there first."""
        db = folder / "mlflow.db"
        uri = f"sqlite:///{db}"
        create_store(db, uri)
        first = MlflowClient(tracking_uri=uri)
        run = first.create_run(first.create_experiment("first"))
        inode = db.stat().st_ino

        create_store(db, uri)  # finds it published when it publishes its own

        assert db.stat().st_ino == inode
        assert MlflowClient(tracking_uri=uri).get_run(run.info.run_id)
        assert _temporaries(folder) == []


class TestHalfMadeStores:
    def test_one_without_data_is_moved_aside_and_made_anew(
        self, folder: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        db = folder / "mlflow.db"
        _initial_tables_only(db)
        old = db.read_bytes()
        caplog.set_level(logging.WARNING, "pipelinex_mlflow")

        client = get_client(f"sqlite:///{db}")

        assert store_is_ready(db)
        assert client.get_experiment("0").name == "Default"
        (aside,) = folder.glob("mlflow.db.half-made-*")
        assert aside.read_bytes() == old
        (warning,) = [r.getMessage() for r in caplog.records]
        assert f"The MLflow store {db} was left half-made" in warning
        assert f"it was moved to {aside}" in warning

    def test_one_holding_runs_is_refused_with_the_command(self, folder: Path) -> None:
        db = folder / "mlflow.db"
        _initial_tables_only(db)
        with sqlite3.connect(db) as connection:
            connection.execute(
                "INSERT INTO experiments (experiment_id, name, lifecycle_stage) "
                "VALUES (1, 'kept', 'active')"
            )
            for run_id in ("r1", "r2"):
                connection.execute(
                    "INSERT INTO runs (run_uuid, experiment_id, status) "
                    "VALUES (?, 1, 'FINISHED')",
                    (run_id,),
                )
        before = db.read_bytes()
        uri = f"sqlite:///{db}"

        with pytest.raises(TrackingError, match="holds 2 runs") as err:
            get_client(uri)

        assert str(err.value) == (
            f"The MLflow store at {uri!r} is incomplete ("
            f"{len(_expected_missing(db))} of MLflow's tables are missing) but holds 2 "
            "runs in 1 experiment, so pipelinex_mlflow leaves it as it is. Back the "
            f"file up, then migrate it with `mlflow db upgrade {uri}` and run again."
        )
        assert db.read_bytes() == before
        assert [p.name for p in folder.iterdir() if "mlflow.db" in p.name] == [
            "mlflow.db"
        ]


def _expected_missing(db: Path) -> set[str]:
    from pipelinex_mlflow.tracking.sqlite_store_state import _expected_tables

    expected = _expected_tables()
    assert expected is not None
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return expected - {name for (name,) in rows}
