"""``MLflowDataSet`` codes ``p``, ``m`` and ``a``: values logged as params and metrics.

Examples:
    >>> from pipelinex_mlflow.io.backends.base import BackendSettings
    >>> from pipelinex_mlflow.io.run_target import RunTarget
    >>> backend = ValueBackend(BackendSettings(code="m", target=RunTarget()))
    >>> backend.logs_values, backend.logs_metrics
    (True, True)
"""

from __future__ import annotations

from typing import Any, cast

from pipelinex_mlflow.io.backends.base import (
    BackendSettings,
    DatasetBackend,
    LocalFile,
    require_name,
)
from pipelinex_mlflow.io.value_codec import (
    ValueCode,
    encode,
    read_values,
    values_exist,
)
from pipelinex_mlflow.tracking.models import linked_model_ids

#: Codes whose saves may log metrics, which can be linked to models.
METRIC_CODES = ("m", "a")


class ValueBackend(DatasetBackend):
    """Encodes values into params and metrics (:mod:`~pipelinex_mlflow.io.value_codec`).

    Args:
        settings: The entry's configuration; ``code`` is ``p``, ``m`` or ``a``.
    """

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._value_code = cast("ValueCode", settings.code)
        self._sep = settings.flatten_separator
        # The names of the models saved upstream, which this entry's metrics link to.
        self._linked_models: tuple[str, ...] = ()

    @property
    def logs_values(self) -> bool:
        """Saves log params or metrics keyed by the entry's name."""
        return True

    @property
    def logs_metrics(self) -> bool:
        """Codes ``m`` and ``a`` may log metrics."""
        return self._value_code in METRIC_CODES

    def link_to_models(self, model_names: tuple[str, ...]) -> None:
        """Link the metrics saves log to the models saved as ``model_names``."""
        self._linked_models = model_names

    def record(self, data: Any, local: LocalFile | None, name: str | None) -> None:
        """Queue ``data`` as params and metrics, and its layout, in the saving run.

        Raises:
            DatasetError: When ``data`` cannot be logged under the code, or
                MLflow refused it.
        """
        key = require_name(name)
        encoded = encode(self._value_code, key, data, self._sep)
        with self._target.logger(key) as run_logger:
            model_ids = (
                linked_model_ids(run_logger.run, self._linked_models)
                if self._linked_models and encoded.metrics_count
                else []
            )
            encoded.queue(run_logger, key, model_ids=model_ids)

    def load(self, name: str | None) -> Any:
        """Read back what was saved under ``name`` in the loading run.

        Raises:
            DatasetError: With no run to load from, or nothing saved there.
        """
        run = self._target.loading_run(name)
        return read_values(run, self._value_code, require_name(name), self._sep)

    def exists(self, name: str | None) -> bool:
        """Whether the loading run holds a value saved under ``name``."""
        if name is None or not self._target.can_load():
            return False  # never named, so never saved
        return values_exist(self._target.loading_run(name), name, self._sep)
