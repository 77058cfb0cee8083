"""A run's file uploads, on a small pool of daemon threads, each file once.

An upload the store did not take because it was away is kept for a later try
(when the run closes) or the spool; one the store refused is lost alone, named.
The first upload of a sender runs alone, so MLflow looks the run's artifact
store up once, not once per parallel upload.

Examples:
    >>> from pipelinex_mlflow.tracking import RunRef
    >>> uploads = FileUploads(RunRef("sqlite:///mlflow.db", "0123abcd"))
    >>> uploads.busy
    False
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.daemon_pool import DaemonPool
from pipelinex_mlflow.tracking.paths import containment_problem
from pipelinex_mlflow.tracking.send_failures import (
    error_text,
    is_transient,
    retrying,
    server_accepts_connections,
)
from pipelinex_mlflow.tracking.stores import get_client
from pipelinex_mlflow.tracking.value_text import valid_utf8

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from pipelinex_mlflow.tracking.run_ref import RunRef

UPLOAD_THREADS = 4

logger = get_logger(__name__)


@dataclass
class FileJob:
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

        Examples:
            >>> FileJob("plots", local="/tmp/a.png").name
            'plots/a.png'
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

    @property
    def done(self) -> bool:
        """Whether it is not (or no longer) uploading."""
        return self.future is None or self.future.done()


def _ignore(*_: object) -> None:
    """The default of a callback nobody needs."""


class FileUploads:
    """Uploads one run's files and texts in the background.

    Args:
        run: The run the files go to.
        lock: The lock guarding the uploads (reentrant: an upload that is done
            already when its callback is added runs it in the thread holding it).
        on_done: Called when an upload ends (to wake whoever waits).
        on_away: Called with the error when the store did not take an upload.
        lose_file: Called with the name and the reason of a file lost for good.
    """

    def __init__(
        self,
        run: RunRef,
        lock: threading.RLock | None = None,
        *,
        on_done: Callable[[object], None] = _ignore,
        on_away: Callable[[Exception], None] = _ignore,
        lose_file: Callable[[str, str], None] = _ignore,
    ) -> None:
        self.run = run
        self._lock = lock or threading.RLock()
        self._on_done = on_done
        self._on_away = on_away
        self._lose_file = lose_file
        self._jobs: dict[tuple[str, str | None], FileJob] = {}
        # Uploads the store did not take (it was away): for a later try or the spool.
        self._unsent: list[FileJob] = []
        self._text_ids = itertools.count()
        self._pool: DaemonPool | None = None
        # MLflow looks the run's artifact store up on a client's first upload;
        # parallel first uploads would each look it up.
        self._first_upload = threading.Lock()
        self._artifact_store_known = False

    @property
    def busy(self) -> bool:
        """Whether an upload is running or waiting for a thread."""
        with self._lock:
            return any(not job.done for job in self._jobs.values())

    @property
    def has_unsent(self) -> bool:
        """Whether uploads wait for the store to be back."""
        with self._lock:
            return bool(self._unsent)

    def upload(
        self, local: str, artifact_path: str | None, *, keep_alive: object = None
    ) -> None:
        """Upload a file, or a folder in one call (each once while it uploads)."""
        key = (local, artifact_path)
        if artifact_path is not None:
            # As MLflow and the spool take it: valid UTF-8, inside the run.
            artifact_path = valid_utf8(artifact_path)
            problem = artifact_path and containment_problem(artifact_path)
            if problem:
                job = FileJob(artifact_path, local=local)
                self._lose_file(job.name, f"artifact path {artifact_path!r}: {problem}")
                return
        with self._lock:
            earlier = self._jobs.get(key)
            if earlier is not None and not earlier.done:
                return
            job = FileJob(artifact_path, local=local, keep_alive=keep_alive)
            self._jobs[key] = job
            self._start(job)

    def upload_text(self, text: str, artifact_file: str) -> None:
        """Upload ``text`` as the artifact file ``artifact_file``."""
        artifact_file = valid_utf8(artifact_file)
        problem = containment_problem(artifact_file)
        if problem is not None:
            self._lose_file(
                artifact_file, f"artifact file {artifact_file!r}: {problem}"
            )
            return
        with self._lock:
            job = FileJob(artifact_file, text=valid_utf8(text))
            # Each text is its own upload, even under a name uploaded before.
            self._jobs[(f"text:{next(self._text_ids)}", artifact_file)] = job
            self._start(job)

    def wait_for_uploads_of(self, local: Path) -> None:
        """Wait until no upload reads ``local`` (or a file below it) any more."""
        prefix = str(local)
        with self._lock:
            waiting = [
                job.future
                for (path, _), job in self._jobs.items()
                if job.future is not None
                and (path == prefix or path.startswith(prefix + os.sep))
            ]
        for future in waiting:
            future.exception()

    def retry_unsent(self) -> None:
        """Try once more the uploads the store did not take, if it is back."""
        with self._lock:
            jobs, self._unsent = self._unsent, []
        if jobs and not server_accepts_connections(self.run.tracking_uri):
            with self._lock:
                self._unsent[:0] = jobs
            return
        with self._lock:
            for job in jobs:
                self._start(job)

    def take_unfinished(self) -> list[FileJob]:
        """Take every upload not done (for the spool); those waiting never start."""
        with self._lock:
            jobs = self._unsent + [job for job in self._jobs.values() if not job.done]
            self._unsent = []
        if self._pool is not None:
            self._pool.cancel_waiting()
        return jobs

    def _start(self, job: FileJob) -> None:
        """Put ``job`` on the upload threads (lock held)."""
        if self._pool is None:
            self._pool = DaemonPool(UPLOAD_THREADS, "pipelinex_mlflow-upload")
        job.future = self._pool.submit(self._upload, job)
        job.future.add_done_callback(self._on_done)

    def _upload(self, job: FileJob) -> None:
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
            if is_transient(exc):
                with self._lock:
                    self._unsent.append(job)
                self._on_away(exc)
            else:
                self._lose_file(job.name, f"{type(exc).__name__}: {error_text(exc)}")
            return
        logger.debug("Uploaded %s to MLflow run %s", job.name, run_id)

    def _first_alone(self, upload: Callable[[], Any]) -> None:
        """Upload; the first upload runs alone, so MLflow looks the store up once."""
        if not self._artifact_store_known:
            with self._first_upload:
                if not self._artifact_store_known:
                    retrying(upload)
                    self._artifact_store_known = True
                    return
        retrying(upload)
