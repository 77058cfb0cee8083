"""A model URI resolved to the folder that holds the model, asking one store.

Examples:
    >>> parse_model_uri("models:/spaceflights@champion")
    ('alias', 'spaceflights', 'champion')
    >>> parse_model_uri("models:/spaceflights/3")
    ('version', 'spaceflights', '3')
    >>> parse_model_uri("runs:/0123abcd/regressor")
    ('run', '0123abcd', 'regressor')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.logged_models import find_logged_model
from pipelinex_mlflow.tracking.model_refs import ModelSource
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from mlflow import MlflowClient

_MISSING_CODES = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE")


class ModelNotFoundError(TrackingError):
    """The model, version, alias or registered model named does not exist."""


def parse_model_uri(uri: str) -> tuple[str, str, str]:
    """Split a model URI into its kind and two parts.

    Kinds: ``alias`` (name, alias), ``version`` (name, version), ``model``
    (model id, ""), ``run`` (run id, path) and ``location`` (the URI, "").

    Raises:
        TrackingError: For a ``models:/`` URI that names neither a version, an
            alias nor a model id.
    """
    if uri.startswith("runs:/"):
        run_id, _, path = uri.removeprefix("runs:/").strip("/").partition("/")
        if not run_id or not path:
            raise TrackingError(
                f"Model URI {uri!r} must be runs:/<run id>/<model name>."
            )
        return "run", run_id, path
    if not uri.startswith("models:/"):
        return "location", uri, ""
    rest = uri.removeprefix("models:/").strip("/")
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        return "alias", name, alias
    name, _, version = rest.rpartition("/")
    if name and version:
        return "version", name, version
    if rest.startswith("m-"):
        return "model", rest, ""
    raise TrackingError(
        f"Model URI {uri!r} names a registered model but no version or alias. Use "
        f"models:/{rest}/<version>, models:/{rest}@<alias> or models:/<model id>."
    )


def resolve_model_uri(tracking_uri: str, uri: str) -> ModelSource:
    """Find where the model named by ``uri`` is, asking ``tracking_uri``'s store.

    Takes ``models:/<name>@<alias>``, ``models:/<name>/<version>``,
    ``models:/<model id>``, ``runs:/<run id>/<name>`` (a logged model of the run,
    else a model folder in its artifacts) and any artifact location.

    Raises:
        TrackingError: For a model, version or alias that does not exist, saying
            which exist.
    """
    from mlflow.exceptions import MlflowException

    from pipelinex_mlflow.tracking.run_ref import RunRef

    kind, first, second = parse_model_uri(uri)
    client = get_client(tracking_uri)
    try:
        if kind == "location":
            return ModelSource(uri, None, uri)
        if kind == "model":
            logged = client.get_logged_model(first)
            return ModelSource(logged.artifact_location, logged.model_id, uri)
        if kind == "run":
            found = find_logged_model(RunRef(tracking_uri, first), second)
            if found is not None:
                return ModelSource(found.artifact_location, found.model_id, uri)
            artifacts = client.get_run(first).info.artifact_uri.rstrip("/")
            return ModelSource(f"{artifacts}/{second}", None, uri)
        return _resolve_version(tracking_uri, uri, kind, first, second)
    except MlflowException as exc:
        if exc.error_code in _MISSING_CODES:
            raise ModelNotFoundError(
                f"MLflow has no model {uri!r}: {exc.message}"
            ) from scrubbed(exc)
        raise TrackingError(
            f"Cannot read model {uri!r} from the MLflow store: {exc.message}"
        ) from scrubbed(exc)


def _resolve_version(
    tracking_uri: str, uri: str, kind: str, name: str, version_or_alias: str
) -> ModelSource:
    client = get_client(tracking_uri)
    if kind == "alias":
        version = _version_by_alias(client, name, version_or_alias)
    else:
        version = _version(client, name, version_or_alias)
    described = f"{uri} (version {version.version})"
    model_id = getattr(version, "model_id", None)
    if model_id:
        logged = client.get_logged_model(model_id)
        return ModelSource(logged.artifact_location, model_id, described)
    source = str(version.source)
    if source.startswith("models:/"):
        return ModelSource(
            resolve_model_uri(tracking_uri, source).location,
            parse_model_uri(source)[1],
            described,
        )
    return ModelSource(source, None, described)


def _require_registered(client: MlflowClient, name: str) -> Any:
    """The registered model called ``name``, or a ``ModelNotFoundError`` listing them."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in _MISSING_CODES:
            raise
        names = sorted(m.name for m in client.search_registered_models(max_results=50))
        raise ModelNotFoundError(
            f"MLflow has no registered model {name!r}. Registered models: "
            f"{', '.join(names) or 'none yet'}. Register one with "
            "registered_model_name: in the saving catalog entry."
        ) from None


def _version_by_alias(client: MlflowClient, name: str, alias: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code not in _MISSING_CODES:
            raise
        aliases = _require_registered(client, name).aliases
        listed = ", ".join(f"@{a} (version {v})" for a, v in sorted(aliases.items()))
        raise ModelNotFoundError(
            f"Registered model {name!r} has no alias {alias!r}. Its aliases: "
            f"{listed or 'none yet'}. Set one with alias: in the saving catalog "
            "entry, or load a version with models:/<name>/<version>."
        ) from None


def _version(client: MlflowClient, name: str, version: str) -> Any:
    from mlflow.exceptions import MlflowException

    if not version.isdigit():
        raise ModelNotFoundError(
            f"Model URI models:/{name}/{version} names version {version!r}; MLflow "
            "model versions are numbers (stages such as 'latest' are deprecated): "
            f"use models:/{name}/<number> or models:/{name}@<alias>."
        )
    try:
        return client.get_model_version(name, version)
    except MlflowException as exc:
        if exc.error_code not in _MISSING_CODES:
            raise
        _require_registered(client, name)
        versions = sorted(
            int(v.version)
            for v in client.search_model_versions(f"name = '{_quoted(name)}'")
        )
        raise ModelNotFoundError(
            f"Registered model {name!r} has no version {version}. Its versions: "
            f"{', '.join(map(str, versions)) or 'none yet'}."
        ) from None


def _quoted(text: str) -> str:
    return text.replace("'", "\\'")
