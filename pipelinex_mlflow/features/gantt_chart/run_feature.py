"""The run's time log and Gantt chart: ``time_log.json`` and ``gantt.html``, and local copies.

The time log lists every node (``as_log_entry``), the chart draws one bar per
node, colored by the thread or process that ran it (:mod:`pipelinex_mlflow.gantt`).
Both are uploaded into the run, beside any catalog entry that took the name,
and written to the local paths given; in a run orchestrated steps share, this
step's own timings go to ``time_log_steps/`` too (:mod:`pipelinex_mlflow.core.step_timings`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.core.node_timings import NodeTiming, unique_task_names
from pipelinex_mlflow.core.run_features import RunTimeline, TimelineFeature
from pipelinex_mlflow.core.step_timings import queue_step_timings, step_timings
from pipelinex_mlflow.gantt import PlotlyJs, TimelineEntry, gantt_html
from pipelinex_mlflow.io.naming import artifacts_of_outputs, path_beside_entries
from pipelinex_mlflow.kedro_helpers import project_root
from pipelinex_mlflow.masking import get_logger, mask_json, mask_secrets
from pipelinex_mlflow.tracking import RunLogger
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from pathlib import Path

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from pipelinex_mlflow.tracking import RunRef

GANTT_ARTIFACT = "gantt.html"
TIME_LOG_ARTIFACT = "time_log.json"

logger = get_logger(__name__)


@dataclass
class GanttChart(TimelineFeature):
    """Log and write the time log and (when drawn) the Gantt chart.

    Args:
        params: The chart's checked ``gantt_params``.
        plotlyjs: How the page gets plotly.js (``gantt_plotlyjs``).
        draw: Draw the chart (``enable_plotly``); the time log is always made.
        gantt_filepath: Also write the chart here (relative to the project root).
        time_log_filepath: Also write the time log here.

    Examples:
        >>> from pipelinex_mlflow.core.node_timings import NodeTiming
        >>> timing = NodeTiming("n", "n", 0.0, 1.0, 1.0, "completed", 7, "MainThread")
        >>> time_log, html = GanttChart(draw=False).render(object(), [timing], ["n"])
        >>> json.loads(time_log)["nodes"][0]["end"], html
        ('1970-01-01T00:00:01.000+00:00', None)
    """

    params: dict[str, Any] = field(default_factory=dict)
    plotlyjs: PlotlyJs = "basic"
    draw: bool = True
    gantt_filepath: str | os.PathLike[str] | None = None
    time_log_filepath: str | os.PathLike[str] | None = None
    # Where this run's time log and chart go: beside an entry that took the name.
    _time_log_artifact: str = field(default=TIME_LOG_ARTIFACT, init=False)
    _gantt_artifact: str = field(default=GANTT_ARTIFACT, init=False)

    def start(
        self, owner: object, pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]
    ) -> None:
        """Choose the artifact names, beside the catalog entries that upload there."""
        with warn_on_failure(owner, "find the artifact names datasets upload to"):
            saved = artifacts_of_outputs(pipeline, catalog)
            writer = type(owner).__name__
            self._time_log_artifact = path_beside_entries(
                TIME_LOG_ARTIFACT, saved, writer
            )
            self._gantt_artifact = path_beside_entries(GANTT_ARTIFACT, saved, writer)

    def finish(self, timeline: RunTimeline) -> None:
        """Write the local copies, then log this step's timings, the log and the chart."""
        owner, run = timeline.owner, timeline.run
        time_log, html = self.render(
            owner, timeline.timings, timeline.tasks, timeline.main_pid
        )
        root = project_root(timeline.run_params.get("project_path"))
        if self.time_log_filepath is not None:
            with warn_on_failure(owner, "write the local time log"):
                _write(root / self.time_log_filepath, time_log)
        if self.gantt_filepath is not None and html is not None:
            with warn_on_failure(owner, "write the local Gantt chart"):
                _write(root / self.gantt_filepath, html)
        if run is None:
            return
        with warn_on_failure(owner, "log the time log and the Gantt chart"):
            run_logger = RunLogger(run)
            if timeline.shared and timeline.own:
                queue_step_timings(run_logger, timeline.own)
            run_logger.log_text(time_log, self._time_log_artifact)
            if html is not None:
                run_logger.log_text(html, self._gantt_artifact)
            run_logger.flush()

    def rebuild(self, owner: object, run: RunRef) -> int:
        """Log the time log and the chart of every step of a shared run again.

        Returns:
            How many node timings the chart shows.
        """
        timings = sorted(step_timings(run), key=lambda t: (t.start, t.node))
        if not timings:
            return 0
        time_log, html = self.render(owner, timings, unique_task_names(timings))
        run_logger = RunLogger(run)
        run_logger.log_text(time_log, TIME_LOG_ARTIFACT)
        if html is not None:
            run_logger.log_text(html, GANTT_ARTIFACT)
        run_logger.flush()
        return len(timings)

    def render(
        self,
        owner: object,
        timings: list[NodeTiming],
        tasks: list[str],
        main_pid: int | None = None,
    ) -> tuple[str, str | None]:
        """The time log's text and the Gantt page (``None`` if not drawn).

        Args:
            owner: The hook drawing, named if drawing fails.
            timings: The timings, in start order.
            tasks: Their task names.
            main_pid: The pipeline's process, whose nodes are shown by thread
                (others by process); by default this one.
        """
        entries = [t.as_log_entry(task) for t, task in zip(timings, tasks, strict=True)]
        # Another step's timings come from the store: masked again, never trusted.
        time_log = json.dumps(mask_json({"nodes": entries}), indent=2)
        html = None
        if self.draw:
            with warn_on_failure(owner, "draw the Gantt chart"):
                html = gantt_html(
                    _rows(
                        timings, tasks, os.getpid() if main_pid is None else main_pid
                    ),
                    mask_json(self.params),  # its title is on the page
                    self.plotlyjs,
                )
        return time_log, html


def _rows(
    timings: list[NodeTiming], tasks: list[str], main_pid: int
) -> list[TimelineEntry]:
    # The page is uploaded as it is drawn: its texts pass the masking rule here
    # (gantt.py is independent of it).
    return [
        TimelineEntry(
            task=mask_secrets(task),
            start=timing.start,
            end=timing.end,
            worker=mask_secrets(timing.thread)
            if timing.pid == main_pid
            else f"process {timing.pid}",
            failed=timing.status != "completed",
            duration=timing.duration,
            status=timing.status,
        )
        for timing, task in zip(timings, tasks, strict=True)
    ]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    logger.debug("Wrote %s", path)
