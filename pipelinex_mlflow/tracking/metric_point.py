r"""``MetricPoint``: one metric value, with named fields, wherever it travels.

A metric is a :class:`MetricPoint` from the moment ``RunLogger`` queues it, through
the sender, the spool's batches and a replay, until MLflow's ``Metric`` is made.
Only the spool file holds it as a row, ``[key, value, step, timestamp]`` and the
id of a linked model; :mod:`~pipelinex_mlflow.tracking.spool.schema` converts
between the two, in one place each way.

Examples:
    >>> point = MetricPoint("acc", 0.9, step=3, timestamp=17, model_id="m-1")
    >>> point.key, point.model_id
    ('acc', 'm-1')
    >>> MetricPoint("caf\udce9", 1.0, step=0, timestamp=17).valid().key == "caf\ufffd"
    True
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pipelinex_mlflow.tracking.value_text import valid_utf8

if TYPE_CHECKING:
    from mlflow.entities import Metric


# Not a tuple: a point is read by name only, and never serialised by accident.
@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One metric value.

    Attributes:
        key: The metric's key.
        value: Its value.
        step: Its step.
        timestamp: When it was measured, in milliseconds since the epoch.
        model_id: The logged model it is linked to, if any.
    """

    key: str
    value: float
    step: int
    timestamp: int
    model_id: str | None = None

    def valid(self) -> MetricPoint:
        """This point with its key made valid UTF-8, as MLflow takes it.

        MLflow refuses a key that is not, with the whole batch; a spool read back
        may hold one (JSON keeps a lone surrogate).
        """
        key = valid_utf8(self.key)
        return self if key == self.key else replace(self, key=key)

    def to_mlflow(self) -> Metric:
        """MLflow's ``Metric`` of this point."""
        from mlflow.entities import Metric

        return Metric(
            key=self.key,
            value=self.value,
            timestamp=self.timestamp,
            step=self.step,
            model_id=self.model_id,
        )
