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

The sender's parts, one job each: :mod:`~pipelinex_mlflow.tracking.send_queue`
(what waits, and when a request is due), :mod:`~pipelinex_mlflow.tracking.chunk_sending`
(one request's worth), :mod:`~pipelinex_mlflow.tracking.refused_batches` (a refused
batch, split), :mod:`~pipelinex_mlflow.tracking.file_uploads`,
:mod:`~pipelinex_mlflow.tracking.send_failures` (away or refused),
:mod:`~pipelinex_mlflow.tracking.run_ending` (the end and the spool) and
:mod:`~pipelinex_mlflow.tracking.send_report`; every bound is the
:mod:`~pipelinex_mlflow.tracking.retry_policy`'s.

Examples:
    >>> from pipelinex_mlflow.tracking import RunRef
    >>> sender = RunSender(RunRef("sqlite:///mlflow.db", "0123abcd"))
    >>> sender.pending
    0
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger, mask_url_passwords
from pipelinex_mlflow.tracking.chunk_sending import (
    CHANGED_PARAM_TAG_PREFIX,
    ChunkSender,
)
from pipelinex_mlflow.tracking.file_uploads import FileUploads
from pipelinex_mlflow.tracking.keys import MAX_TAG_LENGTH
from pipelinex_mlflow.tracking.pending_values import valid_texts
from pipelinex_mlflow.tracking.refused_batches import PartlySent
from pipelinex_mlflow.tracking.retry_policy import POLICY
from pipelinex_mlflow.tracking.run_ending import mark_ended, spool_unsent
from pipelinex_mlflow.tracking.send_failures import ServerWatch, is_transient
from pipelinex_mlflow.tracking.send_queue import (
    HEARTBEAT_FORMAT,
    HEARTBEAT_TAG,
    SendQueue,
)
from pipelinex_mlflow.tracking.send_report import Losses, SendReport
from pipelinex_mlflow.tracking.value_text import short_repr, valid_utf8

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from pipelinex_mlflow.tracking.metric_point import MetricPoint
    from pipelinex_mlflow.tracking.pending_values import PendingValues
    from pipelinex_mlflow.tracking.run_ref import RunRef
    from pipelinex_mlflow.tracking.spool import RunEnd

__all__ = [
    "CHANGED_PARAM_TAG_PREFIX",
    "HEARTBEAT_FORMAT",
    "HEARTBEAT_TAG",
    "SEND_TRIES",
    "UNLOGGED_TAG",
    "RunSender",
    "SendReport",
]

#: Tries per request or upload in a row, before the sender pauses (the store is
#: away) or counts its values as lost (the store rejected them).
SEND_TRIES = POLICY.send_tries
#: Names what the store rejected, so a run never looks complete while values are missing.
UNLOGGED_TAG = "pipelinex_mlflow.unlogged"

logger = get_logger(__name__)


