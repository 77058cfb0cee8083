"""Shared fixtures: a real SQLite MLflow store per test, and a real `mlflow server`."""

from __future__ import annotations

import contextlib
import os

# Offline machines: no telemetry from Kedro or MLflow, before either is imported.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# Node hooks run in ParallelRunner workers only when they are forked; Python 3.14
# makes forkserver the Linux default. Tests of spawned workers set this themselves.
os.environ.setdefault("KEDRO_MP_CONTEXT", "fork")

import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pipelinex_mlflow import tracking

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow.tracking import MlflowClient

SERVER_START_TIMEOUT_S = 120
EXAMPLE_PROJECT = Path(__file__).parents[1] / "examples" / "demo_project"
_EXAMPLE_LEFTOVERS = (
    "data",
    "mlflow.db",
    "mlartifacts",
    "mlruns",
    "__pycache__",
    "*.egg-info",
)


# The fast path, `python -m pytest -m "not slow"`, leaves out the tests marked slow
# here. The rule, from measured durations (`--durations=0`): a test is slow if it
# (1) lives in tests/integration/ or tests/conformance/ (real `kedro run`
# processes, servers, fault proxies, PostgreSQL, a browser), (2) uses a fixture
# that starts a process of its own (SLOW_FIXTURES), or (3) took over 2 s on its
# own (SLOW_TESTS, listed in tests/slow_tests.txt: `kedro run` subprocesses,
# spawned workers, model packaging).
SLOW_FOLDERS = ("integration", "conformance")
SLOW_FIXTURES = frozenset(
    {"server", "mlflow_server", "mlflow_server_process", "postgres", "team_server"}
)
SLOW_TESTS = frozenset(
    line
    for line in (Path(__file__).parent / "slow_tests.txt").read_text().splitlines()
    if line and not line.startswith("#")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tests ``slow`` (the rule is the comment above)."""
    tests = Path(__file__).parent
    for item in items:
        path = item.path
        if not path.is_relative_to(tests):
            continue  # the package's doctests: all fast
        relative = path.relative_to(tests)
        function = getattr(item, "originalname", item.name)
        if (
            relative.parts[0] in SLOW_FOLDERS
            or SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or f"{relative.as_posix()}::{function}" in SLOW_TESTS
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite store, migrated once (about 3 s), copied into every test."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("cached_db") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture(autouse=True)
def tracking_uri(
    migrated_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Point MLflow at a fresh copy of the migrated store, and clean up after.

    The test runs in its own folder, so nothing MLflow writes relative to the
    current folder (``./mlruns`` artifacts of experiments a test creates) lands in
    the repository.
    """
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "mlflow.db"
    shutil.copy(migrated_db, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for name in (
        tracking.RUN_ID_ENV_VAR,
        tracking.TRACKING_URI_ENV_VAR,
        "MLFLOW_RUN_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    yield uri
    tracking.set_current_run(None)


@pytest.fixture(autouse=True)
def no_leaked_active_run() -> Iterator[None]:
    """Fail any test that leaves MLflow's thread-local active run behind."""
    yield
    if "mlflow" in sys.modules:
        import mlflow

        leaked = mlflow.active_run()
        if leaked is not None:
            mlflow.end_run()
            pytest.fail(f"Test left MLflow run {leaked.info.run_id} active")


@pytest.fixture(autouse=True)
def no_declared_secret_names() -> Iterator[None]:
    """Start and end each test with only the built-in secret-name rule."""
    from pipelinex_mlflow.masking import reset_declared_secret_names

    reset_declared_secret_names()
    yield
    reset_declared_secret_names()


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary folder of this test's own, with a short path.

    A folder under ``tmp_path`` is too deep for ParallelRunner's manager: its
    socket path (``<folder>/pymp-*/listener-*``) must stay under the 108 bytes of
    an AF_UNIX address, and xdist's ``popen-gw<n>`` folders push it past.
    """
    folder = Path(tempfile.mkdtemp(prefix="pxm-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


@pytest.fixture
def connection_attempts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every ``(host, port)`` an HTTP client of this process connects to, in order.

    urllib3 (under requests and MLflow's client) opens every connection through
    ``urllib3.util.connection.create_connection``: counting there says how many
    tries a failure took, which is what "fails at once" means, whatever the
    machine's load does to the seconds.
    """
    from urllib3.util import connection

    attempts: list[tuple[str, int]] = []
    real = connection.create_connection

    def counted(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        attempts.append((address[0], int(address[1])))
        return real(address, *args, **kwargs)

    monkeypatch.setattr(connection, "create_connection", counted)
    return attempts


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    """A clean copy of the example Kedro project, bootstrapped for KedroSession."""
    from kedro.framework.startup import bootstrap_project

    project = tmp_path / "demo_project"
    shutil.copytree(
        EXAMPLE_PROJECT, project, ignore=shutil.ignore_patterns(*_EXAMPLE_LEFTOVERS)
    )
    bootstrap_project(project)
    return project


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class MlflowServer:
    """A running `mlflow server`: its URL and its access log."""

    url: str
    log: Path

    def log_offset(self) -> int:
        """Where the log ends now: requests after it are the test's."""
        return self.log.stat().st_size

    def requests_since(self, offset: int) -> list[str]:
        """The ``METHOD /path`` of every request logged after ``offset``."""
        # uvicorn logs each request as it is answered, and the handler flushes.
        with self.log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
        return _ACCESS_LINE.findall(text)


_ACCESS_LINE = re.compile(r'"((?:GET|POST|PUT|PATCH|DELETE) \S+) HTTP/1\.1"')


class ServerProcess:
    """A real `mlflow server` on 127.0.0.1 that a test can kill and start again.

    It keeps its port, store (SQLite) and artifact folder across restarts, as a
    team's server does when it comes back.
    """

    def __init__(
        self, root: Path, port: int | None = None, store_uri: str | None = None
    ) -> None:
        self.root = root
        self.store_uri = store_uri or f"sqlite:///{root / 'server.db'}"
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "server.log"
        self.process: subprocess.Popen[Any] | None = None

    def start(self) -> MlflowServer:
        """Start the server and wait until it answers."""
        if self.process is not None:
            # Reap the one that was killed (by a test's node, say).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--backend-store-uri",
                    self.store_uri,
                    "--artifacts-destination",
                    str(self.root / "artifacts"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "MLFLOW_TRACKING_URI": ""},
            )
        _wait_healthy(self.url, self.process, self.log)
        return MlflowServer(self.url, self.log)

    def kill(self) -> None:
        """SIGKILL the server and its workers, as a crash would."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server and its workers."""
        if self.process is not None:
            _stop_group(self.process)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real ``mlflow server`` of this test alone, which the test may kill."""
    folder = tmp_path / "server"
    folder.mkdir()
    process = ServerProcess(folder)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def mlflow_server_process(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MlflowServer]:
    """A real `mlflow server` on 127.0.0.1, stopped with its whole process group."""
    server = ServerProcess(tmp_path_factory.mktemp("server"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_process: MlflowServer) -> str:
    """The URL of the session's real `mlflow server`."""
    return mlflow_server_process.url


def _wait_healthy(url: str, process: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    _stop_group(process)
    pytest.fail(
        f"mlflow server not healthy in {SERVER_START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}"
    )


def _stop_group(process: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
