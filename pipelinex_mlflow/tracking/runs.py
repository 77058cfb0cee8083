"""Starting, resuming and ending MLflow runs, always by explicit id."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any, Literal

from pipelinex_mlflow.masking import get_logger, mask_url_passwords, scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.run_ref import RunRef
from pipelinex_mlflow.tracking.stores import get_client, local_artifacts_uri

if TYPE_CHECKING:
    from collections.abc import Mapping

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]

logger = get_logger(__name__)

#: The experiment tag MLflow 3's UI reads to pick an experiment's view.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def ensure_experiment(
    tracking_uri: str,
    name: str,
    artifact_location: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> str:
    """Return the id of experiment ``name``, creating it (with ``artifact_location``).

    ``tags`` are set on a new experiment, and on an existing one where its value
    differs (one request per changed tag, none when nothing changed).

    A new experiment of a local SQLite store keeps its artifacts in ``mlartifacts/``
    beside the database unless ``artifact_location`` says otherwise, and is tagged
    ``mlflow.experimentKind=custom_model_development`` so the MLflow UI opens it on
    its runs; an existing experiment keeps its tags. A deleted experiment of that
    name is restored rather than failing.
    """
    from mlflow.exceptions import MlflowException

    wanted = {str(k): str(v) for k, v in (tags or {}).items()}
    client = get_client(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        logger.info("Creating MLflow experiment %r", name)
        try:
            return client.create_experiment(
                name,
                artifact_location=artifact_location
                or local_artifacts_uri(tracking_uri),
                # MLflow 3's UI opens untagged experiments in its GenAI view
                # (traces, token usage); ours hold training runs.
                tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, **wanted},
            )
        except MlflowException:
            # Another process (a second `kedro run` started at the same time)
            # created it first: use theirs.
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        logger.warning("Restoring the deleted MLflow experiment %r", name)
        client.restore_experiment(experiment.experiment_id)
    for key, value in wanted.items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return str(experiment.experiment_id)


def open_run(
    tracking_uri: str,
    *,
    experiment_name: str,
    artifact_location: str | None = None,
    run_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, str] | None = None,
    experiment_tags: Mapping[str, Any] | None = None,
) -> tuple[RunRef, str]:
    """Resume ``run_id``, or start a run in ``experiment_name`` (created if missing).

    A new run gets ``tags`` when it is created (a resumed one does not); the
    experiment gets ``experiment_tags`` (see :func:`ensure_experiment`).

    With ``nested``, the new run is a child of the run the caller opened with
    ``mlflow.start_run()`` (or named in ``MLFLOW_RUN_ID``); with neither, it is a
    top-level run, as ``mlflow.start_run(nested=True)`` makes it (said at INFO).

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
            tracking_uri, experiment_name, artifact_location, experiment_tags
        )
        parent = find_active_fluent_run_id() if nested else None
        if nested:
            _say_where_nested_goes(parent)
        run = start_run(
            tracking_uri,
            experiment_id,
            run_name=run_name,
            tags=tags,
            parent_run_id=parent,
        )
    except MlflowException as exc:
        raise TrackingError(
            f"Cannot start an MLflow run in the store at {tracking_uri!r}: "
            f"{exc.message}"
        ) from scrubbed(exc)
    return run, experiment_id


def _say_where_nested_goes(parent: str | None) -> None:
    """Say, at INFO, where ``nested=True`` put the run: not a mistake either way.

    kedro-mlflow's template writes ``nested: True``: without an active run its
    run is top-level, as ours; with one (the caller's), it logged into that run
    where ours is a child of it.
    """
    if parent is None:
        logger.info(
            "nested=True: no MLflow run is active to nest under (none opened with "
            "mlflow.start_run(), no MLFLOW_RUN_ID), so this run is a top-level run."
        )
    else:
        logger.info(
            "nested=True: this run is a child of the caller's run %s (kedro-mlflow "
            "logged into the caller's run; nested: false does that here).",
            parent,
        )


def disable_autologging() -> None:
    """Turn MLflow's autologging off for every library (kedro-mlflow's default).

    Where it is on by default (Databricks), a node's ``fit()`` would start runs
    of its own beside the Kedro run's.
    """
    import mlflow

    mlflow.autolog(disable=True)


#: A tag on every run this version creates: file entries upload under their whole
#: name (``left/model.json``). Runs without it may hold ``model.json`` instead.
WHOLE_NAME_ARTIFACTS_TAG = "pipelinex_mlflow.whole_name_artifacts"


def start_run(
    tracking_uri: str,
    experiment_id: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
) -> RunRef:
    """Create a RUNNING run, optionally as a child of ``parent_run_id``."""
    all_tags = {WHOLE_NAME_ARTIFACTS_TAG: "true", **(tags or {})}
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
        ) from scrubbed(exc)
    client.update_run(run_id, status="RUNNING")
    return RunRef(tracking_uri=tracking_uri, run_id=run_id), str(run.info.experiment_id)


