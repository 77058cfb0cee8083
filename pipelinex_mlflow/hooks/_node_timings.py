"""A node's timing record, and the unique names its timings are logged under."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from pipelinex_mlflow.tracking import sanitize_key

NodeStatus = Literal["completed", "failed"]


@dataclass(frozen=True)
class NodeTiming:
    """When and how long one node ran.

    Attributes:
        node: The node's name.
        task: The name the chart and the metric use (``task_name_func(node)``).
        start: Wall-clock start, seconds since the epoch.
        end: Wall-clock end, seconds since the epoch.
        duration: Seconds, measured with ``time.perf_counter``.
        status: ``completed``, or ``failed`` if the node raised.
        pid: The process that ran the node.
        thread: The thread that ran the node.
    """

    node: str
    task: str
    start: float
    end: float
    duration: float
    status: NodeStatus
    pid: int
    thread: str

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
