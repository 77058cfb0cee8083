"""A model logged into a run as an MLflow 3 logged model.

It is logged the way ``mlflow.models.Model.log`` does it, but naming the store:
a logged model is created in the run's experiment, the flavor saves it to a
local folder, the folder is uploaded to the logged model, the run records it as
an output, and the model is marked ``READY`` (``FAILED`` if any step failed, so
no model stays ``PENDING``).
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger, mask_value, scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.logged_models import remember_logged
from pipelinex_mlflow.tracking.model_refs import LoggedModelRef, logged_model_name
from pipelinex_mlflow.tracking.model_saving import (
    check_saveable,
    complete_save_args,
    save_with_flavor,
)
from pipelinex_mlflow.tracking.senders import drain_run
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlflow import MlflowClient
    from mlflow.entities import LoggedModel

    from pipelinex_mlflow.tracking.flavors import Flavor
    from pipelinex_mlflow.tracking.model_saving import PyfuncWorkflow
    from pipelinex_mlflow.tracking.run_ref import RunRef

logger = get_logger(__name__)

#: ``save_args`` that describe the logged model rather than go to ``save_model``.
LOGGED_MODEL_ARGS = ("params", "tags", "model_type", "step")


def log_model(
    run: RunRef,
    name: str,
    flavor: Flavor,
    model: Any,
    save_args: Mapping[str, Any],
    *,
    workflow: PyfuncWorkflow = "python_model",
) -> LoggedModelRef:
    """Log ``model`` into ``run`` as an MLflow 3 logged model named ``name``.

    The logged model gets the run's params (as ``mlflow.<flavor>.log_model`` does)
    and ``save_args``' ``params``, ``tags`` and ``model_type``; the rest of
    ``save_args`` goes to ``mlflow.<flavor>.save_model`` (``signature``,
    ``input_example``, ``code_paths``, ...). Unless ``save_args`` names
    requirements, the flavor's own pinned ones are written, plus any
    ``extra_pip_requirements``: MLflow would otherwise infer them by loading the
    model in a subprocess, which takes seconds (``infer_pip_requirements: true``
    asks for that).

    Raises:
        TrackingError: When the flavor cannot save the object or MLflow refuses
            the model; a model that was created is marked ``FAILED`` first.
    """
    from mlflow.exceptions import MlflowException

    check_saveable(flavor, model, workflow)
    kwargs = dict(save_args)
    described = {k: kwargs.pop(k) for k in LOGGED_MODEL_ARGS if k in kwargs}
    complete_save_args(flavor, kwargs)
    client = get_client(run.tracking_uri)
    drain_run(run)  # the run's params, sent first, become the model's params
    logged = _create_logged_model(client, run, name, described)
    try:
        with tempfile.TemporaryDirectory(prefix="pipelinex_mlflow-model-") as tmp:
            path = os.path.join(tmp, "model")
            _save_into(
                logged,
                run,
                path,
                flavor=flavor,
                model=model,
                kwargs=kwargs,
                workflow=workflow,
            )
            client.log_model_artifacts(logged.model_id, path)
        _finish(client, run, logged, step=int(described.get("step", 0)))
    except BaseException as exc:
        _mark_failed(client, logged.model_id)
        if isinstance(exc, MlflowException):
            raise TrackingError(
                f"MLflow could not store model {name!r} of run {run.run_id} "
                f"({logged.model_id}, now marked FAILED): {exc.message}"
            ) from scrubbed(exc)
        raise
    ref = LoggedModelRef(
        run.tracking_uri,
        logged.model_id,
        logged.name,
        logged.artifact_location,
        run.run_id,
    )
    remember_logged(run, ref)
    return ref


def _create_logged_model(
    client: MlflowClient, run: RunRef, name: str, described: Mapping[str, Any]
) -> LoggedModel:
    """A new ``PENDING`` logged model of ``run``, with the run's params.

    Args:
        client: The run's store.
        run: The run that logs it.
        name: The dataset's name (the model's name is made from it).
        described: The ``save_args`` that describe the model
            (``LOGGED_MODEL_ARGS``).
    """
    from mlflow.exceptions import MlflowException

    try:
        remote = client.get_run(run.run_id)
        return client.create_logged_model(
            experiment_id=remote.info.experiment_id,
            name=logged_model_name(name),
            source_run_id=run.run_id,
            params={
                **remote.data.params,
                **_strings(described.get("params"), "params"),
            },
            tags=_strings(described.get("tags"), "tags") or None,
            model_type=described.get("model_type"),
        )
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow refused to create model {name!r} in run {run.run_id}: "
            f"{exc.message}"
        ) from scrubbed(exc)


def _save_into(
    logged: LoggedModel,
    run: RunRef,
    path: str,
    *,
    flavor: Flavor,
    model: Any,
    kwargs: dict[str, Any],
    workflow: PyfuncWorkflow,
) -> None:
    """Save ``model`` into ``path``, its ``MLmodel`` file naming ``logged``."""
    from mlflow.models import Model

    metadata = Model(
        artifact_path=logged.artifact_location,
        run_id=run.run_id,
        model_id=logged.model_id,
        model_uuid=logged.model_id,
    )
    save_with_flavor(
        flavor,
        model,
        path=path,
        metadata=metadata,
        kwargs=kwargs,
        workflow=workflow,
    )


def _finish(
    client: MlflowClient, run: RunRef, logged: LoggedModel, *, step: int
) -> None:
    """Record ``logged`` as an output of ``run`` at ``step`` and mark it ``READY``."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus

    client.log_outputs(run.run_id, [LoggedModelOutput(logged.model_id, step)])
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)


def _strings(values: Any, what: str) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise TrackingError(
            f"Model save_args {what} must be a dict of names to values, not "
            f"{type(values).__name__}."
        )
    # Model params and tags are read by whoever can see the model: the same
    # masking rule as the run's own params and tags.
    return {str(k): mask_value(str(k), str(v)) for k, v in values.items()}


def _mark_failed(client: MlflowClient, model_id: str) -> None:
    from mlflow.entities import LoggedModelStatus

    try:
        client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
    except Exception as exc:  # the original error matters more
        logger.warning(
            "Could not mark MLflow model %s FAILED: %s", model_id, scrubbed(exc)
        )
