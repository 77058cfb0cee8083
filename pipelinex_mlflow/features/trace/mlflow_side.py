"""A Kedro run logged as one MLflow trace, from times recorded while it ran.

MLflow's tracing API (``mlflow.start_span_no_context``, ``MlflowClient.start_trace``)
exports through a process-wide tracer to the process-wide tracking URI, and ties
spans to the thread that opened them. A pipeline's nodes run in threads and
worker processes, and its run lives in a store named by its own URI, so the
spans are built here from recorded times instead, as OpenTelemetry spans, and the
finished trace goes to the run's store with MLflow's ``TracingClient``: one
request for the trace, one for its spans (the trace's data as an artifact where
the store takes no spans).

Examples:
    >>> root = SpanRecord("kedro run", 0.0, 2.0)
    >>> child = SpanRecord(
    ...     "train", 0.5, 1.5, parent=0, attributes={"kedro.outputs": ["model"]}
    ... )
    >>> [s.name for s in (root, child)]
    ['kedro run', 'train']
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.compat.mlflow_private import upload_trace_data
from pipelinex_mlflow.masking import get_logger, mask_json, mask_secrets
from pipelinex_mlflow.tracking.reads import get_experiment_id
from pipelinex_mlflow.tracking.senders import call_directly
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pipelinex_mlflow.tracking.run_ref import RunRef

logger = get_logger(__name__)

#: Longest text of one span attribute: a node with a thousand inputs stays small.
MAX_ATTRIBUTE_LENGTH = 1000
#: Most spans in one trace; a pipeline with more nodes and loads keeps the first.
MAX_SPANS = 20_000


@dataclass(frozen=True)
class SpanRecord:
    """One span to log: its name, wall-clock times (seconds since the epoch), parent.

    Attributes:
        name: Shown on the timeline.
        start: Start, seconds since the epoch.
        end: End, seconds since the epoch.
        parent: Index of the parent span in the list given to :func:`log_trace`
            (``None`` for the root, which must come first).
        span_type: MLflow's span type (``CHAIN``, ``TASK``, ``RETRIEVER``...).
        attributes: Shown with the span; values are JSON-encoded and cut.
        error: The exception text of a failed span (its status is then ERROR).
    """

    name: str
    start: float
    end: float
    parent: int | None = None
    span_type: str = "CHAIN"
    attributes: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def _attribute(value: Any) -> str:
    # Masked as data, before it is cut: the text stays JSON, and a secret cut in
    # two is still masked whole.
    text = json.dumps(mask_json(value), default=lambda v: mask_secrets(str(v)))
    if len(text) > MAX_ATTRIBUTE_LENGTH:
        text = json.dumps(text[: MAX_ATTRIBUTE_LENGTH - 20] + "...(cut)")
    return text


def log_trace(
    run: RunRef,
    spans: Sequence[SpanRecord],
    *,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log ``spans`` (the root first) as one trace linked to ``run``.

    Not while the store is away, and never for minutes
    (:func:`~pipelinex_mlflow.tracking.senders.call_directly`).

    Returns:
        The trace's id.

    Raises:
        TrackingError: If the store is away or does not answer in time.
    """
    return call_directly(run, "The run's trace", lambda: _log_trace(run, spans, tags))


def _log_trace(
    run: RunRef,
    spans: Sequence[SpanRecord],
    tags: Mapping[str, str] | None,
) -> str:
    from mlflow.entities import TraceData, TraceInfo, TraceLocation, TraceState
    from mlflow.tracing.client import TracingClient
    from mlflow.tracing.constant import TraceMetadataKey

    kept = list(spans[:MAX_SPANS])
    if len(spans) > MAX_SPANS:
        logger.warning(
            "The trace of MLflow run %s keeps the first %d of %d spans.",
            run.run_id,
            MAX_SPANS,
            len(spans),
        )
    otel_trace_id = secrets.randbits(128) or 1
    trace_id = f"tr-{otel_trace_id:032x}"
    mlflow_spans = _mlflow_spans(kept, otel_trace_id, trace_id)
    root = kept[0]
    failed = any(span.error for span in kept)
    experiment_id = get_experiment_id(run)
    info = TraceInfo(
        trace_id=trace_id,
        trace_location=TraceLocation.from_experiment_id(experiment_id),
        request_time=int(root.start * 1000),
        state=TraceState.ERROR if failed else TraceState.OK,
        execution_duration=int((root.end - root.start) * 1000),
        trace_metadata={TraceMetadataKey.SOURCE_RUN: run.run_id},
        tags=mask_json({"mlflow.traceName": root.name, **(tags or {})}),
    )
    # Made for the run's store: its URI is explicit, never the process-wide one.
    client = TracingClient(run.tracking_uri)
    returned = client.start_trace(info)
    try:
        client.log_spans(experiment_id, mlflow_spans)
    except Exception:  # a store that takes no spans keeps the trace's data as a file
        logger.debug("The store took no spans; uploading the trace data", exc_info=True)
        upload_trace_data(client, returned, TraceData(spans=mlflow_spans))
    return str(returned.trace_id)


def _mlflow_spans(
    spans: Sequence[SpanRecord], otel_trace_id: int, trace_id: str
) -> list[Any]:
    from mlflow.entities.span import create_mlflow_span
    from mlflow.tracing.constant import SpanAttributeKey
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

    contexts = [
        SpanContext(
            otel_trace_id, index + 1, is_remote=False, trace_flags=TraceFlags(1)
        )
        for index in range(len(spans))
    ]
    built = []
    for index, span in enumerate(spans):
        attributes = {
            SpanAttributeKey.REQUEST_ID: json.dumps(trace_id),
            SpanAttributeKey.SPAN_TYPE: json.dumps(span.span_type),
            **{key: _attribute(value) for key, value in span.attributes.items()},
        }
        status = (
            Status(StatusCode.ERROR, mask_secrets(span.error)[:MAX_ATTRIBUTE_LENGTH])
            if span.error
            else Status(StatusCode.OK)
        )
        if span.error:
            attributes["kedro.error"] = _attribute(span.error)
        readable = ReadableSpan(
            name=mask_secrets(span.name),
            context=contexts[index],
            parent=contexts[span.parent] if span.parent is not None else None,
            attributes=attributes,
            start_time=int(span.start * 1e9),
            end_time=int(max(span.end, span.start) * 1e9),
            status=status,
            # Given, as MLflow does: by default OpenTelemetry runs its resource
            # detectors on a ThreadPoolExecutor, which refuses work once the
            # interpreter exits, so the trace of a run ended at exit was lost.
            resource=Resource.get_empty(),
        )
        built.append(create_mlflow_span(readable, trace_id))
    return built


def run_traces(run: RunRef) -> list[Any]:
    """The traces linked to ``run`` (for tests and ``kedro mlflow``)."""
    client = get_client(run.tracking_uri)
    return list(
        client.search_traces(locations=[get_experiment_id(run)], run_id=run.run_id)
    )
