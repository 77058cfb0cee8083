"""The values a sender holds for its run, and how they are cut into requests.

A sender merges what every flush gave it into one :class:`PendingValues`, and
sends it in ``log_batch`` requests of MLflow's maximum size
(:meth:`PendingValues.take_chunk`). A metric is a
:class:`~pipelinex_mlflow.tracking.metric_point.MetricPoint` (re-exported here),
with named fields.

Examples:
    >>> pending = PendingValues(params={"a": "1"}, tags={"t": "x"})
    >>> pending.metrics.append(MetricPoint("loss", 0.5, step=0, timestamp=17))
    >>> chunk = pending.take_chunk()
    >>> chunk.count, pending.count
    (3, 0)
    >>> chunk.metrics[0].key, chunk.metrics[0].step
    ('loss', 0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipelinex_mlflow.tracking.metric_point import MetricPoint
from pipelinex_mlflow.tracking.value_text import valid_utf8

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_ENTITIES_PER_REQUEST",
    "MAX_PARAMS_PER_REQUEST",
    "MAX_REQUEST_CHARS",
    "MAX_TAGS_PER_REQUEST",
    "MetricPoint",
    "PendingValues",
    "valid_texts",
]

#: MLflow's limits for one ``log_batch`` request.
MAX_PARAMS_PER_REQUEST = 100
MAX_TAGS_PER_REQUEST = 100
MAX_ENTITIES_PER_REQUEST = 1000
#: Under MLflow's 1 MB per request, with room for the JSON around the values.
MAX_REQUEST_CHARS = 800_000
# What a value costs in a request beyond its key and text (its JSON).
_VALUE_OVERHEAD_CHARS = 16


def valid_texts(values: Mapping[str, str]) -> dict[str, str]:
    """Keys and texts as valid UTF-8 (MLflow refuses others, with the whole batch)."""
    return {valid_utf8(k): valid_utf8(v) for k, v in values.items()}


@dataclass
class PendingValues:
    """Params, tags and metrics waiting to be sent, and since when.

    Attributes:
        params: Params this process gave the run.
        tags: Tags, by key.
        metrics: Metric points, in the order they came.
        checked_params: Params of runs that may already hold them: checked
            before sending.
        since: When the first of them came (``time.monotonic()``), if any waits.
    """

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricPoint] = field(default_factory=list)
    checked_params: dict[str, str] = field(default_factory=dict)
    since: float | None = None

    @property
    def count(self) -> int:
        """How many values wait."""
        return (
            len(self.params)
            + len(self.tags)
            + len(self.metrics)
            + len(self.checked_params)
        )

    def mark_waiting(self) -> None:
        """Start the clock of the first waiting value, if values wait."""
        if self.since is None and self.count:
            self.since = time.monotonic()

    def take_back(self, chunk: PendingValues) -> None:
        """Put an unsent chunk back; values given since then win."""
        for source, target in (
            (chunk.params, self.params),
            (chunk.checked_params, self.checked_params),
            (chunk.tags, self.tags),
        ):
            for key, value in source.items():
                target.setdefault(key, value)
        self.metrics[:0] = chunk.metrics
        self.mark_waiting()

    def take_chunk(self) -> PendingValues:
        """Take one request's worth of values off these (MLflow's limits)."""
        chunk = PendingValues()
        budget = _RequestBudget()
        for source, target in (
            (self.checked_params, chunk.checked_params),
            (self.params, chunk.params),
        ):
            for key in list(source):
                params = len(chunk.params) + len(chunk.checked_params)
                if params >= MAX_PARAMS_PER_REQUEST or not budget.fits(
                    key, source[key]
                ):
                    break
                target[key] = source.pop(key)
        for key in list(self.tags):
            if len(chunk.tags) >= MAX_TAGS_PER_REQUEST or not budget.fits(
                key, self.tags[key]
            ):
                break
            chunk.tags[key] = self.tags.pop(key)
        taken = 0
        for point in self.metrics:
            if not budget.fits(point.key):
                break
            taken += 1
        chunk.metrics, self.metrics = self.metrics[:taken], self.metrics[taken:]
        if not self.count:
            self.since = None
        return chunk


@dataclass
class _RequestBudget:
    """What is left of one request: entities and characters."""

    entities: int = MAX_ENTITIES_PER_REQUEST
    chars: int = MAX_REQUEST_CHARS

    def fits(self, key: str, text: str = "") -> bool:
        """Count a value against the budget; ``False`` (uncounted) if it is spent."""
        size = len(key) + len(text) + _VALUE_OVERHEAD_CHARS
        if self.entities < 1 or self.chars < size:
            return False
        self.entities -= 1
        self.chars -= size
        return True