class RunSender:
    """Sends the values and files of one run, from one process, in the background.

    Use :func:`~pipelinex_mlflow.tracking.senders.sender_for` rather than building
    one: a process has one sender per run.

    Args:
        run: The run to send to.
    """

    def __init__(self, run: RunRef) -> None:
        self.run = run
        self._queue = SendQueue()
        self._losses = Losses(run.run_id)
        self._uploads = FileUploads(
            run,
            self._queue.lock,
            on_done=self._notify,
            on_away=self._store_away,
            lose_file=self._losses.lose_file,
        )
        self._chunks = ChunkSender(
            run, given_params=self._queue.given_params, lose=self._losses.lose
        )
        self._thread: threading.Thread | None = None

    @property
    def store_away(self) -> bool:
        """Whether the store failed the latest request and has not answered since."""
        with self._queue.lock:
            return self._queue.away_since is not None

    @property
    def pending(self) -> int:
        """How many values wait to be sent or are being sent."""
        return self._queue.count

    def submit(
        self,
        *,
        params: Mapping[str, str],
        metrics: list[MetricPoint],
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
        params = valid_texts(params)
        points = [point.valid() for point in metrics]
        if not check_existing_params:
            params = {self.claim_param(k, v): v for k, v in params.items()}
        self._queue.add(
            params,
            points,
            valid_texts(tags),
            checked=check_existing_params,
            json_tag_entries=json_tag_entries,
            may_wait=self._thread_alive,
        )
        self._ensure_thread()

    def claim_param(self, key: str, text: str) -> str:
        """Reserve the key param ``text`` is logged under in this run, and return it.

        ``key``, unless this process gave the run another value under it: MLflow
        params cannot change, so the value gets a key of its own
        (:func:`~pipelinex_mlflow.tracking.keys.suffixed_key`), the same one for
        the same value, with a warning the first time.
        """
        key, text = valid_utf8(key), valid_utf8(text)  # as submit sends them
        claimed, new = self._queue.claim_param(key, text)
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
        self._uploads.upload(local, artifact_path, keep_alive=keep_alive)

    def upload_text(self, text: str, artifact_file: str) -> None:
        """Upload ``text`` as the artifact file ``artifact_file``, in the background."""
        self._uploads.upload_text(text, artifact_file)

    def wait_for_uploads_of(self, local: Path) -> None:
        """Wait until no upload reads ``local`` (or a file below it) any more."""
        self._uploads.wait_for_uploads_of(local)

    def start_heartbeat(self, every_s: float) -> None:
        """Set the tag ``pipelinex_mlflow.heartbeat`` now and every ``every_s`` seconds.

        It tells other processes that the run's owner still lives; it stops when
        the sender closes.
        """
        self._queue.start_heartbeat(every_s)
        self._ensure_thread()

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
        return self._losses.take()

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
        self._queue.start_heartbeat(None)
        self._uploads.retry_unsent()
        sent = self._wait_until_sent(deadline)
        report = self._losses.take()
        if end is not None and sent and report.lost:
            # The run must not look complete while values are missing.
            self.submit(
                params={},
                metrics=[],
                tags={UNLOGGED_TAG: report.summary()[:MAX_TAG_LENGTH]},
            )
            sent = self._wait_until_sent(deadline)
        ended = end is None or (sent and mark_ended(self.run, end, deadline, report))
        with self._queue.changed:
            self._queue.closed = True
            self._queue.changed.notify_all()
        if not sent or not ended or self._uploads.has_unsent:
            rest = self._queue.take_rest()
            jobs = self._uploads.take_unfinished()
            spool_unsent(
                self.run, rest, jobs, None if ended else end, report, write=spool
            )
        return report

    def _notify(self, _: object = None) -> None:
        with self._queue.changed:
            self._queue.changed.notify_all()

    def _wait_until_sent(self, deadline: float | None) -> bool:
        """Wait until nothing is queued, out or uploading; ``False`` if given up."""
        with self._queue.lock:
            self._queue.draining += 1
        self._queue.hurry()
        try:
            return self._wait(deadline)
        finally:
            with self._queue.lock:
                self._queue.draining -= 1

    def _wait(self, deadline: float | None) -> bool:
        queue, watch = self._queue, ServerWatch(self.run.tracking_uri)
        while True:
            with queue.changed:
                values_out = queue.pending.count or queue.in_flight is not None
                uploading = self._uploads.busy
                if not values_out and not uploading:
                    return True
                if values_out and not self._thread_alive() and not uploading:
                    break  # no thread (it died, or the process exits): send here
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return False
                wait = POLICY.probe_every_s if deadline is None else deadline - now
                queue.changed.wait(timeout=min(wait, POLICY.probe_every_s))
            if watch.gone():
                return False
        self._send_all_here()
        return not queue.pending.count

    def _thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _ensure_thread(self) -> None:
        if self._thread_alive() or self._queue.closed:
            return
        self._thread = threading.Thread(
            target=self._loop, name="pipelinex_mlflow-sender", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        queue = self._queue
        while True:
            with queue.changed:
                while True:
                    queue.beat_if_due()
                    if queue.due():
                        break
                    if queue.closed and not queue.pending.count:
                        return
                    queue.changed.wait(timeout=queue.wait_time())
                chunk = queue.take_chunk()
            self._send_taken(chunk)

    def _send_all_here(self) -> None:
        """Send from this thread until done, or until the store turns out to be away."""
        while True:
            with self._queue.lock:
                if not self._queue.pending.count or self._queue.away_since is not None:
                    return
                chunk = self._queue.take_chunk()
            self._send_taken(chunk)

    def _send_taken(self, chunk: PendingValues) -> None:
        """Send a chunk taken off the queue, then say it is no longer out."""
        generation = self._queue.spooled_generation
        try:
            self._send(chunk, generation)
        finally:
            self._queue.landed()

    def _send(self, chunk: PendingValues, generation: int) -> None:
        try:
            self._chunks.send(chunk)
        except PartlySent as partly:
            # Only what is still unsent goes back: a value lost or sent before the
            # failure must not be counted or sent again.
            self._store_away(partly.error, partly.unsent, generation)
            return
        except Exception as exc:  # a failed request must not kill the thread
            if is_transient(exc):
                self._store_away(exc, chunk, generation)
            else:
                self._losses.lose(chunk.count, f"{type(exc).__name__}: {exc}")
            return
        self._store_back()

    def _store_away(
        self, error: Exception, chunk: PendingValues | None = None, generation: int = 0
    ) -> None:
        """Keep ``chunk`` for a later try, pausing longer after each failure."""
        if self._queue.mark_away(chunk, generation):
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
        away_since = self._queue.mark_back()
        if away_since is not None:
            logger.warning(
                "The tracking store at %s takes values of MLflow run %s again, "
                "after %.0f s.",
                mask_url_passwords(self.run.tracking_uri),
                self.run.run_id,
                time.monotonic() - away_since,
            )
