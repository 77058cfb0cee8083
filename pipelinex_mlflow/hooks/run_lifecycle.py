"""``MLflowBasicLoggerHook`` starts, tags and ends one MLflow run per Kedro run."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError, SharedMemoryCatalogProtocol

from pipelinex_mlflow.config import MlflowConfigError
from pipelinex_mlflow.dag_picture import dag_svg
from pipelinex_mlflow.hooks._arguments import check_basic_logger_arguments
from pipelinex_mlflow.hooks._configurable import (
    configure_from_project,
    remembers_given_arguments,
    running_a_pipeline,
)
from pipelinex_mlflow.hooks._exit_guard import ExitGuard, run_exit_flushes
from pipelinex_mlflow.hooks._guard import guarded, mark_guarded, warn_on_failure
from pipelinex_mlflow.hooks._lineage import RunLineage
from pipelinex_mlflow.hooks._pipeline_structure import dag_layers, pipeline_structure
from pipelinex_mlflow.hooks._run_context import effective_run_params, run_tags
from pipelinex_mlflow.hooks._workers import prepare_workers, start_method
from pipelinex_mlflow.io.naming import (
    artifacts_of_outputs,
    name_mlflow_datasets,
    path_beside_entries,
)
from pipelinex_mlflow.io.shared_values import remove_shared
from pipelinex_mlflow.kedro_helpers import project_root, used_parameters
from pipelinex_mlflow.masking import (
    declare_secret_names,
    get_logger,
    mask_url_passwords,
    mask_value,
)
from pipelinex_mlflow.pipeline_ml import PipelineModelError, RunModels
from pipelinex_mlflow.tracking import (
    DEFAULT_FLUSH_TIMEOUT_S,
    DISABLE_ENV_VAR,
    HEARTBEAT_EVERY_S,
    MLFLOW_MAX_PARAM_LENGTH,
    PROCESS_TAG,
    RUN_KEY_ENV_VAR,
    SERVER_TIMEOUT_S,
    LongParamError,
    LongParamPolicy,
    RunEnd,
    RunLogger,
    RunRef,
    RunStatus,
    SendReport,
    SystemMetricsSampler,
    TrackingError,
    callers_active_run,
    check_reachable,
    check_run_key,
    close_all,
    default_tracking_uri,
    disabled_by_environment,
    end_dead_runs,
    flatten_dict,
    get_experiment_id,
    get_start_time,
    log_dataset_records,
    normalize_tracking_uri,
    open_run,
    open_shared_run,
    param_text,
    process_tag,
    run_set_in_this_process,
    run_view_hint,
    run_view_lines,
    sender_for,
    set_current_run,
    set_flush_timeout,
    set_spool_dir,
    set_tracking_off,
    settle_before_fork,
    validate_long_param_policy,
)
from pipelinex_mlflow.tracking.spool import DEFAULT_SPOOL_DIR_NAME

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Mapping, Sequence

    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

ALL_RUN_PARAMS = "__ALL__"
#: What may stop a Kedro run as it starts: the package's own configuration errors,
#: each saying what is wrong and how to fix it (see :mod:`._guard`).
_CONFIGURATION_ERRORS = (
    TrackingError,
    DatasetError,
    MlflowConfigError,
    PipelineModelError,
)
#: MLflow's own variable for the experiment, below ``experiment_name`` and mlflow.yml.
EXPERIMENT_NAME_ENV_VAR = "MLFLOW_EXPERIMENT_NAME"
RUN_PARAM_PREFIX = "___"

logger = get_logger(__name__)


def _timestamp(offset_hours: float, fmt: str) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=offset_hours)).strftime(fmt)


class MLflowBasicLoggerHook:
    """Tracks each Kedro run as one MLflow run: starts it, tags it, and ends it.

    The run starts before any other hook or dataset logs (the hook wraps every other
    ``before_pipeline_run``) and ends only after every other ``after_pipeline_run``
    or ``on_pipeline_error`` has flushed. It is ``FINISHED`` after success,
    ``FAILED`` after an error, and ``KILLED`` when the process exits mid-run (Ctrl-C,
    ``SIGTERM``). Datasets and other hooks find the run from any thread or worker
    process through :func:`pipelinex_mlflow.tracking.run_ref`.

    What lands in the run:

    - params: the Kedro parameters the pipeline uses (with runtime ``--params``),
      flattened with ``.``; ``__time_begin``/``__time_end`` (``%Y-%m-%dT%H:%M:%S``);
      the chosen ``run_params`` as ``___<key>``;
    - metrics: ``__time_begin``/``__time_end`` as ``YYYYMMDDhhmmss`` numbers and
      ``__time``, the run's duration in seconds;
    - tags: ``tags``, ``kedro.command`` (the exact ``kedro run`` line),
      ``kedro.env``, ``kedro.pipelines``, ``kedro.runner``, ``kedro.session_id``,
      ``kedro.version``, git commit/branch (``mlflow.source.git.*``) and
      ``git.dirty``, ``mlflow.user``, ``host``.

    Examples:
        In ``settings.py``:

        .. code-block:: python

            from pipelinex_mlflow import MLflowBasicLoggerHook

            HOOKS = (MLflowBasicLoggerHook(experiment_name="my_experiment"),)

        >>> hook = MLflowBasicLoggerHook(uri="sqlite:///mlflow.db", tags={"team": "a"})
        >>> hook.run is None
        True
    """

    @remembers_given_arguments
    def __init__(
        self,
        uri: str | None = None,
        experiment_name: str | None = None,
        artifact_location: str | None = None,
        run_name: str | None = None,
        run_id: str | None = None,
        nested: bool = False,
        tags: Mapping[str, Any] | None = None,
        offset_hours: float = 0,
        enable_logging_time_begin: bool = True,
        enable_logging_time_end: bool = True,
        enable_logging_time: bool = True,
        logging_kedro_run_params: Sequence[str] | str | None = None,
        enable_mlflow: bool = True,
        *,
        log_parameters: bool = True,
        max_param_length: int = MLFLOW_MAX_PARAM_LENGTH,
        long_param_policy: LongParamPolicy = "truncate",
        flatten_separator: str = ".",
        server_timeout: float = SERVER_TIMEOUT_S,
        flush_timeout: float = DEFAULT_FLUSH_TIMEOUT_S,
        secret_names: Sequence[str] | str | None = None,
        disabled_pipelines: Sequence[str] | str | None = None,
        experiment_tags: Mapping[str, Any] | None = None,
        log_datasets: bool = True,
        log_system_metrics: bool = True,
        system_metrics_interval: float = 10.0,
        log_pipeline_structure: bool = True,
    ) -> None:
        """Configure the run to start for each Kedro run.

        Args:
            uri: The tracking URI. Defaults to ``MLFLOW_TRACKING_URI``, else
                ``sqlite:///<project root>/mlflow.db``. Relative SQLite paths are
                taken from the project root.
            experiment_name: The experiment, created if missing. Defaults to the
                project's package name.
            artifact_location: Where a newly created experiment stores artifacts.
                Defaults to MLflow's choice, except for a local SQLite store, whose
                artifacts go to ``mlartifacts/`` beside the database file.
            run_name: The run's name in the MLflow UI; MLflow picks one if ``None``.
            run_id: Resume this existing run instead of starting a new one.
            nested: Start the run as a child of the run the caller opened with
                ``mlflow.start_run()`` (or named in ``MLFLOW_RUN_ID``).
            tags: Tags to set on the run, next to the automatic ones.
            offset_hours: Hours added to UTC in the ``__time_begin``/``__time_end``
                values (9 for Japan, -5 for New York in winter).
            enable_logging_time_begin: Log ``__time_begin``.
            enable_logging_time_end: Log ``__time_end``.
            enable_logging_time: Log ``__time``, the run's duration in seconds.
            logging_kedro_run_params: Keys of Kedro's ``run_params`` to log as
                params ``___<key>``, or ``"__ALL__"`` for all of them.
            enable_mlflow: ``False`` turns the hook off entirely.
            log_parameters: Log the Kedro parameters the pipeline uses.
            max_param_length: The longest param value sent to MLflow (old servers
                reject values over 250 or 500 characters).
            long_param_policy: ``truncate``, ``tag`` or ``fail`` for longer values;
                see :class:`~pipelinex_mlflow.tracking.RunLogger`.
            flatten_separator: Joins nested parameter keys.
            server_timeout: Seconds a tracking server may take, at the start of
                a run, to accept a connection and answer; the run fails before any
                node runs otherwise.
            flush_timeout: Seconds the end of a run waits, in total, for values
                and files still being sent (less when the server refuses
                connections). What is left then is kept in
                ``<project root>/mlflow_spool/<run id>.zip`` for
                ``kedro mlflow replay``.
            secret_names: More names to treat as secret, as glob patterns in any
                case (``["db_*", "*_pin"]``): params, ``--params`` values and
                environment variables so named are logged as ``*****``, in this
                process and its workers. The built-in rule is in SECURITY.md.
            disabled_pipelines: Registered pipeline names whose runs are not
                tracked (as with ``enable_mlflow=False``); a run of several
                pipelines is left untracked only when all of them are listed.
            experiment_tags: Tags set on the experiment (when it is created, and
                on an existing one whose value differs).
            log_datasets: Log the catalog datasets the run reads and writes as
                the run's MLflow dataset inputs, with digests of their data
                (:mod:`pipelinex_mlflow.hooks._lineage`): one request at the end.
            log_system_metrics: Sample CPU, memory, disk, network (and GPU)
                during the run as MLflow's ``system/`` metrics
                (:mod:`pipelinex_mlflow.tracking.system_metrics`; needs psutil).
            system_metrics_interval: Seconds between samples; six are averaged
                into each logged point, and the run's end logs the rest.
            log_pipeline_structure: Upload ``pipeline.json`` (the run's nodes
                and datasets, :mod:`pipelinex_mlflow.hooks._pipeline_structure`)
                and, with matplotlib installed, ``pipeline.svg``, a picture of
                its DAG.

        Raises:
            ValueError: For an argument of the wrong type, an unknown
                ``long_param_policy`` or a bad length.
        """
        check_basic_logger_arguments(locals())
        validate_long_param_policy(long_param_policy, max_param_length)
        if isinstance(secret_names, str):
            secret_names = [secret_names]
        if secret_names:
            declare_secret_names(secret_names)
        self.uri = uri
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location
        self.run_name = run_name
        self.run_id = run_id
        self.nested = nested
        self.tags = dict(tags or {})
        self.offset_hours = offset_hours
        self.enable_logging_time_begin = enable_logging_time_begin
        self.enable_logging_time_end = enable_logging_time_end
        self.enable_logging_time = enable_logging_time
        self.logging_kedro_run_params = logging_kedro_run_params or ()
        self.enable_mlflow = enable_mlflow
        self.log_parameters = log_parameters
        self.max_param_length = max_param_length
        self.long_param_policy: LongParamPolicy = long_param_policy
        self.flatten_separator = flatten_separator
        self.server_timeout = server_timeout
        self.flush_timeout = flush_timeout
        self.secret_names = list(secret_names or ())
        if isinstance(disabled_pipelines, str):
            disabled_pipelines = [disabled_pipelines]
        self.disabled_pipelines = list(disabled_pipelines or ())
        self.experiment_tags = dict(experiment_tags or {})
        self.log_datasets = log_datasets
        self.log_system_metrics = log_system_metrics
        self.system_metrics_interval = system_metrics_interval
        self.log_pipeline_structure = log_pipeline_structure
        self._exit_guard = ExitGuard(self._end_at_exit)
        self._reset()

    def _reset(self) -> None:
        self.run: RunRef | None = None
        self._logger: RunLogger | None = None
        self._started_at = 0.0
        # Orchestrated steps share one run: this process neither began nor ends it.
        self._shared = False
        # The caller's own run (mlflow.start_run()): logged into, ended by its owner.
        self._adopted = False
        self._created = True
        self._switched_off = False
        self._previous_run: RunRef | None = None
        # pipeline_ml_factory models this run logs when it succeeds.
        self._run_models = RunModels([])
        self._lineage: RunLineage | None = None
        self._system_metrics: SystemMetricsSampler | None = None
        self._catalog: CatalogProtocol[Any, Any] | None = None

    # ----------------------------------------------------------------------------------
    # Hook implementations
    # ----------------------------------------------------------------------------------
    @hook_impl
    @guarded("read mlflow.yml", stops_for=(MlflowConfigError,))
    def after_context_created(self, context: KedroContext) -> None:
        """Apply ``mlflow.yml`` before anything else reads the hook's settings.

        Only for ``kedro run`` (or a session opened from Python): ``kedro catalog
        ...``, ``kedro registry ...`` and other commands load a context too, and
        must neither import MLflow nor touch the store because of us. MLflow is
        imported when the run starts, in the main thread: a background import
        raced the project's own imports of MLflow (a circular import seen half
        done) and, on a 2-core machine, won no time against Kedro's start-up,
        which holds the GIL as much as an import does.

        Raises:
            MlflowConfigError: If ``mlflow.yml`` is invalid: before any run.
        """
        if not running_a_pipeline():
            return
        # Rebuilding the hook from mlflow.yml forgets its run: end that run first.
        self._end_stale_run()
        configure_from_project(self, context)

    @hook_impl(wrapper=True)
    @mark_guarded
    def before_pipeline_run(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
    ) -> Generator[None, Any, Any]:
        """Start the run before any other hook's ``before_pipeline_run`` runs.

        With ``enable_mlflow=False`` or ``PIPELINEX_MLFLOW_DISABLE=1``, switch
        tracking off for this Kedro run instead. Only the package's own
        configuration errors stop the Kedro run here (see :mod:`._guard`); if
        starting fails otherwise, the pipeline runs untracked, with a warning.
        """
        if (
            self.enable_mlflow
            and not disabled_by_environment()
            and not self._disabled_for(run_params)
        ):
            set_tracking_off(False)
            self._start_or_run_untracked(run_params, pipeline, catalog)
        else:
            self._switch_off(pipeline, catalog, run_params)
        try:
            result = yield
        except BaseException:
            # Kedro calls neither on_pipeline_error nor after_pipeline_run here.
            self._finish("FAILED")
            raise
        # After every hook's before_pipeline_run: what they queued is sent.
        self._settle_before_fork(catalog)
        return result

    @hook_impl(wrapper=True)
    @mark_guarded
    def after_pipeline_run(
        self, run_params: dict[str, Any], catalog: CatalogProtocol[Any, Any]
    ) -> Generator[None, Any, Any]:
        """End the run FINISHED once every other ``after_pipeline_run`` has run.

        Before it ends, the ``pipeline_ml_factory`` models whose training ran are
        logged into it.
        """
        try:
            result = yield
        except (KeyboardInterrupt, SystemExit):
            # Ctrl-C or SIGTERM while the other hooks log what they hold (the
            # timings, the chart): as at exit, they send it, then the run is KILLED.
            self._end_at_exit()
            raise
        except BaseException:
            self._finish("FAILED")
            raise
        with warn_on_failure(self, "log the run's pipeline models"):
            self._log_run_models(run_params, catalog)
        self._finish("FINISHED")
        return result

    @hook_impl(wrapper=True)
    @mark_guarded
    def on_pipeline_error(self, error: BaseException) -> Generator[None, Any, Any]:
        """End the run FAILED once every other ``on_pipeline_error`` has run."""
        try:
            return (yield)
        finally:
            if self._logger is not None:
                with warn_on_failure(self, "tag the error"):
                    self._logger.set_tags(
                        {"kedro.error": f"{type(error).__name__}: {error}"}
                    )
            self._finish("FAILED")

    # ----------------------------------------------------------------------------------
    # Start and end
    # ----------------------------------------------------------------------------------
    def _start_or_run_untracked(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
    ) -> None:
        """Start the run; a failure that is not a configuration error runs untracked.

        Raises:
            TrackingError: The store cannot be used as configured (its URI, its
                reachability, a run to resume), or a param refused by
                ``long_param_policy="fail"``.
            DatasetError: A catalog entry the package refuses (names that clash).
            PipelineModelError: A ``pipeline_ml_factory`` model that cannot be
                built from this catalog.
        """
        try:
            self._start(run_params, pipeline, catalog)
        except _CONFIGURATION_ERRORS:
            # Before any node runs: the run, if it exists, ends FAILED with it.
            self._finish("FAILED")
            raise
        except Exception as exc:
            logger.warning(
                "MLflowBasicLoggerHook could not start tracking this Kedro run (%s: "
                "%s); the pipeline runs untracked: nothing of it is recorded in "
                "MLflow, and MLflowDataSet values stay in memory.",
                type(exc).__name__,
                exc,
            )
            self._finish("FAILED")
            with warn_on_failure(self, "switch tracking off"):
                self._switch_off(pipeline, catalog, run_params, quiet=True)

    def _start(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
    ) -> None:
        self._end_stale_run()
        self._reset()
        # Before the run exists: a broken catalog entry must not leave a run behind.
        _name_datasets(pipeline, catalog, run_params)
        run_models = RunModels.plan(pipeline, catalog)
        root = project_root(run_params.get("project_path"))
        key = os.environ.get(RUN_KEY_ENV_VAR)
        callers = None if self.run_id or self.nested or key else callers_active_run()
        uri = callers.tracking_uri if callers else self.tracking_uri(root)
        # Every process of the run (workers, later the CLI) agrees on these.
        set_spool_dir(root / DEFAULT_SPOOL_DIR_NAME)
        set_flush_timeout(self.flush_timeout)
        check_reachable(uri, timeout_s=self.server_timeout)
        experiment_name = self.resolved_experiment_name()
        if callers is not None:
            run, experiment_id = callers, get_experiment_id(callers)
            self._adopted = True
            if self.uri or self.experiment_name or self.run_name:
                logger.info(
                    "MLflowBasicLoggerHook logs into the run the caller opened with "
                    "mlflow.start_run(), so its uri, experiment_name and run_name are "
                    "not used; pass nested=True for a child run that uses them."
                )
        elif key and not self.run_id:
            run, experiment_id, self._created = open_shared_run(
                uri,
                experiment_name=experiment_name,
                key=check_run_key(key),
                artifact_location=self.artifact_location,
                run_name=self.run_name,
                experiment_tags=self.experiment_tags,
            )
            self._shared = True
        else:
            run, experiment_id = open_run(
                uri,
                experiment_name=experiment_name,
                artifact_location=self.artifact_location,
                run_id=self.run_id,
                run_name=self.run_name,
                nested=self.nested,
                experiment_tags=self.experiment_tags,
                # At creation: a process killed in its first second is known too.
                tags={PROCESS_TAG: process_tag()},
            )
        # The run exists: from here on, each step only warns when it fails.
        self.run = run
        self._run_models = run_models
        self._logger = RunLogger(
            run,
            max_param_length=self.max_param_length,
            long_param_policy=self.long_param_policy,
            check_existing_params=self.run_id is not None
            or self._shared
            or self._adopted,
        )
        self._started_at = time.perf_counter()
        # A run of mlflow_start_run(...) stays the current run after this one.
        self._previous_run = run_set_in_this_process()
        set_current_run(run)
        self._exit_guard.arm()
        logger.info(
            "Tracking this Kedro run as MLflow run %s%s; to view it, %s",
            run.run_id,
            f" (shared by the steps of {key})"
            if self._shared
            else " (the caller's, from mlflow.start_run())"
            if self._adopted
            else "",
            run_view_hint(run.tracking_uri, experiment_id, run.run_id),
        )
        _print_view_lines(run, experiment_id)
        if not (self._shared or self._adopted):
            # Lets the next run tell this one from a run whose process is gone.
            sender_for(run).start_heartbeat(HEARTBEAT_EVERY_S)
        with warn_on_failure(self, "prepare ParallelRunner's spawned workers"):
            # Spawned workers log datasets to this run (a fork server keeps the
            # environment of an earlier run).
            prepare_workers(self, catalog, run_params)
        with warn_on_failure(self, "end the runs left RUNNING by processes now gone"):
            end_dead_runs(uri, [experiment_id], found_by=f"run {run.run_id}")
        self._start_observing(run, pipeline, catalog)
        self._log_start(run_params, pipeline, catalog)

    def _end_stale_run(self) -> None:
        """Mark FAILED the run of an earlier Kedro run that was never ended."""
        if self.run is None:
            return
        logger.warning(
            "MLflow run %s of an earlier Kedro run was never ended; marking it "
            "FAILED before starting a new one.",
            self.run.run_id,
        )
        self._finish("FAILED")

    def _settle_before_fork(self, catalog: CatalogProtocol[Any, Any]) -> None:
        """Before ParallelRunner forks its workers, let the sending threads go idle."""
        if self.run is None or not isinstance(catalog, SharedMemoryCatalogProtocol):
            return
        if start_method() != "fork":
            return
        with warn_on_failure(self, "send the run's start before the workers fork"):
            settle_before_fork(self.run)

    def _disabled_for(self, run_params: Mapping[str, Any]) -> bool:
        """Whether every pipeline of this run is in ``disabled_pipelines``."""
        if not self.disabled_pipelines:
            return False
        names = list(run_params.get("pipeline_names") or ()) or ["__default__"]
        return set(names) <= set(self.disabled_pipelines)

    def _start_observing(
        self,
        run: RunRef,
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
    ) -> None:
        """Sample the machine's use, and digest the inputs before any node runs."""
        if self.log_system_metrics:
            with warn_on_failure(self, "start sampling system metrics"):
                self._system_metrics = SystemMetricsSampler.start_for(
                    run, self.system_metrics_interval
                )
        if self.log_datasets:
            with warn_on_failure(self, "digest the run's input datasets"):
                self._catalog = catalog
                self._lineage = RunLineage.plan(pipeline, catalog)

    def _switch_off(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
        run_params: Mapping[str, Any],
        *,
        quiet: bool = False,
    ) -> None:
        """Run as if tracking did not exist: no MLflow call, datasets keep data local."""
        self._reset()
        # File codes still need a name for their local file; a bad name fails
        # here, before tracking is switched off for the process.
        _name_datasets(pipeline, catalog, run_params)
        set_tracking_off(True)
        self._switched_off = True
        if quiet:
            return
        logger.info(
            "MLflow tracking is off for this Kedro run (%s): nothing is sent to "
            "MLflow; MLflowDataSet values stay in memory and files stay local.",
            "enable_mlflow=False"
            if not self.enable_mlflow
            else f"{DISABLE_ENV_VAR}={os.environ.get(DISABLE_ENV_VAR)}"
            if disabled_by_environment()
            else "disabled_pipelines lists "
            + ", ".join(run_params.get("pipeline_names") or ["__default__"]),
        )

    def tracking_uri(self, project_path: str | os.PathLike[str] | None) -> str:
        """``uri``, else ``MLFLOW_TRACKING_URI``, else the project's SQLite store."""
        root = project_root(project_path)
        return normalize_tracking_uri(self.uri or default_tracking_uri(root), root)

    def resolved_experiment_name(self) -> str:
        """``experiment_name``, else ``MLFLOW_EXPERIMENT_NAME``, else the package's name."""
        return (
            self.experiment_name
            or os.environ.get(EXPERIMENT_NAME_ENV_VAR)
            or _default_experiment_name()
        )

    def end_shared_run(self, run: RunRef, status: RunStatus) -> SendReport:
        """End a run that orchestrated steps shared (``kedro mlflow end-run``).

        Logs ``__time_end`` and ``__time`` (since the run started) as this hook is
        configured to, then marks the run ended, waiting ``flush_timeout`` at most.

        Returns:
            What could not be sent (spooled or rejected), if anything.
        """
        run_logger = RunLogger(run, check_existing_params=True)
        if self.enable_logging_time_end:
            self._log_time("__time_end", run_logger)
        if self.enable_logging_time:
            started = get_start_time(run) / 1000
            run_logger.log_metrics({"__time": time.time() - started})
        run_logger.flush()
        set_flush_timeout(self.flush_timeout)
        return close_all({run: RunEnd.now(status)}).get(run, SendReport())

    def _log_start(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
    ) -> None:
        """Queue the run's tags, times and params, then send them in one batch.

        A param refused by ``long_param_policy="fail"`` fails the run, as asked,
        after the tags and times are sent; a tracking failure only warns.
        """
        run_logger = self._logger
        assert run_logger is not None  # noqa: S101 - set by _start just before
        with warn_on_failure(self, "log the run's tags"):
            # The caller's run is the caller's process's: no process tag for liveness.
            process = {} if self._adopted else {PROCESS_TAG: process_tag()}
            # Your tags pass the name rule too: a tag named api_token is masked whole.
            yours = {k: mask_value(k, param_text(v)) for k, v in self.tags.items()}
            run_logger.set_tags({**run_tags(run_params), **process, **yours})
        if self.enable_logging_time_begin and self._created:
            with warn_on_failure(self, "log the run's start time"):
                self._log_time("__time_begin", run_logger)
        if self.log_pipeline_structure:
            with warn_on_failure(self, "describe the pipeline"):
                _queue_structure(run_logger, pipeline, catalog, run_params)
        try:
            if self.log_parameters:
                with warn_on_failure(
                    self, "log the run's parameters", stops_for=(LongParamError,)
                ):
                    run_logger.log_params(
                        used_parameters(pipeline, catalog), sep=self.flatten_separator
                    )
            with warn_on_failure(
                self, "log the chosen run_params", stops_for=(LongParamError,)
            ):
                run_logger.log_params(self._chosen_run_params(run_params))
        except LongParamError:
            with warn_on_failure(self, "log the run's tags"):
                run_logger.flush()
            raise
        with warn_on_failure(self, "log the run's tags and params"):
            run_logger.flush()

    def _chosen_run_params(self, run_params: dict[str, Any]) -> dict[str, Any]:
        wanted = self.logging_kedro_run_params
        if wanted == ALL_RUN_PARAMS:
            keys: Iterable[str] = run_params
        elif isinstance(wanted, str):
            keys = (wanted,)
        else:
            keys = wanted
        chosen = {}
        effective = effective_run_params(run_params)
        for key in keys:
            if key in _PIPELINEX_RUN_PARAMS:
                chosen[f"{RUN_PARAM_PREFIX}{key}"] = _pipelinex_run_param(
                    key, run_params
                )
            elif key in effective:
                chosen[f"{RUN_PARAM_PREFIX}{key}"] = effective[key]
        return chosen

    def _log_time(self, name: str, run_logger: RunLogger) -> None:
        run_logger.log_params(
            {name: _timestamp(self.offset_hours, "%Y-%m-%dT%H:%M:%S")},
            enforce_limit=False,
        )
        run_logger.log_metrics(
            {name: int(_timestamp(self.offset_hours, "%Y%m%d%H%M%S"))}
        )

    def _log_run_models(
        self, run_params: dict[str, Any], catalog: CatalogProtocol[Any, Any]
    ) -> None:
        if self.run is None or self._logger is None or not self._run_models.specs:
            return
        self._run_models.log(
            catalog, self._logger, relog_command(run_params, self.run.run_id)
        )

    def _finish(self, status: RunStatus) -> None:
        """End the run ``status``; never raises: a failure is a warning."""
        if self._switched_off:
            set_tracking_off(False)
            self._switched_off = False
        run, run_logger = self.run, self._logger
        if run is None or run_logger is None:
            return
        try:
            self._send_the_end(run, run_logger, status)
            with warn_on_failure(self, "remove the values workers handed each other"):
                remove_shared(run)
        finally:
            self._exit_guard.disarm()
            set_current_run(self._previous_run)
            self._reset()

    def _send_the_end(
        self, run: RunRef, run_logger: RunLogger, status: RunStatus
    ) -> None:
        sampler, self._system_metrics = self._system_metrics, None
        if sampler is not None:
            with warn_on_failure(self, "log the last system metrics"):
                sampler.stop()
        self._log_lineage(run)
        with warn_on_failure(self, "log the run's end time"):
            if not self._shared:
                # A shared run's end is the orchestrator's (kedro mlflow end-run).
                if self.enable_logging_time_end:
                    self._log_time("__time_end", run_logger)
                if self.enable_logging_time:
                    run_logger.log_metrics(
                        {"__time": time.perf_counter() - self._started_at}
                    )
            run_logger.flush()
        end = None if self._shared or self._adopted else RunEnd.now(status)
        reports: dict[RunRef, SendReport] = {}
        # Said only when the end reached the store: the log must match it.
        ended = False
        with warn_on_failure(
            self,
            f"end MLflow run {run.run_id} {status} (it stays RUNNING until the next "
            "run of the project marks it FAILED)",
        ):
            reports = close_all({run: end} if end is not None else {})
            ended = True
        for unsent_run, report in reports.items():
            # Each report names what was rejected, and the spool of what was not sent.
            if unsent_run == run:
                logger.warning(
                    "MLflow run %s ends %s, but %s",
                    run.run_id,
                    status,
                    report.summary(),
                )
            else:
                logger.warning(
                    "For MLflow run %s, %s", unsent_run.run_id, report.summary()
                )
        if self._shared:
            logger.info(
                "MLflow run %s stays open for the other steps; the orchestrator ends "
                "it with `kedro mlflow end-run --status ...`",
                run.run_id,
            )
        elif self._adopted:
            logger.info(
                "MLflow run %s stays open: it is the caller's (mlflow.start_run()), "
                "who ends it.",
                run.run_id,
            )
        elif ended and not (run in reports and reports[run].end_unrecorded):
            logger.info("MLflow run %s ended %s", run.run_id, status)

    def _log_lineage(self, run: RunRef) -> None:
        lineage, self._lineage = self._lineage, None
        if lineage is None:
            return
        with warn_on_failure(self, "log the run's datasets"):
            records = lineage.records(self._catalog)
            if records:
                log_dataset_records(run, records)
                logger.debug("Logged %d datasets of run %s", len(records), run.run_id)

    def _end_at_exit(self) -> None:
        if self.run is not None:
            logger.warning(
                "Process exiting mid-run: sending what the hooks hold, then marking "
                "MLflow run %s KILLED",
                self.run.run_id,
            )
            run_exit_flushes()
            with warn_on_failure(self, "mark the run KILLED"):
                self._finish("KILLED")


