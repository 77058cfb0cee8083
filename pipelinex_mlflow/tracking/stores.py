"""Tracking stores: which URI to use, whether it answers, and one client per URI."""

from __future__ import annotations

import math
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from pipelinex_mlflow.masking import (
    get_logger,
    has_url_credentials,
    mask_url_passwords,
)
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.retry_policy import POLICY, apply_mlflow_http_settings
from pipelinex_mlflow.tracking.server_probe import (
    database_scheme,
    probe_database,
    probe_server,
    server_address,
)
from pipelinex_mlflow.tracking.store_creation import (
    check_sqlite_location,
    creation_lock,
    prepare_store,
    sqlite_db_path,
    store_is_ready,
)
from pipelinex_mlflow.tracking.store_messages import (
    database_message,
    unreachable_message,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


DEFAULT_DB_NAME = "mlflow.db"
DEFAULT_ARTIFACTS_DIR = "mlartifacts"
#: How long :func:`check_reachable` waits for a store to connect and answer.
SERVER_TIMEOUT_S = POLICY.server_timeout_s
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SERVER_SCHEMES = ("http", "https")
_DETAIL_CHARS = 300

logger = get_logger(__name__)

_clients: dict[tuple[int, str], MlflowClient] = {}
_clients_lock = threading.Lock()


#: MLflow's switch for its "View run ... at:" line.
SUPPRESS_URL_PRINTING_ENV_VAR = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"


def get_client(tracking_uri: str) -> MlflowClient:
    """Return an ``MlflowClient`` for ``tracking_uri``, one per process and URI.

    The client is passed the URI explicitly, as its tracking and its registry URI,
    so MLflow's process-wide tracking and registry URIs (``MLFLOW_REGISTRY_URI``)
    are never read or changed: models register in the store of their run. A
    database store is opened here, after one bounded connection attempt
    (:func:`check_reachable`: MLflow's own engine retries for about 100 s); a
    server is not contacted. A SQLite store that is missing is created complete
    aside and published whole, holding a lock shared by every process, and one an
    older version left half-made is set aside and made anew
    (:mod:`~pipelinex_mlflow.tracking.store_creation`): runs started together do
    not race MLflow's schema creation, and a process killed meanwhile leaves no
    broken store.

    Every MLflow object of the package that reaches a store (``TracingClient``,
    the model registry, artifact downloads) is made after this client, in the same
    process: MLflow's own cache then hands it the store opened here.

    MLflow's HTTP client gets the package's retries and timeouts
    (:func:`~pipelinex_mlflow.tracking.retry_policy.apply_mlflow_http_settings`),
    where the environment does not set them.

    For a URI that holds credentials, MLflow's own "View run ... at:" line is
    turned off for the process: MLflow prints the URI as it is, password included
    (the package's own lines mask it).

    Raises:
        TrackingError: If the store cannot be opened, in one line that says why and
            what to do (the database error is logged at debug level).

    Examples:
        >>> client = get_client("http://127.0.0.1:5000")  # a server: not contacted
        >>> client is get_client("http://127.0.0.1:5000")
        True
    """
    if has_url_credentials(tracking_uri):
        os.environ[SUPPRESS_URL_PRINTING_ENV_VAR] = "true"
    # Before the first request: MLflow reads them on each one.
    apply_mlflow_http_settings()
    key = (os.getpid(), tracking_uri)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _open_client(tracking_uri)
        return client


def _open_client(tracking_uri: str) -> MlflowClient:
    """A new client, its store opened: made whole under the lock if it is not."""
    from mlflow.tracking import MlflowClient

    db_path = sqlite_db_path(tracking_uri)
    if db_path is None:
        if database_scheme(tracking_uri) is not None:
            # Before MLflow's engine, which would retry for about 100 s.
            check_reachable(tracking_uri)
        return _checked_client(tracking_uri)
    if store_is_ready(db_path):
        try:
            return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        except Exception:  # opened again under the lock, then reported
            logger.debug(
                "Opening %s failed; retrying under the lock",
                mask_url_passwords(tracking_uri),
                exc_info=True,
            )
    check_sqlite_location(db_path, tracking_uri)
    with creation_lock(db_path, tracking_uri):
        prepare_store(db_path, tracking_uri)
        return _checked_client(tracking_uri)


def _checked_client(tracking_uri: str) -> MlflowClient:
    """``MlflowClient(tracking_uri)``, its database store opened, or a one-line error.

    MLflow 3 opens a database store when the client is made; a cheap read makes
    sure of it (under the lock, for SQLite), whatever a later MLflow defers. A
    server's client is only made: it is not contacted.
    """
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        if urlparse(tracking_uri).scheme not in _SERVER_SCHEMES:
            client.search_experiments(max_results=1)
    except Exception as exc:
        shown = mask_url_passwords(tracking_uri)
        logger.debug("Opening the MLflow store %s failed", shown, exc_info=True)
        raise TrackingError(
            mask_url_passwords(
                f"Cannot open the MLflow store at {shown!r} ({type(exc).__name__}: "
                f"{_first_line(exc)}). Check that the URI is right and that its "
                "database is an MLflow store this MLflow can use (back it up, then "
                "`mlflow db upgrade <uri>` migrates an older one); for a SQLite "
                "file, that its folder is writable."
            )
        ) from None
    return client


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "message", None) or exc).strip().splitlines()
    text = lines[0] if lines else "no message"
    return text if len(text) <= _DETAIL_CHARS else f"{text[: _DETAIL_CHARS - 3]}..."


