"""Every MLflow call that pipelinex_mlflow makes, always with an explicit run id.

Nothing else in the package imports MLflow. MLflow itself is imported lazily, inside
the functions that need it, because ``import mlflow`` costs more than a second and
``pipelinex_mlflow`` is imported by every ``kedro`` command through ``settings.py``.

The module also carries the *current run*: the run that ``MLflowBasicLoggerHook``
started. It is kept in a module global (inherited by forked workers) and mirrored in
environment variables of our own (inherited by spawned workers too), so datasets and
node hooks find it from any thread or process without MLflow's thread-local
active run.

Examples:
    >>> flatten_dict({"model": {"depth": 3, "name": "rf"}})
    {'model.depth': 3, 'model.name': 'rf'}
    >>> sanitize_key("params:model|depth")
    'params:model_depth'
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlparse

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

RUN_ID_ENV_VAR = "PIPELINEX_MLFLOW_RUN_ID"
TRACKING_URI_ENV_VAR = "PIPELINEX_MLFLOW_TRACKING_URI"
DEFAULT_DB_NAME = "mlflow.db"
DEFAULT_ARTIFACTS_DIR = "mlartifacts"

MAX_KEY_LENGTH = 250
MLFLOW_MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
LONG_PARAM_TAG_PREFIX = "pipelinex_mlflow.long_param."
CHANGED_PARAM_TAG_PREFIX = "pipelinex_mlflow.changed_param."

LongParamPolicy = Literal["truncate", "tag", "fail"]
LONG_PARAM_POLICIES: tuple[str, ...] = get_args(LongParamPolicy)
RunStatus = Literal["FINISHED", "FAILED", "KILLED"]

_INVALID_KEY_CHARS = re.compile(r"[^/\w.\- :]")
_REPEATED_SLASHES = re.compile(r"/{2,}")
_CONNECT_TIMEOUT_S = 5.0

logger = logging.getLogger(__name__)


class TrackingError(Exception):
    """Raised when pipelinex_mlflow cannot track to MLflow as configured."""


# --------------------------------------------------------------------------------------
# Keys and values
# --------------------------------------------------------------------------------------
def sanitize_key(key: str) -> str:
    """Turn any string into a key MLflow accepts for a param, metric or tag.

    Characters outside MLflow's allowed set (letters, digits, ``_ - . / : space``)
    become ``_``; repeated slashes collapse; leading slashes and ``..`` path parts
    go, and the key is cut to MLflow's 250 characters.

    Args:
        key: The raw key, for example a Kedro dataset name.

    Returns:
        A key that MLflow's validation accepts.

    Raises:
        TrackingError: If nothing usable is left of the key.

    Examples:
        >>> sanitize_key("a|b/../c")
        'a_b/c'
    """
    cleaned = _REPEATED_SLASHES.sub("/", _INVALID_KEY_CHARS.sub("_", str(key)))
    parts = [part for part in cleaned.split("/") if part not in ("", ".", "..")]
    cleaned = "/".join(parts).strip()[:MAX_KEY_LENGTH].rstrip("/").strip()
    if not cleaned:
        raise TrackingError(
            f"{key!r} cannot be used as an MLflow key: nothing is left of it after "
            "removing the characters MLflow rejects. Give the dataset or value a name "
            "with letters or digits."
        )
    return cleaned


def flatten_dict(
    data: Mapping[Any, Any], sep: str = ".", prefix: str = ""
) -> dict[str, Any]:
    """Flatten nested mappings into one level, joining keys with ``sep``.

    Empty nested mappings are kept as empty-dict leaves, so nothing silently vanishes.

    Args:
        data: The mapping to flatten.
        sep: The separator between a parent key and a child key.
        prefix: A key to put in front of every flattened key.

    Returns:
        A flat dict of leaf values.

    Examples:
        >>> flatten_dict({"a": {"b": 1, "c": {}}}, sep="/")
        {'a/b': 1, 'a/c': {}}
    """
    flat: dict[str, Any] = {}
    for key, value in data.items():
        full_key = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten_dict(value, sep=sep, prefix=full_key))
        else:
            flat[full_key] = value
    return flat


def is_number(value: Any) -> bool:
    """Tell whether ``value`` is a real number MLflow can log as a metric (not a bool).

    Examples:
        >>> is_number(3), is_number(True), is_number("3")
        (True, False, False)
    """
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        return True
    # numpy scalars and friends: anything with a lossless float conversion and a dtype.
    return (
        hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0 and _floatable(value)
    )


def _floatable(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def validate_long_param_policy(policy: str, max_param_length: int) -> None:
    """Reject an unknown long-param policy or a non-positive maximum length.

    Raises:
        ValueError: Naming the allowed policies, or the bad length.
    """
    if policy not in LONG_PARAM_POLICIES:
        raise ValueError(
            f"Invalid long_param_policy {policy!r}. Must be one of: "
            f"{', '.join(sorted(LONG_PARAM_POLICIES))}."
        )
    if not isinstance(max_param_length, int) or max_param_length < 1:
        raise ValueError(
            f"Invalid max_param_length {max_param_length!r}: give a positive integer, "
            f"for example 500 for old MLflow servers or {MLFLOW_MAX_PARAM_LENGTH}."
        )


# --------------------------------------------------------------------------------------
# The current run
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRef:
    """An MLflow run, addressed without any process-global MLflow state.

    Attributes:
        tracking_uri: The tracking URI of the store holding the run.
        run_id: The MLflow run id.
    """

    tracking_uri: str
    run_id: str


_current_run: RunRef | None = None


def set_current_run(run: RunRef | None) -> None:
    """Make ``run`` the run that datasets and node hooks log to (``None`` clears it)."""
    global _current_run  # noqa: PLW0603 - one process-wide slot, on purpose
    _current_run = run
    if run is None:
        os.environ.pop(RUN_ID_ENV_VAR, None)
        os.environ.pop(TRACKING_URI_ENV_VAR, None)
    else:
        os.environ[RUN_ID_ENV_VAR] = run.run_id
        os.environ[TRACKING_URI_ENV_VAR] = run.tracking_uri


def current_run() -> RunRef | None:
    """Return the run started by ``MLflowBasicLoggerHook``, from any thread or process.

    Returns:
        The run, or ``None`` when no pipeline run is being tracked.
    """
    if _current_run is not None:
        return _current_run
    run_id = os.environ.get(RUN_ID_ENV_VAR)
    tracking_uri = os.environ.get(TRACKING_URI_ENV_VAR)
    if run_id and tracking_uri:
        return RunRef(tracking_uri=tracking_uri, run_id=run_id)
    return None


# --------------------------------------------------------------------------------------
# Clients and tracking URIs
# --------------------------------------------------------------------------------------
_clients: dict[tuple[int, str], MlflowClient] = {}
_clients_lock = threading.Lock()


def get_client(tracking_uri: str) -> MlflowClient:
    """Return an ``MlflowClient`` for ``tracking_uri``, one per process and URI.

    The client is passed the URI explicitly, so the process-wide tracking URI of
    MLflow is never read or changed.
    """
    key = (os.getpid(), tracking_uri)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            from mlflow.tracking import MlflowClient

            client = _clients[key] = MlflowClient(tracking_uri=tracking_uri)
        return client


def default_tracking_uri(project_path: Path | str | None) -> str:
    """Return ``MLFLOW_TRACKING_URI`` if set, else the project's SQLite store.

    Args:
        project_path: The Kedro project root; the current directory when ``None``.

    Examples:
        >>> default_tracking_uri("/srv/proj")  # doctest: +SKIP
        'sqlite:////srv/proj/mlflow.db'
    """
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    if from_env:
        return from_env
    root = Path(project_path) if project_path else Path.cwd()
    return f"sqlite:///{(root / DEFAULT_DB_NAME).resolve().as_posix()}"


def normalize_tracking_uri(uri: str, project_path: Path | str | None) -> str:
    """Make a tracking URI usable: relative SQLite paths become absolute.

    A relative ``sqlite:///mlruns/sqlite.db`` would otherwise depend on the current
    directory of whichever process logs, and SQLite cannot create the file in a
    folder that does not exist, so the folder is created.

    Raises:
        TrackingError: For a plain path or ``file:`` URI (MLflow's legacy file store).
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file") and not re.match(r"^[A-Za-z]:[\\/]", uri):
        raise TrackingError(
            f"Tracking URI {uri!r} points at MLflow's legacy file store, which MLflow 3 "
            "keeps in maintenance mode and which pipelinex_mlflow does not use. Use a "
            "database instead, for example 'sqlite:///mlflow.db', or an MLflow server "
            "URL such as 'http://127.0.0.1:5000'."
        )
    if parsed.scheme != "sqlite" or uri.startswith("sqlite:////") or ":memory:" in uri:
        return uri
    relative = uri[len("sqlite:///") :]
    root = Path(project_path) if project_path else Path.cwd()
    db_path = (root / relative).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db_path.as_posix()}"


