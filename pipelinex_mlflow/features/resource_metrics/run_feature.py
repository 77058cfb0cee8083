"""What each node used, as metrics: its CPU time and its process's peak memory.

``_cpu_time <task>``: the CPU seconds of the node's thread while its function
ran; ``_peak_memory_mb <task>``: its process's peak resident memory when it
finished (none where the OS cannot tell). Like the timings, only for the nodes
this step finished, and once per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelinex_mlflow.core.run_features import RunTimeline, TimelineFeature
from pipelinex_mlflow.tracking import RunLogger, sanitize_key
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

CPU_METRIC_PREFIX = "_cpu_time "
MEMORY_METRIC_PREFIX = "_peak_memory_mb "


@dataclass
class ResourceMetrics(TimelineFeature):
    """Log each finished node's CPU time and peak memory.

    Examples:
        >>> from pipelinex_mlflow.core.node_timings import NodeTiming
        >>> timing = NodeTiming(
        ...     "n", "n", 1.0, 2.0, 1.0, "completed", 7, "MainThread", cpu_s=0.5
        ... )
        >>> timeline = RunTimeline(object(), None, [timing], [timing], ["n"], [], {}, 7)
        >>> ResourceMetrics().metrics(timeline)
        {'_cpu_time n': 0.5}
    """

    _logged: bool = field(default=False, init=False)

    def finish(self, timeline: RunTimeline) -> None:
        """Log the metrics into the run, the first time only."""
        run = timeline.run
        if run is None or self._logged:
            return
        # The timing metrics' words: both were one batch once, and one warning.
        with warn_on_failure(timeline.owner, "log the node timings"):
            run_logger = RunLogger(run)
            run_logger.log_metrics(self.metrics(timeline))
            run_logger.flush()
        self._logged = True

    def metrics(self, timeline: RunTimeline) -> dict[str, float]:
        """The CPU time and peak memory of each node this step finished."""
        found = {}
        for timing, task in timeline.own_tasks():
            if timing.status == "interrupted":
                continue
            if timing.cpu_s is not None:
                found[sanitize_key(CPU_METRIC_PREFIX + task)] = timing.cpu_s
            if timing.peak_memory_mb is not None:
                found[sanitize_key(MEMORY_METRIC_PREFIX + task)] = timing.peak_memory_mb
        return found
