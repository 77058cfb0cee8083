"""A logged model registered as a new version of a registered model, and aliased."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.compat.mlflow_private import registry_name_validators
from pipelinex_mlflow.masking import get_logger, mask_value, scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.model_refs import ModelVersionRef
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlflow import MlflowClient

    from pipelinex_mlflow.tracking.model_refs import LoggedModelRef

logger = get_logger(__name__)

# What ``mlflow.register_model`` records on a logged model (mlflow.utils.mlflow_tags).
_MODEL_VERSIONS_TAG = "mlflow.modelVersions"
_EXISTS_CODES = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")


def check_registry_names(registered_model_name: str | None, alias: str | None) -> None:
    """Refuse a registered model name or alias that MLflow's registry would refuse.

    MLflow's own validators are used, so the rule stays MLflow's; an MLflow without
    them leaves the check to the registry.

    Raises:
        TrackingError: Quoting MLflow's reason.
    """
    from mlflow.exceptions import MlflowException

    values = {"registered_model_name": registered_model_name, "alias": alias}
    for what, check in registry_name_validators():
        value = values[what]
        if value is None:
            continue
        try:
            check(value)
        except MlflowException as exc:
            raise TrackingError(
                f"MLflowDataSet {what} {value!r} is refused by MLflow's model "
                f"registry: {exc.message}"
            ) from None


class RegistrationError(TrackingError):
    """Registering a logged model failed; the logged model stays in place.

    Attributes:
        version: The version that was created before the failure, if any.
    """

    def __init__(self, message: str, version: ModelVersionRef | None) -> None:
        super().__init__(message)
        self.version = version


def register_model(
    model: LoggedModelRef,
    registered_model_name: str,
    *,
    alias: str | None = None,
    tags: Mapping[str, Any] | None = None,
    await_registration_for: int = 300,
) -> ModelVersionRef:
    """Register ``model`` as a new version of ``registered_model_name``.

    The registered model is created if missing, ``tags`` go on the version, and
    ``alias`` is moved to it. The logged model records the version, as
    ``mlflow.register_model`` does, so its page links to it.

    Raises:
        RegistrationError: Saying what is in place and the call that finishes the
            job once the cause is fixed.
    """
    from mlflow.exceptions import MlflowException

    client = get_client(model.tracking_uri)
    try:
        try:
            client.create_registered_model(registered_model_name)
            logger.info("Created registered model %r", registered_model_name)
        except MlflowException as exc:
            if exc.error_code not in _EXISTS_CODES:
                raise
        created = client.create_model_version(
            registered_model_name,
            source=model.artifact_location,
            run_id=model.source_run_id,
            tags={str(k): mask_value(str(k), str(v)) for k, v in (tags or {}).items()}
            or None,
            model_id=model.model_id,
            await_creation_for=await_registration_for,
        )
    except MlflowException as exc:
        raise RegistrationError(
            f"Model {model.name!r} was logged ({model.uri}), but MLflow could not "
            f"register it as {registered_model_name!r}: {exc.message}. The logged "
            f"model stays in place; register it by hand with "
            f"mlflow.register_model({model.uri!r}, {registered_model_name!r}) once "
            "the cause is fixed.",
            None,
        ) from scrubbed(exc)
    version = ModelVersionRef(registered_model_name, str(created.version))
    _record_version(client, model.model_id, version)
    if not alias:
        return version
    try:
        client.set_registered_model_alias(registered_model_name, alias, version.version)
    except MlflowException as exc:
        raise RegistrationError(
            f"Model {model.name!r} was logged ({model.uri}) and registered as "
            f"{registered_model_name!r} version {version.version}, but MLflow could "
            f"not move alias {alias!r} to it: {exc.message}. Move it by hand with "
            f"MlflowClient().set_registered_model_alias({registered_model_name!r}, "
            f"{alias!r}, {version.version!r}) once the cause is fixed.",
            version,
        ) from scrubbed(exc)
    return ModelVersionRef(registered_model_name, version.version, alias)


def _record_version(
    client: MlflowClient, model_id: str, version: ModelVersionRef
) -> None:
    # A tracking server records it itself (its create_model_version handler); a
    # database store does not. Either way it is listed once.
    from mlflow.exceptions import MlflowException

    try:
        existing = client.get_logged_model(model_id).tags.get(_MODEL_VERSIONS_TAG)
        versions = json.loads(existing) if existing else []
        listed = {(str(v.get("name")), str(v.get("version"))) for v in versions}
        if (version.name, version.version) in listed:
            return
        versions.append({"name": version.name, "version": version.version})
        client.set_logged_model_tags(
            model_id, {_MODEL_VERSIONS_TAG: json.dumps(versions)}
        )
    except (MlflowException, ValueError) as exc:
        # Only the model page's link to the version is missing: worth a warning.
        logger.warning(
            "Model %s is registered as %r version %s, but its page does not link "
            "to the version: %s",
            model_id,
            version.name,
            version.version,
            scrubbed(exc),
        )
