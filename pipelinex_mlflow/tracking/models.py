"""MLflow models: logging one into a run, registering it, finding and loading it back.

Every call names its store: MLflow's own ``<flavor>.log_model`` and
``load_model("models:/...")`` read the process-wide tracking and registry URIs,
so this module takes the parts they are made of instead. A model is logged the
way ``mlflow.models.Model.log`` does it: an MLflow 3 logged model is created in
the run's experiment, the flavor saves it to a local folder, the folder is
uploaded to the logged model, the run records it as an output, and the model is
marked ``READY`` (``FAILED`` if any step failed, so no model stays ``PENDING``).

Examples:
    >>> logged_model_name("namespace.regressor")
    'namespace_regressor'
    >>> logged_model_name("regressor@pyfunc")
    'regressor'
    >>> parse_model_uri("models:/spaceflights@champion")
    ('alias', 'spaceflights', 'champion')
    >>> parse_model_uri("models:/spaceflights/3")
    ('version', 'spaceflights', '3')
    >>> parse_model_uri("runs:/0123abcd/regressor")
    ('run', '0123abcd', 'regressor')
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pipelinex_mlflow.compat.mlflow_private import run_metric_objects
from pipelinex_mlflow.masking import get_logger, mask_value, scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.flavors import (
    PYFUNC,
    Flavor,
    flavor_in,
    import_quietly,
)
from pipelinex_mlflow.tracking.senders import drain_run
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mlflow import MlflowClient
    from mlflow.entities import LoggedModel

    from pipelinex_mlflow.tracking.run_ref import RunRef

logger = get_logger(__name__)

#: ``pyfunc`` saves either a Python object or a loader module.
PyfuncWorkflow = Literal["python_model", "loader_module"]
PYFUNC_WORKFLOWS: tuple[str, ...] = ("python_model", "loader_module")
#: ``save_args`` that describe the logged model rather than go to ``save_model``.
LOGGED_MODEL_ARGS = ("params", "tags", "model_type", "step")
#: A ``save_args`` switch of ours: let MLflow infer the requirements (slow).
INFER_REQUIREMENTS_ARG = "infer_pip_requirements"
_REQUIREMENT_ARGS = ("pip_requirements", "conda_env")
# MLflow's rule for logged model names (mlflow.utils.validation).
_BAD_NAME_CHARS = re.compile(r"[/:.%\"']")
# What ``mlflow.register_model`` records on a logged model (mlflow.utils.mlflow_tags).
_MODEL_VERSIONS_TAG = "mlflow.modelVersions"
_MAX_METRICS_PER_BATCH = 1000  # MLflow's log_batch limit
_EXISTS_CODES = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")
_MISSING_CODES = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE")

# (tracking URI, run id, logged model name) -> the model logged by this process.
_logged_here: dict[tuple[str, str, str], LoggedModelRef] = {}
_logged_here_lock = threading.Lock()


@dataclass(frozen=True)
class LoggedModelRef:
    """A logged model: where it is and which run logged it.

    Attributes:
        tracking_uri: The store that holds it.
        model_id: MLflow's id, ``m-...``.
        name: Its name in the run.
        artifact_location: Where its files are (the registry's ``source``).
        source_run_id: The run that logged it, if any.
    """

    tracking_uri: str
    model_id: str
    name: str
    artifact_location: str
    source_run_id: str | None = None

    @property
    def uri(self) -> str:
        """Its URI, ``models:/<model id>``."""
        return f"models:/{self.model_id}"


@dataclass(frozen=True)
class ModelVersionRef:
    """A registered model version, and the alias that was moved to it."""

    name: str
    version: str
    alias: str | None = None

    @property
    def uri(self) -> str:
        """``models:/<name>@<alias>`` when aliased, else ``models:/<name>/<version>``."""
        if self.alias:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class ModelSource:
    """Where a model to load is.

    Attributes:
        location: The artifact URI of its folder.
        model_id: The logged model's id, when it is one.
        description: What it is, for messages, such as ``models:/reg@champion
            (version 3)``.
    """

    location: str
    model_id: str | None
    description: str


def logged_model_name(name: str) -> str:
    """The logged model name of a dataset.

    Kedro's transcoding suffix is dropped (``model@sklearn`` and ``model@pyfunc``
    are one model), and ``/ : . % " '``, which MLflow refuses, become ``_``.
    """
    return _BAD_NAME_CHARS.sub("_", name.partition("@")[0])


# --------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------
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
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    flavor.check_installed()
    if flavor.name == PYFUNC:
        _check_pyfunc_model(model, workflow)
    else:
        flavor.refuse_unsaveable(model)
    kwargs = dict(save_args)
    described = {k: kwargs.pop(k) for k in LOGGED_MODEL_ARGS if k in kwargs}
    _set_requirements(flavor, kwargs)
    flavor.check_save_args(kwargs)
    client = get_client(run.tracking_uri)
    drain_run(run)  # the run's params, sent first, become the model's params
    try:
        remote = client.get_run(run.run_id)
        logged = client.create_logged_model(
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
    try:
        with tempfile.TemporaryDirectory(prefix="pipelinex_mlflow-model-") as tmp:
            path = os.path.join(tmp, "model")
            metadata = Model(
                artifact_path=logged.artifact_location,
                run_id=run.run_id,
                model_id=logged.model_id,
                model_uuid=logged.model_id,
            )
            _save(
                flavor,
                model,
                path=path,
                metadata=metadata,
                kwargs=kwargs,
                workflow=workflow,
            )
            client.log_model_artifacts(logged.model_id, path)
        step = int(described.get("step", 0))
        client.log_outputs(run.run_id, [LoggedModelOutput(logged.model_id, step)])
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
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
    with _logged_here_lock:
        _logged_here[(run.tracking_uri, run.run_id, logged.name)] = ref
    return ref


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


def _set_requirements(flavor: Flavor, kwargs: dict[str, Any]) -> None:
    if kwargs.pop(INFER_REQUIREMENTS_ARG, False) or any(
        kwargs.get(k) is not None for k in _REQUIREMENT_ARGS
    ):
        return
    defaults = flavor.default_pip_requirements(kwargs)
    if defaults is None:
        return  # MLflow infers them
    extra = kwargs.pop("extra_pip_requirements", None) or []
    if isinstance(extra, str):
        extra = [extra]
    kwargs["pip_requirements"] = [*defaults, *extra]


def _save(
    flavor: Flavor,
    model: Any,
    *,
    path: str,
    metadata: Any,
    kwargs: dict[str, Any],
    workflow: PyfuncWorkflow,
) -> None:
    module = flavor.module()
    try:
        if flavor.name == PYFUNC:
            module.save_model(
                path=path, mlflow_model=metadata, **{workflow: model}, **kwargs
            )
        else:
            module.save_model(model, path=path, mlflow_model=metadata, **kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise TrackingError(
                f"{flavor.module_name}.save_model does not take one of the save_args "
                f"{sorted(kwargs)}: {exc}. Remove it, or see the flavor's "
                "save_model documentation for what it takes."
            ) from None
        raise _cannot_save(flavor, model, exc) from exc
    except TrackingError:
        raise
    except Exception as exc:
        raise _cannot_save(flavor, model, exc) from scrubbed(exc)


def _cannot_save(flavor: Flavor, model: Any, exc: BaseException) -> TrackingError:
    return TrackingError(
        f"{flavor.module_name}.save_model could not save the "
        f"{type(model).__module__}.{type(model).__qualname__} ({type(exc).__name__}: "
        f"{exc}). The flavor wants {flavor.wants}."
    )


def _check_pyfunc_model(model: Any, workflow: PyfuncWorkflow) -> None:
    python_model = import_quietly("mlflow.pyfunc.model").PythonModel
    if workflow == "loader_module":
        if not isinstance(model, str):
            raise TrackingError(
                "MLflow model flavor 'pyfunc' with pyfunc_workflow 'loader_module' "
                f"saves the name of a loader module (a str), not a "
                f"{type(model).__name__}; give its data in save_args data_path."
            )
        return
    if isinstance(model, (str, Path)) and str(model).endswith(".py"):
        return  # MLflow's models-from-code: the file makes the model
    if not (isinstance(model, python_model) or callable(model)):
        raise TrackingError(
            "MLflow model flavor 'pyfunc' cannot save a "
            f"{type(model).__module__}.{type(model).__qualname__}: it wants an "
            "mlflow.pyfunc.PythonModel instance, a function or the path of a "
            "model's code file (pyfunc_workflow 'python_model'), or a loader "
            "module's name (pyfunc_workflow 'loader_module')."
        )


def _mark_failed(client: MlflowClient, model_id: str) -> None:
    from mlflow.entities import LoggedModelStatus

    try:
        client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
    except Exception as exc:  # the original error matters more
        logger.warning(
            "Could not mark MLflow model %s FAILED: %s", model_id, scrubbed(exc)
        )


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


# --------------------------------------------------------------------------------------
# Registering
# --------------------------------------------------------------------------------------
def check_registry_names(registered_model_name: str | None, alias: str | None) -> None:
    """Refuse a registered model name or alias that MLflow's registry would refuse.

    MLflow's own validators are used, so the rule stays MLflow's; an MLflow without
    them leaves the check to the registry.

    Raises:
        TrackingError: Quoting MLflow's reason.
    """
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.utils import validation
    except ImportError:  # pragma: no cover - MLflow always has both
        return
    checks = [
        (registered_model_name, "_validate_model_name", "registered_model_name"),
        (alias, "_validate_model_alias_name", "alias"),
        (alias, "_validate_model_alias_name_reserved", "alias"),
    ]
    for value, check_name, what in checks:
        check = getattr(validation, check_name, None)
        if value is None or check is None:
            continue
        try:
            check(value)
        except MlflowException as exc:
            raise TrackingError(
                f"MLflowDataSet {what} {value!r} is refused by MLflow's model "
                f"registry: {exc.message}"
            ) from None


class ModelNotFoundError(TrackingError):
    """The model, version, alias or registered model named does not exist."""


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


# --------------------------------------------------------------------------------------
# Finding
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------
def download_model(tracking_uri: str, source: ModelSource, dst_dir: Path) -> Path:
    """Download the model folder at ``source`` into ``dst_dir``; return its path.

    Raises:
        TrackingError: If nothing is there.
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    try:
        local = download_artifacts(
            artifact_uri=source.location,
            dst_path=str(dst_dir),
            tracking_uri=tracking_uri,
        )
    except (MlflowException, OSError) as exc:
        raise TrackingError(
            f"Cannot download model {source.description}: {exc}"
        ) from scrubbed(exc)
    path = Path(local)
    if not (path / "MLmodel").is_file():
        raise TrackingError(
            f"{source.description} is not an MLflow model: its folder holds no "
            "MLmodel file."
        )
    return path


def load_model(flavor: Flavor | None, path: Path, load_args: Mapping[str, Any]) -> Any:
    """Load the model in ``path`` with ``flavor``'s own loader.

    With no flavor, the one its ``MLmodel`` file names is used. A flavor whose
    library is missing loads as ``pyfunc``, with a warning.

    Raises:
        TrackingError: If the model cannot be loaded, saying why.
    """
    if flavor is None:
        flavor = flavor_in(path)
    if not flavor.is_installed:
        logger.warning(
            "MLflow model flavor %r needs %r, which is not installed: loading the "
            "model as pyfunc instead (pip install %s to load it natively).",
            flavor.name,
            flavor.pip_package,
            flavor.pip_package,
        )
        flavor = Flavor(PYFUNC, None, None)
    try:
        return flavor.module().load_model(str(path), **load_args)
    except Exception as exc:
        raise TrackingError(
            f"{flavor.module_name}.load_model could not load the model in {path} "
            f"({type(exc).__name__}: {exc}). Check that it was saved with flavor "
            f"{flavor.name!r} (its MLmodel file lists its flavors)."
        ) from scrubbed(exc)