#: run_params keys of the Kedro versions PipelineX ran on -> Kedro 1.x's key.
_PIPELINEX_RUN_PARAMS = {
    "extra_params": "runtime_params",
    "pipeline_name": "pipeline_names",
}
_warned_run_params: set[str] = set()


def _pipelinex_run_param(key: str, run_params: dict[str, Any]) -> Any:
    """The value of a PipelineX-era ``run_params`` key, from its Kedro 1.x successor.

    Logged under the old name, which queries and dashboards use.
    """
    new_key = _PIPELINEX_RUN_PARAMS[key]
    if key not in _warned_run_params:
        _warned_run_params.add(key)
        logger.warning(
            "logging_kedro_run_params: %r is Kedro 0.17's name; it is logged from "
            "Kedro 1.x's %r as ___%s. Switch to %r (logged as ___%s).",
            key,
            new_key,
            key,
            new_key,
            new_key,
        )
    value = run_params.get(new_key)
    if key == "pipeline_name":
        # Kedro 0.17 ran one pipeline by name; "__default__" when none was given.
        return ",".join(value or ()) or "__default__"
    return value or {}


def _name_datasets(
    pipeline: Pipeline,
    catalog: CatalogProtocol[Any, Any],
    run_params: Mapping[str, Any],
) -> None:
    """Name the run's MLflowDataSets; nested versioned ones get the run's versions."""
    name_mlflow_datasets(
        pipeline,
        catalog,
        save_version=run_params.get("run_id"),
        load_versions=run_params.get("load_versions"),
    )


