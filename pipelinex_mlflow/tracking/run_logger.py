"""``RunLogger`` checks and buffers what one run gets, and hands it to the sender."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger, mask_secrets, mask_url_passwords
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.flattening import flatten_dict
from pipelinex_mlflow.tracking.keys import (
    MAX_TAG_LENGTH,
    MLFLOW_MAX_PARAM_LENGTH,
    distinct_keys,
    sanitize_key,
    suffixed_key,
)
from pipelinex_mlflow.tracking.metric_checks import metric_value
from pipelinex_mlflow.tracking.metric_point import MetricPoint
from pipelinex_mlflow.tracking.param_checks import (
    LongParamPolicy,
    masked_param,
    shorten_param,
    validate_long_param_policy,
)
from pipelinex_mlflow.tracking.senders import flush_timeout, sender_for
from pipelinex_mlflow.tracking.value_text import param_text, short_repr

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

    from pipelinex_mlflow.tracking.run_ref import RunRef

logger = get_logger(__name__)


@dataclass
class _Buffer:
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricPoint] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    # tag base -> entry name -> JSON-able value (see tracking.json_tags)
    json_tag_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    # local path -> (artifact folder, what must stay alive until it is uploaded);
    # a path queued twice goes up once.
    artifacts: dict[str, tuple[str | None, object]] = field(default_factory=dict)


class RunLogger:
    """Buffers params, metrics, tags, texts and files for one run, sent by ``flush``.

    Values are checked and made MLflow keys as they are queued, so a bad value
    fails the call that gave it. They pass the masking rule
    (:mod:`pipelinex_mlflow.masking`) on the way: a param whose key looks secret
    is logged as ``*****`` (with one warning), and secrets inside the text of
    other params and of tags are masked. ``flush`` hands them to the run's background
    sender, which merges the flushes of a whole run into ``log_batch`` requests of
    MLflow's maximum size. The logger is thread-safe and picklable (it holds no
    client), so it can travel to ParallelRunner workers.

    Args:
        run: The run to log to.
        max_param_length: The longest param value to send. MLflow 3 servers take
            6000 characters; older servers reject more than 250 or 500.
        long_param_policy: What to do with a longer value: ``truncate`` it (with a
            warning), also keep the full value in a ``tag`` (tags hold 8000
            characters; beyond that it goes to a text artifact), or ``fail``.
        check_existing_params: Compare with the params the run already holds (a
            resumed run; the sender reads them once per process): MLflow rejects
            a whole batch in which one param changes value, so changed ones
            become tags instead.

    Examples:
        >>> from pipelinex_mlflow.tracking import RunRef
        >>> logger = RunLogger(RunRef("sqlite:///mlflow.db", "0123abcd"))
        >>> logger.log_params({"model": {"depth": 3}})
        {'model.depth': 'model.depth'}
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
    ) -> dict[str, str]:
        """Queue params; nested dicts are flattened with ``sep``, values stringified.

        ``enforce_limit=False`` exempts short values of our own (timestamps) from
        the long-param policy. A value is never dropped for its key: MLflow params
        cannot change, so a key this run already holds with another value (given
        by this process), or two values that would become one key, keep each
        value under a key of its own (:func:`~pipelinex_mlflow.tracking.keys.
        suffixed_key`), with a warning naming both.

        Returns:
            The MLflow key each flattened key was queued under.

        Raises:
            LongParamError: For an over-long value under the ``fail`` policy.
        """
        flat = flatten_dict(params, sep=sep)
        keys = distinct_keys(flat)
        queued: dict[str, str] = {}
        with self._lock:
            for raw_key, value in flat.items():
                text = masked_param(raw_key, param_text(value))
                queued[raw_key] = self._queue_param(keys[raw_key], text, enforce_limit)
        return queued

    def _queue_param(self, key: str, text: str, enforce_limit: bool) -> str:
        if enforce_limit and len(text) > self._max_param_length:
            shortened = shorten_param(
                key, text, self._max_param_length, self._long_param_policy
            )
            self._buffer.tags.update(shortened.tags)
            self._buffer.texts.update(shortened.texts)
            text = shortened.text
        if not self._check_existing_params:
            # Claimed for the whole run (in this process), so another save's value
            # keeps a key of its own; a resumed run's changed params become tags
            # when they are sent instead.
            key = sender_for(self.run).claim_param(key, text)
        elif self._buffer.params.get(key, text) != text:
            changed = suffixed_key(key, f"{key}\x1f{text}")
            logger.warning(
                "MLflow param %r was given two values in one save; %s is logged as "
                "param %r.",
                key,
                short_repr(text, 60),
                changed,
            )
            key = changed
        self._buffer.params[key] = text
        return key

    def log_metrics(
        self,
        metrics: Mapping[str, Any],
        step: int = 0,
        sep: str = ".",
        *,
        model_ids: Sequence[str] = (),
    ) -> None:
        """Queue metrics at ``step``; nested dicts are flattened with ``sep``.

        Args:
            metrics: Names to numbers, nested or not.
            step: The step they are logged at.
            sep: Joins the keys of nested dicts.
            model_ids: Logged models the metrics are linked to (MLflow 3 shows
                them on each model's page).

        Raises:
            TrackingError: If a value is not a finite number, or two keys would
                become one MLflow key.
        """
        now = _now_ms()
        flat = flatten_dict(metrics, sep=sep)
        keys = distinct_keys(flat)
        points = [
            MetricPoint(keys[k], metric_value(k, v), step, now) for k, v in flat.items()
        ]
        self._queue_metrics(points, model_ids)

    def log_metric_history(
        self, key: str, values: Iterable[Any], *, model_ids: Sequence[str] = ()
    ) -> None:
        """Queue a metric history: ``values`` at steps 0, 1, 2, ...

        Raises:
            TrackingError: If a value is not a finite number.
        """
        now = _now_ms()
        clean = sanitize_key(key)
        points = [
            MetricPoint(clean, metric_value(f"{key}[{i}]", v), i, now)
            for i, v in enumerate(values)
        ]
        self._queue_metrics(points, model_ids)

    def _queue_metrics(
        self, points: list[MetricPoint], model_ids: Sequence[str]
    ) -> None:
        # A metric linked to two models is sent once per model: MLflow keeps one
        # run metric and links it to both.
        linked = (
            [
                replace(point, model_id=model_id)
                for model_id in model_ids
                for point in points
            ]
            if model_ids
            else points
        )
        with self._lock:
            self._buffer.metrics.extend(linked)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Queue tags; values are stringified and cut to MLflow's 8000 characters."""
        with self._lock:
            for key, value in tags.items():
                text = mask_secrets(param_text(value))[:MAX_TAG_LENGTH]
                self._buffer.tags[sanitize_key(key)] = text

    def add_json_tag_entry(self, base: str, name: str, value: Any) -> None:
        """Queue ``value`` as entry ``name`` of this process's one ``<base>.*`` tag.

        Many small records (one per dataset) then make one tag of the run, not
        one each; read them back with
        :func:`~pipelinex_mlflow.tracking.json_tags.read_json_tags`.
        """
        with self._lock:
            self._buffer.json_tag_entries.setdefault(base, {})[name] = value

    def log_text(self, text: str, artifact_file: str) -> None:
        """Queue ``text`` to be uploaded as the artifact file ``artifact_file``."""
        with self._lock:
            self._buffer.texts[artifact_file] = text

    def log_artifact(
        self,
        local_path: Path | str,
        artifact_path: str | None = None,
        *,
        keep_alive: object = None,
    ) -> None:
        """Queue one file, or a whole folder (one call), to upload under ``artifact_path``.

        The file is read when the background upload runs: ``keep_alive`` is held
        until then, for example the temporary folder the file lives in.
        """
        with self._lock:
            self._buffer.artifacts[str(local_path)] = (artifact_path, keep_alive)

    # ----------------------------------------------------------------------------------
    # Sending
    # ----------------------------------------------------------------------------------
    def flush(self, *, wait: bool = False) -> None:
        """Hand everything queued to the run's background sender.

        Returns at once: values go out in merged ``log_batch`` requests and files
        on a small upload pool (see :mod:`~pipelinex_mlflow.tracking.sender`). With
        ``check_existing_params``, a param that the run already holds with another
        value is moved to the tag ``pipelinex_mlflow.changed_param.<key>`` with a
        warning, since MLflow rejects a batch in which a param changes.

        Args:
            wait: Also wait until everything this process holds for the run has
                been sent, and raise if anything could not be.

        Raises:
            TrackingError: With ``wait``, if values or files could not be sent.
        """
        with self._lock:
            buffer, self._buffer = self._buffer, _Buffer()
        sender = sender_for(self.run)
        for artifact_file, text in buffer.texts.items():
            sender.upload_text(text, artifact_file)
        for local, (artifact_path, keep_alive) in buffer.artifacts.items():
            sender.upload(local, artifact_path, keep_alive=keep_alive)
        if buffer.params or buffer.metrics or buffer.tags or buffer.json_tag_entries:
            sender.submit(
                params=buffer.params,
                metrics=buffer.metrics,
                tags=buffer.tags,
                check_existing_params=self._check_existing_params,
                json_tag_entries=buffer.json_tag_entries,
            )
        if wait:
            report = sender.drain(time.monotonic() + flush_timeout())
            if sender.pending:
                raise TrackingError(
                    f"For MLflow run {self.run.run_id}, {sender.pending} value(s) were "
                    f"not sent within {flush_timeout():.0f} s (the tracking store at "
                    f"{mask_url_passwords(self.run.tracking_uri)} is away); they stay "
                    "queued and are spooled if the run ends before it is back."
                )
            if report:
                raise TrackingError(
                    f"For MLflow run {self.run.run_id}, {report.summary()}"
                )


def _now_ms() -> int:
    return int(time.time() * 1000)
