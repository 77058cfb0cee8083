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

Nothing is dropped silently. A value the store rejects (a 400 or 413 answer) is
counted and named by :meth:`RunSender.drain`, and costs only itself; a refusal of
the whole run (deleted) costs a request or three and one line. A request that
fails because the store is away (refused, timed out, a 408, 429 or 5xx answer,
judged by its HTTP status even when a gateway answers without MLflow's JSON)
keeps its values and is tried again, with growing pauses, for as long as the
run lives: nodes never wait for it. When the run ends, :meth:`RunSender.close`
waits for what is still out at most until a deadline, and less when the server does not even accept connections; whatever is
still unsent then (values, files, the run's final status) goes to the run's local
spool file (:mod:`~pipelinex_mlflow.tracking.spool`), to be replayed later.
:mod:`~pipelinex_mlflow.tracking.senders` keeps one sender per process and run, and
closes them before a process exits (a worker's too).

Examples:
    >>> from pipelinex_mlflow.tracking import RunRef
    >>> sender = RunSender(RunRef("sqlite:///mlflow.db", "0123abcd"))
    >>> sender.pending
    0
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
from concurrent.futures import wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger, mask_secrets, mask_url_passwords
from pipelinex_mlflow.tracking.daemon_pool import DaemonPool
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.json_tags import JsonTagPages, process_suffix
from pipelinex_mlflow.tracking.keys import MAX_TAG_LENGTH, sanitize_key, suffixed_key
from pipelinex_mlflow.tracking.paths import containment_problem
from pipelinex_mlflow.tracking.retry_policy import POLICY
from pipelinex_mlflow.tracking.spool import (
    MetricEntry,
    RunEnd,
    Spooled,
    linked_model_id,
    write_spool,
)
from pipelinex_mlflow.tracking.stores import get_client, server_address
from pipelinex_mlflow.tracking.values import short_repr, valid_utf8

if TYPE_CHECKING:
    from collections.abc import Mapping
    from concurrent.futures import Future

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
#: HTTP answers that may pass (as MLflow's own retries): a time-out, too many
#: requests, and a server's failure (5xx, but 501 "not implemented" stays so).
HTTP_REQUEST_TIMEOUT = 408
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500
HTTP_NOT_IMPLEMENTED = 501
#: HTTP answers that refuse a value of a batch: a smaller batch may pass.
HTTP_BAD_REQUEST = 400
HTTP_PAYLOAD_TOO_LARGE = 413
#: MLflow's error codes of failures that may pass: 5xx, 429, 504, a lost connection.
_TRANSIENT_ERROR_CODES = (
    "INTERNAL_ERROR",
    "TEMPORARILY_UNAVAILABLE",
    "REQUEST_LIMIT_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "DEADLINE_EXCEEDED",
    "ABORTED",
)
#: How MLflow words an answer without its JSON (a gateway's): the status is only
#: in the text.
_BARE_ANSWER = re.compile(r"failed with error code (\d{3}) != \d{3}")
#: A refusal of every value of the run, not of one (MLflow's words for a deleted run).
_RUN_NOT_ACTIVE = "must be in the 'active' state"
#: Single values a refused chunk is probed for, one request each; the rest of the
#: chunk is lost with the last reason (a gateway refusing everything costs a few
#: requests, not one per value).
MAX_SINGLE_PROBES = 50
#: Keys named in one line of refused values.
MAX_NAMED_KEYS = 10
#: Tries per request or upload in a row, before the sender pauses (the store is away)
#: or counts its values as lost (the store rejected them).
#: (The policy states them all: :mod:`~pipelinex_mlflow.tracking.retry_policy`.)
SEND_TRIES = POLICY.send_tries
RETRY_PAUSE_S = POLICY.retry_pause_s
#: The longest pause between two tries of a request the store did not take.
MAX_RETRY_PAUSE_S = POLICY.max_retry_pause_s
#: How long a connection attempt may take when checking that a server is still there.
PROBE_TIMEOUT_S = POLICY.probe_timeout_s
PROBE_EVERY_S = POLICY.probe_every_s
#: How long a server must refuse connections before a waiting close gives up on it
#: (a server that restarts is back within seconds).
GONE_AFTER_S = POLICY.gone_after_s
CHANGED_PARAM_TAG_PREFIX = "pipelinex_mlflow.changed_param."
#: Names what the store rejected, so a run never looks complete while values are missing.
UNLOGGED_TAG = "pipelinex_mlflow.unlogged"
#: Refreshed while the run's owner lives (see :mod:`~pipelinex_mlflow.tracking.liveness`).
HEARTBEAT_TAG = "pipelinex_mlflow.heartbeat"
#: Its value: the time in UTC, to the second.
HEARTBEAT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

logger = get_logger(__name__)


@dataclass
class SendReport:
    """What could not be sent since the last drain.

    Attributes:
        lost_values: How many params, metrics and tags did not land.
        lost_files: The local files (or artifact names) that did not land.
        errors: One line per failure, for the warning.
        spool: The spool file holding what the store did not take in time.
        spooled_values: How many values wait in ``spool``.
        spooled_files: How many files and texts wait in ``spool``.
        spooled_end: Whether the run's end waits in ``spool``.
        end_lost: The status the run should have ended with, when that end
            reached neither the store nor a spool: the store shows it RUNNING.
        unsent_in_time: Whether values were lost only because the store did not
            take them in time (another try may land them), as opposed to
            refused for good.
    """

    lost_values: int = 0
    lost_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    spool: Path | None = None
    spooled_values: int = 0
    spooled_files: int = 0
    spooled_end: bool = False
    end_lost: str | None = None
    unsent_in_time: bool = False

    @property
    def end_unrecorded(self) -> bool:
        """Whether the run's end is not in the store (spooled, or lost)."""
        return self.spooled_end or self.end_lost is not None

    @property
    def lost(self) -> bool:
        """Whether values, files or the end were lost (a spool holds none of them)."""
        return bool(self.lost_values or self.lost_files or self.end_lost)

    def __bool__(self) -> bool:
        return self.lost or self.spool is not None

    def summary(self) -> str:
        """One or two sentences naming what was lost or spooled, and why."""
        sentences = []
        if self.lost:
            parts = []
            if self.lost_values:
                parts.append(f"{self.lost_values} value(s)")
            if self.lost_files:
                parts.append(
                    f"{len(self.lost_files)} file(s) ({', '.join(self.lost_files)})"
                )
            reasons = "; ".join(dict.fromkeys(self.errors))
            if parts:
                sentences.append(
                    f"{' and '.join(parts)} could not be logged: {reasons}"
                )
            elif reasons:
                sentences.append(reasons)
            if self.end_lost:
                sentences.append(
                    f"the run's end ({self.end_lost}) could not be recorded: the "
                    "store shows the run RUNNING until `kedro mlflow runs` marks it "
                    "FAILED"
                )
        if self.spool is not None:
            parts = [f"{self.spooled_values} value(s)", f"{self.spooled_files} file(s)"]
            if self.spooled_end:
                parts.append("the run's end")
            sentences.append(
                f"the tracking store did not take {', '.join(parts)} in time; they "
                f"wait in {self.spool}: send them with `kedro mlflow replay "
                f"{self.spool}`"
            )
        # A reason quotes an error, which may hold a signed URL or a password.
        return mask_secrets("; ".join(sentences))

    def merge(self, other: SendReport) -> None:
        """Add what ``other`` reports to this report."""
        self.lost_values += other.lost_values
        self.lost_files += other.lost_files
        self.errors += other.errors
        self.spool = other.spool or self.spool
        self.spooled_values += other.spooled_values
        self.spooled_files += other.spooled_files
        self.spooled_end = self.spooled_end or other.spooled_end
        self.end_lost = self.end_lost or other.end_lost


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

    def take_back(self, chunk: _Pending) -> None:
        """Put an unsent chunk back; values given since then win."""
        for source, target in (
            (chunk.params, self.params),
            (chunk.checked_params, self.checked_params),
            (chunk.tags, self.tags),
        ):
            for key, value in source.items():
                target.setdefault(key, value)
        self.metrics[:0] = chunk.metrics
        if self.since is None and self.count:
            self.since = time.monotonic()


@dataclass
class _FileJob:
    """One upload: a local file or folder, or a text."""

    artifact_path: str | None
    local: str | None = None
    text: str | None = None
    keep_alive: object = None
    future: Future[None] | None = None

    @property
    def name(self) -> str:
        """The artifact it makes in the run, as the MLflow UI shows it.

        Not the local path: a temporary file is gone when the warning is read.
        """
        if self.local is None:
            return str(self.artifact_path)
        base = Path(self.local).name
        if Path(self.local).is_dir():
            # A folder's files land under its artifact path, without its name.
            return f"{self.artifact_path or base}/"
        return (
            f"{self.artifact_path.rstrip('/')}/{base}" if self.artifact_path else base
        )


class RunSender:
    """Sends the values and files of one run, from one process, in the background.

    Use :func:`~pipelinex_mlflow.tracking.senders.sender_for` rather than building
    one: a process has one sender per run.

    Args:
        run: The run to send to.
    """

    def __init__(self, run: RunRef) -> None:
        self.run = run
        # Reentrant: an upload that is already done when its callback is added
        # runs the callback (which takes the lock) in the thread holding it.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._pending = _Pending()
        self._in_flight: _Pending | None = None
        self._draining = 0
        # Every param this process gave the run, to refuse a changed value at once.
        self._params_given: dict[str, str] = {}
        self._server_params: dict[str, str] | None = None
        self._report = SendReport()
        self._uploads: dict[tuple[str, str | None], _FileJob] = {}
        # Uploads the store did not take (it was away): for a later try or the spool.
        self._unsent_files: list[_FileJob] = []
        self._text_ids = itertools.count()
        self._pool: DaemonPool | None = None
        # MLflow looks the run's artifact store up on a client's first upload;
        # parallel first uploads would each look it up.
        self._first_upload = threading.Lock()
        self._artifact_store_known = False
        self._thread: threading.Thread | None = None
        self._closed = False
        # The store is away: since when (monotonic), how many failures in a row,
        # and when to try again.
        self._away_since: float | None = None
        self._failures = 0
        self._retry_at = 0.0
        # Once values are spooled, a late answer to their request must not requeue them.
        self._spooled_generation = 0
        self._heartbeat_every: float | None = None
        self._next_heartbeat = 0.0
        # Tags of small JSON entries this process merges, by their base key.
        self._json_tags: dict[str, JsonTagPages] = {}

    # ----------------------------------------------------------------------------------
    # Taking values
    # ----------------------------------------------------------------------------------
    @property
    def store_away(self) -> bool:
        """Whether the store failed the latest request and has not answered since."""
        with self._lock:
            return self._away_since is not None

    @property
    def pending(self) -> int:
        """How many values wait to be sent or are being sent."""
        with self._lock:
            return self._pending.count + self._in_flight_count()

    def _in_flight_count(self) -> int:
        return self._in_flight.count if self._in_flight is not None else 0

    def submit(
        self,
        *,
        params: Mapping[str, str],
        metrics: list[MetricEntry],
        tags: Mapping[str, str],
        check_existing_params: bool = False,
        json_tag_entries: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Queue values; returns at once unless the sender holds too many already.

        ``json_tag_entries`` (tag base -> entries) are merged into this process's
        tag of that base (:mod:`~pipelinex_mlflow.tracking.json_tags`).

        While the store is away the sender holds any number of values rather than
        make a node wait for the network. A param this process already gave the
        run with another value is queued under a key of its own (see
        :meth:`claim_param`; ``RunLogger`` claims its keys when it queues, so this
        only guards other callers); checked params may change on purpose: they
        become tags when sent.
        """
        # MLflow refuses text that is not valid UTF-8, with the whole batch.
        params = _valid_texts(params)
        tags = _valid_texts(tags)
        metrics = [_valid_metric_key(entry) for entry in metrics]
        with self._changed:
            if not check_existing_params:
                params = {self.claim_param(k, v): v for k, v in params.items()}
            while (
                self._pending.count >= MAX_PENDING_VALUES
                and self._away_since is None
                and self._thread_alive()
            ):
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
            for base, entries in (json_tag_entries or {}).items():
                pages = self._json_tags.get(base)
                if pages is None:
                    pages = self._json_tags[base] = JsonTagPages(base, process_suffix())
                # merge() masks the data itself: masking the JSON text again
                # would break it where a dataset's name looks secret.
                for key, text in pages.merge(entries).items():
                    self._pending.tags[key] = text
            self._pending.metrics.extend(metrics)
            if self._pending.since is None and self._pending.count:
                self._pending.since = time.monotonic()
            self._ensure_thread()
            self._changed.notify_all()

    def claim_param(self, key: str, text: str) -> str:
        """Reserve the key param ``text`` is logged under in this run, and return it.

        ``key``, unless this process gave the run another value under it: MLflow
        params cannot change, so the value gets a key of its own
        (:func:`~pipelinex_mlflow.tracking.keys.suffixed_key`), the same one for
        the same value, with a warning the first time.
        """
        key, text = valid_utf8(key), valid_utf8(text)  # as submit sends them
        with self._lock:
            claimed = key
            while self._params_given.get(claimed, text) != text:
                claimed = suffixed_key(claimed, f"{key}\x1f{text}")
            new = claimed not in self._params_given
            self._params_given[claimed] = text
        if claimed != key and new:
            logger.warning(
                "MLflow param %r of run %s already holds another value, and MLflow "
                "params cannot change, so %s is logged as param %r.",
                key,
                self.run.run_id,
                short_repr(text, 60),
                claimed,
            )
        return claimed

    def upload(
        self, local: str, artifact_path: str | None, *, keep_alive: object = None
    ) -> None:
        """Upload a file, or a folder in one call, in the background (each once).

        ``keep_alive`` is referenced until the upload is done (the temporary
        folder holding the file, say, which is removed when it is collected).
        """
        key = (local, artifact_path)
        if artifact_path is not None:
            # As MLflow and the spool take it: valid UTF-8, inside the run.
            artifact_path = valid_utf8(artifact_path)
            problem = artifact_path and containment_problem(artifact_path)
            if problem:
                job = _FileJob(artifact_path, local=local)
                self._lose_file(job.name, f"artifact path {artifact_path!r}: {problem}")
                return
        with self._lock:
            earlier = self._uploads.get(key)
            if earlier is not None and not _done(earlier):
                return
            job = _FileJob(artifact_path, local=local, keep_alive=keep_alive)
            self._uploads[key] = job
            self._start_upload(job)

    def upload_text(self, text: str, artifact_file: str) -> None:
        """Upload ``text`` as the artifact file ``artifact_file``, in the background."""
        artifact_file = valid_utf8(artifact_file)
        problem = containment_problem(artifact_file)
        if problem is not None:
            self._lose_file(
                artifact_file, f"artifact file {artifact_file!r}: {problem}"
            )
            return
        with self._lock:
            job = _FileJob(artifact_file, text=valid_utf8(text))
            # Each text is its own upload, even under a name uploaded before.
            self._uploads[(f"text:{next(self._text_ids)}", artifact_file)] = job
            self._start_upload(job)

    def _start_upload(self, job: _FileJob) -> None:
        """Put ``job`` on the upload threads (lock held)."""
        if self._pool is None:
            self._pool = DaemonPool(UPLOAD_THREADS, "pipelinex_mlflow-upload")
        job.future = self._pool.submit(self._upload, job)
        job.future.add_done_callback(self._notify)

    def _notify(self, _: object = None) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_for_uploads_of(self, local: Path) -> None:
        """Wait until no upload reads ``local`` (or a file below it) any more."""
        prefix = str(local)
        with self._lock:
            waiting = [
                job.future
                for (path, _), job in self._uploads.items()
                if job.future is not None
                and (path == prefix or path.startswith(prefix + os.sep))
            ]
        for future in waiting:
            future.exception()

    def start_heartbeat(self, every_s: float) -> None:
        """Set the tag ``pipelinex_mlflow.heartbeat`` now and every ``every_s`` seconds.

        It tells other processes that the run's owner still lives; it stops when
        the sender closes.
        """
        with self._changed:
            self._heartbeat_every = every_s
            self._next_heartbeat = 0.0
            self._ensure_thread()
            self._changed.notify_all()

    # ----------------------------------------------------------------------------------
    # Draining and closing
    # ----------------------------------------------------------------------------------
    def drain(self, deadline: float | None = None) -> SendReport:
        """Send everything now and wait for it, until ``deadline`` at most.

        Args:
            deadline: A ``time.monotonic()`` value; ``None`` waits as long as it
                takes. The wait also ends when the server stops accepting
                connections. What is still unsent then stays queued.

        Returns:
            What the store rejected since the previous drain or close.
        """
        self._wait_until_sent(deadline)
        with self._lock:
            report, self._report = self._report, SendReport()
        return report

    def close(
        self,
        deadline: float | None = None,
        end: RunEnd | None = None,
        *,
        spool: bool = True,
    ) -> SendReport:
        """Send everything, end the run with ``end``, and stop; spool what is left.

        Waits until ``deadline`` at most (less when the server does not accept
        connections). Values, files and the end still unsent then are written to
        the run's spool file, named in the report.

        Args:
            deadline: A ``time.monotonic()`` value; ``None`` waits as long as it
                takes.
            end: The run's end status and time; ``None`` leaves the run open.
            spool: Write what is left to the spool; with ``False`` it is reported
                as lost instead (a replay, which reads the spool, says so).
        """
        with self._changed:
            self._heartbeat_every = None
        self._retry_unsent_files()
        sent = self._wait_until_sent(deadline)
        report = SendReport()
        with self._lock:
            report.merge(self._report)
            self._report = SendReport()
        if end is not None and sent and report.lost:
            # The run must not look complete while values are missing.
            self.submit(
                params={},
                metrics=[],
                tags={UNLOGGED_TAG: report.summary()[:MAX_TAG_LENGTH]},
            )
            sent = self._wait_until_sent(deadline)
        ended = end is None or (sent and self._end_run(end, deadline, report))
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if not sent or not ended or self._unsent_files:
            self._spool_rest(None if ended else end, report, write=spool)
        return report

    def _wait_until_sent(self, deadline: float | None) -> bool:
        """Wait until nothing is queued, out or uploading; ``False`` if given up."""
        with self._changed:
            self._draining += 1
            # Someone waits: a store that is back gets the values within a second.
            self._retry_at = min(self._retry_at, time.monotonic() + 1.0)
            self._changed.notify_all()
        try:
            return self._wait(deadline)
        finally:
            with self._changed:
                self._draining -= 1

    def _wait(self, deadline: float | None) -> bool:
        probed_at = time.monotonic()
        refused_since: float | None = None
        while True:
            with self._changed:
                values_out = self._pending.count or self._in_flight is not None
                uploading = any(not _done(job) for job in self._uploads.values())
                if not values_out and not uploading:
                    return True
                if values_out and not self._thread_alive() and not uploading:
                    break  # no thread (it died, or the process exits): send here
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return False
                wait = PROBE_EVERY_S if deadline is None else deadline - now
                self._changed.wait(timeout=min(wait, PROBE_EVERY_S))
            if time.monotonic() - probed_at >= PROBE_EVERY_S:
                probed_at = time.monotonic()
                if self._server_accepts_connections():
                    refused_since = None
                    continue
                refused_since = refused_since or probed_at
                if probed_at - refused_since >= GONE_AFTER_S:
                    logger.debug(
                        "%s refused connections for %.0f s: not waiting any longer",
                        mask_url_passwords(self.run.tracking_uri),
                        probed_at - refused_since,
                    )
                    return False
        self._send_all_here()
        return not self._pending.count

    def _retry_unsent_files(self) -> None:
        """Try once more the uploads the store did not take, if it is back."""
        with self._lock:
            jobs, self._unsent_files = self._unsent_files, []
        if jobs and not self._server_accepts_connections():
            with self._lock:
                self._unsent_files[:0] = jobs
            return
        with self._lock:
            for job in jobs:
                self._start_upload(job)

    def _end_run(self, end: RunEnd, deadline: float | None, report: SendReport) -> bool:
        """Mark the run ended; ``False`` if the store did not answer in time."""
        client = get_client(self.run.tracking_uri)
        # Its own daemon thread: uploads stuck on the pool must not hold it up, and
        # a store that never answers must not hold the process.
        ending = DaemonPool(1, "pipelinex_mlflow-end-run").submit(
            self._retrying,
            lambda: client.set_terminated(
                self.run.run_id, status=end.status, end_time=end.end_time
            ),
        )
        done, _ = wait(
            [ending],
            None if deadline is None else max(0.0, deadline - time.monotonic()),
        )
        if not done:
            return False
        error = ending.exception()
        if error is None:
            return True
        if _is_transient(error):
            return False
        # Refused for good (a deleted run, say): not spooled, and said.
        report.end_lost = end.status
        report.errors.append(
            f"the run could not be marked {end.status}: {type(error).__name__}: "
            f"{_error_text(error)}"
        )
        return True

    def _spool_rest(
        self, end: RunEnd | None, report: SendReport, *, write: bool = True
    ) -> None:
        """Write everything still unsent (and ``end``) to the run's spool file.

        With ``write=False`` it is counted as lost instead.
        """
        with self._lock:
            rest = self._pending
            self._pending = _Pending()
            if self._in_flight is not None:
                # Its request may still land later: sent twice, MLflow keeps one.
                rest.take_back(self._in_flight)
                self._spooled_generation += 1
            jobs = self._unsent_files + [
                job for job in self._uploads.values() if not _done(job)
            ]
            self._unsent_files = []
        if self._pool is not None:
            self._pool.cancel_waiting()
        for job in [
            j for j in jobs if j.local is not None and not Path(j.local).exists()
        ]:
            jobs.remove(job)
            report.lost_files.append(job.name)
            report.errors.append(f"{job.local} no longer exists")
        spooled = Spooled(
            params=rest.params,
            checked_params=rest.checked_params,
            tags=rest.tags,
            metrics=list(rest.metrics),
            files=[(j.local, j.artifact_path) for j in jobs if j.local is not None],
            texts=[(j.text, str(j.artifact_path)) for j in jobs if j.text is not None],
            end=end,
        )
        if not spooled:
            return
        try:
            if not write:
                report.unsent_in_time = True
                raise TrackingError("the tracking store did not take them in time")
            report.spool = write_spool(self.run, spooled)
        except TrackingError as exc:
            # Counted and named like a refused value: the run's owner warns.
            report.lost_values += spooled.value_count
            report.lost_files += [job.name for job in jobs]
            if end is not None:
                report.end_lost = end.status
            if write:
                report.errors.append(
                    f"the tracking store did not take them in time, and {exc}"
                )
            else:
                report.errors.append(str(exc))
            return
        # What the spool's own reader would refuse was left out of it: lost.
        report.lost_values += spooled.refused.values
        report.lost_files += spooled.refused.files
        report.errors += spooled.refused.reasons
        report.spooled_values += spooled.value_count
        report.spooled_files += spooled.file_count
        report.spooled_end = report.spooled_end or end is not None
        logger.warning(
            "MLflow run %s: the tracking store at %s did not take %d value(s), "
            "%d file(s)%s in time; they are kept in %s. Send them with "
            "`kedro mlflow replay %s` once the store is back.",
            self.run.run_id,
            mask_url_passwords(self.run.tracking_uri),
            spooled.value_count,
            spooled.file_count,
            " and the run's end" if end is not None else "",
            report.spool,
            report.spool,
        )

    def _server_accepts_connections(self) -> bool:
        """For a server URI: whether it accepts a connection now (local stores: yes)."""
        address = server_address(self.run.tracking_uri)
        if address is None:
            return True
        try:
            with socket.create_connection(address, PROBE_TIMEOUT_S):
                return True
        except OSError:
            return False

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
                while True:
                    self._beat_if_due()
                    if self._due():
                        break
                    if self._closed and not self._pending.count:
                        return
                    self._changed.wait(timeout=self._wait_time())
                chunk = self._take_chunk()
            self._send_taken(chunk)

    def _beat_if_due(self) -> None:
        every = self._heartbeat_every
        if every is None or time.monotonic() < self._next_heartbeat:
            return
        self._next_heartbeat = time.monotonic() + every
        self._pending.tags[HEARTBEAT_TAG] = datetime.now(timezone.utc).strftime(
            HEARTBEAT_FORMAT
        )
        if self._pending.since is None:
            self._pending.since = time.monotonic()

    def _send_taken(self, chunk: _Pending) -> None:
        """Send a chunk taken by :meth:`_take_chunk`, then say it is no longer out."""
        generation = self._spooled_generation
        try:
            self._send(chunk, generation)
        finally:
            with self._changed:
                self._in_flight = None
                self._changed.notify_all()

    def _due(self) -> bool:
        pending = self._pending
        if not pending.count:
            return False
        if time.monotonic() < self._retry_at:
            return False
        if pending.count >= MAX_ENTITIES_PER_REQUEST or self._closed or self._draining:
            return True
        return pending.since is not None and (
            time.monotonic() - pending.since >= SEND_DELAY_S
        )

    def _wait_time(self) -> float | None:
        now = time.monotonic()
        waits: list[float] = []
        if self._heartbeat_every is not None:
            waits.append(self._next_heartbeat - now)
        if self._pending.since is not None:
            # Due once the delay has passed and no retry pause holds it back.
            waits.append(
                max(SEND_DELAY_S - (now - self._pending.since), self._retry_at - now)
            )
        elif self._closed:
            waits.append(0.1)
        return max(0.01, min(waits)) if waits else None

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
        self._in_flight = chunk
        return chunk

    # ----------------------------------------------------------------------------------
    # Sending
    # ----------------------------------------------------------------------------------
    def _send(self, chunk: _Pending, generation: int) -> None:
        new_params: dict[str, str] = {}
        try:
            client = get_client(self.run.tracking_uri)
            params = dict(chunk.params)
            tags = dict(chunk.tags)
            if chunk.checked_params:
                new_params = self._unchanged_params(client, chunk.checked_params, tags)
                params.update(new_params)
            self._send_batch(client, params, chunk.metrics, tags)
        except _PartlySent as partly:
            # Only what is still unsent goes back: a value lost or sent before the
            # failure must not be counted or sent again.
            self._store_away(partly.error, partly.unsent, generation)
            return
        except Exception as exc:  # a failed request must not kill the thread
            if _is_transient(exc):
                self._store_away(exc, chunk, generation)
            else:
                self._lose(chunk.count, f"{type(exc).__name__}: {exc}")
            return
        with self._lock:
            if self._server_params is not None:
                self._server_params.update(new_params)
        self._store_back()

    def _store_away(
        self, error: Exception, chunk: _Pending | None = None, generation: int = 0
    ) -> None:
        """Keep ``chunk`` for a later try, pausing longer after each failure."""
        now = time.monotonic()
        with self._changed:
            first = self._away_since is None
            if first:
                self._away_since = now
            self._failures += 1
            pause = POLICY.away_pause_s(self._failures)
            self._retry_at = now + pause
            if chunk is not None and generation == self._spooled_generation:
                self._pending.take_back(chunk)
            self._changed.notify_all()
        if first:
            logger.warning(
                "The tracking store at %s did not take values of MLflow run %s "
                "(%s: %s). They are kept and sent when it is back; the pipeline "
                "goes on.",
                mask_url_passwords(self.run.tracking_uri),
                self.run.run_id,
                type(error).__name__,
                mask_url_passwords(str(error))[:300],
            )

    def _store_back(self) -> None:
        with self._lock:
            away_since, self._away_since = self._away_since, None
            self._failures = 0
            self._retry_at = 0.0
        if away_since is not None:
            logger.warning(
                "The tracking store at %s takes values of MLflow run %s again, "
                "after %.0f s.",
                mask_url_passwords(self.run.tracking_uri),
                self.run.run_id,
                time.monotonic() - away_since,
            )

    def _send_batch(
        self,
        client: MlflowClient,
        params: dict[str, str],
        metrics: list[MetricEntry],
        tags: dict[str, str],
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        entities: list[_Entity] = [
            (
                "metric",
                Metric(e[0], e[1], e[3], e[2], model_id=linked_model_id(e)),
                e,
            )
            for e in metrics
        ]
        entities += [("param", Param(k, v), (k, v)) for k, v in params.items()]
        entities += [("tag", RunTag(k, v), (k, v)) for k, v in tags.items()]
        try:
            self._log_batch(client, entities)
        except Exception as exc:
            if not _refuses_values(exc):
                raise
            # The store refused some value: the others must still land.
            logger.debug("MLflow refused a batch of run %s: %s", self.run.run_id, exc)
            if _refuses_the_run(exc):
                self._lose_refused(entities, exc)
                return
            if params:
                kept = self._without_changed_params(client, params)
                entities = [
                    entity
                    for entity in entities
                    if entity[0] != "param" or entity[1].key in kept
                ]
            self._send_in_parts(client, entities, exc)
            return
        logger.debug(
            "Logged %d params, %d metrics and %d tags to MLflow run %s",
            len(params),
            len(metrics),
            len(tags),
            self.run.run_id,
        )

    def _log_batch(self, client: MlflowClient, entities: list[_Entity]) -> None:
        by_kind: dict[str, list[Any]] = {"metric": [], "param": [], "tag": []}
        for kind, entity, _ in entities:
            by_kind[kind].append(entity)
        self._retrying(
            lambda: client.log_batch(
                self.run.run_id,
                metrics=by_kind["metric"],
                params=by_kind["param"],
                tags=by_kind["tag"],
            )
        )

    def _send_in_parts(
        self, client: MlflowClient, entities: list[_Entity], refusal: Exception
    ) -> None:
        """Send ``entities``, which the store refused with ``refusal``, in halves.

        A value refused alone costs only itself, named. When both halves meet
        the very refusal of the whole, it concerns the run (or everything), not
        a value: the whole is lost in one line. At most
        :data:`MAX_SINGLE_PROBES` values are tried alone; the rest is then lost
        with the last reason.

        Raises:
            _PartlySent: A transient failure; it holds the values still unsent,
                which are tried again later (MLflow keeps one of identical entries).
        """
        # Parts still to send, each with the refusal it met already (if any).
        parts: list[tuple[list[_Entity], Exception | None]] = []
        half = len(entities) // 2
        halves = [entities[:half], entities[half:]]
        first_refusals: list[Exception] = []
        for index, part in enumerate(halves):
            refused_before = [p for p, _ in parts]
            error = self._try_part(
                client, part, [*refused_before, *halves[index + 1 :]]
            )
            if error is None:
                continue
            first_refusals.append(error)
            parts.append((part, error))
        if len(first_refusals) == len(halves) and all(
            _same_refusal(error, refusal) for error in first_refusals
        ):
            self._lose_refused(entities, refusal)
            return
        lost: dict[str, list[_Entity]] = {}
        probes = 0
        try:
            while parts:
                part, error = parts.pop(0)
                if error is None:
                    error = self._try_part(client, part, [p for p, _ in parts])
                    if error is None:
                        continue
                if len(part) > 1 and probes < MAX_SINGLE_PROBES:
                    middle = len(part) // 2
                    parts[:0] = [(part[:middle], None), (part[middle:], None)]
                    continue
                probes += len(part) == 1
                lost.setdefault(_error_text(error), []).extend(part)
                if probes >= MAX_SINGLE_PROBES and parts:
                    # Enough requests for one chunk: the rest goes with this reason.
                    lost[_error_text(error)].extend(e for p, _ in parts for e in p)
                    parts = []
        finally:
            # Also before a transient failure: what was refused is not unsent.
            for reason, refused in lost.items():
                self._lose_named(refused, reason)

    def _try_part(
        self,
        client: MlflowClient,
        part: list[_Entity],
        later: list[list[_Entity]],
    ) -> Exception | None:
        """Send ``part``: ``None`` if it landed, the refusal if refused.

        Raises:
            _PartlySent: A transient failure, with ``part`` and ``later`` unsent.
        """
        if not part:
            return None
        try:
            self._log_batch(client, part)
        except Exception as exc:
            if _refuses_values(exc):
                return exc
            unsent = [entity for p in [part, *later] for entity in p]
            raise _PartlySent(exc, _pending_of(unsent)) from exc
        return None

    def _lose_refused(self, entities: list[_Entity], error: Exception) -> None:
        """Lose ``entities`` for a refusal of them all, in one line."""
        self._lose(
            len(entities),
            f"MLflow refused all {len(entities)} values of a request: "
            f"{_error_text(error)}",
        )

    def _lose_named(self, refused: list[_Entity], reason: str) -> None:
        """Lose ``refused`` for one ``reason``, naming the first of them."""
        names = [f"{kind} {entity.key!r}" for kind, entity, _ in refused]
        if len(names) > MAX_NAMED_KEYS:
            names = [*names[:MAX_NAMED_KEYS], f"{len(names) - MAX_NAMED_KEYS} more"]
        what = names[0] if len(refused) == 1 else f"{len(refused)} values"
        detail = "" if len(refused) == 1 else f" ({', '.join(names)})"
        self._lose(len(refused), f"MLflow refused {what}{detail}: {reason}")

    def _without_changed_params(
        self, client: MlflowClient, params: dict[str, str]
    ) -> set[str]:
        """The keys of ``params`` the run does not hold; changed ones are lost."""
        existing = client.get_run(self.run.run_id).data.params
        changed = sorted(k for k, v in params.items() if existing.get(k, v) != v)
        if changed:
            self._lose(
                len(changed),
                f"MLflow rejected {len(changed)} params that the run already holds "
                f"with other values ({', '.join(changed)})",
            )
        return {k for k in params if k not in existing}

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
        return {k: v for k, v in params.items() if k not in existing}

    def _upload(self, job: _FileJob) -> None:
        run_id = self.run.run_id
        try:
            client = get_client(self.run.tracking_uri)
            if job.text is not None:
                text, artifact_file = job.text, str(job.artifact_path)
                self._first_alone(lambda: client.log_text(run_id, text, artifact_file))
            elif job.local is not None and Path(job.local).is_dir():
                local = job.local
                self._first_alone(
                    lambda: client.log_artifacts(run_id, local, job.artifact_path)
                )
            else:
                local = str(job.local)
                self._first_alone(
                    lambda: client.log_artifact(run_id, local, job.artifact_path)
                )
        except Exception as exc:  # every file gets its chance
            if _is_transient(exc):
                with self._lock:
                    self._unsent_files.append(job)
                self._store_away(exc)
            else:
                self._lose_file(job.name, f"{type(exc).__name__}: {_error_text(exc)}")
            return
        logger.debug("Uploaded %s to MLflow run %s", job.name, run_id)

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
            except (MlflowException, OSError) as exc:
                # A 4xx answer (a refused value or path, a deleted run) will not
                # change.
                if attempt == SEND_TRIES or not _is_transient(exc):
                    raise
            time.sleep(RETRY_PAUSE_S * attempt)

    def _send_all_here(self) -> None:
        """Send from this thread until done, or until the store turns out to be away."""
        while True:
            with self._lock:
                if not self._pending.count or self._away_since is not None:
                    return
                chunk = self._take_chunk()
            self._send_taken(chunk)

    def _lose(self, count: int, reason: str) -> None:
        reason = mask_secrets(reason)
        with self._lock:
            self._report.lost_values += count
            self._report.errors.append(reason)
        logger.debug(
            "Could not log %d value(s) to run %s: %s", count, self.run.run_id, reason
        )

    def _lose_file(self, name: str, reason: str) -> None:
        reason = mask_secrets(reason)
        with self._lock:
            self._report.lost_files.append(name)
            self._report.errors.append(reason)


_LOCAL_FILE_ERRORS = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def _is_transient(exc: BaseException) -> bool:
    """Whether the store may take it later: it was away, overloaded or failed.

    By the answer's HTTP status where it can be found (408, 429 and 5xx but 501
    are); else a refused connection or a time-out (``OSError``, which
    ``requests``' errors are, but not a malformed URL or header), a locked
    database, and MLflow's codes of such failures. Any other 4xx answer (a
    rejected value, a deleted run) is not.
    """
    if isinstance(exc, _LOCAL_FILE_ERRORS):
        return False  # a missing or unreadable local file stays so
    status = _http_status(exc)
    if status is not None:
        return status in (HTTP_REQUEST_TIMEOUT, HTTP_TOO_MANY_REQUESTS) or (
            status >= HTTP_SERVER_ERROR and status != HTTP_NOT_IMPLEMENTED
        )
    if isinstance(exc, OSError):
        # ``requests``' InvalidURL, InvalidHeader, MissingSchema are ValueErrors
        # too: the request is wrong, and stays so.
        return not isinstance(exc, ValueError)
    if _is_database_busy(exc):
        return True
    code = getattr(exc, "error_code", "")
    return code in _TRANSIENT_ERROR_CODES


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of the answer ``exc`` reports, where it can be found.

    A ``requests.HTTPError`` (an artifact upload) keeps its response; MLflow keeps
    an answer without its JSON (a gateway's) only in its text.
    """
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status
    match = _BARE_ANSWER.search(str(getattr(exc, "message", None) or exc))
    return int(match.group(1)) if match else None


def _is_database_busy(exc: BaseException) -> bool:
    """A database's operational failure (locked, gone) outside MLflow's wrapping."""
    # By name: SQLAlchemy is imported only with MLflow's SQL stores.
    return any(
        kind.__name__ == "OperationalError" and kind.__module__.startswith("sqlalchemy")
        for kind in type(exc).__mro__
    )


def _refuses_values(exc: BaseException) -> bool:
    """Whether the store refused some value of a batch (not the run, not the store).

    A value MLflow finds invalid (``INVALID_PARAMETER_VALUE``, a bare 400) or
    cannot store (a text the database cannot encode); not a transient failure,
    and not a refusal of the whole run (deleted, not found, not allowed), which
    every part of the batch would meet again.
    """
    if _is_transient(exc):
        return False
    if _http_status(exc) in (HTTP_BAD_REQUEST, HTTP_PAYLOAD_TOO_LARGE):
        return True  # a smaller batch may pass
    code = getattr(exc, "error_code", None)
    if code is not None:
        return code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")
    return isinstance(exc, ValueError)


def _refuses_the_run(exc: BaseException) -> bool:
    """Whether a refusal concerns the run (deleted), so every value would meet it."""
    return _RUN_NOT_ACTIVE in str(getattr(exc, "message", None) or exc)


def _same_refusal(error: BaseException, other: BaseException) -> bool:
    return (getattr(error, "error_code", None), _error_text(error)) == (
        getattr(other, "error_code", None),
        _error_text(other),
    )


class _PartlySent(Exception):
    """A transient failure in the middle of a split: what is still unsent."""

    def __init__(self, error: Exception, unsent: _Pending) -> None:
        super().__init__(str(error))
        self.error = error
        self.unsent = unsent


def _pending_of(entities: list[_Entity]) -> _Pending:
    """The values of ``entities`` as pending values, to be sent again."""
    pending = _Pending()
    for kind, _, original in entities:
        if kind == "metric":
            pending.metrics.append(original)
        elif kind == "param":
            pending.params[original[0]] = original[1]
        else:
            pending.tags[original[0]] = original[1]
    return pending


def _error_text(exc: BaseException) -> str:
    # Masked before it is cut: a cut could hide a secret's name, not its value.
    return mask_secrets(str(getattr(exc, "message", None) or exc))[:300]


#: A value to send: its kind, MLflow's entity, and the value as it was queued.
_Entity = tuple[str, Any, Any]


def _valid_texts(values: Mapping[str, str]) -> dict[str, str]:
    return {valid_utf8(k): valid_utf8(v) for k, v in values.items()}


def _valid_metric_key(entry: MetricEntry) -> MetricEntry:
    key = valid_utf8(entry[0])
    return entry if key == entry[0] else (key, *entry[1:])


def _done(job: _FileJob) -> bool:
    return job.future is None or job.future.done()
