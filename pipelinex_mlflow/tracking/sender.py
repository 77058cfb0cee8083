"""``RunSender`` sends one run's values and files in the background.

Every ``RunLogger.flush`` in a process hands its buffer to the process's sender for
that run, and returns at once: a node never waits for the network to save a param
or a metric. The sender merges what all flushes gave it and sends it in
``log_batch`` requests of MLflow's maximum size, when enough has come together or
a short while after the first value waits, so the number of requests grows with
the amount of data, not with the number of saves. Files go up on a small thread
pool, each once.

Why not MLflow's own asynchronous logging (``synchronous=False``): its queue has no
bound, a failed batch is only logged, not retried or counted, and ending a run
after using it costs about a second of polling.

Nothing is dropped silently: a request that fails is tried again, what still fails
is counted and named by :meth:`RunSender.drain`, which the run's owner calls before
it ends the run. :mod:`~pipelinex_mlflow.tracking.senders` keeps one sender per
process and run, and drains them before a process exits (a worker's too).

Examples:
    >>> from pipelinex_mlflow.tracking import RunRef
    >>> sender = RunSender(RunRef("sqlite:///mlflow.db", "0123abcd"))
    >>> sender.pending
    0
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.keys import MAX_TAG_LENGTH, sanitize_key
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow.tracking.run_ref import RunRef

#: MLflow's limits for one ``log_batch`` request.
MAX_PARAMS_PER_REQUEST = 100
MAX_TAGS_PER_REQUEST = 100
MAX_ENTITIES_PER_REQUEST = 1000
#: Under MLflow's 1 MB per request, with room for the JSON around the values.
MAX_REQUEST_CHARS = 800_000
#: How long the first waiting value may wait before a request goes out.
SEND_DELAY_S = 1.0
#: Values a sender may hold; a flush beyond it waits for the sender (back-pressure).
MAX_PENDING_VALUES = 100_000
UPLOAD_THREADS = 4
#: Tries per request or upload before its values are counted as lost.
SEND_TRIES = 3
RETRY_PAUSE_S = 0.5
CHANGED_PARAM_TAG_PREFIX = "pipelinex_mlflow.changed_param."

logger = logging.getLogger(__name__)

MetricEntry = tuple[str, float, int, int]


@dataclass
class SendReport:
    """What could not be sent since the last drain.

    Attributes:
        lost_values: How many params, metrics and tags did not land.
        lost_files: The local files (or artifact names) that did not land.
        errors: One line per failure, for the warning.
    """

    lost_values: int = 0
    lost_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.lost_values or self.lost_files)

    def summary(self) -> str:
        """One sentence naming how much was lost and why."""
        parts = []
        if self.lost_values:
            parts.append(f"{self.lost_values} value(s)")
        if self.lost_files:
            parts.append(
                f"{len(self.lost_files)} file(s) ({', '.join(self.lost_files)})"
            )
        reasons = "; ".join(dict.fromkeys(self.errors))
        return f"{' and '.join(parts)} could not be logged: {reasons}"


@dataclass
class _Pending:
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricEntry] = field(default_factory=list)
    # Params of runs that may already hold them: checked before sending.
    checked_params: dict[str, str] = field(default_factory=dict)
    since: float | None = None

    @property
    def count(self) -> int:
        return (
            len(self.params)
            + len(self.tags)
            + len(self.metrics)
            + len(self.checked_params)
        )


class RunSender:
    """Sends the values and files of one run, from one process, in the background.

    Use :func:`~pipelinex_mlflow.tracking.senders.sender_for` rather than building one: a process has one sender per
    run.

    Args:
        run: The run to send to.
    """

    def __init__(self, run: RunRef) -> None:
        self.run = run
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending = _Pending()
        self._sending = 0
        self._draining = 0
        # Every param this process gave the run, to refuse a changed value at once.
        self._params_given: dict[str, str] = {}
        self._server_params: dict[str, str] | None = None
        self._report = SendReport()
        self._uploads: dict[tuple[str, str | None], Future[None]] = {}
        self._text_ids = itertools.count()
        self._pool: ThreadPoolExecutor | None = None
        # MLflow looks the run's artifact store up on a client's first upload;
        # parallel first uploads would each look it up.
        self._first_upload = threading.Lock()
        self._artifact_store_known = False
        self._thread: threading.Thread | None = None
        self._closed = False

    # ----------------------------------------------------------------------------------
    # Taking values
    # ----------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """How many values wait to be sent or are being sent."""
        with self._lock:
            return self._pending.count + self._sending

    def submit(
        self,
        *,
        params: Mapping[str, str],
        metrics: list[MetricEntry],
        tags: Mapping[str, str],
        check_existing_params: bool = False,
    ) -> None:
        """Queue values; returns at once unless the sender holds too many already.

        Raises:
            TrackingError: If a param was already given another value in this run
                (MLflow params cannot change); nothing of this call is queued then.
        """
        with self._changed:
            if not check_existing_params:
                # Checked params may change on purpose: they become tags.
                self._refuse_changed_params(params)
            while self._pending.count >= MAX_PENDING_VALUES and self._thread_alive():
                self._changed.wait(timeout=1.0)
            target = (
                self._pending.checked_params
                if check_existing_params
                else self._pending.params
            )
            target.update(params)
            if not check_existing_params:
                self._params_given.update(params)
            self._pending.tags.update(tags)
            self._pending.metrics.extend(metrics)
            if self._pending.since is None and self._pending.count:
                self._pending.since = time.monotonic()
            self._ensure_thread()
            self._changed.notify_all()

    def _refuse_changed_params(self, params: Mapping[str, str]) -> None:
        for key, text in params.items():
            previous = self._params_given.get(key)
            if previous is not None and previous != text:
                raise TrackingError(
                    f"MLflow param {key!r} was given two values in one run "
                    f"({previous!r} and {text!r}); MLflow params cannot change. Log "
                    "the value as a metric, or give the second one another name."
                )

    def upload(
        self, local: str, artifact_path: str | None, *, keep_alive: object = None
    ) -> None:
        """Upload a file, or a folder in one call, in the background (each once).

        ``keep_alive`` is referenced until the upload is done (the temporary
        folder holding the file, say, which is removed when it is collected).
        """
        key = (local, artifact_path)
        with self._lock:
            earlier = self._uploads.get(key)
            if earlier is not None and not earlier.done():
                return
            self._uploads[key] = self._in_background(
                self._upload, local, artifact_path, keep_alive
            )

    def upload_text(self, text: str, artifact_file: str) -> None:
        """Upload ``text`` as the artifact file ``artifact_file``, in the background."""
        with self._lock:
            future = self._in_background(self._upload_text, text, artifact_file)
            # Each text is its own upload, even under a name uploaded before.
            self._uploads[(f"text:{next(self._text_ids)}", artifact_file)] = future

    def _in_background(self, upload: Any, *args: Any) -> Future[None]:
        """Run ``upload`` on the pool (lock held); in this thread if the pool is gone."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                UPLOAD_THREADS, thread_name_prefix="pipelinex_mlflow-upload"
            )
        try:
            return self._pool.submit(upload, *args)
        except RuntimeError:
            # The interpreter is shutting down and takes no new threads.
            done: Future[None] = Future()
            self._lock.release()
            try:
                upload(*args)
            finally:
                self._lock.acquire()
            done.set_result(None)
            return done

    def wait_for_uploads_of(self, local: Path) -> None:
        """Wait until no upload reads ``local`` (or a file below it) any more."""
        prefix = str(local)
        with self._lock:
            waiting = [
                f
                for (path, _), f in self._uploads.items()
                if path == prefix or path.startswith(prefix + os.sep)
            ]
        for future in waiting:
            future.exception()

    # ----------------------------------------------------------------------------------
    # Draining
    # ----------------------------------------------------------------------------------
    def drain(self) -> SendReport:
        """Send everything now and wait for it; return what could not be sent.

        The report covers everything since the previous drain.
        """
        with self._changed:
            self._draining += 1
            self._changed.notify_all()
            try:
                while (self._pending.count or self._sending) and self._thread_alive():
                    self._changed.wait(timeout=1.0)
            finally:
                self._draining -= 1
        if self._pending.count:
            # No thread (it died, or the process is exiting): send from here.
            self._send_all_here()
        with self._lock:
            uploads = list(self._uploads.values())
        for future in uploads:
            future.exception()
        with self._lock:
            self._uploads = {k: f for k, f in self._uploads.items() if not f.done()}
            report, self._report = self._report, SendReport()
        return report

    def close(self) -> SendReport:
        """Drain, then stop the background threads."""
        report = self.drain()
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        return report

    # ----------------------------------------------------------------------------------
    # The background thread
    # ----------------------------------------------------------------------------------
    def _thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _ensure_thread(self) -> None:
        if self._thread_alive() or self._closed:
            return
        self._thread = threading.Thread(
            target=self._loop, name="pipelinex_mlflow-sender", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._due():
                    if self._closed and not self._pending.count:
                        return
                    self._changed.wait(timeout=self._wait_time())
                chunk = self._take_chunk()
            self._send_taken(chunk)

    def _send_taken(self, chunk: _Pending) -> None:
        """Send a chunk taken by :meth:`_take_chunk`, then say it is no longer out."""
        try:
            self._send(chunk)
        finally:
            with self._changed:
                self._sending = 0
                self._changed.notify_all()

    def _due(self) -> bool:
        pending = self._pending
        if not pending.count:
            return False
        if pending.count >= MAX_ENTITIES_PER_REQUEST or self._closed or self._draining:
            return True
        return pending.since is not None and (
            time.monotonic() - pending.since >= SEND_DELAY_S
        )

    def _wait_time(self) -> float | None:
        if self._pending.since is None:
            return None if not self._closed else 0.1
        return max(0.01, SEND_DELAY_S - (time.monotonic() - self._pending.since))

    def _take_chunk(self) -> _Pending:
        """Take one request's worth of values off the pending ones (lock held)."""
        pending, chunk = self._pending, _Pending()
        budget = [MAX_ENTITIES_PER_REQUEST, MAX_REQUEST_CHARS]

        def fits(key: str, text: str = "") -> bool:
            size = len(key) + len(text) + 16
            if budget[0] < 1 or budget[1] < size:
                return False
            budget[0] -= 1
            budget[1] -= size
            return True

        for source, target in (
            (pending.checked_params, chunk.checked_params),
            (pending.params, chunk.params),
        ):
            for key in list(source):
                if len(chunk.params) + len(chunk.checked_params) >= (
                    MAX_PARAMS_PER_REQUEST
                ) or not fits(key, source[key]):
                    break
                target[key] = source.pop(key)
        for key in list(pending.tags):
            if len(chunk.tags) >= MAX_TAGS_PER_REQUEST or not fits(
                key, pending.tags[key]
            ):
                break
            chunk.tags[key] = pending.tags.pop(key)
        taken = 0
        for entry in pending.metrics:
            if not fits(entry[0]):
                break
            taken += 1
        chunk.metrics, pending.metrics = (
            pending.metrics[:taken],
            pending.metrics[taken:],
        )
        if not pending.count:
            pending.since = None
        self._sending = chunk.count
        return chunk

    # ----------------------------------------------------------------------------------
    # Sending
    # ----------------------------------------------------------------------------------
    def _send(self, chunk: _Pending) -> None:
        try:
            client = get_client(self.run.tracking_uri)
            params = dict(chunk.params)
            tags = dict(chunk.tags)
            if chunk.checked_params:
                params.update(
                    self._unchanged_params(client, chunk.checked_params, tags)
                )
            self._send_batch(client, params, chunk.metrics, tags)
        except Exception as exc:  # a lost request must not kill the thread
            self._lose(chunk.count, f"{type(exc).__name__}: {exc}")

    def _send_batch(
        self,
        client: MlflowClient,
        params: dict[str, str],
        metrics: list[MetricEntry],
        tags: dict[str, str],
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.exceptions import MlflowException

        metric_entities = [Metric(k, v, ts, step) for k, v, step, ts in metrics]
        param_entities = [Param(k, v) for k, v in params.items()]
        tag_entities = [RunTag(k, v) for k, v in tags.items()]
        try:
            self._retrying(
                lambda: client.log_batch(
                    self.run.run_id,
                    metrics=metric_entities,
                    params=param_entities,
                    tags=tag_entities,
                )
            )
        except MlflowException as exc:
            if not params:
                raise
            # One bad param (changed by another process, too long for an old
            # server) must not cost the batch its other values.
            logger.debug("MLflow rejected a batch of run %s: %s", self.run.run_id, exc)
            self._send_without_bad_params(client, params, metric_entities, tag_entities)
            return
        logger.debug(
            "Logged %d params, %d metrics and %d tags to MLflow run %s",
            len(params),
            len(metrics),
            len(tags),
            self.run.run_id,
        )

    def _send_without_bad_params(
        self,
        client: MlflowClient,
        params: dict[str, str],
        metrics: list[Any],
        tags: list[Any],
    ) -> None:
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        existing = client.get_run(self.run.run_id).data.params
        changed = sorted(k for k, v in params.items() if existing.get(k, v) != v)
        rest = [Param(k, v) for k, v in params.items() if k not in existing]
        try:
            self._retrying(
                lambda: client.log_batch(
                    self.run.run_id, metrics=metrics, params=rest, tags=tags
                )
            )
        except MlflowException as exc:
            self._retrying(
                lambda: client.log_batch(self.run.run_id, metrics=metrics, tags=tags)
            )
            self._lose(
                len(params), f"MLflow rejected {len(params)} params: {exc.message}"
            )
            return
        if changed:
            self._lose(
                len(changed),
                f"MLflow rejected {len(changed)} params that the run already holds "
                f"with other values ({', '.join(changed)})",
            )

    def _unchanged_params(
        self, client: MlflowClient, params: dict[str, str], tags: dict[str, str]
    ) -> dict[str, str]:
        """The params the run does not hold yet; changed ones become tags."""
        if self._server_params is None:
            self._server_params = dict(client.get_run(self.run.run_id).data.params)
        with self._lock:
            existing = {**self._server_params, **self._params_given}
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
        new = {k: v for k, v in params.items() if k not in existing}
        self._server_params.update(new)
        return new

    def _upload(
        self, local: str, artifact_path: str | None, keep_alive: object
    ) -> None:
        try:
            client = get_client(self.run.tracking_uri)
            if Path(local).is_dir():
                self._first_alone(
                    lambda: client.log_artifacts(self.run.run_id, local, artifact_path)
                )
            else:
                self._first_alone(
                    lambda: client.log_artifact(self.run.run_id, local, artifact_path)
                )
        except Exception as exc:  # every file gets its chance
            self._lose_file(local, f"{type(exc).__name__}: {exc}")
            return
        logger.debug("Uploaded %s to MLflow run %s", local, self.run.run_id)

    def _upload_text(self, text: str, artifact_file: str) -> None:
        try:
            client = get_client(self.run.tracking_uri)
            self._first_alone(
                lambda: client.log_text(self.run.run_id, text, artifact_file)
            )
        except Exception as exc:  # every file gets its chance
            self._lose_file(artifact_file, f"{type(exc).__name__}: {exc}")

    def _first_alone(self, upload: Any) -> None:
        """Upload; the first upload runs alone, so MLflow looks the store up once."""
        if not self._artifact_store_known:
            with self._first_upload:
                if not self._artifact_store_known:
                    self._retrying(upload)
                    self._artifact_store_known = True
                    return
        self._retrying(upload)

    def _retrying(self, call: Any) -> None:
        from mlflow.exceptions import MlflowException

        for attempt in range(1, SEND_TRIES + 1):
            try:
                call()
                return
            except MlflowException as exc:
                # A 4xx answer (a rejected value, a deleted run) will not change.
                if attempt == SEND_TRIES or not _is_transient(exc):
                    raise
            except OSError:
                if attempt == SEND_TRIES:
                    raise
            time.sleep(RETRY_PAUSE_S * attempt)

    def _send_all_here(self) -> None:
        while True:
            with self._lock:
                if not self._pending.count:
                    return
                chunk = self._take_chunk()
            self._send_taken(chunk)

    def _lose(self, count: int, reason: str) -> None:
        with self._lock:
            self._report.lost_values += count
            self._report.errors.append(reason)
        logger.debug(
            "Could not log %d value(s) to run %s: %s", count, self.run.run_id, reason
        )

    def _lose_file(self, name: str, reason: str) -> None:
        with self._lock:
            self._report.lost_files.append(name)
            self._report.errors.append(reason)


def _is_transient(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code in (
        "INTERNAL_ERROR",
        "TEMPORARILY_UNAVAILABLE",
        "REQUEST_LIMIT_EXCEEDED",
    )
