"""``MLflowDataSet`` codes ``p``, ``m`` and ``a``: values logged as params and metrics.

Examples:
    >>> from pipelinex_mlflow.io.backends.base import BackendSettings
    >>> from pipelinex_mlflow.io.run_target import RunTarget
    >>> backend = ValueBackend(BackendSettings(code="m", target=RunTarget()))
    >>> backend.logs_values, backend.logs_metrics
    (True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import Any, cast

from pipelinex_mlflow.io.backends.base import (
    BackendSettings,
    DatasetBackend,
    LocalFile,
    require_name,
)
from pipelinex_mlflow.io.value_codec import (
    Encoded,
    ValueCode,
    encode,
    read_values,
    values_exist,
)
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.models import linked_model_ids

#: Codes whose saves may log metrics, which can be linked to models.
METRIC_CODES = ("m", "a")

logger = get_logger(__name__)
# How many of the keys a step-keyed dict became the warning quotes.
_KEYS_SHOWN = 3


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
        # A dict keyed by steps is one finding per entry, not one per save.
        self._warned_step_keys = False

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
        if self.logs_metrics and not self._warned_step_keys and _keyed_by_steps(data):
            self._warned_step_keys = True
            self._warn_step_keys(key, encoded)
        with self._target.logger(key) as run_logger:
            model_ids = (
                linked_model_ids(run_logger.run, self._linked_models)
                if self._linked_models and encoded.metrics_count
                else []
            )
            encoded.queue(run_logger, key, model_ids=model_ids)

    def _warn_step_keys(self, key: str, encoded: Encoded) -> None:
        """Say that a ``{step: value}`` dict became one key per step, not a history.

        kedro-mlflow's ``MlflowMetricHistoryDataset`` takes this shape as a
        history; here a dict is flattened, as for any other dict.
        """
        logged = [*encoded.metrics, *encoded.histories, *encoded.params]
        shown = ", ".join(map(repr, logged[:_KEYS_SHOWN]))
        if len(logged) > _KEYS_SHOWN:
            shown += ", ..."
        logger.warning(
            "MLflowDataSet %r (dataset=%r) was given a dict whose keys are all ints, "
            "the {step: value} shape of kedro-mlflow's metric history: it is "
            "logged as one MLflow key per dict key (%s), not as a history. To log "
            "a metric history, save a list of the values with dataset='m' (for "
            "example [v for _, v in sorted(d.items())]): metric %r at steps "
            "0..n-1.",
            key,
            self._value_code,
            shown,
            key,
        )

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


def _keyed_by_steps(data: Any) -> bool:
    """Whether ``data`` is a non-empty dict whose keys are all ints (not bools).

    Examples:
        >>> _keyed_by_steps({0: 0.5, 5: 0.25}), _keyed_by_steps({"0": 0.5})
        (True, False)
        >>> _keyed_by_steps({True: 1.0}), _keyed_by_steps({})
        (False, False)
    """
    return (
        isinstance(data, Mapping)
        and len(data) > 0
        and all(isinstance(k, Integral) and not isinstance(k, bool) for k in data)
    )
