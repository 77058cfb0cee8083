"""Temporary folders of a run: made on first use, removed by their owner process.

``ScratchFolder`` is a folder for this process's temporary files. ``WorkerSpool`` is
the folder that a run's worker processes (ParallelRunner) write into and the main
process collects and removes: records (one JSON file each, written atomically) and
claims (a name taken by exactly one process).

Only the process that made a folder removes it, so a forked worker that inherits
the object never deletes what the main process still reads. A folder a worker
process made (ParallelRunner's) is removed when that worker exits, after its
uploads: multiprocessing runs no exit handlers there, but runs its finalizers.

Examples:
    >>> spool = WorkerSpool("pipelinex_mlflow-example-")
    >>> spool.put({"node": "fit", "seconds": 1.5})
    >>> spool.records()
    [{'node': 'fit', 'seconds': 1.5}]
    >>> spool.claim("score"), spool.claim("score")
    (True, False)
    >>> spool.remove()
    >>> spool.exists
    False
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.util
import os
import shutil
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import Any

_RECORD_SUFFIX = ".json"
_CLAIM_SUFFIX = ".claim"

logger = logging.getLogger(__name__)


# Folders made by this process and not removed yet: removed at exit. The hook is
# registered when this module is imported, before the tracking layer's (which
# imports it), so the uploads still reading these folders finish first.
_leftovers: set[str] = set()
# In a worker process, folders are removed by a multiprocessing finalizer of this
# priority: lower than the senders' (10), so their uploads finish first.
_WORKER_EXIT_PRIORITY = 5


def _remove_if_owner(path: str, owner_pid: int) -> None:
    _leftovers.discard(path)
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


def _remove_leftovers() -> None:
    for path in list(_leftovers):
        shutil.rmtree(path, ignore_errors=True)
    _leftovers.clear()


def _forget_parents_folders() -> None:
    # A forked child must not remove the folders its parent still uses.
    _leftovers.clear()


atexit.register(_remove_leftovers)
if hasattr(os, "register_at_fork"):  # Unix only; Windows has no fork
    os.register_at_fork(after_in_child=_forget_parents_folders)


class ScratchFolder:
    """A temporary folder, made on first use of :attr:`path`.

    It is removed by :meth:`remove`, when the object is garbage collected, or at
    exit, and only ever by the process that made it. A pickled copy (a worker's)
    points at the same folder.

    Args:
        prefix: The start of the folder's name, saying whose it is.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._path: str | None = None
        self._owner_pid = os.getpid()
        self._is_copy = False
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_finalizer"] = None
        # A copy (pickled to a worker, or copy.copy) uses the folder, never removes it.
        state["_is_copy"] = True
        return state

    @property
    def path(self) -> Path:
        """The folder, made now if it does not exist yet."""
        if self._path is None:
            self._owner_pid = os.getpid()
            self._is_copy = False
            self._path = tempfile.mkdtemp(prefix=self._prefix)
            self._finalizer = weakref.finalize(
                self, _remove_if_owner, self._path, self._owner_pid
            )
            # At exit, _remove_leftovers removes it, after the last upload.
            self._finalizer.atexit = False
            _leftovers.add(self._path)
            if multiprocessing.parent_process() is not None:
                # A worker process: it runs no exit handlers, and the objects
                # holding the folder may live until it exits.
                multiprocessing.util.Finalize(
                    None,
                    _remove_if_owner,
                    args=(self._path, self._owner_pid),
                    exitpriority=_WORKER_EXIT_PRIORITY,
                )
        return Path(self._path)

    @property
    def exists(self) -> bool:
        """Whether the folder was made and not removed yet."""
        return self._path is not None and Path(self._path).is_dir()

    def in_worker(self) -> bool:
        """Tell whether this process is not the one that made the folder."""
        return os.getpid() != self._owner_pid

    def remove(self) -> None:
        """Remove the folder and everything in it (only in the process that made it)."""
        if self._path is None or self.in_worker() or self._is_copy:
            return
        if self._finalizer is not None:
            self._finalizer()
        else:
            _remove_if_owner(self._path, self._owner_pid)
        self._path = None


class WorkerSpool(ScratchFolder):
    """The folder a run's worker processes write into, collected by the main process.

    Make it in the main process when the run starts (the constructor makes the
    folder), so forked workers inherit its path; spawned workers get a pickled
    copy, which writes into the same folder and never removes it.

    Args:
        prefix: The start of the folder's name, saying whose it is.
    """

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix)
        _ = self.path

    def put(self, record: dict[str, Any]) -> None:
        """Leave one JSON record; the main process never reads a half-written one."""
        name = f"{os.getpid()}-{uuid.uuid4().hex}"
        partial = self.path / (name + ".part")
        partial.write_text(json.dumps(record), encoding="utf-8")
        os.replace(partial, self.path / (name + _RECORD_SUFFIX))

    def records(self) -> list[dict[str, Any]]:
        """Every record left so far, in no particular order; unreadable ones skipped."""
        if not self.exists:
            return []
        found = []
        for file in sorted(self.path.glob("*" + _RECORD_SUFFIX)):
            try:
                found.append(json.loads(file.read_text("utf-8")))
            except (OSError, ValueError) as exc:
                logger.debug("Skipping unreadable record %s: %s", file, exc)
        return found

    def claim(self, name: str) -> bool:
        """Take ``name`` for this process: ``True`` for the first claim of any process.

        Raises:
            OSError: If the folder is gone (the run ended).
        """
        digest = hashlib.sha256(name.encode()).hexdigest()
        try:
            (self.path / (digest + _CLAIM_SUFFIX)).touch(exist_ok=False)
        except FileExistsError:
            return False
        return True
