"""PipelineX's ``mlflow_log_params``, ``mlflow_log_metrics`` and ``mlflow_log_values``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipelinex_api.sending import send, target_run
from pipelinex_mlflow.tracking import (
    STRICT,
    RunLogger,
    fits_a_float,
    is_number,
    split_by_kind,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = get_logger(__name__)


def _as_float(number: Any) -> float:
    """``number`` as a float; infinity for an int too large for any float."""
    try:
        return float(number)
    except OverflowError:
        return math.inf


def mlflow_log_params(params: Mapping[str, Any], enable_mlflow: bool = True) -> None:
    """Log ``params`` (nested dicts flattened with ``.``) to the current run.

    Args:
        params: Name -> value; values are logged as their text.
        enable_mlflow: ``False`` only logs them at INFO level.
    """
    logger.info("%s", dict(params))
    if not enable_mlflow:
        return
    run = target_run("mlflow_log_params")
    if run is not None:
        run_logger = RunLogger(run, check_existing_params=True)
        run_logger.log_params(params)
        send(run_logger)


def mlflow_log_metrics(
    metrics: Mapping[str, Any], step: int | None = None, enable_mlflow: bool = True
) -> None:
    """Log the numbers of ``metrics`` to the current run at ``step`` (0 if ``None``).

    Values that are not numbers are named in a warning, not logged.
    """
    logger.info("%s", dict(metrics))
    if not enable_mlflow:
        return
    numbers = {
        key: value
        for key, value in metrics.items()
        if is_number(value) and math.isfinite(_as_float(value))
    }
    skipped = sorted(set(metrics) - set(numbers))
    if skipped:
        logger.warning(
            "mlflow_log_metrics did not log %s: not finite numbers (MLflow cannot "
            "store infinity, or an int too large for a float). Log them with "
            "mlflow_log_params or mlflow_log_values.",
            ", ".join(map(repr, skipped)),
        )
    rounded = sorted(key for key, value in numbers.items() if not fits_a_float(value))
    if rounded:
        logger.warning(
            "mlflow_log_metrics rounds %s: every MLflow metric is a float64, which "
            "does not hold these ints exactly. Log them with mlflow_log_values, "
            "which keeps such an int exactly as a param, if the exact number matters.",
            ", ".join(map(repr, rounded)),
        )
    run = target_run("mlflow_log_metrics")
    if run is not None and numbers:
        run_logger = RunLogger(run)
        run_logger.log_metrics(numbers, step=step or 0)
        send(run_logger)


def mlflow_log_values(d: Mapping[str, Any], enable_mlflow: bool = True) -> None:
    """Log ``d`` by type, flattened with ``.``: numbers as metrics, plain values as params.

    The rules of dataset code ``a``; what is neither is named in a warning.
    """
    logger.info("%s", dict(d))
    if not enable_mlflow:
        return
    split = split_by_kind("", d, STRICT)
    if split.skipped:
        logger.warning(
            "mlflow_log_values did not log %s: neither numbers nor plain values.",
            ", ".join(f"{key!r} ({why})" for key, why in sorted(split.skipped.items())),
        )
    run = target_run("mlflow_log_values")
    if run is not None and (split.params or split.metrics):
        run_logger = RunLogger(run, check_existing_params=True)
        run_logger.log_params(split.params)
        run_logger.log_metrics(split.metrics)
        send(run_logger)
