"""A small pool of daemon threads, which never keeps a process from exiting.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter
exits, so an upload stuck in MLflow's HTTP retries (minutes against a dead server)
would hold the process that long after its run ended. These threads are daemons:
the run's owner waits for them only as long as its deadline allows, then spools
what they still hold (:mod:`~pipelinex_mlflow.tracking.spool`).

Examples:
    >>> pool = DaemonPool(2, "example")
    >>> pool.submit(sum, [1, 2]).result()
    3
"""

from __future__ import annotations

# Imported now, not first by MLflow inside an upload at exit: the module registers
# an exit hook when imported, which the interpreter refuses while it exits.
import concurrent.futures.thread  # noqa: F401
import queue
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


_Job = tuple["Future[Any]", "Callable[..., Any]", tuple[Any, ...]]


class DaemonPool:
    """Runs calls on up to ``workers`` daemon threads, started on demand.

    Args:
        workers: The most threads running at once.
        name: The threads' name prefix.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._workers = workers
        self._name = name
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, call: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``call(*args)`` on a pool thread; in this thread if none can start.

        Threads cannot start while the interpreter exits; the call then runs here.
        """
        future: Future[Any] = Future()
        with self._lock:
            if len(self._threads) < self._workers:
                thread = threading.Thread(
                    target=self._work,
                    name=f"{self._name}-{len(self._threads)}",
                    daemon=True,
                )
                try:
                    thread.start()
                except RuntimeError:
                    future.set_running_or_notify_cancel()
                    _run(future, call, args)
                    return future
                self._threads.append(thread)
        self._queue.put((future, call, args))
        return future

    def cancel_waiting(self) -> int:
        """Cancel the calls that have not started; return how many were cancelled."""
        cancelled = 0
        while True:
            try:
                future, _, _ = self._queue.get_nowait()
            except queue.Empty:
                return cancelled
            cancelled += future.cancel()

    def _work(self) -> None:
        while True:
            future, call, args = self._queue.get()
            if future.set_running_or_notify_cancel():
                _run(future, call, args)


def _run(future: Future[Any], call: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = call(*args)
    except BaseException as exc:  # handed to whoever waits, like an executor
        future.set_exception(exc)
    else:
        future.set_result(result)
