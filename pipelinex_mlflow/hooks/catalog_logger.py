"""``MLflowCatalogLoggerHook`` adds MLflow datasets to the catalog and logs node values."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset, MemoryDataset, SharedMemoryDataset

from pipelinex_mlflow.hooks._guard import current_run_or_warn, warn_on_failure
from pipelinex_mlflow.io.mlflow_dataset import MLflowDataSet
from pipelinex_mlflow.io.naming import name_mlflow_datasets
from pipelinex_mlflow.tracking import (
    MLFLOW_MAX_PARAM_LENGTH,
    RunLogger,
    TrackingError,
    flatten_dict,
    is_number,
)

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

#: The longest string logged as a param; longer text is data, not a setting.
MAX_TEXT_LENGTH = 1000
#: The most items a list, tuple or set may hold to be logged as a param.
MAX_SEQUENCE_ITEMS = 100
#: The most leaves a dict may have to be logged (one param or metric per leaf).
MAX_DICT_LEAVES = 1000
PARAMS_PREFIX = "params:"
PARAMETERS = "parameters"

DatasetSpec = str | dict[str, Any] | AbstractDataset[Any, Any]

logger = logging.getLogger(__name__)

_SKIP = object()


def _as_mlflow_dataset(name: str, spec: DatasetSpec) -> MLflowDataSet:
    if isinstance(spec, MLflowDataSet):
        dataset = spec
    elif isinstance(spec, (str, dict, AbstractDataset)):
        dataset = MLflowDataSet(dataset=spec)
    else:
        raise ValueError(
            f"mlflow_catalog[{name!r}] must be an MLflowDataSet dataset code such as "
            "'m', 'p', 'a' or 'csv', a Kedro dataset config dict, or a Kedro dataset, "
            f"not {type(spec).__name__}."
        )
    dataset.bind_catalog_name(name)
    return dataset


def mlflow_key(dataset_name: str) -> str:
    """Return the MLflow key of a node input or output.

    A parameter is keyed by its path, as ``MLflowBasicLoggerHook`` logs it, so the
    same value lands on the same param; the whole ``parameters`` dict has no
    prefix at all.

    Examples:
        >>> mlflow_key("params:model.depth"), mlflow_key("parameters")
        ('model.depth', '')
        >>> mlflow_key("training.score")
        'training.score'
    """
    if dataset_name == PARAMETERS:
        return ""
    return dataset_name.removeprefix(PARAMS_PREFIX)


def loggable_values(key: str, data: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """Split ``data`` into params and metrics by dataset code ``a``'s rules.

    Numbers become metrics; str, bool, None and small lists, tuples and sets of
    such scalars become params; dicts are flattened with ``.``, each leaf by its
    own type. Anything else (DataFrames, arrays, models, long text, big
    containers) is skipped with a debug message and never turned into text.

    Args:
        key: The MLflow key (``""`` to use a dict's own keys).
        data: The value.

    Returns:
        The params and the metrics.

    Examples:
        >>> loggable_values("cfg", {"depth": 3, "name": "rf", "ids": [1, 2]})
        ({'cfg.name': 'rf', 'cfg.ids': [1, 2]}, {'cfg.depth': 3.0})
        >>> loggable_values("table", object())
        ({}, {})
    """
    params: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    if isinstance(data, Mapping):
        leaves = flatten_dict(data, sep=".", prefix=key)
        if len(leaves) > MAX_DICT_LEAVES:
            logger.debug(
                "Not logging %r: a dict with %d leaves (more than %d)",
                key,
                len(leaves),
                MAX_DICT_LEAVES,
            )
            return params, metrics
    else:
        leaves = {key: data}
    for leaf_key, value in leaves.items():
        if not leaf_key:
            continue
        if is_number(value) and not _is_bool_like(value):
            metrics[leaf_key] = float(value)
            continue
        param = _param_value(value)
        if param is _SKIP:
            logger.debug(
                "Not logging %r: %s is not a plain value",
                leaf_key,
                type(value).__name__,
            )
        else:
            params[leaf_key] = param
    return params, metrics


def _is_bool_like(value: Any) -> bool:
    """Tell whether ``value`` is a numpy-style boolean scalar (not a Python bool)."""
    return (
        getattr(getattr(value, "dtype", None), "kind", "") == "b"
        and getattr(value, "ndim", 1) == 0
    )


def _scalar(value: Any) -> Any:
    """``value`` as a plain Python scalar, or ``_SKIP``."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT_LENGTH else _SKIP
    if is_number(value) or _is_bool_like(value):
        return value.item() if hasattr(value, "item") else float(value)
    return _SKIP


def _param_value(value: Any) -> Any:
    """``value`` as a param (plain scalars inside containers), or ``_SKIP``."""
    if not isinstance(value, (list, tuple, set, frozenset)):
        return _scalar(value)
    if len(value) > MAX_SEQUENCE_ITEMS:
        return _SKIP
    items = [_scalar(item) for item in value]
    if any(item is _SKIP for item in items):
        return _SKIP
    plain: Any = items
    if isinstance(value, tuple):
        plain = tuple(items)
    elif isinstance(value, (set, frozenset)):
        plain = set(items)
    return plain if len(str(plain)) <= MLFLOW_MAX_PARAM_LENGTH else _SKIP


class MLflowCatalogLoggerHook:
    """Adds MLflow datasets to the catalog, and logs the values nodes pass around.

    When the pipeline starts it:

    - names every ``MLflowDataSet`` after its catalog entry (the MLflow key);
    - puts each ``mlflow_catalog`` entry into the catalog as an
      ``MLflowDataSet`` named after its key, replacing an entry of that name, so
      a catalog can be written in Python (PipelineX's ``catalog_dict``).

    With ``auto``, after each node it logs the node's inputs and outputs that
    the catalog does not persist (a ``params:`` input, ``parameters``, a
    ``MemoryDataset`` or ``SharedMemoryDataset``, or a name not in the catalog)
    to the run of ``MLflowBasicLoggerHook``, by dataset code ``a``'s rules:

    - numbers become metrics; str (up to 1000 characters), bool, None and
      lists, tuples and sets of up to 100 such scalars become params;
    - dicts are flattened with ``.``, each leaf by its type (up to 1000 leaves);
    - anything else (DataFrames, arrays, models...) is skipped, never turned
      into text.

    The key is the dataset's name, except for parameters: ``params:model`` is
    keyed ``model`` (``model.depth`` for a leaf) and ``parameters`` has no prefix,
    which is how ``MLflowBasicLoggerHook`` logs them. Each name is logged once per
    run. A param that already holds another value is not changed; the new value
    goes to the tag ``pipelinex_mlflow.changed_param.<key>`` with a warning.
    Values are sent once at the end of the pipeline (also when it fails);
    ParallelRunner workers send theirs after each node.

    Examples:
        In ``settings.py``:

        .. code-block:: python

            from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowCatalogLoggerHook

            HOOKS = (
                MLflowBasicLoggerHook(experiment_name="my_experiment"),
                MLflowCatalogLoggerHook(
                    auto=True,
                    mlflow_catalog={"model": "pkl", "score": "m", "report": "json"},
                ),
            )

        >>> hook = MLflowCatalogLoggerHook(mlflow_catalog={"score": "m"})
        >>> hook.mlflow_datasets["score"]
        pipelinex_mlflow.io.mlflow_dataset.MLflowDataSet(dataset='m', name='score')
    """

    def __init__(
        self, auto: bool = True, mlflow_catalog: Mapping[str, DatasetSpec] | None = None
    ) -> None:
        """Choose what is logged.

        Args:
            auto: Log the values of non-persisted node inputs and outputs.
            mlflow_catalog: Dataset name -> ``MLflowDataSet`` code (``"m"``,
                ``"p"``, ``"a"``, ``"csv"``...), Kedro dataset config dict, Kedro
                dataset, or ``MLflowDataSet``. Each becomes an ``MLflowDataSet`` in
                the catalog. Names listed here are not auto-logged.

        Raises:
            ValueError: For an entry that is none of those.
            kedro.io.DatasetError: For an unknown dataset code.
        """
        self.auto = auto
        self.mlflow_datasets: dict[str, MLflowDataSet] = {
            name: _as_mlflow_dataset(name, spec)
            for name, spec in (mlflow_catalog or {}).items()
        }
        self._claims_dir: str | None = None
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._parent_pid = os.getpid()
        self._claimed: set[str] = set()
        self._run_logger: RunLogger | None = None

    # ----------------------------------------------------------------------------------
    # Hook implementations
    # ----------------------------------------------------------------------------------
    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol[Any, Any]) -> None:
        """Put the ``mlflow_catalog`` entries into each catalog (``kedro ipython`` too)."""
        with warn_on_failure(self, "add the mlflow_catalog entries to the catalog"):
            self._register(catalog)

    @hook_impl
    def before_pipeline_run(
        self, pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]
    ) -> None:
        """Register and name the MLflow datasets, and get ready to log node values."""
        self._remove_claims_dir()
        self._reset()
        with warn_on_failure(self, "add the mlflow_catalog entries to the catalog"):
            self._register(catalog)
            name_mlflow_datasets(pipeline, catalog)
        if not self.auto:
            return
        with warn_on_failure(self, "prepare to log node values"):
            run = current_run_or_warn(self)
            if run is None:
                return
            self._run_logger = RunLogger(run, check_existing_params=True)
            self._claims_dir = tempfile.mkdtemp(prefix="pipelinex_mlflow-values-")

    @hook_impl
    def after_node_run(
        self,
        node: Node,
        catalog: CatalogProtocol[Any, Any],
        inputs: dict[str, Any],
        outputs: dict[str, Any],
    ) -> None:
        """Log the node's non-persisted inputs and outputs, each name once per run."""
        run_logger = self._run_logger
        if run_logger is None:
            return
        with warn_on_failure(self, f"log the values of node {node.name!r}"):
            for name, data in {**inputs, **outputs}.items():
                if self._is_persisted(name, catalog) or not self._claim(name):
                    continue
                self._queue(run_logger, name, data)
            if os.getpid() != self._parent_pid:
                # A ParallelRunner worker: its buffer would die with the process.
                run_logger.flush()

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Send the values logged in this process."""
        self._flush()

    @hook_impl
    def on_pipeline_error(self) -> None:
        """Send the values of the nodes that ran before the failure."""
        self._flush()

    # ----------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------
    def _register(self, catalog: CatalogProtocol[Any, Any]) -> None:
        for name, dataset in self.mlflow_datasets.items():
            if catalog.get(name) is not dataset:
                catalog[name] = dataset

    def _is_persisted(self, name: str, catalog: CatalogProtocol[Any, Any]) -> bool:
        if name == PARAMETERS or name.startswith(PARAMS_PREFIX):
            return False
        if name in self.mlflow_datasets:
            return True
        dataset = catalog.get(name)
        return dataset is not None and not isinstance(
            dataset, (MemoryDataset, SharedMemoryDataset)
        )

    def _claim(self, name: str) -> bool:
        """Tell whether ``name`` is seen for the first time in this run.

        Worker processes also claim a marker file, since each has its own copy of
        this hook.
        """
        with self._lock:
            if name in self._claimed:
                return False
            self._claimed.add(name)
        if os.getpid() == self._parent_pid or self._claims_dir is None:
            return True
        marker = Path(self._claims_dir, hashlib.sha256(name.encode()).hexdigest())
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:
            return False
        return True

    def _queue(self, run_logger: RunLogger, name: str, data: Any) -> None:
        params, metrics = loggable_values(mlflow_key(name), data)
        for key, value in params.items():
            try:
                run_logger.log_params({key: value})
            except TrackingError as exc:
                logger.warning("MLflowCatalogLoggerHook did not log %r: %s", key, exc)
        for key, number in metrics.items():
            try:
                run_logger.log_metrics({key: number})
            except TrackingError as exc:
                logger.warning("MLflowCatalogLoggerHook did not log %r: %s", key, exc)

    def _flush(self) -> None:
        try:
            if self._run_logger is not None:
                with warn_on_failure(self, "log the node values"):
                    self._run_logger.flush()
        finally:
            self._run_logger = None
            self._remove_claims_dir()

    def _remove_claims_dir(self) -> None:
        if self._claims_dir is not None:
            shutil.rmtree(self._claims_dir, ignore_errors=True)
            self._claims_dir = None
