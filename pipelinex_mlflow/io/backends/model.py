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

from typing import Any, ClassVar

from pipelinex_mlflow.io.backends.base import (
    BackendSettings,
    CopyMode,
    DatasetBackend,
    LocalFile,
    require_name,
)
from pipelinex_mlflow.io.model_backend import ModelBackend


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
        options = settings.model
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
