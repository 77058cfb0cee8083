"""When each node of one Kedro run started and ended, and its datasets' loads and saves.

``MLflowTimeLoggerHook`` hands every node and dataset event to one
:class:`NodeRecorder`, made afresh for each Kedro run. Nodes may run at the same
time (ThreadRunner), so starts are noted per thread. In a ParallelRunner worker
the records go to the run's spool (:class:`~pipelinex_mlflow.scratch.WorkerSpool`)
instead, and the main process collects them at the end
(:meth:`NodeRecorder.collect`). A worker also leaves a record that a node
started, so a node its run is interrupted in still shows, ``interrupted``.

Examples:
    >>> from kedro.pipeline import node
    >>> recorder = NodeRecorder(object(), lambda n: n.name, datasets=False)
    >>> double = node(lambda x: 2 * x, "x", "y", name="double")
    >>> recorder.node_started(double)
    >>> recorder.node_ended(double, "completed")
    >>> timings, events = recorder.collect()
    >>> [(t.node, t.status) for t in timings], events
    ([('double', 'completed')], [])
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from pipelinex_mlflow.core.node_timings import (
    DatasetEvent,
    DatasetOperation,
    NodeStatus,
    NodeTiming,
    peak_memory_mb,
)
from pipelinex_mlflow.core.workers import TIMING_SPOOL, worker_spool
from pipelinex_mlflow.masking import get_logger, mask_secrets
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro.pipeline.node import Node

    from pipelinex_mlflow.scratch import WorkerSpool

# Marks a worker's spooled dataset event among its node timings.
EVENT_MARK = "dataset_event"
# Marks a worker's record that a node started; its timing, once kept, replaces it.
STARTED_MARK = "node_started"
#: The error of a node that never finished, when the process exits mid-run.
INTERRUPTED_AT_EXIT = "interrupted: the process exited before the node finished"
#: The error of a node that never finished otherwise (its worker process died...).
NEVER_FINISHED = "interrupted: the node never finished"

logger = get_logger(__name__)


class _Started(NamedTuple):
    """When a node started, in the thread that runs it."""

    perf: float
    wall: float
    cpu: float
    thread: str
    node: Node


class NodeRecorder:
    """Records one Kedro run's node timings and dataset events, here or in the spool.

    Args:
        owner: The hook recording, named in warnings.
        task_name: Turns a node into its task name (``task_name_func``).
        datasets: Also record the loads and saves of datasets.

    Attributes:
        spool: The folder the run's ParallelRunner workers leave their records
            in, once the main process made it; a spawned worker's recorder finds
            it through :func:`~pipelinex_mlflow.core.workers.worker_spool`.
        main_pid: The process the recorder was made in: the pipeline's.
    """

    def __init__(
        self, owner: object, task_name: Callable[[Node], str], *, datasets: bool
    ) -> None:
        self.spool: WorkerSpool | None = None
        self.main_pid = os.getpid()
        self._owner = owner
        self._task_name = task_name
        self._datasets = datasets
        self._lock = threading.Lock()
        self._starts: dict[tuple[str, int], _Started] = {}
        self._timings: list[NodeTiming] = []
        self._io_starts: dict[tuple[str, str, DatasetOperation, int], float] = {}
        self._events: list[DatasetEvent] = []

    def node_started(self, node: Node) -> None:
        """Note when the node starts, in this thread; a worker spools that it did."""
        started = _Started(
            time.perf_counter(),
            time.time(),
            time.thread_time(),
            threading.current_thread().name,
            node,
        )
        with warn_on_failure(self._owner, f"time node {node.name!r}"):
            with self._lock:
                self._starts[(node.name, threading.get_ident())] = started
            spool = self._spool_in_worker()
            if spool is not None:
                timing = self._timing(
                    started, "interrupted", perf_end=started.perf, wall_end=started.wall
                )
                _put(spool, {STARTED_MARK: True, **asdict(timing)}, node.name)

    def node_ended(
        self, node: Node, status: NodeStatus, error: BaseException | None = None
    ) -> None:
        """Record the node's timing: it ``completed``, or ``failed`` with ``error``."""
        perf_end, wall_end, cpu_end = (
            time.perf_counter(),
            time.time(),
            time.thread_time(),
        )
        with warn_on_failure(self._owner, f"time node {node.name!r}"):
            key = (node.name, threading.get_ident())
            with self._lock:
                started = self._starts.get(key)
            if started is None:
                return
            # Masked where it is made: the time log, the chart and the trace all
            # show it, and an exception's text often quotes a connection string.
            text = (
                None
                if error is None
                else mask_secrets(f"{type(error).__name__}: {error}")
            )
            timing = self._timing(
                started,
                status,
                perf_end=perf_end,
                wall_end=wall_end,
                cpu_end=cpu_end,
                error=text,
            )
            self._keep(asdict(timing), timing, self._timings)
            # Forgotten only once kept: a Ctrl-C in between leaves the node twice
            # (the collection keeps its timing), never not at all.
            with self._lock:
                self._starts.pop(key, None)

    def dataset_started(
        self, dataset: str, node: Node, operation: DatasetOperation
    ) -> None:
        """Note when a node's input starts loading, or its output saving."""
        if not self._datasets:
            return
        key = (dataset, node.name, operation, threading.get_ident())
        with self._lock:
            self._io_starts[key] = time.time()

    def dataset_ended(
        self, dataset: str, node: Node, operation: DatasetOperation
    ) -> None:
        """Record a node's load or save."""
        if not self._datasets:
            return
        end = time.time()
        with warn_on_failure(self._owner, f"time the {operation} of {dataset!r}"):
            key = (dataset, node.name, operation, threading.get_ident())
            with self._lock:
                start = self._io_starts.pop(key, None)
            if start is None:
                return
            event = DatasetEvent(node.name, dataset, operation, start, end, os.getpid())
            self._keep({EVENT_MARK: True, **asdict(event)}, event, self._events)

    def collect(
        self, *, at_exit: bool = False
    ) -> tuple[list[NodeTiming], list[DatasetEvent]]:
        """Every timing and load or save of the run, this process's and its workers'.

        A node, load or save that started and never finished is ``interrupted``,
        ending now.

        Args:
            at_exit: The process is exiting mid-run (it says why a node never
                finished).
        """
        perf_now, wall_now = time.perf_counter(), time.time()
        reason = INTERRUPTED_AT_EXIT if at_exit else NEVER_FINISHED
        with self._lock:
            timings, events = list(self._timings), list(self._events)
            starts = list(self._starts.values())
            io_starts = list(self._io_starts.items())
        timings += [
            self._timing(
                s, "interrupted", perf_end=perf_now, wall_end=wall_now, error=reason
            )
            for s in starts
        ]
        events += [
            DatasetEvent(node, dataset, operation, start, wall_now, os.getpid(), True)
            for (dataset, node, operation, _), start in io_starts
        ]
        _collect_spool(self.spool, timings, events, wall_now, reason)
        timings = _finished_over_started(timings)
        timings.sort(key=lambda timing: (timing.start, timing.node))
        return timings, events

    def _timing(
        self,
        started: _Started,
        status: NodeStatus,
        *,
        perf_end: float,
        wall_end: float,
        cpu_end: float | None = None,
        error: str | None = None,
    ) -> NodeTiming:
        """The node's timing; an ``interrupted`` one has no CPU or memory figures."""
        node = started.node
        finished = status != "interrupted" and cpu_end is not None
        return NodeTiming(
            node=node.name,
            task=str(self._task_name(node)),
            start=started.wall,
            end=wall_end,
            duration=perf_end - started.perf,
            status=status,
            pid=os.getpid(),
            thread=started.thread,
            inputs=tuple(node.inputs),
            outputs=tuple(node.outputs),
            error=error,
            cpu_s=cpu_end - started.cpu if finished and cpu_end is not None else None,
            peak_memory_mb=peak_memory_mb() if finished else None,
        )

    def _spool_in_worker(self) -> WorkerSpool | None:
        """In a ParallelRunner worker, the main process's spool; else ``None``."""
        # A spawned worker's hook is new there: the main process's spool is
        # handed to the worker, not to the hook.
        spool = self.spool if self.spool is not None else worker_spool(TIMING_SPOOL)
        return spool if spool is not None and spool.in_worker() else None

    def _keep(self, record: dict[str, Any], item: Any, here: list[Any]) -> None:
        """Keep a record here, or in the spool the main process collects from workers."""
        spool = self._spool_in_worker()
        if spool is not None:
            _put(spool, record, str(record.get("node")))
        else:
            with self._lock:
                here.append(item)