def default_tracking_uri(root: Path) -> str:
    """Return ``MLFLOW_TRACKING_URI`` if set, else the SQLite store in ``root``.

    Args:
        root: The Kedro project root (the caller decides what stands in for it).

    Examples:
        >>> from pathlib import Path
        >>> default_tracking_uri(Path("/srv/proj"))  # doctest: +SKIP
        'sqlite:////srv/proj/mlflow.db'
    """
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    if from_env:
        return from_env
    return f"sqlite:///{(root / DEFAULT_DB_NAME).resolve().as_posix()}"


def normalize_tracking_uri(uri: str, root: Path) -> str:
    """Make a tracking URI usable: relative SQLite paths become absolute.

    A relative ``sqlite:///mlruns/sqlite.db`` would otherwise depend on the current
    directory of whichever process logs, and SQLite cannot create the file in a
    folder that does not exist, so the folder is created.

    Args:
        uri: The tracking URI as configured.
        root: The folder relative SQLite paths start from (the project root).

    Raises:
        TrackingError: For a plain path or ``file:`` URI (MLflow's legacy file store).
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file") and not _WINDOWS_DRIVE.match(uri):
        folder = Path(parsed.path if parsed.scheme == "file" else uri).expanduser()
        folder = (folder if folder.is_absolute() else root / folder).resolve()
        target = f"sqlite:///{(folder.parent / 'mlflow.db').as_posix()}"
        raise TrackingError(
            f"Tracking URI {uri!r} points at MLflow's legacy file store, which MLflow "
            "3.13 and later refuse and pipelinex_mlflow does not use. To keep its "
            "runs (PipelineX's ./mlruns), copy them into SQLite once: `mlflow "
            f"migrate-filestore --source {folder} --target {target}`; then set "
            f"uri={target!r} (or MLFLOW_TRACKING_URI). Without history to keep, use "
            "uri='sqlite:///mlflow.db' or an MLflow server URL such as "
            "'http://127.0.0.1:5000'."
        )
    if parsed.scheme != "sqlite" or uri.startswith("sqlite:////") or ":memory:" in uri:
        return uri
    db_path = (root / uri[len("sqlite:///") :]).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db_path.as_posix()}"


def local_artifacts_uri(tracking_uri: str) -> str | None:
    """Where a local SQLite store keeps artifacts: ``mlartifacts/`` beside the file.

    MLflow's own default is ``./mlruns`` of whichever folder the process runs in.

    Examples:
        >>> local_artifacts_uri("sqlite:////srv/proj/mlflow.db")
        'file:///srv/proj/mlartifacts'
        >>> local_artifacts_uri("http://127.0.0.1:5000") is None
        True
    """
    if not tracking_uri.startswith("sqlite:////"):
        return None
    from pathlib import Path

    db_path = Path(tracking_uri[len("sqlite:///") :])
    return (db_path.parent / DEFAULT_ARTIFACTS_DIR).as_uri()


def check_reachable(tracking_uri: str, timeout_s: float = SERVER_TIMEOUT_S) -> None:
    """Fail fast unless the tracking store can be used, within ``timeout_s``.

    MLflow retries with back-off for minutes against a server, about 100 s against
    a database, and a server or database that accepts connections but never
    answers would hold a run for as long before any node runs. So, bounded by
    ``timeout_s`` seconds, connecting included:

    - an HTTP(S) server must answer one ``GET /health``, any status
      (:func:`~pipelinex_mlflow.tracking.server_probe.probe_server`); against a
      healthy server on the same machine it costs a few milliseconds;
    - a database (PostgreSQL, MySQL, SQL Server) must accept one connection,
      credentials and database name included
      (:func:`~pipelinex_mlflow.tracking.server_probe.probe_database`);
    - a SQLite file must be readable and writable, in a folder that is (or can
      be made) writable (no network: file checks only).

    Other stores (Databricks, plug-ins) are not checked.

    Args:
        tracking_uri: The tracking URI.
        timeout_s: The bound, in seconds (MLflowBasicLoggerHook's
            ``server_timeout``).

    Raises:
        TrackingError: In one line: the store (its password masked), what went
            wrong, what to do.
        ValueError: If ``timeout_s`` is not a positive number.

    Examples:
        >>> check_reachable("sqlite:////tmp/mlflow.db")  # a writable folder: fine
        >>> check_reachable("http://127.0.0.1:9", timeout_s=2)
        Traceback (most recent call last):
        ...
        pipelinex_mlflow.tracking.errors.TrackingError: Cannot reach the MLflow ...
    """
    if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s)) or (
        timeout_s <= 0
    ):
        raise ValueError(
            f"timeout_s must be a positive number of seconds, got {timeout_s!r}."
        )
    db_path = sqlite_db_path(tracking_uri)
    if db_path is not None:
        check_sqlite_location(db_path, tracking_uri)
        return
    if server_address(tracking_uri) is not None:
        result = probe_server(tracking_uri, timeout_s)
        message = unreachable_message
    elif database_scheme(tracking_uri) not in (None, "sqlite"):
        result = probe_database(tracking_uri, timeout_s)
        message = database_message
    else:
        return
    logger.debug(
        "%s answered the start-up check in %.3f s (%s)",
        mask_url_passwords(tracking_uri),
        result.elapsed_s,
        result.detail,
    )
    if result.kind != "answered":
        raise TrackingError(message(tracking_uri, timeout_s, result))


def run_view_lines(tracking_uri: str, experiment_id: str, run_id: str) -> list[str]:
    """Where a person can look at a run: its URL, or the ``mlflow ui`` command and URL.

    Examples:
        >>> run_view_lines("sqlite:///m.db", "1", "abc")
        ['mlflow ui --backend-store-uri sqlite:///m.db', 'http://127.0.0.1:5000/#/experiments/1/runs/abc']
    """
    run_path = f"#/experiments/{experiment_id}/runs/{run_id}"
    if urlparse(tracking_uri).scheme in ("http", "https"):
        return [f"{tracking_uri.rstrip('/')}/{run_path}"]
    return [
        f"mlflow ui --backend-store-uri {tracking_uri}",
        f"http://127.0.0.1:5000/{run_path}",
    ]


def run_view_hint(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """Say where a person can look at a run: its URL, or the ``mlflow ui`` command.

    Examples:
        >>> run_view_hint("http://127.0.0.1:5000", "1", "abc")
        'http://127.0.0.1:5000/#/experiments/1/runs/abc'
    """
    lines = run_view_lines(tracking_uri, experiment_id, run_id)
    if len(lines) == 1:
        return lines[0]
    command, url = lines
    return f"run `{command}` and open {url}"
