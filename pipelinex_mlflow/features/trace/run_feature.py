"""The run's trace: the run, a span per node, its loads and saves, as one MLflow trace.

Built from what ``MLflowTimeLoggerHook`` recorded (in this process, its threads
and ParallelRunner's workers), not from a tracer's thread-local context.
A node's span runs from its first load to its last save; its function's own
time is ``kedro.duration_s``. A node, load or save that never finished (the
process exited mid-run) is an error span whose ``kedro.status`` is
``interrupted``, ending when the run gave up on it.

Examples:
    >>> from pipelinex_mlflow.core.node_timings import NodeTiming
    >>> timing = NodeTiming(
    ...     "train", "train -- model", 1.0, 2.0, 1.0, "completed", 7, "MainThread"
    ... )
    >>> [span.name for span in run_spans([timing], [], {"pipeline_names": ["dt"]}, 7)]
    ['kedro run dt', 'train']
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.core.run_context import runner_name
from pipelinex_mlflow.core.run_features import RunTimeline, TimelineFeature
from pipelinex_mlflow.features.trace.mlflow_side import SpanRecord, log_trace
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pipelinex_mlflow.core.node_timings import DatasetEvent, NodeTiming

logger = get_logger(__name__)

#: Most names listed in one span attribute (a node with a thousand inputs).
MAX_LISTED_NAMES = 50


def _names(names: Sequence[str]) -> list[str]:
    if len(names) <= MAX_LISTED_NAMES:
        return list(names)
    return [*names[:MAX_LISTED_NAMES], f"... {len(names) - MAX_LISTED_NAMES} more"]


#: The root span's error when the process exited mid-run.
INTERRUPTED_RUN = "interrupted: the process exited mid-run (Ctrl-C, SIGTERM)"


def _root_error(
    failed: Sequence[NodeTiming], *, succeeded: bool, interrupted: bool
) -> str | None:
    node_failed = f"node {failed[0].node} failed: {failed[0].error}" if failed else None
    if interrupted:
        return INTERRUPTED_RUN + (f"; {node_failed}" if node_failed else "")
    if node_failed:
        return node_failed
    return None if succeeded else "the pipeline failed"


def _node_error(timing: NodeTiming) -> str | None:
    if timing.status == "completed":
        return timing.error
    return timing.error or timing.status


def run_spans(
    timings: Sequence[NodeTiming],
    events: Sequence[DatasetEvent],
    run_params: Mapping[str, Any],
    main_pid: int,
    *,
    succeeded: bool = True,
    interrupted: bool = False,
) -> list[SpanRecord]:
    """The root span, then each node's span followed by its loads and saves.

    The root span fails when the pipeline did (a node, a save, a hook), naming
    the first failed node if there is one, or when the run was ``interrupted``
    (the process exited mid-run), saying so.
    """
    by_node: dict[str, list[DatasetEvent]] = defaultdict(list)
    for event in events:
        by_node[event.node].append(event)
    failed = [t for t in timings if t.status == "failed"]
    spans = [
        _root_span(
            timings,
            events,
            run_params,
            error=_root_error(failed, succeeded=succeeded, interrupted=interrupted),
        )
    ]
    for timing in timings:
        own = sorted(by_node.get(timing.node, ()), key=lambda e: e.start)
        index = len(spans)
        spans.append(_node_span(timing, own, main_pid))
        spans.extend(_dataset_span(event, index) for event in own)
    return spans


def _root_span(
    timings: Sequence[NodeTiming],
    events: Sequence[DatasetEvent],
    run_params: Mapping[str, Any],
    *,
    error: str | None,
) -> SpanRecord:
    """The run's span: from its first node or load to its last node or save."""
    starts = [t.start for t in timings] + [e.start for e in events]
    ends = [t.end for t in timings] + [e.end for e in events]
    pipelines = list(run_params.get("pipeline_names") or ()) or ["__default__"]
    return SpanRecord(
        name=f"kedro run {','.join(pipelines)}",
        start=min(starts),
        end=max(ends),
        span_type="WORKFLOW",
        attributes={
            "kedro.pipelines": pipelines,
            "kedro.runner": runner_name(dict(run_params)),
            "kedro.session_id": str(run_params.get("run_id", "")),
            "kedro.nodes": len(timings),
        },
        error=error,
    )


def _node_span(
    timing: NodeTiming, own: Sequence[DatasetEvent], main_pid: int
) -> SpanRecord:
    """A node's span, from its first load to its last save, under the root."""
    return SpanRecord(
        name=timing.node,
        start=min([timing.start, *(e.start for e in own)]),
        end=max([timing.end, *(e.end for e in own)]),
        parent=0,
        span_type="TASK",
        attributes={
            "kedro.task": timing.task,
            "kedro.status": timing.status,
            "kedro.inputs": _names(timing.inputs),
            "kedro.outputs": _names(timing.outputs),
            "kedro.worker": timing.thread
            if timing.pid == main_pid
            else f"process {timing.pid}",
            "kedro.duration_s": round(timing.duration, 6),
            "kedro.cpu_s": timing.cpu_s,
            "kedro.peak_memory_mb": timing.peak_memory_mb,
        },
        error=_node_error(timing),
    )


def _dataset_span(event: DatasetEvent, parent: int) -> SpanRecord:
    """A load or save, under the span of its node (at index ``parent``)."""
    return SpanRecord(
        name=f"{event.operation} {event.dataset}",
        start=event.start,
        end=event.end,
        parent=parent,
        span_type="UNKNOWN",
        attributes={
            "kedro.dataset": event.dataset,
            "kedro.operation": event.operation,
            **({"kedro.status": "interrupted"} if event.interrupted else {}),
        },
        error=f"interrupted: the {event.operation} never finished"
        if event.interrupted
        else None,
    )


class RunTrace(TimelineFeature):
    """Log the run as one MLflow trace linked to it."""

    reads_dataset_events = True

    def finish(self, timeline: RunTimeline) -> None:
        """Log the trace of this process's nodes and their loads and saves."""
        run = timeline.run
        if run is None:
            return
        with warn_on_failure(timeline.owner, "log the run's trace"):
            spans = run_spans(
                timeline.own,
                timeline.events,
                timeline.run_params,
                timeline.main_pid,
                succeeded=timeline.succeeded,
                interrupted=timeline.interrupted,
            )
            trace_id = log_trace(run, spans)
            logger.info(
                "Logged the run as MLflow trace %s (%d spans)", trace_id, len(spans)
            )
