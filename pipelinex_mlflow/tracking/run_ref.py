"""The *current run*: the MLflow run that ``MLflowBasicLoggerHook`` started.

It is kept in a module global (inherited by forked workers) and mirrored in
environment variables of our own (inherited by spawned workers too), so datasets and
node hooks find it from any thread or process without MLflow's thread-local active
run.

Examples:
    >>> set_current_run(RunRef("sqlite:///mlflow.db", "0123abcd"))
    >>> current_run().run_id
    '0123abcd'
    >>> set_current_run(None)
    >>> current_run() is None
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass

RUN_ID_ENV_VAR = "PIPELINEX_MLFLOW_RUN_ID"
TRACKING_URI_ENV_VAR = "PIPELINEX_MLFLOW_TRACKING_URI"


@dataclass(frozen=True)
class RunRef:
    """An MLflow run, addressed without any process-global MLflow state.

    Attributes:
        tracking_uri: The tracking URI of the store holding the run.
        run_id: The MLflow run id.
    """

    tracking_uri: str
    run_id: str


_current_run: RunRef | None = None


def set_current_run(run: RunRef | None) -> None:
    """Make ``run`` the run that datasets and node hooks log to (``None`` clears it)."""
    global _current_run  # noqa: PLW0603 - one process-wide slot, on purpose
    _current_run = run
    if run is None:
        os.environ.pop(RUN_ID_ENV_VAR, None)
        os.environ.pop(TRACKING_URI_ENV_VAR, None)
    else:
        os.environ[RUN_ID_ENV_VAR] = run.run_id
        os.environ[TRACKING_URI_ENV_VAR] = run.tracking_uri


def current_run() -> RunRef | None:
    """Return the run started by ``MLflowBasicLoggerHook``, from any thread or process.

    Returns:
        The run, or ``None`` when no pipeline run is being tracked.
    """
    if _current_run is not None:
        return _current_run
    run_id = os.environ.get(RUN_ID_ENV_VAR)
    tracking_uri = os.environ.get(TRACKING_URI_ENV_VAR)
    if run_id and tracking_uri:
        return RunRef(tracking_uri=tracking_uri, run_id=run_id)
    return None
