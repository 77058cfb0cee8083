"""A metric's value checked before it is queued: a finite number, a NaN warned of.

Examples:
    >>> metric_value("loss", 0.5)
    0.5
"""

from __future__ import annotations

import math
from typing import Any

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.value_text import short_repr
from pipelinex_mlflow.tracking.values import is_number

logger = get_logger(__name__)

_warned_nan_keys: set[str] = set()


def metric_value(key: str, value: Any) -> float:
    """``value`` as the float MLflow stores for metric ``key``.

    A NaN is kept (MLflow stores it), with one warning per key and process: its
    charts leave it out.

    Args:
        key: The metric's key; ``key[i]`` for step ``i`` of a history.
        value: A real number (Python or numpy, not a bool).

    Raises:
        TrackingError: If ``value`` is not a number, or is infinite, saying how to
            log it instead.
    """
    if not is_number(value):
        raise TrackingError(
            f"MLflow metric {key!r} must be a number, got {type(value).__name__} "
            f"{short_repr(value)}. Log it as a param (dataset code 'p') or let "
            "dataset code 'a' choose by type."
        )
    number = float(value)
    if math.isinf(number):
        raise TrackingError(
            f"MLflow metric {key!r} is {number}: MLflow cannot store infinity (it "
            "would keep 1.7976931348623157e+308 instead, and give that back). Log a "
            "finite number, or the text as a param (dataset code 'p')."
        )
    base_key = key.split("[", 1)[0]  # one warning for a whole history
    if math.isnan(number) and base_key not in _warned_nan_keys:
        # Once per key and process: a NaN loss at every epoch is one finding.
        _warned_nan_keys.add(base_key)
        logger.warning(
            "MLflow metric %r is NaN. MLflow stores NaN and gives it back, but its "
            "charts leave it out.",
            key,
        )
    return number
