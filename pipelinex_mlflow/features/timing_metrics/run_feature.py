"""Node timings as metrics: ``<prefix><task name>``, how long each node ran.

Only the nodes that finished in this step: an ``interrupted`` node's time so far
is not its time to run, and another step of a shared run logs its own. They are
logged once per run, before the chart is drawn: a Ctrl-C while it is drawn
leaves the rest to the flush at exit, which does not log them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipelinex_mlflow.core.run_features import RunTimeline, TimelineFeature
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.options.timing import DEFAULT_METRIC_NAME_PREFIX
from pipelinex_mlflow.tracking import RunLogger, sanitize_key
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pipelinex_mlflow.core.node_timings import NodeTiming

#: PipelineX's metric name prefix.

logger = get_logger(__name__)


@dataclass
class TimingMetrics(TimelineFeature):
    """Log each finished node's duration, in seconds, as ``<prefix><task>``.

    Examples:
        >>> from pipelinex_mlflow.core.node_timings import NodeTiming
        >>> timing = NodeTiming("n", "n", 1.0, 2.5, 1.5, "completed", 7, "MainThread")
        >>> timeline = RunTimeline(object(), None, [timing], [timing], ["n"], [], {}, 7)
        >>> TimingMetrics("time/").metrics(timeline)
        {'time/n': 1.5}
    """

    prefix: str = DEFAULT_METRIC_NAME_PREFIX
    _logged: bool = field(default=False, init=False)

    def finish(self, timeline: RunTimeline) -> None:
        """Log the metrics into the run, the first time only."""
        run = timeline.run
        if run is None or self._logged:
            return
        with warn_on_failure(timeline.owner, "log the node timings"):
            run_logger = RunLogger(run)
            run_logger.log_metrics(self.metrics(timeline))
            run_logger.flush()
            finished = sum(1 for timing, _ in _finished(timeline))
            logger.info(
                "Logged the timings of %d nodes to MLflow run %s", finished, run.run_id
            )
        # Once: a Ctrl-C after this leaves the rest to the flush at exit.
        self._logged = True

    def metrics(self, timeline: RunTimeline) -> dict[str, float]:
        """The duration of each node this step finished, by metric name."""
        return {
            sanitize_key(self.prefix + task): timing.duration
            for timing, task in _finished(timeline)
        }


def _finished(timeline: RunTimeline) -> Iterator[tuple[NodeTiming, str]]:
    """This step's finished nodes, with their task names."""
    for timing, task in timeline.own_tasks():
        # An interrupted node's time so far is not its time to run.
        if timing.status != "interrupted":
            yield timing, task