RUN_KEY_ENV_VAR = "PIPELINEX_MLFLOW_RUN_KEY"
SHARED_RUN_KEY_TAG = "pipelinex_mlflow.run_key"


_RUN_KEY = re.compile(r"^[\w.:+@/-]{1,200}$")


def check_run_key(key: str) -> str:
    """Return ``key`` if it can name a shared run, else raise.

    Examples:
        >>> check_run_key("scheduled__2026-12-01T00:00:00+00:00")
        'scheduled__2026-12-01T00:00:00+00:00'

    Raises:
        TrackingError: For an empty key, or one with other characters than letters,
            digits and ``_ . : + @ / -``.
    """
    if not _RUN_KEY.match(key):
        raise TrackingError(
            f"{RUN_KEY_ENV_VAR}={key!r} cannot name a shared run: use 1 to 200 "
            "letters, digits and _ . : + @ / - (an Airflow run id fits)."
        )
    return key


def open_shared_run(
    tracking_uri: str,
    *,
    experiment_name: str,
    key: str,
    artifact_location: str | None = None,
    run_name: str | None = None,
    experiment_tags: Mapping[str, Any] | None = None,
) -> tuple[RunRef, str, bool]:
    """Open the run that every process given ``key`` logs into (orchestrated steps).

    The first process creates it, tagged ``pipelinex_mlflow.run_key``; the others
    find it by that tag. Processes that start together may each create one: each
    then looks again, the oldest run wins, and the others delete their own.

    Returns:
        The run, its experiment id, and whether this process created it.

    Raises:
        TrackingError: If the store refuses, naming the store and the reason.
    """
    from mlflow.exceptions import MlflowException

    try:
        experiment_id = ensure_experiment(
            tracking_uri, experiment_name, artifact_location, experiment_tags
        )
        client = get_client(tracking_uri)
        existing = _runs_with_key(tracking_uri, experiment_id, key)
        if existing:
            run_id = existing[0]
            if client.get_run(run_id).info.status != "RUNNING":
                client.update_run(run_id, status="RUNNING")
            return RunRef(tracking_uri, run_id), experiment_id, False
        mine = start_run(
            tracking_uri,
            experiment_id,
            run_name=run_name or key,
            tags={SHARED_RUN_KEY_TAG: key},
        )
        winner = _runs_with_key(tracking_uri, experiment_id, key)[0]
        if winner == mine.run_id:
            return mine, experiment_id, True
        client.delete_run(mine.run_id)
        return RunRef(tracking_uri, winner), experiment_id, False
    except MlflowException as exc:
        raise TrackingError(
            f"Cannot open the shared MLflow run {key!r} in the store at "
            f"{mask_url_passwords(tracking_uri)!r}: {mask_url_passwords(exc.message)}"
        ) from scrubbed(exc)


def find_shared_run(tracking_uri: str, experiment_name: str, key: str) -> RunRef | None:
    """The run processes given ``key`` log into, if one exists."""
    experiment = get_client(tracking_uri).get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    found = _runs_with_key(tracking_uri, experiment.experiment_id, key)
    return RunRef(tracking_uri, found[0]) if found else None


def _runs_with_key(tracking_uri: str, experiment_id: str, key: str) -> list[str]:
    """Ids of the live runs tagged with ``key``, oldest first."""
    runs = get_client(tracking_uri).search_runs(
        [experiment_id],
        filter_string=f"tags.`{SHARED_RUN_KEY_TAG}` = '{check_run_key(key)}'",
        max_results=100,
    )
    ordered = sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))
    return [r.info.run_id for r in ordered]


def end_run(run: RunRef, status: RunStatus, end_time: int | None = None) -> None:
    """Mark ``run`` as terminated with ``status`` (at ``end_time``, ms, if given)."""
    get_client(run.tracking_uri).set_terminated(
        run.run_id, status=status, end_time=end_time
    )


def end_callers_active_run() -> bool:
    """End the run the caller opened with ``mlflow.start_run()``, as ``mlflow.end_run()``.

    Only for PipelineX's ``mlflow_end_run``, which ended the caller's run. MLflow
    is not imported for this.

    Returns:
        Whether there was such a run.
    """
    mlflow = sys.modules.get("mlflow")
    if mlflow is None or mlflow.active_run() is None:
        return False
    mlflow.end_run()
    return True


def find_active_fluent_run_id() -> str | None:
    """Return the id of the run a caller opened with ``mlflow.start_run()``, if any.

    Only read when a hook is asked to nest its run under an enclosing one.
    """
    import mlflow

    active = mlflow.active_run()
    return active.info.run_id if active else os.environ.get("MLFLOW_RUN_ID")
