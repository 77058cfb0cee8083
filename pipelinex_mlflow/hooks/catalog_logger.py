"""``MLflowCatalogLoggerHook`` adds MLflow datasets to the catalog and logs node values."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from pipelinex_mlflow.core.configurable import (
    ConfigurableHook,
    remembers_given_arguments,
)
from pipelinex_mlflow.core.exit_guard import flush_at_exit, forget_exit_flush
from pipelinex_mlflow.core.guard import RunFinder, guarded, warn_on_failure
from pipelinex_mlflow.core.workers import VALUES_SPOOL, prepare_workers, worker_spool
from pipelinex_mlflow.io.mlflow_dataset import MLflowDataSet
from pipelinex_mlflow.io.naming import name_mlflow_datasets
from pipelinex_mlflow.io.side_channel import DatasetSpec, side_channel_dataset
from pipelinex_mlflow.kedro_helpers import (
    is_parameter,
    keeps_in_memory,
    parameter_key,
)
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.options import CatalogOptions
from pipelinex_mlflow.scratch import WorkerSpool
from pipelinex_mlflow.tracking import (
    AUTO,
    LoggableValues,
    RunLogger,
    TrackingError,
    param_text,
    split_by_kind,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

logger = get_logger(__name__)


def _parameters_logged_by_basic_hook() -> bool:
    """Whether the project's ``MLflowBasicLoggerHook`` logs the Kedro parameters.

    Then ``auto`` leaves ``params:`` inputs to it: logged once, as params, not
    again as metrics. Read from ``settings.HOOKS``, which ParallelRunner workers
    have too.
    """
    from kedro.framework.project import settings

    from pipelinex_mlflow.hooks.run_lifecycle import MLflowBasicLoggerHook

    return any(
        isinstance(hook, MLflowBasicLoggerHook)
        and hook.enable_mlflow
        and hook.log_parameters
        for hook in getattr(settings, "HOOKS", ())
    )


def _as_record(split: LoggableValues) -> dict[str, Any]:
    """A worker's values as JSON: params as the text MLflow will store."""
    texts = {key: param_text(value) for key, value in split.params.items()}
    return {"params": texts, "metrics": split.metrics}


