"""The models a run logged, found by name.

A model this process logged is remembered, so finding it right after logging
it does not ask the store (nor depend on the store's search being up to date).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.model_refs import LoggedModelRef, logged_model_name
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel

    from pipelinex_mlflow.tracking.run_ref import RunRef

# (tracking URI, run id, logged model name) -> the model logged by this process.
_logged_here: dict[tuple[str, str, str], LoggedModelRef] = {}
_logged_here_lock = threading.Lock()


def remember_logged(run: RunRef, ref: LoggedModelRef) -> None:
    """Remember ``ref``, just logged into ``run`` by this process, for finding."""
    with _logged_here_lock:
        _logged_here[(run.tracking_uri, run.run_id, ref.name)] = ref


def find_logged_model(run: RunRef, name: str) -> LoggedModelRef | None:
    """The newest ready model called ``name`` that ``run`` logged, if any.

    A model this process logged is known without asking the store.

    Raises:
        TrackingError: If the store cannot be read.
    """
    model_name = logged_model_name(name)
    with _logged_here_lock:
        known = _logged_here.get((run.tracking_uri, run.run_id, model_name))
    if known is not None:
        return known
    for logged in _run_models(run):
        if logged.name == model_name:
            return _ref(run.tracking_uri, logged)
    return None


def logged_model_names(run: RunRef) -> list[str]:
    """The names of the ready models ``run`` logged, sorted (for messages)."""
    return sorted({m.name for m in _run_models(run)})


def _run_models(run: RunRef) -> list[LoggedModel]:
    from mlflow.entities import LoggedModelStatus
    from mlflow.exceptions import MlflowException

    client = get_client(run.tracking_uri)
    try:
        experiment_id = client.get_run(run.run_id).info.experiment_id
        found = client.search_logged_models(
            experiment_ids=[experiment_id],
            filter_string=f"source_run_id = '{run.run_id}'",
            order_by=[{"field_name": "creation_timestamp", "ascending": False}],
        )
    except MlflowException as exc:
        raise TrackingError(
            f"Cannot read the models of MLflow run {run.run_id}: {exc.message}"
        ) from scrubbed(exc)
    return [m for m in found if m.status == LoggedModelStatus.READY]


def _ref(tracking_uri: str, logged: LoggedModel) -> LoggedModelRef:
    return LoggedModelRef(
        tracking_uri,
        logged.model_id,
        logged.name,
        logged.artifact_location,
        logged.source_run_id,
    )
