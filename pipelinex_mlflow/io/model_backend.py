"""``MLflowDataSet(dataset="model")``: a model logged, registered and loaded back.

Examples:
    >>> backend = ModelBackend(
    ...     flavor="sklearn", registered_model_name="reg", alias="champion"
    ... )
    >>> backend.flavor.name, backend.read_only
    ('sklearn', False)
    >>> ModelBackend(flavor="sklearn", alias="champion")
    Traceback (most recent call last):
    ...
    kedro.io.core.DatasetError: MLflowDataSet alias 'champion' needs ...
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.scratch import ScratchFolder
from pipelinex_mlflow.tracking import TrackingError, sanitize_key
from pipelinex_mlflow.tracking.flavors import PYFUNC, Flavor, flavor_of, get_flavor
from pipelinex_mlflow.tracking.models import (
    PYFUNC_WORKFLOWS,
    LoggedModelRef,
    ModelNotFoundError,
    ModelSource,
    ModelVersionRef,
    PyfuncWorkflow,
    RegistrationError,
    check_registry_names,
    download_model,
    find_logged_model,
    load_model,
    log_model,
    logged_model_names,
    parse_model_uri,
    register_model,
    resolve_model_uri,
)

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking import RunLogger, RunRef

logger = get_logger(__name__)

MODEL_CODE = "model"
#: The run tag naming each model a run logged: ``pipelinex_mlflow.model.<name>``.
MODEL_TAG_PREFIX = "pipelinex_mlflow.model."
# save_args keys kedro-mlflow users put there; they are arguments of ours.
_REGISTRATION_ARGS = ("registered_model_name", "await_registration_for")


class ModelBackend:
    """The model side of ``MLflowDataSet``: its configuration, save and load.

    Args:
        flavor: The MLflow flavor (``sklearn``, ``pyfunc``, ``xgboost``, ...;
            kedro-mlflow's ``mlflow.sklearn`` works too). ``None``: told by the
            saved object's package, and on load by the model's ``MLmodel`` file.
        registered_model_name: Register each saved model as a new version of it.
        alias: Move this alias to the new version.
        tags: Tags of the new version.
        model_uri: Load this model instead (read-only): ``models:/<name>@<alias>``,
            ``models:/<name>/<version>``, ``models:/<model id>`` or
            ``runs:/<run id>/<name>``.
        save_args: Passed to ``mlflow.<flavor>.save_model`` (``signature``,
            ``input_example``, ``pip_requirements``, ``code_paths``, ...);
            ``params``, ``tags`` and ``model_type`` describe the logged model.
        load_args: Passed to ``mlflow.<flavor>.load_model`` (the dataset has
            made a ``model_uri`` there its ``model_uri`` already).
        pyfunc_workflow: For ``pyfunc``: ``python_model`` (a ``PythonModel`` or a
            function) or ``loader_module`` (a module name); inferred when ``None``.

    Raises:
        DatasetError: For an unknown flavor, a missing flavor library, or
            arguments that contradict each other.
    """

    def __init__(
        self,
        flavor: str | None,
        *,
        registered_model_name: str | None = None,
        alias: str | None = None,
        tags: dict[str, Any] | None = None,
        model_uri: str | None = None,
        save_args: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        pyfunc_workflow: PyfuncWorkflow | None = None,
    ) -> None:
        self.flavor = _flavor(flavor)
        if self.flavor is not None and model_uri is None:
            # A read-only entry loads as pyfunc, with a warning, without the library.
            try:
                self.flavor.check_installed()
            except TrackingError as exc:
                raise DatasetError(str(exc)) from None
        save_args = dict(save_args or {})
        # kedro-mlflow spells registration inside save_args.
        moved = {k: save_args.pop(k) for k in _REGISTRATION_ARGS if k in save_args}
        registered_model_name = registered_model_name or moved.get(
            "registered_model_name"
        )
        self._await_s = int(moved.get("await_registration_for", 300))
        _check(registered_model_name, alias, tags, model_uri, pyfunc_workflow)
        if self.flavor and self.flavor.name != PYFUNC and pyfunc_workflow:
            raise DatasetError(
                f"MLflowDataSet pyfunc_workflow applies to flavor 'pyfunc' only, not "
                f"{self.flavor.name!r}. Remove it."
            )
        self.registered_model_name = registered_model_name
        self.alias = alias
        self.version_tags = dict(tags or {})
        self.model_uri = model_uri
        self._save_args = save_args
        self._load_args = dict(load_args or {})
        self._workflow = pyfunc_workflow
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._downloads = ScratchFolder("pipelinex_mlflow-models-")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_downloads"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    @property
    def read_only(self) -> bool:
        """Whether it only loads (a ``model_uri`` was given)."""
        return self.model_uri is not None

    def describe(self) -> dict[str, Any]:
        """What ``_describe`` shows of it."""
        described = {
            "flavor": self.flavor.name if self.flavor else "auto",
            "registered_model_name": self.registered_model_name,
            "alias": self.alias,
            "model_uri": self.model_uri,
        }
        return {k: v for k, v in described.items() if v is not None}

    # ----------------------------------------------------------------------------------
    # Save
    # ----------------------------------------------------------------------------------
    def check_can_save(self, name: str | None) -> None:
        """Refuse to save to a read-only entry.

        Raises:
            DatasetError: Saying what to change.
        """
        if self.read_only:
            raise DatasetError(
                f"MLflowDataSet {name!r} loads model_uri {self.model_uri!r} and "
                "cannot be saved to. Give the saving node another catalog entry "
                "(dataset: model without model_uri), or remove model_uri."
            )

    def save(self, model: Any, name: str, run_logger: RunLogger) -> LoggedModelRef:
        """Log ``model`` into the run of ``run_logger``, then register it if asked.

        The model id, URI and version are logged at INFO and recorded in a run tag.

        Raises:
            DatasetError: When the model cannot be logged, or registering it failed
                (the logged model is kept then, and the message says so).
        """
        self.check_can_save(name)
        run = run_logger.run
        try:
            logged = log_model(
                run,
                name,
                self.flavor or flavor_of(model),
                model,
                self._save_args,
                workflow=self._workflow_for(model),
            )
        except TrackingError as exc:
            raise DatasetError(f"Cannot save model {name!r}: {exc}") from exc
        version = None
        try:
            if self.registered_model_name:
                version = register_model(
                    logged,
                    self.registered_model_name,
                    alias=self.alias,
                    tags=self.version_tags,
                    await_registration_for=self._await_s,
                )
        except RegistrationError as exc:
            version = exc.version
            raise DatasetError(str(exc)) from exc
        finally:
            # Recorded even when registering failed: the logged model is there.
            run_logger.set_tags(
                {
                    sanitize_key(MODEL_TAG_PREFIX + logged.name): _summary(
                        logged, version
                    )
                }
            )
            run_logger.flush()
        logger.info("Logged model %r: %s", name, _summary(logged, version))
        return logged

    def _workflow_for(self, model: Any) -> PyfuncWorkflow:
        if self._workflow is not None:
            return self._workflow
        return "loader_module" if isinstance(model, str) else "python_model"

    # ----------------------------------------------------------------------------------
    # Load
    # ----------------------------------------------------------------------------------
    def load_from_uri(self, tracking_uri: str) -> Any:
        """Load the model named by ``model_uri``.

        Raises:
            DatasetError: For a model, version or alias that does not exist.
        """
        uri = str(self.model_uri)
        try:
            return self._load(tracking_uri, resolve_model_uri(tracking_uri, uri))
        except TrackingError as exc:
            raise DatasetError(str(exc)) from exc

    def load_from_run(self, run: RunRef, name: str) -> Any:
        """Load the newest model called ``name`` that ``run`` logged.

        Raises:
            DatasetError: If the run logged none, naming the ones it did log.
        """
        try:
            found = find_logged_model(run, name)
            if found is None:
                logged = logged_model_names(run)
                raise DatasetError(
                    f"MLflow run {run.run_id} logged no model {name!r}. Its models: "
                    f"{', '.join(logged) or 'none'}. Check loading_run_id and the "
                    "dataset's name, or load by model_uri."
                )
            source = ModelSource(found.artifact_location, found.model_id, found.uri)
            return self._load(run.tracking_uri, source)
        except TrackingError as exc:
            raise DatasetError(str(exc)) from exc

    def exists_at_uri(self, tracking_uri: str) -> bool:
        """Whether ``model_uri`` names a model that exists.

        Raises:
            DatasetError: When the store cannot be read (not the same as "no").
        """
        try:
            resolve_model_uri(tracking_uri, str(self.model_uri))
        except ModelNotFoundError:
            return False
        except TrackingError as exc:
            raise DatasetError(str(exc)) from exc
        return True

    def exists_in_run(self, run: RunRef, name: str) -> bool:
        """Whether ``run`` logged a model called ``name``."""
        try:
            return find_logged_model(run, name) is not None
        except TrackingError:
            return False

    def _load(self, tracking_uri: str, source: ModelSource) -> Any:
        folder = Path(tempfile.mkdtemp(prefix="model-", dir=self._downloads.path))
        path = download_model(tracking_uri, source, folder)
        loaded = load_model(self.flavor, path, self._load_args)
        logger.info("Loaded model %s", source.description)
        return loaded


def _flavor(name: str | None) -> Flavor | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise DatasetError(
            "MLflowDataSet flavor must be the name of an MLflow flavor, such as "
            f"sklearn or pyfunc, not {type(name).__name__}."
        )
    try:
        return get_flavor(name)
    except TrackingError as exc:
        raise DatasetError(str(exc)) from None


def _check(
    registered_model_name: str | None,
    alias: str | None,
    tags: dict[str, Any] | None,
    model_uri: str | None,
    workflow: str | None,
) -> None:
    for what, value in (
        ("registered_model_name", registered_model_name),
        ("alias", alias),
        ("model_uri", model_uri),
    ):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise DatasetError(f"MLflowDataSet {what} must be a non-empty string.")
    if tags is not None and not isinstance(tags, dict):
        raise DatasetError(
            f"MLflowDataSet tags must be a dict of model version tags, not "
            f"{type(tags).__name__}."
        )
    if alias and not registered_model_name:
        raise DatasetError(
            f"MLflowDataSet alias {alias!r} needs registered_model_name: an alias "
            "names a version of a registered model. Add registered_model_name, or "
            "remove alias."
        )
    if tags and not registered_model_name:
        raise DatasetError(
            "MLflowDataSet tags go on the registered model version, so they need "
            "registered_model_name. Put logged model tags in save_args: {tags: ...}."
        )
    if model_uri is not None:
        if registered_model_name or alias:
            raise DatasetError(
                f"MLflowDataSet model_uri {model_uri!r} makes the entry read-only, so "
                "registered_model_name and alias do not apply. Use one entry to load "
                "by model_uri and another to save and register."
            )
        try:
            parse_model_uri(model_uri)
        except TrackingError as exc:
            raise DatasetError(str(exc)) from None
    try:
        check_registry_names(registered_model_name, alias)
    except TrackingError as exc:
        raise DatasetError(str(exc)) from None
    if workflow is not None and workflow not in PYFUNC_WORKFLOWS:
        raise DatasetError(
            f"Invalid pyfunc_workflow {workflow!r}. Must be one of: "
            f"{', '.join(PYFUNC_WORKFLOWS)}."
        )


def _summary(logged: LoggedModelRef, version: ModelVersionRef | None) -> str:
    text = f"{logged.uri} in run {logged.source_run_id}"
    if version is not None:
        text += f", registered as {version.name!r} version {version.version}"
        if version.alias:
            text += f" (alias @{version.alias})"
    return text
