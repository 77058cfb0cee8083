"""``RunLogger`` buffers what one run gets and sends it through ``log_batch``."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.keys import (
    MAX_TAG_LENGTH,
    MLFLOW_MAX_PARAM_LENGTH,
    sanitize_key,
)
from pipelinex_mlflow.tracking.stores import get_client
from pipelinex_mlflow.tracking.values import (
    flatten_dict,
    is_number,
    param_text,
    short_repr,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow.tracking.current_run import RunRef

LongParamPolicy = Literal["truncate", "tag", "fail"]
LONG_PARAM_POLICIES: tuple[str, ...] = get_args(LongParamPolicy)
LONG_PARAM_TAG_PREFIX = "pipelinex_mlflow.long_param."
CHANGED_PARAM_TAG_PREFIX = "pipelinex_mlflow.changed_param."

logger = logging.getLogger(__name__)


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
    if (
        isinstance(max_param_length, bool)
        or not isinstance(max_param_length, int)
        or max_param_length < 1
    ):
        raise ValueError(
            f"Invalid max_param_length {max_param_length!r}: give a positive integer, "
            f"for example 500 for old MLflow servers or {MLFLOW_MAX_PARAM_LENGTH}."
        )


@dataclass
class _Buffer:
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    # local path -> artifact folder; a path queued twice goes up once.
    artifacts: dict[str, str | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.params or self.metrics or self.tags or self.texts or self.artifacts
        )


class RunLogger:
    """Buffers params, metrics, tags, texts and files for one run, sent by ``flush``.

    Values go through ``MlflowClient.log_batch`` (which splits into chunks within
    MLflow's per-request limits), so a hundred values cost one or two requests
    instead of a hundred. The logger is thread-safe and picklable (it holds no
    client), so it can travel to ParallelRunner workers.

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
        >>> from pipelinex_mlflow.tracking import RunRef
        >>> logger = RunLogger(RunRef("sqlite:///mlflow.db", "0123abcd"))
        >>> logger.log_params({"model": {"depth": 3}})
        >>> logger.pending
        {'params': 1, 'metrics': 0, 'tags': 0, 'texts': 0, 'artifacts': 0}
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
                "artifacts": len(self._buffer.artifacts),
            }

    # ----------------------------------------------------------------------------------
    # Queueing
    # ----------------------------------------------------------------------------------
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
                self._queue_param(key, param_text(value), enforce_limit)

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
                text = param_text(value)[:MAX_TAG_LENGTH]
                self._buffer.tags[sanitize_key(key)] = text

    def log_text(self, text: str, artifact_file: str) -> None:
        """Queue ``text`` to be uploaded as the artifact file ``artifact_file``."""
        with self._lock:
            self._buffer.texts[artifact_file] = text

    def log_artifact(
        self, local_path: Path | str, artifact_path: str | None = None
    ) -> None:
        """Queue one file, or a whole folder (one call), to upload under ``artifact_path``.

        The file is read when :meth:`flush` uploads it.
        """
        with self._lock:
            self._buffer.artifacts[str(local_path)] = artifact_path

    # ----------------------------------------------------------------------------------
    # Sending
    # ----------------------------------------------------------------------------------
    def flush(self) -> None:
        """Send everything queued: values in as few requests as possible, then files.

        With ``check_existing_params``, a param that the run already holds with
        another value (it would make MLflow reject the whole batch) is moved to the
        tag ``pipelinex_mlflow.changed_param.<key>`` with a warning. Every queued
        file is tried, even when an earlier one fails.

        Raises:
            TrackingError: If MLflow rejects the batch, or a file fails to upload.
        """
        with self._lock:
            buffer, self._buffer = self._buffer, _Buffer()
        if not buffer:
            return
        client = get_client(self.run.tracking_uri)
        try:
            self._send_values(client, buffer)
        finally:
            # Rejected values must not cost the run its files as well.
            for artifact_file, text in buffer.texts.items():
                client.log_text(self.run.run_id, text, artifact_file)
            self._upload_files(client, buffer.artifacts)

    def _send_values(self, client: MlflowClient, buffer: _Buffer) -> None:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.exceptions import MlflowException

        params, tags = dict(buffer.params), dict(buffer.tags)
        if params and self._check_existing_params:
            params = self._without_changed_params(client, params, tags)
        metrics = [Metric(k, v, ts, step) for k, v, step, ts in buffer.metrics]
        param_entities = [Param(k, v) for k, v in params.items()]
        tag_entities = [RunTag(k, v) for k, v in tags.items()]
        try:
            self._log_batch(client, metrics, param_entities, tag_entities)
        except MlflowException as exc:
            rescued = ""
            if params and (metrics or tags):
                # One bad param (say, too long for an old server) must not cost the
                # run its metrics and tags as well.
                try:
                    self._log_batch(client, metrics, [], tag_entities)
                    rescued = "; its metrics and tags were sent without the params"
                except MlflowException:
                    rescued = ""
            raise TrackingError(
                f"MLflow rejected {len(params)} params, {len(metrics)} metrics and "
                f"{len(tags)} tags for run {self.run.run_id}{rescued}: {exc.message}"
            ) from exc

    def _log_batch(
        self,
        client: MlflowClient,
        metrics: list[Metric],
        params: list[Param],
        tags: list[RunTag],
    ) -> None:
        if not (metrics or params or tags):
            return
        client.log_batch(self.run.run_id, metrics=metrics, params=params, tags=tags)
        logger.debug(
            "Logged %d params, %d metrics and %d tags to MLflow run %s",
            len(params),
            len(metrics),
            len(tags),
            self.run.run_id,
        )

    def _without_changed_params(
        self, client: MlflowClient, params: dict[str, str], tags: dict[str, str]
    ) -> dict[str, str]:
        existing = client.get_run(self.run.run_id).data.params
        changed = {
            k: v for k, v in params.items() if k in existing and existing[k] != v
        }
        if changed:
            logger.warning(
                "MLflow run %s already holds other values for params %s; MLflow "
                "params cannot change, so the new values are logged as tags '%s<key>'.",
                self.run.run_id,
                sorted(changed),
                CHANGED_PARAM_TAG_PREFIX,
            )
        for key, value in changed.items():
            tags[sanitize_key(CHANGED_PARAM_TAG_PREFIX + key)] = value[:MAX_TAG_LENGTH]
        return {k: v for k, v in params.items() if k not in existing}

    def _upload_files(
        self, client: MlflowClient, artifacts: dict[str, str | None]
    ) -> None:
        failed: list[str] = []
        for local, artifact_path in artifacts.items():
            path = Path(local)
            try:
                if path.is_dir():
                    client.log_artifacts(self.run.run_id, local, artifact_path)
                else:
                    client.log_artifact(self.run.run_id, local, artifact_path)
            except Exception as exc:  # every file gets its chance
                failed.append(f"{local} ({type(exc).__name__}: {exc})")
                continue
            logger.debug("Uploaded %s to MLflow run %s", local, self.run.run_id)
        if failed:
            raise TrackingError(
                f"{len(failed)} of {len(artifacts)} file(s) could not be uploaded to "
                f"MLflow run {self.run.run_id}: {'; '.join(failed)}"
            )


def _now_ms() -> int:
    return int(time.time() * 1000)


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