def check_reachable(tracking_uri: str) -> None:
    """Fail fast when an HTTP tracking server does not accept connections.

    MLflow retries refused connections with back-off for minutes; a typo in a port
    should cost seconds.

    Raises:
        TrackingError: Naming the URI and what to check.
    """
    parsed = urlparse(tracking_uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), _CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise TrackingError(
            f"Cannot reach the MLflow tracking server at {tracking_uri!r} ({exc}). "
            "Start it (for example `mlflow server --host 127.0.0.1 --port "
            f"{port}`), or fix the `uri` of MLflowBasicLoggerHook or the "
            "MLFLOW_TRACKING_URI environment variable."
        ) from exc


def run_view_hint(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """Say where a person can look at a run: its URL, or the ``mlflow ui`` command.

    Examples:
        >>> run_view_hint("http://127.0.0.1:5000", "1", "abc")
        'http://127.0.0.1:5000/#/experiments/1/runs/abc'
    """
    run_path = f"#/experiments/{experiment_id}/runs/{run_id}"
    if urlparse(tracking_uri).scheme in ("http", "https"):
        return f"{tracking_uri.rstrip('/')}/{run_path}"
    return (
        f"run `mlflow ui --backend-store-uri {tracking_uri}` and open "
        f"http://127.0.0.1:5000/{run_path}"
    )


# --------------------------------------------------------------------------------------
# Run lifecycle
# --------------------------------------------------------------------------------------
def ensure_experiment(
    tracking_uri: str, name: str, artifact_location: str | None = None
) -> str:
    """Return the id of experiment ``name``, creating it (with ``artifact_location``).

    A new experiment of a local SQLite store keeps its artifacts in ``mlartifacts/``
    beside the database unless ``artifact_location`` says otherwise: MLflow's own
    default is ``./mlruns`` of whichever folder the process happens to run in. A
    deleted experiment of that name is restored rather than failing.
    """
    client = get_client(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        logger.info("Creating MLflow experiment %r", name)
        return client.create_experiment(
            name, artifact_location=artifact_location or _local_artifacts(tracking_uri)
        )
    if experiment.lifecycle_stage == "deleted":
        logger.warning("Restoring the deleted MLflow experiment %r", name)
        client.restore_experiment(experiment.experiment_id)
    return str(experiment.experiment_id)


def _local_artifacts(tracking_uri: str) -> str | None:
    if not tracking_uri.startswith("sqlite:////"):
        return None
    db_path = Path(tracking_uri[len("sqlite:///") :])
    return (db_path.parent / DEFAULT_ARTIFACTS_DIR).as_uri()


def open_run(
    tracking_uri: str,
    *,
    experiment_name: str,
    artifact_location: str | None = None,
    run_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
) -> tuple[RunRef, str]:
    """Resume ``run_id``, or start a run in ``experiment_name`` (created if missing).

    With ``nested``, the new run is a child of the run the caller opened with
    ``mlflow.start_run()`` (or named in ``MLFLOW_RUN_ID``).

    Returns:
        The run and its experiment id.

    Raises:
        TrackingError: If the store refuses, naming the store and the reason.
    """
    from mlflow.exceptions import MlflowException

    try:
        if run_id:
            return resume_run(tracking_uri, run_id)
        experiment_id = ensure_experiment(
            tracking_uri, experiment_name, artifact_location
        )
        parent = find_active_fluent_run_id() if nested else None
        if nested and parent is None:
            logger.warning(
                "nested=True found no enclosing MLflow run (none active, no "
                "MLFLOW_RUN_ID); starting a top-level run."
            )
        run = start_run(
            tracking_uri, experiment_id, run_name=run_name, parent_run_id=parent
        )
    except MlflowException as exc:
        raise TrackingError(
            f"Cannot start an MLflow run in the store at {tracking_uri!r}: "
            f"{exc.message}"
        ) from exc
    return run, experiment_id


def start_run(
    tracking_uri: str,
    experiment_id: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
) -> RunRef:
    """Create a RUNNING run, optionally as a child of ``parent_run_id``."""
    all_tags = dict(tags or {})
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = get_client(tracking_uri).create_run(
        experiment_id, run_name=run_name, tags=all_tags
    )
    return RunRef(tracking_uri=tracking_uri, run_id=run.info.run_id)


def resume_run(tracking_uri: str, run_id: str) -> tuple[RunRef, str]:
    """Set an existing run back to RUNNING.

    Returns:
        The run and its experiment id.

    Raises:
        TrackingError: If no such run exists in the store.
    """
    from mlflow.exceptions import MlflowException

    client = get_client(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise TrackingError(
            f"Cannot resume MLflow run {run_id!r}: it is not in the store at "
            f"{tracking_uri!r} ({exc.message}). Check the `run_id` of "
            "MLflowBasicLoggerHook, or leave it unset to start a new run."
        ) from exc
    client.update_run(run_id, status="RUNNING")
    return RunRef(tracking_uri=tracking_uri, run_id=run_id), str(run.info.experiment_id)


def end_run(run: RunRef, status: RunStatus) -> None:
    """Mark ``run`` as terminated with ``status``."""
    get_client(run.tracking_uri).set_terminated(run.run_id, status=status)


def find_active_fluent_run_id() -> str | None:
    """Return the id of the run a caller opened with ``mlflow.start_run()``, if any.

    Only read when a hook is asked to nest its run under an enclosing one.
    """
    import mlflow

    active = mlflow.active_run()
    return active.info.run_id if active else os.environ.get("MLFLOW_RUN_ID")


# --------------------------------------------------------------------------------------
# Reading back
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunData:
    """What a run holds: params as strings, latest metrics as floats, tags."""

    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def get_run_data(run: RunRef) -> RunData:
    """Read the params, latest metrics and tags of ``run``."""
    data = get_client(run.tracking_uri).get_run(run.run_id).data
    return RunData(
        params=dict(data.params), metrics=dict(data.metrics), tags=dict(data.tags)
    )


def get_metric_history(run: RunRef, key: str) -> list[float]:
    """Return the values of metric ``key`` in step order."""
    history = get_client(run.tracking_uri).get_metric_history(run.run_id, key)
    return [m.value for m in sorted(history, key=lambda m: (m.step, m.timestamp))]


def artifact_exists(run: RunRef, artifact_path: str) -> bool:
    """Tell whether ``artifact_path`` (a file or folder) exists in ``run``."""
    parent, _, name = artifact_path.rstrip("/").rpartition("/")
    listed = get_client(run.tracking_uri).list_artifacts(run.run_id, parent or None)
    return any(info.path.rstrip("/").rpartition("/")[2] == name for info in listed)


def download_artifact(run: RunRef, artifact_path: str, dst_dir: Path) -> Path:
    """Download ``artifact_path`` of ``run`` into ``dst_dir`` and return its local path.

    Raises:
        TrackingError: If the run has no such artifact.
    """
    from mlflow.exceptions import MlflowException

    try:
        local = get_client(run.tracking_uri).download_artifacts(
            run.run_id, artifact_path, dst_path=str(dst_dir)
        )
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow run {run.run_id!r} has no artifact {artifact_path!r}: "
            f"{exc.message}"
        ) from exc
    return Path(local)


# --------------------------------------------------------------------------------------
# Writing: a buffer flushed through log_batch
# --------------------------------------------------------------------------------------
@dataclass
class _Buffer:
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.params or self.metrics or self.tags or self.texts)


class RunLogger:
    """Buffers params, metrics and tags for one run and writes them in batches.

    Values are only sent by :meth:`flush`, through ``MlflowClient.log_batch`` (which
    splits into chunks within MLflow's per-request limits), so a hundred values cost
    one or two requests instead of a hundred. The logger is thread-safe and picklable
    (it holds no client), so it can travel to ParallelRunner workers.

    Args:
        run: The run to log to.
        max_param_length: The longest param value to send. MLflow 3 servers take
            6000 characters; older servers reject more than 250 or 500.
        long_param_policy: What to do with a longer value: ``truncate`` it (with a
            warning), also keep the full value in a ``tag`` (tags hold 8000
            characters; beyond that it goes to a text artifact), or ``fail``.
        check_existing_params: Read the run's params before each flush, for runs
            that may already hold params (a resumed run): MLflow rejects a whole
            batch in which one param changes value.

    Examples:
        >>> logger = RunLogger(RunRef("sqlite:///mlflow.db", "0123abcd"))
        >>> logger.log_params({"model": {"depth": 3}})
        >>> logger.pending
        {'params': 1, 'metrics': 0, 'tags': 0, 'texts': 0}
    """

    def __init__(
        self,
        run: RunRef,
        *,
        max_param_length: int = MLFLOW_MAX_PARAM_LENGTH,
        long_param_policy: LongParamPolicy = "truncate",
        check_existing_params: bool = False,
    ) -> None:
        validate_long_param_policy(long_param_policy, max_param_length)
        self.run = run
        self._check_existing_params = check_existing_params
        self._max_param_length = max_param_length
        self._long_param_policy = long_param_policy
        self._buffer = _Buffer()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def pending(self) -> dict[str, int]:
        """How many values of each kind wait for the next flush."""
        with self._lock:
            return {
                "params": len(self._buffer.params),
                "metrics": len(self._buffer.metrics),
                "tags": len(self._buffer.tags),
                "texts": len(self._buffer.texts),
            }

    def log_params(
        self, params: Mapping[str, Any], sep: str = ".", *, enforce_limit: bool = True
    ) -> None:
        """Queue params; nested dicts are flattened with ``sep``, values stringified.

        ``enforce_limit=False`` exempts short values of our own (timestamps) from
        the long-param policy.

        Raises:
            TrackingError: For an over-long value under the ``fail`` policy, or one
                key given two different values before a flush.
        """
        flat = flatten_dict(params, sep=sep)
        with self._lock:
            for raw_key, value in flat.items():
                key = sanitize_key(raw_key)
                self._queue_param(key, _param_text(value), enforce_limit)

    def _queue_param(self, key: str, text: str, enforce_limit: bool) -> None:
        if enforce_limit and len(text) > self._max_param_length:
            text = self._shorten_param(key, text)
        previous = self._buffer.params.get(key)
        if previous is not None and previous != text:
            raise TrackingError(
                f"MLflow param {key!r} was given two values in one run ({previous!r} "
                f"and {text!r}); MLflow params cannot change. Log the value as a "
                "metric, or give the second one another name."
            )
        self._buffer.params[key] = text

    def _shorten_param(self, key: str, text: str) -> str:
        limit = self._max_param_length
        if self._long_param_policy == "fail":
            raise TrackingError(
                f"The value of MLflow param {key!r} has {len(text)} characters, more "
                f"than max_param_length={limit}. Shorten it, raise max_param_length "
                "if your server allows it, or set long_param_policy to 'truncate' or "
                "'tag'."
            )
        if self._long_param_policy == "tag":
            tag_key = sanitize_key(LONG_PARAM_TAG_PREFIX + key)
            if len(text) <= MAX_TAG_LENGTH:
                self._buffer.tags[tag_key] = text
            else:
                artifact = f"long_params/{key}.txt"
                self._buffer.texts[artifact] = text
                self._buffer.tags[tag_key] = f"too long for a tag; see {artifact}"
        else:
            logger.warning(
                "Truncated MLflow param %r from %d to %d characters "
                "(long_param_policy='truncate').",
                key,
                len(text),
                limit,
            )
        return text[:limit]

    def log_metrics(
        self, metrics: Mapping[str, Any], step: int = 0, sep: str = "."
    ) -> None:
        """Queue metrics at ``step``; nested dicts are flattened with ``sep``.

        Raises:
            TrackingError: If a value is not a number.
        """
        now = _now_ms()
        flat = flatten_dict(metrics, sep=sep)
        entries = [
            (sanitize_key(k), _metric_value(k, v), step, now) for k, v in flat.items()
        ]
        with self._lock:
            self._buffer.metrics.extend(entries)

    def log_metric_history(self, key: str, values: Iterable[Any]) -> None:
        """Queue a metric history: ``values`` at steps 0, 1, 2, ...

        Raises:
            TrackingError: If a value is not a number.
        """
        now = _now_ms()
        clean = sanitize_key(key)
        entries = [
            (clean, _metric_value(f"{key}[{i}]", v), i, now)
            for i, v in enumerate(values)
        ]
        with self._lock:
            self._buffer.metrics.extend(entries)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Queue tags; values are stringified and cut to MLflow's 8000 characters."""
        with self._lock:
            for key, value in tags.items():
                self._buffer.tags[sanitize_key(key)] = _param_text(value)[
                    :MAX_TAG_LENGTH
                ]

    def log_text(self, text: str, artifact_file: str) -> None:
        """Queue ``text`` to be uploaded as the artifact file ``artifact_file``."""
        with self._lock:
            self._buffer.texts[artifact_file] = text

    def flush(self) -> None:
        """Send everything queued, params, metrics and tags in as few requests as possible.

        With ``check_existing_params``, a param that the run already holds with
        another value (it would make MLflow reject the whole batch) is moved to the
        tag ``pipelinex_mlflow.changed_param.<key>`` with a warning.

        Raises:
            TrackingError: If MLflow rejects the batch.
        """
        with self._lock:
            buffer, self._buffer = self._buffer, _Buffer()
        if not buffer:
            return
        self._send(buffer)

    def _send(self, buffer: _Buffer) -> None:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.exceptions import MlflowException

        client = get_client(self.run.tracking_uri)
        params, tags = dict(buffer.params), dict(buffer.tags)
        if params and self._check_existing_params:
            params = self._without_changed_params(client, params, tags)
        metrics = [Metric(k, v, ts, step) for k, v, step, ts in buffer.metrics]
        try:
            client.log_batch(
                self.run.run_id,
                metrics=metrics,
                params=[Param(k, v) for k, v in params.items()],
                tags=[RunTag(k, v) for k, v in tags.items()],
            )
        except MlflowException as exc:
            rescued = ""
            if params and (metrics or tags):
                # One bad param (say, too long for an old server) must not cost the
                # run its metrics and tags as well.
                try:
                    client.log_batch(
                        self.run.run_id,
                        metrics=metrics,
                        tags=[RunTag(k, v) for k, v in tags.items()],
                    )
                    rescued = "; its metrics and tags were sent without the params"
                except MlflowException:
                    rescued = ""
            raise TrackingError(
                f"MLflow rejected {len(params)} params, {len(metrics)} metrics and "
                f"{len(tags)} tags for run {self.run.run_id}{rescued}: {exc.message}"
            ) from exc
        for artifact_file, text in buffer.texts.items():
            client.log_text(self.run.run_id, text, artifact_file)
        logger.debug(
            "Logged %d params, %d metrics, %d tags and %d texts to MLflow run %s",
            len(params),
            len(metrics),
            len(tags),
            len(buffer.texts),
            self.run.run_id,
        )

    def _without_changed_params(
        self, client: MlflowClient, params: dict[str, str], tags: dict[str, str]
    ) -> dict[str, str]:
        existing = client.get_run(self.run.run_id).data.params
        changed = {
            k: v for k, v in params.items() if k in existing and existing[k] != v
        }
        if not changed:
            return {k: v for k, v in params.items() if k not in existing}
        logger.warning(
            "MLflow run %s already holds other values for params %s; MLflow params "
            "cannot change, so the new values are logged as tags '%s<key>'.",
            self.run.run_id,
            sorted(changed),
            CHANGED_PARAM_TAG_PREFIX,
        )
        for key, value in changed.items():
            tags[sanitize_key(CHANGED_PARAM_TAG_PREFIX + key)] = value[:MAX_TAG_LENGTH]
        return {k: v for k, v in params.items() if k not in existing}

    def log_artifact(
        self, local_path: Path | str, artifact_path: str | None = None
    ) -> None:
        """Upload one file, or a whole folder in one call, under ``artifact_path``."""
        client = get_client(self.run.tracking_uri)
        path = Path(local_path)
        if path.is_dir():
            client.log_artifacts(self.run.run_id, str(path), artifact_path)
        else:
            client.log_artifact(self.run.run_id, str(path), artifact_path)
        logger.debug("Uploaded %s to MLflow run %s", path, self.run.run_id)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (set, frozenset)):
        # Sets have no stable order; sort their text so reruns log the same value.
        return "{" + ", ".join(sorted(repr(v) for v in value)) + "}"
    return str(value)


def _metric_value(key: str, value: Any) -> float:
    if not is_number(value):
        raise TrackingError(
            f"MLflow metric {key!r} must be a number, got {type(value).__name__} "
            f"{short_repr(value)}. Log it as a param (dataset code 'p') or let "
            "dataset code 'a' choose by type."
        )
    number = float(value)
    if math.isnan(number):
        logger.debug("Metric %r is NaN", key)
    return number


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dumps_layout(layout: Mapping[str, Any]) -> str:
    """Serialise a value layout (see ``pipelinex_mlflow.io``) compactly for a tag."""
    return json.dumps(layout, separators=(",", ":"), sort_keys=True)
