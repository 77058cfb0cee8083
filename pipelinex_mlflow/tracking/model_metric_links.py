"""A run's metrics linked to the models it logged, so a model's page shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelinex_mlflow.compat.mlflow_private import run_metric_objects
from pipelinex_mlflow.masking import get_logger, scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.logged_models import find_logged_model
from pipelinex_mlflow.tracking.senders import drain_run
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipelinex_mlflow.tracking.model_refs import LoggedModelRef
    from pipelinex_mlflow.tracking.run_ref import RunRef

logger = get_logger(__name__)

_MAX_METRICS_PER_BATCH = 1000  # MLflow's log_batch limit


def linked_model_ids(run: RunRef, names: Sequence[str]) -> list[str]:
    """The ids of the models called ``names`` that ``run`` logged, to link metrics to.

    A name the run has no model for is left out (logged at debug level); a store
    that cannot be read links nothing, with a warning, rather than fail a save.
    """
    ids = []
    for name in names:
        try:
            found = find_logged_model(run, name)
        except TrackingError as exc:
            logger.warning(
                "Metrics of run %s are not linked to model %r: %s",
                run.run_id,
                name,
                exc,
            )
            continue
        if found is None:
            logger.debug("Run %s logged no model %r to link to", run.run_id, name)
        else:
            ids.append(found.model_id)
    return ids


def link_run_metrics(
    run: RunRef, logged: LoggedModelRef, names: Sequence[str]
) -> list[str]:
    """Link ``run``'s latest values of the metrics ``names`` to ``logged``.

    For a model made after its metrics were logged (a pipeline model, at the
    end of the run): each value is logged again, same timestamp and step, with
    the model's id. MLflow keeps one copy in the run's history and shows the
    value on the model's page. ``name`` covers ``name.<key>`` too (a dict metric).

    Returns:
        The metric keys linked, sorted.

    Raises:
        TrackingError: When the store refuses.
    """
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    if not names:
        return []
    drain_run(run)  # the values must be in the store to be linked
    client = get_client(run.tracking_uri)
    try:
        latest = run_metric_objects(client.get_run(run.run_id).data)
        linked = [
            Metric(
                m.key,
                m.value,
                m.timestamp,
                m.step,
                model_id=logged.model_id,
                run_id=run.run_id,
            )
            for m in latest
            if any(m.key == n or m.key.startswith(f"{n}.") for n in names)
        ]
        for start in range(0, len(linked), _MAX_METRICS_PER_BATCH):
            client.log_batch(
                run.run_id, metrics=linked[start : start + _MAX_METRICS_PER_BATCH]
            )
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow refused to link metrics of run {run.run_id} to model "
            f"{logged.model_id}: {exc.message}"
        ) from scrubbed(exc)
    return sorted(m.key for m in linked)
