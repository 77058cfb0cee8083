"""One bounded look at a tracking store: did it answer, and if not why.

For a tracking server: MLflow's own client retries for minutes, and a server that
accepts connections but never answers holds it until then (a plain TCP connect
succeeds against it). The probe sends one ``GET /health``, with no retries and no
redirects followed, the way MLflow's client would reach the server: through the
environment's proxies, with ``MLFLOW_TRACKING_INSECURE_TLS``,
``MLFLOW_TRACKING_SERVER_CERT_PATH`` and ``MLFLOW_TRACKING_CLIENT_CERT_PATH``
applied. Any HTTP status is an answer.

For a database store (PostgreSQL, MySQL, SQL Server): MLflow makes its engine with
ten connection attempts and exponential sleeps in between, about 100 s before it
gives up, and a database that accepts TCP but never answers holds the first
attempt forever (libpq has no connect timeout unless told). The probe connects
once, with no retries (:func:`probe_database`).

Connecting and the first answer share one time budget, and the attempt runs in a
daemon thread that is waited for only that long (and a quarter of a second), so
even a host name that takes long to resolve or a server that answers a byte at a
time costs no more.

Examples:
    >>> probe_server("http://127.0.0.1:9", timeout_s=2).kind  # nothing listens on 9
    'refused'
    >>> probe_database("postgresql://u:p@127.0.0.1:9/db", timeout_s=2).kind
    'refused'
"""

from __future__ import annotations

import http.client
import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlparse

from pipelinex_mlflow.tracking.retry_policy import POLICY

if TYPE_CHECKING:
    from collections.abc import Callable

ProbeKind = Literal[
    "answered",
    "refused",
    "unresolved",
    "no_connection",
    "no_answer",
    "not_http",
    "tls",
    "proxy",
    "rejected",
    "no_driver",
    "failed",
]

_HEALTH_PATH = "/health"
#: The schemes of a tracking server's URI.
SERVER_SCHEMES = ("http", "https")
# Beyond the budget, how long the thread is given to report urllib3's own timeout,
# which then names the phase that ran out; after it, the thread is left behind.
_REPORT_GRACE_S = POLICY.probe_report_grace_s
_DETAIL_CHARS = 200
_TRUE = ("1", "true")  # as MLflow reads its boolean variables
#: The database kinds MLflow stores runs in, by URI scheme (before any ``+driver``).
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql", "sqlite")
#: Their default ports, for the TCP connect when the URI names none.
DEFAULT_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
# The argument that bounds connecting, per SQLAlchemy driver name; given so that a
# probe which outlives its budget does not stay connecting for good.
_CONNECT_TIMEOUT_ARGS = {
    "psycopg": "connect_timeout",
    "psycopg2": "connect_timeout",
    "pg8000": "timeout",
    "pymysql": "connect_timeout",
    "mysqldb": "connect_timeout",
    "mysqlconnector": "connection_timeout",
    "pyodbc": "timeout",
    "pymssql": "login_timeout",
}
# What a driver says when its own connect timeout ran out.
_TIMEOUT_WORDS = ("timeout expired", "timed out", "timeout")


@dataclass(frozen=True)
class ProbeResult:
    """What the probe found, a short detail, and how long it took.

    The kinds: ``answered`` (any HTTP status); ``refused`` (nothing listens);
    ``unresolved`` (the host name does not resolve); ``no_connection`` (none
    accepted within the budget); ``no_answer`` (connected, no answer within the
    budget); ``not_http`` (connected, then closed, or answered something that is
    not HTTP); ``tls`` (the TLS handshake failed); ``proxy`` (the proxy failed);
    ``rejected`` (a database answered and refused: password, user, database
    name); ``no_driver`` (the database driver is not installed); ``failed``
    (anything else, said in ``detail``).
    """

    kind: ProbeKind
    detail: str
    elapsed_s: float


def probe_server(url: str, timeout_s: float) -> ProbeResult:
    """Send one ``GET <url>/health`` and wait at most ``timeout_s`` for the answer.

    Args:
        url: An ``http`` or ``https`` tracking URI.
        timeout_s: The budget for connecting and the first answer together.

    Returns:
        The outcome; never raises for a network failure.
    """
    return _bounded(lambda: _request(url, timeout_s), timeout_s)


