"""The run a helper logs to, and how its values are sent there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking import current_run, tracking_is_off
from pipelinex_mlflow.tracking.run_ref import in_kedro_run

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking import RunLogger, RunRef

logger = get_logger(__name__)


def target_run(helper: str) -> RunRef | None:
    """The current run; ``None``, with a warning naming ``helper``, if none."""
    run = current_run()
    if run is None and not tracking_is_off():
        logger.warning(
            "%s found no MLflow run to log to (no tracked Kedro run, no "
            "mlflow_start_run(...), no mlflow.start_run()), so it logs nothing. "
            "Register MLflowBasicLoggerHook, or start a run first.",
            helper,
        )
    return run


def send(run_logger: RunLogger) -> None:
    """Send what ``run_logger`` holds, waiting for it outside a Kedro run."""
    # Outside a Kedro run (a notebook's mlflow_start_run run, the caller's own
    # mlflow.start_run() run) nothing waits for the background sender: the values
    # land before this returns, as MLflow's own log_* calls do.
    run_logger.flush(wait=not in_kedro_run())
