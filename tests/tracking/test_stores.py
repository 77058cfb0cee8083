"""Tracking stores: URIs made usable, unreachable servers, where to see a run."""

from __future__ import annotations

import importlib.util
import socket
import time
from pathlib import Path

import pytest

from pipelinex_mlflow.tracking import (
    TrackingError,
    check_reachable,
    default_tracking_uri,
    get_client,
    normalize_tracking_uri,
    run_view_hint,
)


class TestTrackingUris:
    def test_relative_sqlite_paths_are_taken_from_the_project(
        self, tmp_path: Path
    ) -> None:
        uri = normalize_tracking_uri("sqlite:///mlruns/sqlite.db", tmp_path)
        assert uri == f"sqlite:///{(tmp_path / 'mlruns' / 'sqlite.db').as_posix()}"
        assert (tmp_path / "mlruns").is_dir()

    @pytest.mark.parametrize("uri", ["./mlruns", "file:///tmp/mlruns", "mlruns"])
    def test_legacy_file_store_is_refused(self, uri: str) -> None:
        with pytest.raises(TrackingError, match="legacy file store"):
            normalize_tracking_uri(uri, Path.cwd())

    def test_unreachable_server_fails_in_seconds(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(
            TrackingError, match="Cannot reach the MLflow tracking server"
        ):
            check_reachable(f"http://127.0.0.1:{port}")
        assert time.monotonic() - started < 10

    def test_view_hint(self) -> None:
        assert (
            run_view_hint("http://h:5000/", "1", "r")
            == "http://h:5000/#/experiments/1/runs/r"
        )
        assert "mlflow ui --backend-store-uri sqlite:///x.db" in run_view_hint(
            "sqlite:///x.db", "1", "r"
        )

    def test_default_store_is_the_projects_sqlite_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("MLFLOW_TRACKING_URI")
        assert default_tracking_uri(tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
        assert default_tracking_uri(tmp_path) == "http://127.0.0.1:5000"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestDatabaseStores:
    """Before, each of these went through MLflow's ten connection attempts: ~100 s."""

    def test_a_closed_port_fails_at_once_naming_the_store(self) -> None:
        port = _closed_port()
        uri = f"postgresql://bob:hunter2@127.0.0.1:{port}/mlflow"
        started = time.monotonic()
        with pytest.raises(
            TrackingError,
            match=(
                r"^Cannot reach the PostgreSQL database of the MLflow store at "
                rf"'postgresql://bob:\*\*\*\*\*@127\.0\.0\.1:{port}/mlflow': "
                rf"connection refused at 127\.0\.0\.1:{port}\. Start the database"
            ),
        ) as err:
            check_reachable(uri, timeout_s=5)
        assert time.monotonic() - started < 3
        assert "hunter2" not in str(err.value)
        assert "\n" not in str(err.value)

    def test_a_database_that_never_answers_fails_within_the_bound(self) -> None:
        """TCP is accepted, the PostgreSQL handshake never answered."""
        with socket.create_server(("127.0.0.1", 0)) as silent:
            port = silent.getsockname()[1]
            started = time.monotonic()
            with pytest.raises(
                TrackingError,
                match=(
                    r"accepted the connection but did not answer within 1\.5 s\. "
                    rf"Check that 127\.0\.0\.1:{port} is a PostgreSQL server.*"
                    r"server_timeout=\.\.\.\) \(now 1\.5 s\)\.$"
                ),
            ):
                check_reachable(
                    f"postgresql+psycopg://bob:pw@127.0.0.1:{port}/m", timeout_s=1.5
                )
            # It waits the bound (not less); the upper figure only guards a hang,
            # as a loaded machine may take seconds longer to give up.
            assert 1.4 < time.monotonic() - started < 30

    def test_a_host_name_that_does_not_resolve(self) -> None:
        with pytest.raises(
            TrackingError, match=r"the host name 'pipelinex-mlflow-test\.invalid'"
        ):
            check_reachable(
                "mysql+pymysql://u:p@pipelinex-mlflow-test.invalid/m", timeout_s=5
            )

    def test_a_missing_driver_names_what_to_install(self) -> None:
        if importlib.util.find_spec("MySQLdb") is not None:
            pytest.skip("mysqlclient is installed here")
        with socket.create_server(("127.0.0.1", 0)) as listening:
            port = listening.getsockname()[1]
            with pytest.raises(
                TrackingError,
                match=r"needs the MySQL driver 'mysqldb'.*`pip install mysqlclient`",
            ):
                check_reachable(f"mysql://u:p@127.0.0.1:{port}/m", timeout_s=5)

    def test_get_client_probes_before_mlflow_makes_its_engine(self) -> None:
        started = time.monotonic()
        with pytest.raises(TrackingError, match=r"connection refused"):
            get_client(f"postgresql://bob:hunter2@127.0.0.1:{_closed_port()}/m")
        assert time.monotonic() - started < 5


class TestSqliteStores:
    def test_a_folder_that_cannot_be_created(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("")
        uri = f"sqlite:///{tmp_path / 'file' / 'sub' / 'mlflow.db'}"
        started = time.monotonic()
        with pytest.raises(
            TrackingError,
            match=r"^Cannot use the SQLite MLflow store at .*because '.*file' is a "
            r"file\. Fix the path, or point the store elsewhere",
        ):
            check_reachable(uri)
        with pytest.raises(TrackingError, match=r"is a file"):
            get_client(uri)
        assert time.monotonic() - started < 2
        # A folder that can be made passes, and the check makes nothing.
        check_reachable(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}")
        assert not (tmp_path / "new").exists()