def _print_view_lines(run: RunRef, experiment_id: str) -> None:
    """Write how to view the run on lines of their own, where no log handler wraps them.

    Kedro's log handler wraps a long line to the terminal's width, which breaks
    the ``mlflow ui`` command and the URL in the log line into pieces that
    cannot be pasted. Written only when the package logs at INFO.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    lines = run_view_lines(
        mask_url_passwords(run.tracking_uri), experiment_id, run.run_id
    )
    sys.stderr.write(
        "".join(["View the MLflow run:\n", *(f"    {x}\n" for x in lines)])
    )


PIPELINE_JSON = "pipeline.json"
PIPELINE_SVG = "pipeline.svg"


def _queue_structure(
    run_logger: RunLogger,
    pipeline: Pipeline,
    catalog: CatalogProtocol[Any, Any],
    run_params: Mapping[str, Any],
) -> None:
    """Queue ``pipeline.json`` and, where matplotlib draws it, ``pipeline.svg``."""
    root = run_params.get("project_path")
    structure = pipeline_structure(pipeline, catalog, Path(root) if root else None)
    saved = artifacts_of_outputs(pipeline, catalog)
    writer = "MLflowBasicLoggerHook"
    run_logger.log_text(
        json.dumps(structure, indent=2),
        path_beside_entries(PIPELINE_JSON, saved, writer),
    )
    svg = dag_svg(*dag_layers(pipeline))
    if svg is not None:
        run_logger.log_text(svg, path_beside_entries(PIPELINE_SVG, saved, writer))


def relog_command(run_params: Mapping[str, Any], run_id: str) -> str:
    """The ``kedro mlflow modelify`` line that logs a run's pipeline models again.

    Examples:
        >>> relog_command(
        ...     {
        ...         "pipeline_names": ["training"],
        ...         "env": "prod",
        ...         "runtime_params": {"model": {"alpha": 0.1}},
        ...     },
        ...     "0a1b",
        ... )
        'kedro mlflow modelify --pipeline training --run-id 0a1b --env prod --params model.alpha=0.1'
    """
    names = run_params.get("pipeline_names") or ["__default__"]
    command = f"kedro mlflow modelify --pipeline {','.join(names)} --run-id {run_id}"
    if run_params.get("env"):
        command += f" --env {run_params['env']}"
    flat = flatten_dict(run_params.get("runtime_params") or {})
    if flat:
        pairs = ",".join(f"{key}={value}" for key, value in flat.items())
        command += f" --params {shlex.quote(pairs)}"
    return command


def _default_experiment_name() -> str:
    from kedro.framework.project import PACKAGE_NAME

    return PACKAGE_NAME or "Default"