class MLflowCatalogLoggerHook(ConfigurableHook):
    """Names the MLflow datasets, and logs the values nodes pass around.

    When the pipeline starts it names every ``MLflowDataSet`` after its catalog
    entry (the MLflow key).

    ``mlflow_catalog`` is PipelineX's side channel: each entry names a node input
    or output (``params:`` inputs too) and how to log it in addition to whatever
    the catalog does with it: an ``MLflowDataSet`` code (``"p"``, ``"m"``,
    ``"a"``, ``"pkl"``, ``"csv"``...), a Kedro dataset config dict or dataset
    whose file is uploaded, an ``MLflowDataSet``, or ``None`` for "do not log
    this one". The catalog entry of that name still saves where it says. The
    MLflow key is the name, ``params:features`` keyed ``features``. Each is
    logged once per run, the first time a node reads or writes it.

    With ``auto``, after each node it logs the node's inputs and outputs that
    the catalog does not persist (a ``params:`` input, ``parameters``, a
    ``MemoryDataset`` or ``SharedMemoryDataset``, or a name not in the catalog)
    and that ``mlflow_catalog`` does not list, to the run of
    ``MLflowBasicLoggerHook``, by dataset code ``a``'s rules:

    - numbers become metrics; str (up to 1000 characters), bool, None and
      lists, tuples and sets of up to 100 such values (nested too) become params;
    - dicts are flattened with ``.``, each leaf by its type (up to 1000 leaves);
    - anything else (DataFrames, arrays, models...) is skipped, never turned
      into text.

    The key is the dataset's name, except for parameters: ``params:model`` is
    keyed ``model`` (``model.depth`` for a leaf) and ``parameters`` has no prefix,
    which is how ``MLflowBasicLoggerHook`` logs them. Each name is logged once per
    run. A param that already holds another value is not changed; the new value
    goes to the tag ``pipelinex_mlflow.changed_param.<key>`` with a warning.
    Values are sent once at the end of the pipeline (also when it fails).
    Forked ParallelRunner workers send theirs after each node; spawned ones
    leave theirs in a per-run temporary folder, sent by the main process with its
    own, so they need not import MLflow. Workers started with
    ``spawn`` or ``forkserver`` (macOS, Windows, Linux from Python 3.14) run node
    hooks only in a Kedro project (``kedro run``, or ``KedroSession`` after
    ``bootstrap_project``); without one the run says once that the values are
    missing.

    Examples:
        In ``settings.py``:

        .. code-block:: python

            from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowCatalogLoggerHook

            HOOKS = (
                MLflowBasicLoggerHook(experiment_name="my_experiment"),
                MLflowCatalogLoggerHook(
                    auto=True,
                    mlflow_catalog={"params:features": "p", "model": "pkl"},
                ),
            )

        >>> hook = MLflowCatalogLoggerHook(mlflow_catalog={"params:lr": "p"})
        >>> hook.mlflow_datasets["params:lr"]
        pipelinex_mlflow.io.mlflow_dataset.MLflowDataSet(dataset='p', name='lr')
    """

    Options = CatalogOptions

    @remembers_given_arguments
    def __init__(
        self,
        auto: bool = True,
        mlflow_catalog: Mapping[str, DatasetSpec | None] | None = None,
        enable_mlflow: bool = True,
    ) -> None:
        """Choose what is logged.

        Args:
            auto: Log the values of non-persisted node inputs and outputs.
            mlflow_catalog: Node input or output name -> ``MLflowDataSet`` code
                (``"m"``, ``"p"``, ``"a"``, ``"csv"``...), Kedro dataset config
                dict, Kedro dataset, ``MLflowDataSet``, or ``None`` (not logged):
                how to log that value in addition to the catalog's own saving.
                Names listed here are not auto-logged.
            enable_mlflow: ``False`` turns the hook's logging off (datasets are
                still named).

        Raises:
            ValueError: For an entry that is none of those, or an unknown code.
        """
        self._find_run = RunFinder(self)
        self._spool: WorkerSpool | None = None
        self._reset()
        self.use(CatalogOptions.from_arguments(locals()))

    def use(self, options: CatalogOptions) -> None:
        """Take ``options``; each ``mlflow_catalog`` entry becomes its dataset.

        Raises:
            ValueError: For an entry that is not a dataset code, config or dataset.
        """
        self.mlflow_datasets: dict[str, MLflowDataSet | None] = {
            name: side_channel_dataset(name, spec)
            for name, spec in options.mlflow_catalog.items()
        }
        self.options: CatalogOptions = options

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._claimed: set[str] = set()
        self._run_logger: RunLogger | None = None
        self._find_run.reset()

    # ----------------------------------------------------------------------------------
    # Hook implementations
    # ----------------------------------------------------------------------------------
    @hook_impl
    @guarded("prepare to log node values")
    def before_pipeline_run(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
    ) -> None:
        """Name the MLflow datasets, and get ready to log node values."""
        self._remove_spool()
        self._reset()
        with warn_on_failure(self, "name the MLflow datasets"):
            name_mlflow_datasets(pipeline, catalog)
        if not self.options.enable_mlflow or not (
            self.options.auto or self.mlflow_datasets
        ):
            return
        with warn_on_failure(self, "prepare to log node values"):
            run = self._find_run()
            if run is None:
                return
            self._run_logger = RunLogger(run, check_existing_params=True)
            self._spool = WorkerSpool("pipelinex_mlflow-values-")
            # Interrupted runs (Ctrl-C, SIGTERM) get no pipeline hook from Kedro.
            flush_at_exit(self, self._flush)
            workers = prepare_workers(self, catalog, run_params)
            if workers is not None:
                workers.spools[VALUES_SPOOL] = self._spool

    @hook_impl
    @guarded("log a node's values")
    def after_node_run(
        self,
        node: Node,
        catalog: CatalogProtocol[Any, Any],
        inputs: dict[str, Any],
        outputs: dict[str, Any],
    ) -> None:
        """Log the node's non-persisted inputs and outputs, each name once per run."""
        spool = self._worker_spool()
        run_logger = self._run_logger
        if spool is None and run_logger is None:
            return
        with warn_on_failure(self, f"log the values of node {node.name!r}"):
            splits = []
            leave_parameters = _parameters_logged_by_basic_hook()
            for name, data in {**inputs, **outputs}.items():
                if name in self.mlflow_datasets:
                    self._save_side_channel(name, data, spool)
                    continue
                if (
                    not self.options.auto
                    or (leave_parameters and is_parameter(name))
                    or self._is_persisted(name, catalog)
                    or not self._claim(name, spool)
                ):
                    continue
                split = split_by_kind(parameter_key(name), data, AUTO)
                for key, reason in split.skipped.items():
                    logger.debug("Not logging %r: %s is not a plain value", key, reason)
                splits.append(split)
            if run_logger is not None:
                for split in splits:
                    self._queue(run_logger, split.params, split.metrics)
                if spool is not None:
                    # A forked worker: its buffer would die with the process.
                    run_logger.flush()
            elif spool is not None and splits:
                # A spawned worker, without MLflow so far: importing it would cost
                # seconds, so the main process sends the values with its own.
                spool.put({"values": [_as_record(split) for split in splits]})

    @hook_impl
    @guarded("send the node values")
    def after_pipeline_run(self) -> None:
        """Send the values logged in this process."""
        self._flush()

    @hook_impl
    @guarded("send the node values")
    def on_pipeline_error(self) -> None:
        """Send the values of the nodes that ran before the failure."""
        self._flush()

    # ----------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------
    def _worker_spool(self) -> WorkerSpool | None:
        """The run's spool if this process is a ParallelRunner worker, else ``None``.

        A forked worker has the main process's hook, spool included; a spawned
        one has a hook of its own, and the spool its worker set-up handed over.
        """
        spool = self._spool if self._spool is not None else worker_spool(VALUES_SPOOL)
        return spool if spool is not None and spool.in_worker() else None

    def _save_side_channel(
        self, name: str, data: Any, spool: WorkerSpool | None
    ) -> None:
        """Log ``data`` through the ``mlflow_catalog`` entry of ``name``, once per run."""
        dataset = self.mlflow_datasets[name]
        if dataset is None or not self._claim(name, spool):
            return
        with warn_on_failure(self, f"log {name!r} as mlflow_catalog says"):
            dataset.save(data)

    def _is_persisted(self, name: str, catalog: CatalogProtocol[Any, Any]) -> bool:
        if is_parameter(name):
            return False
        return not keeps_in_memory(catalog.get(name))

    def _claim(self, name: str, spool: WorkerSpool | None) -> bool:
        """Tell whether ``name`` is seen for the first time in this run.

        Worker processes (``spool``), each with its own copy of this hook, also
        claim it in the run's spool folder.
        """
        with self._lock:
            if name in self._claimed:
                return False
            self._claimed.add(name)
        return spool is None or spool.claim(name)

    def _queue(
        self,
        run_logger: RunLogger,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
    ) -> None:
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

    def _queue_workers_values(self, run_logger: RunLogger) -> None:
        """Queue what spawned ParallelRunner workers left in the spool."""
        for record in self._spool.records() if self._spool is not None else []:
            for entry in record.get("values", []):
                try:
                    self._queue(run_logger, entry["params"], entry["metrics"])
                except (TypeError, KeyError, AttributeError) as exc:
                    logger.debug(
                        "Skipping a malformed values record %s: %s", entry, exc
                    )

    def _flush(self) -> None:
        forget_exit_flush(self)
        try:
            if self._run_logger is not None:
                with warn_on_failure(self, "log the node values"):
                    self._queue_workers_values(self._run_logger)
                    self._run_logger.flush()
        finally:
            self._run_logger = None
            self._remove_spool()

    def _remove_spool(self) -> None:
        if self._spool is not None:
            self._spool.remove()
            self._spool = None


class MLflowDataSetsLoggerHook(MLflowCatalogLoggerHook):
    """PipelineX's logger of every plain node input and output, persisted or not.

    Like ``MLflowCatalogLoggerHook(auto=True)``, by the same rules and caps, except
    that values the catalog persists are logged too (a number saved to a JSON
    file becomes a metric); ``MLflowDataSet`` entries, which log themselves, are
    left to them.

    Examples:
        >>> MLflowDataSetsLoggerHook(enable_mlflow=True).auto
        True
    """

    @remembers_given_arguments
    def __init__(self, enable_mlflow: bool = True) -> None:
        """Take PipelineX's one argument.

        Args:
            enable_mlflow: ``False`` turns the hook off.
        """
        super().__init__(auto=True, enable_mlflow=enable_mlflow)

    def _is_persisted(self, name: str, catalog: CatalogProtocol[Any, Any]) -> bool:
        return isinstance(catalog.get(name), MLflowDataSet)


class MLflowOutputsLoggerHook(MLflowDataSetsLoggerHook):
    """PipelineX's older name for :class:`MLflowDataSetsLoggerHook`."""
