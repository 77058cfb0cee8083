"""A team's server: one PostgreSQL and one `mlflow server` on it, per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.conftest import MlflowServer, _free_port, _stop_group, _wait_healthy
from tests.postgres import (
    REQUIRE_ENV_VAR,
    Postgres,
    PostgresUnavailable,
    check_available,
    required,
    running_postgres,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Uvicorn workers of the team server: more than one, so requests of concurrent
#: runs are served by separate processes sharing the database, as in production.
TEAM_SERVER_WORKERS = 2


@dataclass(frozen=True)
class TeamServer:
    """An `mlflow server` backed by PostgreSQL, and that database."""

    server: MlflowServer
    postgres: Postgres

    @property
    def url(self) -> str:
        """The server's URL, a tracking URI."""
        return self.server.url


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL on 127.0.0.1 with an empty database ``mlflow``.

    Skipped with the reason when PostgreSQL is missing, unless
    ``PIPELINEX_MLFLOW_REQUIRE_POSTGRES=1`` (CI) makes that a failure.
    """
    try:
        check_available()
    except PostgresUnavailable as missing:
        if required():
            pytest.fail(f"{missing} ({REQUIRE_ENV_VAR}=1)")
        pytest.skip(str(missing))
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def team_server(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TeamServer]:
    """A real `mlflow server` storing runs in PostgreSQL, artifacts in a folder."""
    root = tmp_path_factory.mktemp("team_server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                postgres.uri,
                "--artifacts-destination",
                str(root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(TEAM_SERVER_WORKERS),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={
                **os.environ,
                # The test that first asks for this session fixture has its own
                # store in MLFLOW_TRACKING_URI; the server must not see it.
                "MLFLOW_TRACKING_URI": "",
                # Tracking uses no server jobs; their runner starts several more
                # MLflow processes (huey consumers), which slow its start and stop.
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            },
        )
        try:
            _wait_healthy(url, process, log_path)
            yield TeamServer(MlflowServer(url, log_path), postgres)
        finally:
            _stop_group(process)