def _put(spool: WorkerSpool, record: dict[str, Any], node: str) -> None:
    """Leave a worker's record for the main process, unless its run has ended."""
    try:
        spool.put(record)
    except FileNotFoundError:
        if spool.exists:
            raise
        # The main process ended the run and removed the folder: it exited
        # mid-run (a second Ctrl-C) while this worker still ran the node.
        logger.warning(
            "MLflowTimeLoggerHook: node %r ran on in worker process %d after its "
            "MLflow run ended (the main process exited mid-run); this is not "
            "recorded.",
            node,
            os.getpid(),
        )


def _collect_spool(
    spool: WorkerSpool | None,
    timings: list[NodeTiming],
    events: list[DatasetEvent],
    wall_now: float,
    reason: str,
) -> None:
    """Add the workers' records; a node a worker never finished ends now, ``reason``."""
    for record in spool.records() if spool is not None else []:
        try:
            if record.pop(EVENT_MARK, False):
                events.append(DatasetEvent(**record))
            elif record.pop(STARTED_MARK, False):
                timing = NodeTiming.from_record(record)
                end = max(wall_now, timing.start)
                timings.append(
                    replace(timing, end=end, duration=end - timing.start, error=reason)
                )
            else:
                timings.append(NodeTiming.from_record(record))
        except TypeError as exc:
            logger.debug("Skipping a malformed timing record %s: %s", record, exc)


def _finished_over_started(timings: list[NodeTiming]) -> list[NodeTiming]:
    """Each node run once: its timing rather than its ``interrupted`` start record."""
    kept: dict[tuple[str, int, float], NodeTiming] = {}
    for timing in timings:
        key = (timing.node, timing.pid, timing.start)
        if key not in kept or kept[key].status == "interrupted":
            kept[key] = timing
    return list(kept.values())
