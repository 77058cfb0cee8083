"""Start-up against a server that connects but never answers: a bounded, clear failure."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from mlflow.tracking import MlflowClient

from pipelinex_mlflow.tracking import TrackingError, check_reachable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import MlflowServer
    from tests.postgres import Postgres


#: check_reachable's default bound: a check given less must end before it.
SERVER_TIMEOUT_S = 10
#: Longer than any bound here by far: a check still waiting by then is hanging.
HANG_GUARD_S = 30


class Listener:
    """A real socket on 127.0.0.1 that accepts connections and never answers HTTP.

    It holds each connection (recording the request line it was sent), or closes
    it at once (``close``), or answers a line that is not HTTP (``reply``).
    """

    def __init__(self, *, close: bool = False, reply: bytes = b"") -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)  # so that stop() ends accept() at once
        self._stopped = threading.Event()
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.received: list[bytes] = []
        self._close = close
        self._reply = reply
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            if self._close:
                connection.close()
                continue
            self._held.append(connection)
            connection.settimeout(5)
            try:
                self.received.append(connection.recv(4096).split(b"\r\n", 1)[0])
                if self._reply:
                    connection.sendall(self._reply)
                    connection.close()
            except OSError:
                self.received.append(b"")

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._socket.close()
        for connection in self._held:
            connection.close()


@pytest.fixture
def silent_server() -> Iterator[Listener]:
    """Accepts every connection and never answers."""
    listener = Listener()
    yield listener
    listener.stop()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTPS server on 127.0.0.1 with a self-signed certificate: URL, cert."""
    cert, key = _self_signed_certificate(tmp_path)

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, key_file = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestCheckReachable:
    def test_a_silent_server_fails_within_the_bound(
        self, silent_server: Listener
    ) -> None:
        started = time.monotonic()
        with pytest.raises(
            TrackingError,
            match=(
                r"accepted the connection but did not answer within 2 s\..*"
                r"MLflowBasicLoggerHook\(server_timeout=\.\.\.\)"
            ),
        ) as err:
            check_reachable(silent_server.url, timeout_s=2)
        elapsed = time.monotonic() - started
        # It waited the bound, then gave up: the silent server would hold it
        # forever. The upper end only guards against that hang, with room for a
        # loaded machine; how fast the check ends is benchmarks/bench_tracking.py's.
        assert 1.9 < elapsed < HANG_GUARD_S
        assert "\n" not in str(err.value)
        assert silent_server.received == [b"GET /health HTTP/1.1"]  # no retries

    def test_the_bound_is_the_argument(self, silent_server: Listener) -> None:
        started = time.monotonic()
        with pytest.raises(TrackingError, match=r"did not answer within 0\.5 s"):
            check_reachable(silent_server.url, timeout_s=0.5)
        # Short of the default bound, whatever the load: the argument was used.
        assert time.monotonic() - started < SERVER_TIMEOUT_S

    def test_a_refused_port_fails_at_once(
        self, connection_attempts: list[tuple[str, int]]
    ) -> None:
        port = _free_port()
        with pytest.raises(
            TrackingError,
            match=(
                rf"Cannot reach the MLflow tracking server at 'http://127.0.0.1:{port}'"
                rf": connection refused\. Start it .*--port {port}`"
            ),
        ):
            check_reachable(f"http://127.0.0.1:{port}", timeout_s=5)
        assert connection_attempts == [("127.0.0.1", port)]  # one try, no retries

    def test_a_server_closing_without_an_answer(self) -> None:
        listener = Listener(close=True)
        try:
            with pytest.raises(
                TrackingError,
                match=r"accepted the connection but did not answer in HTTP",
            ):
                check_reachable(listener.url, timeout_s=5)
        finally:
            listener.stop()

    def test_a_host_that_does_not_resolve(self) -> None:
        with pytest.raises(
            TrackingError,
            match=r"the host name 'pipelinex-mlflow-test\.invalid' does not resolve",
        ):
            check_reachable("http://pipelinex-mlflow-test.invalid:5000", timeout_s=5)

    def test_the_password_of_the_uri_is_masked(self, silent_server: Listener) -> None:
        uri = silent_server.url.replace("http://", "http://bob:hunter2@")
        with pytest.raises(TrackingError, match=r"'http://bob:\*\*\*\*\*@127") as err:
            check_reachable(uri, timeout_s=0.5)
        assert "hunter2" not in str(err.value)

    @pytest.mark.parametrize("bound", [0, -1, float("nan"), float("inf")])
    def test_the_bound_must_be_a_positive_number(self, bound: float) -> None:
        with pytest.raises(ValueError, match="timeout_s must be a positive number"):
            check_reachable("http://127.0.0.1:5000", timeout_s=bound)

    @pytest.mark.server
    def test_a_healthy_server_is_asked_once_per_check(
        self, mlflow_server_process: MlflowServer
    ) -> None:
        """One ``GET /health`` a check (its milliseconds: benchmarks/bench_tracking.py)."""
        offset = mlflow_server_process.log_offset()
        for _ in range(10):
            check_reachable(mlflow_server_process.url, timeout_s=5)
        health = [
            r
            for r in mlflow_server_process.requests_since(offset)
            if r.startswith("GET /health")
        ]
        assert len(health) == 10, mlflow_server_process.requests_since(offset)

    def test_a_server_that_never_accepts(self) -> None:
        """A full accept queue: the kernel drops the connection attempt."""
        with socket.create_server(("127.0.0.1", 0), backlog=0) as full:
            port = full.getsockname()[1]
            waiting = []
            for _ in range(3):  # fill the queue; none is ever accepted
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                waiting.append(sock)
            try:
                started = time.monotonic()
                with pytest.raises(
                    TrackingError,
                    match=r"did not accept a connection within 1 s\. Check the host",
                ):
                    check_reachable(f"http://127.0.0.1:{port}", timeout_s=1)
                # Short of the default bound, whatever the load: the argument held.
                assert time.monotonic() - started < SERVER_TIMEOUT_S
            finally:
                for sock in waiting:
                    sock.close()

    def test_a_server_answering_something_else(self) -> None:
        listener = Listener(reply=b"SSH-2.0-OpenSSH_9.6\r\n")
        try:
            with pytest.raises(
                TrackingError, match=r"did not answer in HTTP \(.*SSH-2\.0"
            ):
                check_reachable(listener.url, timeout_s=5)
        finally:
            listener.stop()

    def test_an_unusable_uri(self) -> None:
        with pytest.raises(
            TrackingError,
            match=r"Cannot reach the MLflow tracking server at 'http://a\.\.b:5000' \(",
        ):
            check_reachable("http://a..b:5000", timeout_s=5)

    def test_the_environments_proxy_is_used(
        self, monkeypatch: pytest.MonkeyPatch, silent_server: Listener
    ) -> None:
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_free_port()}")
        with pytest.raises(TrackingError, match=r"through the proxy .*NO_PROXY"):
            check_reachable(silent_server.url, timeout_s=5)
        assert silent_server.received == []

    def test_an_unknown_certificate_fails_the_handshake(
        self, tls_server: tuple[str, Path]
    ) -> None:
        url, _ = tls_server
        with pytest.raises(
            TrackingError,
            match=r"the TLS handshake failed .*MLFLOW_TRACKING_SERVER_CERT_PATH",
        ):
            check_reachable(url, timeout_s=5)

    def test_the_servers_certificate_from_mlflows_variable(
        self, tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        url, cert = tls_server
        monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert))
        check_reachable(url, timeout_s=5)

    @pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
    def test_insecure_tls_as_mlflow_reads_it(
        self, tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        url, _ = tls_server
        monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
        check_reachable(url, timeout_s=5)

    @pytest.mark.server
    def test_https_to_a_plain_http_server_is_a_tls_failure(
        self, mlflow_server: str
    ) -> None:
        with pytest.raises(TrackingError, match="the TLS handshake failed"):
            check_reachable(mlflow_server.replace("http://", "https://"), timeout_s=5)


class TestKedroRun:
    def test_kedro_run_against_a_silent_server_fails_before_any_node(
        self,
        example_project: Path,
        silent_server: Listener,
        client: MlflowClient,
    ) -> None:
        """Before, the run hung for minutes; the default bound is 10 s."""
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": silent_server.url,
            "COLUMNS": "400",  # so rich does not wrap the error line
        }
        kedro = Path(sys.executable).with_name("kedro")
        started = time.monotonic()
        done = subprocess.run(
            [str(kedro), "run"],
            cwd=example_project,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,  # the old check hung past 7 min here
            check=False,
        )
        elapsed = time.monotonic() - started
        output = done.stdout + done.stderr
        assert done.returncode == 1, output[-3000:]
        error = (
            f"TrackingError: The MLflow tracking server at '{silent_server.url}' "
            "accepted the connection but did not answer within 10 s."
        )
        (line,) = [line for line in output.splitlines() if line.startswith(error)]
        assert "MLflowBasicLoggerHook(server_timeout=...)" in line
        assert "Loading data from" not in output  # no node ran
        assert "Completed node" not in output
        assert elapsed < 10 + 120  # the bound, plus Kedro's start on a busy machine
        assert silent_server.received == [b"GET /health HTTP/1.1"]
        # No run anywhere: no store in the project, none in the one the test set up.
        leftovers = {"mlflow.db", "mlruns", "mlartifacts"}
        assert leftovers.isdisjoint(p.name for p in example_project.iterdir())
        assert client.search_runs(["0"]) == []
        assert [e.name for e in client.search_experiments()] == ["Default"]