def _bounded(
    attempt: Callable[[], tuple[ProbeKind, str]], timeout_s: float
) -> ProbeResult:
    """Run ``attempt`` in a daemon thread; what it found, or ``no_answer`` in time."""
    found: list[tuple[ProbeKind, str]] = []
    started = time.monotonic()

    def target() -> None:
        try:
            found.append(attempt())
        except Exception as exc:  # a bug of the probe is a finding, not a hang
            found.append(("failed", _short(exc)))

    thread = threading.Thread(
        target=target, name="pipelinex_mlflow-store-probe", daemon=True
    )
    thread.start()
    thread.join(timeout_s + _REPORT_GRACE_S)
    kind, detail = found[0] if found else ("no_answer", "still waiting")
    return ProbeResult(kind, detail, time.monotonic() - started)


def server_address(tracking_uri: str) -> tuple[str, int] | None:
    """The host and port of an HTTP(S) tracking server; ``None`` for other stores.

    Examples:
        >>> server_address("https://mlflow.example.com")
        ('mlflow.example.com', 443)
        >>> server_address("sqlite:///mlflow.db") is None
        True
    """
    parsed = urlparse(tracking_uri)
    if parsed.scheme not in SERVER_SCHEMES or not parsed.hostname:
        return None
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)


def database_scheme(uri: str) -> str | None:
    """The database kind of a store URI (``postgresql``...), ``None`` for others.

    Examples:
        >>> database_scheme("postgresql+psycopg://u@db/mlflow")
        'postgresql'
        >>> database_scheme("http://127.0.0.1:5000") is None
        True
    """
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    return scheme if scheme in DATABASE_SCHEMES else None


def probe_database(uri: str, timeout_s: float) -> ProbeResult:
    """Connect once to the database of a store URI within ``timeout_s``.

    Two steps share the budget. A TCP connect to the host and port names the
    network failures (refused, unresolved, nothing accepting) the same way for
    every driver, in milliseconds. It cannot see a server that accepts and never
    answers, a wrong password, a missing database or driver, which also send
    MLflow into its ~100 s of retries: so one real connection follows, through
    the engine MLflow itself would make for the URI (its driver, its connect
    arguments), with the driver's own connect timeout set where it has one.

    Args:
        uri: A ``postgresql``, ``mysql`` or ``mssql`` store URI (SQLAlchemy's form).
        timeout_s: The budget for both steps.

    Returns:
        The outcome (``answered`` when a connection was made); never raises.
    """
    return _bounded(lambda: _connect_database(uri, timeout_s), timeout_s)


def _connect_database(uri: str, timeout_s: float) -> tuple[ProbeKind, str]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    started = time.monotonic()
    try:
        url = make_url(uri)
    except (ArgumentError, ValueError) as exc:
        return "failed", _short(exc)
    port = url.port or DEFAULT_DATABASE_PORTS.get(url.get_backend_name())
    if url.host and port and "host" not in url.query:  # else a Unix socket
        failed = _tcp_connect(url.host, port, timeout_s)
        if failed is not None:
            return failed
    remaining = max(timeout_s - (time.monotonic() - started), 0.1)
    try:
        engine = _engine(uri, url, remaining)
    except (ImportError, NoSuchModuleError) as exc:
        return "no_driver", _short(exc)
    except Exception as exc:
        return "failed", _short(exc)
    try:
        with engine.connect():
            return "answered", "connected"
    except Exception as exc:
        return _database_failure(exc)
    finally:
        engine.dispose()


def _tcp_connect(
    host: str, port: int, timeout_s: float
) -> tuple[ProbeKind, str] | None:
    """Open and close a TCP connection; ``None`` if it worked, else what failed."""
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except socket.gaierror:
        return "unresolved", "the host name does not resolve"
    except ConnectionRefusedError:
        return "refused", "connection refused"
    except TimeoutError:
        return "no_connection", "no connection accepted"
    except OSError as exc:
        return "failed", _short(exc)
    return None


