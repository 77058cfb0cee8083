"""PipelineX's ``mlflow_start_run`` and ``mlflow_end_run``: runs started outside Kedro."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.kedro_helpers import project_root
from pipelinex_mlflow.masking import get_logger, mask_value
from pipelinex_mlflow.tracking import (
    RunEnd,
    RunRef,
    TrackingError,
    close_run,
    current_run,
    default_tracking_uri,
    end_callers_active_run,
    ensure_experiment,
    normalize_tracking_uri,
    open_run,
    set_current_run,
    start_run,
    tracking_is_off,
)
from pipelinex_mlflow.tracking.run_ref import mark_outside_kedro

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = get_logger(__name__)
# The runs mlflow_start_run started, innermost last; mlflow_end_run ends them.
_started_runs: list[RunRef] = []


def mlflow_start_run(  # noqa: PLR0917 - PipelineX's signature
    uri: str | None = None,
    run_id: str | None = None,
    experiment_name: str | None = None,
    artifact_location: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    enable_mlflow: bool = True,
) -> None:
    """Start (or, with ``run_id``, resume) a run and make it the current run.

    PipelineX's helpers and ``MLflowDataSet`` then log to it, until
    :func:`mlflow_end_run`. It is not MLflow's active run: MLflow's own
    ``mlflow.log_*`` functions do not see it. With ``nested``, it is a child of
    the current run (or of the caller's ``mlflow.start_run()`` run).

    Args:
        uri: The tracking URI; ``MLFLOW_TRACKING_URI``, else the project's
            ``mlflow.db``, if ``None``.
        run_id: Resume this run.
        experiment_name: Start a run in this experiment (created if missing).
        artifact_location: Where a new experiment keeps artifacts.
        run_name: The new run's name.
        nested: Make the new run a child run.
        tags: Tags of the new run.
        enable_mlflow: ``False`` does nothing.

    Raises:
        ValueError: With neither ``run_id`` nor ``experiment_name``.
        TrackingError: If the store refuses.
    """
    if not enable_mlflow or tracking_is_off():
        return
    if not (run_id or experiment_name):
        raise ValueError(
            "mlflow_start_run needs run_id (to resume a run) or experiment_name (to "
            "start one), as in PipelineX."
        )
    root = project_root(None)
    tracking_uri = normalize_tracking_uri(uri or default_tracking_uri(root), root)
    texts = {key: mask_value(key, str(value)) for key, value in (tags or {}).items()}
    parent = current_run() if nested and not run_id else None
    if parent is not None and experiment_name:
        experiment_id = ensure_experiment(
            tracking_uri, experiment_name, artifact_location
        )
        run = start_run(
            tracking_uri,
            experiment_id,
            run_name=run_name,
            tags=texts,
            parent_run_id=parent.run_id,
        )
    else:
        run, _ = open_run(
            tracking_uri,
            experiment_name=experiment_name or "",
            artifact_location=artifact_location,
            run_id=run_id,
            run_name=run_name,
            nested=nested,
            tags=texts,
        )
    _started_runs.append(run)
    # Not a Kedro run's: nothing waits for its background sends, so saves do.
    mark_outside_kedro(run)
    set_current_run(run)
    logger.info("Started MLflow run %s", run.run_id)


def mlflow_end_run(enable_mlflow: bool = True) -> None:
    """End the run :func:`mlflow_start_run` started last (FINISHED), after sending its values.

    Without one, end the caller's ``mlflow.start_run()`` run, as PipelineX did.
    """
    if not enable_mlflow:
        return
    if _started_runs:
        run = _started_runs.pop()
        report = close_run(run, RunEnd.now("FINISHED"))
        set_current_run(_started_runs[-1] if _started_runs else None)
        mark_outside_kedro(run, False)
        if report:
            logger.warning("MLflow run %s ended, but %s", run.run_id, report.summary())
        else:
            logger.info("MLflow run %s ended FINISHED", run.run_id)
        return
    try:
        if not end_callers_active_run():
            logger.warning("mlflow_end_run found no run to end.")
    except TrackingError as exc:
        logger.warning("mlflow_end_run could not end the run: %s", exc)
