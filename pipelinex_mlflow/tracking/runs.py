"""Starting, resuming and ending MLflow runs, always by explicit id."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Literal

from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.keys import MAX_TAG_LENGTH
from pipelinex_mlflow.tracking.run_ref import RunRef
from pipelinex_mlflow.tracking.stores import get_client, local_artifacts_uri

if TYPE_CHECKING:
    from collections.abc import Mapping

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]

logger = logging.getLogger(__name__)


def ensure_experiment(
    tracking_uri: str, name: str, artifact_location: str | None = None
) -> str:
    """Return the id of experiment ``name``, creating it (with ``artifact_location``).

    A new experiment of a local SQLite store keeps its artifacts in ``mlartifacts/``
    beside the database unless ``artifact_location`` says otherwise. A deleted
    experiment of that name is restored rather than failing.
    """
    client = get_client(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        logger.info("Creating MLflow experiment %r", name)
        return client.create_experiment(
            name,
            artifact_location=artifact_location or local_artifacts_uri(tracking_uri),
        )
    if experiment.lifecycle_stage == "deleted":
        logger.warning("Restoring the deleted MLflow experiment %r", name)
        client.restore_experiment(experiment.experiment_id)
    return str(experiment.experiment_id)


def open_run(
    tracking_uri: str,
    *,
    experiment_name: str,
    artifact_location: str | None = None,
    run_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
) -> tuple[RunRef, str]:
    """Resume ``run_id``, or start a run in ``experiment_name`` (created if missing).

    With ``nested``, the new run is a child of the run the caller opened with
    ``mlflow.start_run()`` (or named in ``MLFLOW_RUN_ID``).

    Returns:
        The run and its experiment id.

    Raises:
        TrackingError: If the store refuses, naming the store and the reason.
    """
    from mlflow.exceptions import MlflowException

    try:
        if run_id:
            return resume_run(tracking_uri, run_id)
        experiment_id = ensure_experiment(
            tracking_uri, experiment_name, artifact_location
        )
        parent = find_active_fluent_run_id() if nested else None
        if nested and parent is None:
            logger.warning(
                "nested=True found no enclosing MLflow run (none active, no "
                "MLFLOW_RUN_ID); starting a top-level run."
            )
        run = start_run(
            tracking_uri, experiment_id, run_name=run_name, parent_run_id=parent
        )
    except MlflowException as exc:
        raise TrackingError(
            f"Cannot start an MLflow run in the store at {tracking_uri!r}: "
            f"{exc.message}"
        ) from exc
    return run, experiment_id


def start_run(
    tracking_uri: str,
    experiment_id: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
) -> RunRef:
    """Create a RUNNING run, optionally as a child of ``parent_run_id``."""
    all_tags = dict(tags or {})
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = get_client(tracking_uri).create_run(
        experiment_id, run_name=run_name, tags=all_tags
    )
    return RunRef(tracking_uri=tracking_uri, run_id=run.info.run_id)


def resume_run(tracking_uri: str, run_id: str) -> tuple[RunRef, str]:
    """Set an existing run back to RUNNING.

    Returns:
        The run and its experiment id.

    Raises:
        TrackingError: If no such run exists in the store.
    """
    from mlflow.exceptions import MlflowException

    client = get_client(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise TrackingError(
            f"Cannot resume MLflow run {run_id!r}: it is not in the store at "
            f"{tracking_uri!r} ({exc.message}). Check the `run_id` of "
            "MLflowBasicLoggerHook, or leave it unset to start a new run."
        ) from exc
    client.update_run(run_id, status="RUNNING")
    return RunRef(tracking_uri=tracking_uri, run_id=run_id), str(run.info.experiment_id)


def end_run(run: RunRef, status: RunStatus) -> None:
    """Mark ``run`` as terminated with ``status``."""
    get_client(run.tracking_uri).set_terminated(run.run_id, status=status)


UNLOGGED_TAG = "pipelinex_mlflow.unlogged"


def tag_unlogged(run: RunRef, summary: str) -> None:
    """Record on ``run`` what could not be logged to it (tag ``pipelinex_mlflow.unlogged``)."""
    get_client(run.tracking_uri).set_tag(
        run.run_id, UNLOGGED_TAG, summary[:MAX_TAG_LENGTH]
    )


def find_active_fluent_run_id() -> str | None:
    """Return the id of the run a caller opened with ``mlflow.start_run()``, if any.

    Only read when a hook is asked to nest its run under an enclosing one.
    """
    import mlflow

    active = mlflow.active_run()
    return active.info.run_id if active else os.environ.get("MLFLOW_RUN_ID")