# --------------------------------------------------------------------------------------
# Database stores
# --------------------------------------------------------------------------------------
#: The start-up bound of the database tests, set by the project's mlflow.yml.
DATABASE_BOUND_S = 2


def _run_against_store(
    project: Path, uri: str, bound_s: float = DATABASE_BOUND_S
) -> tuple[str, int, float]:
    """``kedro run`` of ``project`` on the store ``uri``: output, exit code, seconds."""
    (project / "conf" / "local" / "mlflow.yml").write_text(
        f"server:\n  timeout: {bound_s}\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "COLUMNS": "400"}
    kedro = Path(sys.executable).with_name("kedro")
    started = time.monotonic()
    done = subprocess.run(
        [str(kedro), "run"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        # Before, MLflow's ten connection attempts took about 100 s (and a silent
        # database held the first one for good).
        timeout=90,
        check=False,
    )
    return done.stdout + done.stderr, done.returncode, time.monotonic() - started


def _stopped_before_any_node(output: str, code: int, elapsed: float, start: str) -> str:
    """The one error line of a run that stopped at start; checks the rest."""
    assert code == 1, output[-3000:]
    lines = [line for line in output.splitlines() if line.startswith(start)]
    assert len(lines) == 1, output[-3000:]
    assert "Loading data from" not in output  # no node ran
    assert "Completed node" not in output
    # The bound, plus Kedro's start on a busy 2-core machine (about 10 s idle).
    assert elapsed < DATABASE_BOUND_S + 60
    return lines[0]


def _no_run_anywhere(project: Path, client: MlflowClient) -> None:
    leftovers = {"mlflow.db", "mlruns", "mlartifacts"}
    assert leftovers.isdisjoint(p.name for p in project.iterdir())
    assert client.search_runs(["0"]) == []
    assert [e.name for e in client.search_experiments()] == ["Default"]


class TestKedroRunDatabaseStores:
    @pytest.mark.parametrize(
        ("scheme", "database"), [("postgresql", "PostgreSQL"), ("mysql", "MySQL")]
    )
    def test_a_closed_port(
        self, example_project: Path, client: MlflowClient, scheme: str, database: str
    ) -> None:
        port = _free_port()
        uri = f"{scheme}://bob:hunter2@127.0.0.1:{port}/mlflow"

        output, code, elapsed = _run_against_store(example_project, uri)

        line = _stopped_before_any_node(
            output,
            code,
            elapsed,
            f"TrackingError: Cannot reach the {database} database of the MLflow store "
            f"at '{scheme}://bob:*****@127.0.0.1:{port}/mlflow': connection "
            f"refused at 127.0.0.1:{port}. Start the database server",
        )
        assert "MLFLOW_TRACKING_URI" in line  # what to fix
        assert "hunter2" not in output
        _no_run_anywhere(example_project, client)

    def test_a_database_that_accepts_and_never_answers(
        self, example_project: Path, client: MlflowClient
    ) -> None:
        with socket.create_server(("127.0.0.1", 0)) as silent:
            port = silent.getsockname()[1]
            uri = f"postgresql://bob:hunter2@127.0.0.1:{port}/mlflow"

            output, code, elapsed = _run_against_store(example_project, uri)

        line = _stopped_before_any_node(
            output,
            code,
            elapsed,
            "TrackingError: The PostgreSQL database of the MLflow store at "
            f"'postgresql://bob:*****@127.0.0.1:{port}/mlflow' accepted the "
            f"connection but did not answer within {DATABASE_BOUND_S} s.",
        )
        assert "MLflowBasicLoggerHook(server_timeout=...)" in line
        assert "hunter2" not in output
        _no_run_anywhere(example_project, client)


class TestMySQLStores:
    """MySQL is bounded at start like PostgreSQL; no MySQL server or driver needed."""

    @pytest.mark.parametrize("driver", ["", "+pymysql", "+mysqlconnector"])
    def test_a_closed_port_fails_within_the_bound_in_one_masked_line(
        self, driver: str
    ) -> None:
        from pipelinex_mlflow.tracking import get_client
        from pipelinex_mlflow.tracking.retry_policy import POLICY

        port = _free_port()
        uri = f"mysql{driver}://bob:hunter2@127.0.0.1:{port}/mlflow"
        started = time.monotonic()
        with pytest.raises(TrackingError, match="connection refused") as err:
            get_client(uri)  # what a run opens first
        assert time.monotonic() - started < POLICY.server_timeout_s
        assert str(err.value) == (
            f"Cannot reach the MySQL database of the MLflow store at "
            f"'mysql{driver}://bob:*****@127.0.0.1:{port}/mlflow': connection "
            f"refused at 127.0.0.1:{port}. Start the database server (or check its "
            "port), or fix the `uri` of MLflowBasicLoggerHook or the "
            "MLFLOW_TRACKING_URI environment variable."
        )

    def test_a_silent_listener_fails_at_the_bound(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as silent:
            port = silent.getsockname()[1]
            uri = f"mysql+pymysql://bob:hunter2@127.0.0.1:{port}/mlflow"
            started = time.monotonic()
            with pytest.raises(TrackingError, match="MySQL") as err:
                check_reachable(uri, timeout_s=1)
        # Short of the default bound, whatever the load: the argument held.
        assert time.monotonic() - started < SERVER_TIMEOUT_S
        assert "\n" not in str(err.value)
        assert "hunter2" not in str(err.value)


@pytest.mark.server
class TestRealPostgres:
    """The real PostgreSQL of ``tests/postgres.py`` (password authentication)."""

    def test_the_database_answers_and_a_wrong_name_is_refused(
        self, postgres: Postgres
    ) -> None:
        """The check passes; a database that does not exist fails it.

        What the check costs: ``benchmarks/bench_tracking.py --database URI``.
        """
        check_reachable(postgres.uri, timeout_s=5)
        check_reachable(postgres.uri, timeout_s=5)
        with pytest.raises(
            TrackingError,
            match=r"refused the connection: database \"no_such_database\" does not "
            r"exist\. Check the user name, the password and the database name",
        ):
            check_reachable(_with(postgres.uri, database="no_such_database"), 5)

    def test_kedro_run_with_a_wrong_password(
        self, example_project: Path, client: MlflowClient, postgres: Postgres
    ) -> None:
        runs_before = _postgres_runs(postgres)
        uri = _with(postgres.uri, password="not-the-password")  # noqa: S106

        # A real database refuses a wrong password at once; a loaded machine may
        # still take more than the 2 s of the silent-database tests to say so.
        output, code, elapsed = _run_against_store(example_project, uri, bound_s=30)

        _stopped_before_any_node(
            output,
            code,
            elapsed,
            "TrackingError: The PostgreSQL database of the MLflow store at "
            f"'postgresql+psycopg://mlflow:*****@127.0.0.1:{postgres.port}/mlflow' "
            'refused the connection: password authentication failed for user "mlflow".'
            " Check the user name, the password and the database name in the URI",
        )
        assert "not-the-password" not in output
        assert _postgres_runs(postgres) == runs_before
        _no_run_anywhere(example_project, client)


def _with(uri: str, **parts: str) -> str:
    """``uri`` with some of its parts replaced (``password``, ``database``)."""
    from sqlalchemy.engine import make_url

    return make_url(uri).set(**parts).render_as_string(hide_password=False)


def _postgres_runs(postgres: Postgres) -> int:
    """Runs in the PostgreSQL database (other tests' team server shares it)."""
    import psycopg

    with psycopg.connect(postgres.conninfo) as connection:
        exists = connection.execute("SELECT to_regclass('runs')").fetchone()
        if exists is None or exists[0] is None:
            return 0
        counted = connection.execute("SELECT count(*) FROM runs").fetchone()
        return int(counted[0]) if counted else 0