def _engine(uri: str, url: Any, timeout_s: float) -> Any:
    """The engine MLflow would make for ``uri`` (without its retries), bounded."""
    import sqlalchemy

    driver = url.get_driver_name()  # loads the dialect: it may be missing
    try:
        from mlflow.store.db.utils import create_sqlalchemy_engine
    except ImportError:  # pragma: no cover - another MLflow layout
        engine = sqlalchemy.create_engine(uri)
    else:
        engine = create_sqlalchemy_engine(uri)  # type: ignore[no-untyped-call]
    argument = _CONNECT_TIMEOUT_ARGS.get(driver)
    if argument is not None:
        seconds = max(math.ceil(timeout_s), 1)

        @sqlalchemy.event.listens_for(engine, "do_connect")
        def _bound(
            dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]
        ) -> None:
            cparams.setdefault(argument, seconds)

    return engine


def _database_failure(exc: BaseException) -> tuple[ProbeKind, str]:
    """Name a failed database connection: refused, silent, or refused by the server."""
    original = getattr(exc, "orig", None) or exc
    detail = _short(original)
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "refused", "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unresolved", "the host name does not resolve"
        if isinstance(cause, TimeoutError):
            return "no_answer", detail
    lowered = detail.lower()
    if "connection refused" in lowered:
        return "refused", "connection refused"
    if any(word in lowered for word in _TIMEOUT_WORDS):
        return "no_answer", detail
    return "rejected", _server_words(detail)


def _server_words(detail: str) -> str:
    """The server's own reason, without the driver's preamble.

    Examples:
        >>> _server_words(
        ...     'connection failed: connection to server at "h", port 5 '
        ...     'failed: FATAL:  password authentication failed for user "u"'
        ... )
        'password authentication failed for user "u"'
    """
    for marker in ("FATAL:", "ERROR:"):
        if marker in detail:
            return detail.rsplit(marker, 1)[1].strip()
    return detail


def _request(url: str, timeout_s: float) -> tuple[ProbeKind, str]:
    import requests
    from urllib3.util import Timeout

    verify, cert = _tls_options()
    # requests takes urllib3's Timeout as it is (HTTPAdapter.send); its stubs do not
    # say so. ``total`` leaves the first answer what connecting did not use.
    budget = cast("float", Timeout(total=timeout_s))
    session = requests.Session()
    session.headers["User-Agent"] = "pipelinex_mlflow"
    try:
        with session.get(
            f"{url.rstrip('/')}{_HEALTH_PATH}",
            timeout=budget,
            allow_redirects=False,
            stream=True,  # the status line is the answer; the body is not read
            verify=verify,
            cert=cert,
        ) as response:
            return "answered", f"HTTP {response.status_code}"
    except requests.exceptions.ConnectTimeout as exc:
        return "no_connection", _short(exc)
    except requests.exceptions.ReadTimeout as exc:
        return "no_answer", _short(exc)
    except requests.exceptions.SSLError as exc:
        return "tls", _short(exc)
    except requests.exceptions.ProxyError as exc:
        return "proxy", _short(exc)
    except Exception as exc:  # urllib3 lets some errors through unwrapped
        return _failure(exc)
    finally:
        session.close()


def _failure(exc: BaseException) -> tuple[ProbeKind, str]:
    """Name a connection failure by the first cause that says what happened."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return "unresolved", "the host name does not resolve"
        if isinstance(cause, ConnectionRefusedError):
            return "refused", "connection refused"
        if isinstance(cause, (ConnectionResetError, ConnectionAbortedError)):
            return "not_http", _short(cause)
        if isinstance(cause, http.client.HTTPException):
            return "not_http", _short(cause)
    return "failed", _short(exc)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: its causes and the exceptions among its arguments.

    requests wraps urllib3's error in its arguments, urllib3 keeps the socket's
    error as ``reason`` or ``__cause__``.
    """
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        linked = (
            *current.args,
            getattr(current, "reason", None),
            current.__cause__,
            current.__context__,
        )
        todo.extend(link for link in linked if isinstance(link, BaseException))
    return seen


def _short(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= _DETAIL_CHARS else f"{text[: _DETAIL_CHARS - 3]}..."


def _tls_options() -> tuple[bool | str, str | None]:
    """``verify`` and ``cert`` as MLflow's client sets them from its variables.

    Examples:
        >>> _tls_options()  # none of the variables set
        (True, None)
    """
    verify: bool | str = True
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in _TRUE:
        verify = False
    elif server_cert := os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
        verify = server_cert
    return verify, os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None
