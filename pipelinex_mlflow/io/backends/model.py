"""``MLflowDataSet(dataset="model")``: the dataset side of an MLflow model.

Examples:
    >>> from pipelinex_mlflow.io.backends.base import BackendSettings, ModelOptions
    >>> from pipelinex_mlflow.io.run_target import RunTarget
    >>> settings = BackendSettings(
    ...     code="model",
    ...     target=RunTarget(),
    ...     model=ModelOptions(model_uri="models:/reg@champion"),
    ... )
    >>> backend = LoggedModelBackend(settings)
    >>> backend.saves_models, backend.describe()
    (False, {'flavor': 'auto', 'model_uri': 'models:/reg@champion'})
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from kedro.io import DatasetError

from pipelinex_mlflow.io.backends.base import (
    BackendSettings,
    CopyMode,
    DatasetBackend,
    LocalFile,
    ModelOptions,
    require_name,
)
from pipelinex_mlflow.io.model_backend import ModelBackend

_READ_ONLY_FIX = (
    "A model_uri entry is read-only: use one entry to load by model_uri and "
    "another, without it, to save and register."
)
# What to do instead when load_args' model_uri meets another argument that also
# says which model the entry holds.
_CLASH_FIXES = {
    "model_uri": "Give the URI once, as model_uri, and remove it from load_args.",
    "loading_run_id": (
        "Remove loading_run_id to load the model_uri, or remove model_uri from "
        "load_args to load the model this entry logged in that run."
    ),
    "registered_model_name": _READ_ONLY_FIX,
    "alias": _READ_ONLY_FIX,
}


class LoggedModelBackend(DatasetBackend):
    """Saves a model into the saving run; loads it from there or from ``model_uri``.

    The model itself is :class:`~pipelinex_mlflow.io.model_backend.ModelBackend`'s.

    Args:
        settings: The entry's configuration, its model arguments included.

    Raises:
        DatasetError: For an unknown flavor, a missing flavor library, or model
            arguments that contradict each other.
    """

    # A model is handed back as it was saved: copying one can cost a lot.
    default_copy_mode: ClassVar[CopyMode | None] = "assign"

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        options = uri_from_load_args(settings.model, settings.target.loading_run_id)
        self.model = ModelBackend(
            options.flavor,
            registered_model_name=options.registered_model_name,
            alias=options.alias,
            tags=options.tags,
            model_uri=options.model_uri,
            save_args=options.save_args,
            load_args=options.load_args,
            pyfunc_workflow=options.pyfunc_workflow,
        )

    @property
    def saves_models(self) -> bool:
        """Whether saves log a model (no ``model_uri``, which makes it read-only)."""
        return not self.model.read_only

    def record(self, data: Any, local: LocalFile | None, name: str | None) -> None:
        """Log the model into the saving run, and register it if asked.

        Raises:
            DatasetError: For a read-only entry, with no run to save to, or when
                the model cannot be logged or registered.
        """
        key = require_name(name)
        self.model.check_can_save(key)
        self._target.check_can_save(key)
        with self._target.logger(key) as run_logger:
            self.model.save(data, key, run_logger)

    def load(self, name: str | None) -> Any:
        """Load ``model_uri``, else the model the loading run logged as ``name``.

        Raises:
            DatasetError: When there is no such model.
        """
        if self.model.read_only:
            return self.model.load_from_uri(self._target.loading_store())
        key = require_name(name)
        return self.model.load_from_run(self._target.loading_run(key), key)

    def exists(self, name: str | None) -> bool:
        """Whether ``model_uri``, or the loading run's model ``name``, exists."""
        if self.model.read_only:
            return self.model.exists_at_uri(self._target.loading_store())
        if name is None or not self._target.can_load():
            return False
        return self.model.exists_in_run(self._target.loading_run(name), name)

    def describe(self) -> dict[str, Any]:
        """The flavor, registration and ``model_uri``."""
        return self.model.describe()


def uri_from_load_args(
    options: ModelOptions, loading_run_id: str | None = None
) -> ModelOptions:
    """``options`` with a ``model_uri`` given in ``load_args`` made the entry's own.

    kedro-mlflow users write ``load_args: {model_uri: ...}``, because
    ``mlflow.<flavor>.load_model`` takes the URI as ``model_uri``; here the
    loader is given the downloaded folder, so the URI is the entry's
    ``model_uri``: the entry loads that model and is read-only.

    Args:
        options: The entry's model arguments.
        loading_run_id: The run the entry loads from, if one was given.

    Raises:
        DatasetError: When another argument also says which model the entry
            holds, naming both and what to keep.

    Examples:
        >>> options = ModelOptions(load_args={"model_uri": "models:/r@champion"})
        >>> moved = uri_from_load_args(options)
        >>> moved.model_uri, moved.load_args
        ('models:/r@champion', {})
        >>> uri_from_load_args(options, loading_run_id="0123abcd")
        Traceback (most recent call last):
        ...
        kedro.io.core.DatasetError: MLflowDataSet load_args model_uri ...
    """
    load_args = dict(options.load_args or {})
    if "model_uri" not in load_args:
        return options
    uri = load_args.pop("model_uri")
    if not isinstance(uri, str) or not uri.strip():
        raise DatasetError(
            "MLflowDataSet load_args model_uri must be a non-empty string, such as "
            "models:/<name>@<alias>."
        )
    others = {
        "model_uri": options.model_uri if options.model_uri != uri else None,
        "loading_run_id": loading_run_id,
        "registered_model_name": options.registered_model_name,
        "alias": options.alias,
    }
    for name, value in others.items():
        if value is not None:
            raise DatasetError(
                f"MLflowDataSet load_args model_uri {uri!r} and {name} {value!r} "
                f"both say which model the entry holds. {_CLASH_FIXES[name]}"
            )
    return replace(options, model_uri=uri, load_args=load_args)
