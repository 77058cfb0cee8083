"""A node's timing record, its datasets' loads and saves, and the names they are logged under."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any, Literal

from pipelinex_mlflow.tracking import sanitize_key

#: ``interrupted``: the node started and never finished (the process exited mid-run,
#: or its worker process died).
NodeStatus = Literal["completed", "failed", "interrupted"]


@dataclass(frozen=True)
class NodeTiming:
    """When and how long one node ran.

    Attributes:
        node: The node's name.
        task: The name the chart and the metric use (``task_name_func(node)``).
        start: Wall-clock start, seconds since the epoch.
        end: Wall-clock end, seconds since the epoch.
        duration: Seconds, measured with ``time.perf_counter``.
        status: ``completed``, ``failed`` if the node raised, ``interrupted`` if
            it never finished (``end`` and ``duration`` are then when the run
            gave up on it).
        pid: The process that ran the node.
        thread: The thread that ran the node.
        inputs: The node's inputs, by catalog name.
        outputs: The node's outputs.
        error: ``"<type>: <message>"`` of a failed node.
        cpu_s: CPU seconds of the node's thread while the function ran.
        peak_memory_mb: The process's peak resident memory (its high-water mark)
            when the node finished, in MB; ``None`` where the OS cannot tell.
    """

    node: str
    task: str
    start: float
    end: float
    duration: float
    status: NodeStatus
    pid: int
    thread: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    error: str | None = None
    cpu_s: float | None = None
    peak_memory_mb: float | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> NodeTiming:
        """Rebuild one from :func:`dataclasses.asdict` output (a worker's, an older version's).

        Raises:
            TypeError: If a field it needs is missing.
        """
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        for name in ("inputs", "outputs"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)

    def as_log_entry(self, task: str) -> dict[str, Any]:
        """The node's entry in ``time_log.json``: times as ISO 8601 in UTC.

        Args:
            task: The task name as logged (made a valid, unique MLflow key).
        """
        entry = asdict(self)
        entry["task"] = task
        entry["start"] = _iso_utc(self.start)
        entry["end"] = _iso_utc(self.end)
        entry["duration_s"] = entry.pop("duration")
        return entry


DatasetOperation = Literal["load", "save"]


@dataclass(frozen=True)
class DatasetEvent:
    """One load or save of a dataset by a node: the trace's child spans.

    Attributes:
        node: The node that loaded or saved it.
        dataset: The catalog name.
        operation: ``load`` or ``save``.
        start: Wall-clock start, seconds since the epoch.
        end: Wall-clock end.
        pid: The process it ran in.
        interrupted: It never finished (``end`` is when the run gave up on it).
    """

    node: str
    dataset: str
    operation: DatasetOperation
    start: float
    end: float
    pid: int
    interrupted: bool = False


def peak_memory_mb() -> float | None:
    """This process's peak resident memory so far, in MB (``None`` on Windows).

    Examples:
        >>> (peak_memory_mb() or 1.0) > 0
        True
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _iso_utc(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def unique_task_names(timings: list[NodeTiming]) -> list[str]:
    """Sanitised task names, with ``_2``, ``_3``... where two nodes share one."""
    owner: dict[str, str] = {}
    names = []
    for timing in timings:
        base = sanitize_key(timing.task)
        name, counter = base, 1
        while owner.get(name, timing.node) != timing.node:
            counter += 1
            name = f"{base}_{counter}"
        owner[name] = timing.node
        names.append(name)
    return names
