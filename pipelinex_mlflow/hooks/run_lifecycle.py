"""``MLflowBasicLoggerHook`` starts, tags and ends one MLflow run per Kedro run.

The hook is a short loop: it opens the run (:mod:`._run_opening`), hands it to
its run features in order (:mod:`._run_features`: liveness, the workers'
hand-over, pipeline models, system metrics, lineage, the pipeline's structure,
the run's own records), and ends it (:mod:`._run_ending`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError

from pipelinex_mlflow.config import MlflowConfigError
from pipelinex_mlflow.hooks._configurable import (
    OptionsHolder,
    configure_from_project,
    remembers_given_arguments,
    running_a_pipeline,
)
from pipelinex_mlflow.hooks._exit_guard import ExitGuard, run_exit_flushes
from pipelinex_mlflow.hooks._guard import guarded, mark_guarded, warn_on_failure
from pipelinex_mlflow.hooks._lineage import Lineage
from pipelinex_mlflow.hooks._liveness import Liveness
from pipelinex_mlflow.hooks._pipeline_models import PipelineModels
from pipelinex_mlflow.hooks._pipeline_structure import PipelineStructure
from pipelinex_mlflow.hooks._run_ending import end_tracked_run
from pipelinex_mlflow.hooks._run_features import RunFeature, RunScope
from pipelinex_mlflow.hooks._run_opening import (
    announce,
    open_tracked_run,
    pipeline_names,
)
from pipelinex_mlflow.hooks._run_records import RunRecords, RunTimes
from pipelinex_mlflow.hooks._system_metrics import SystemMetrics
from pipelinex_mlflow.hooks._workers import WorkerHandOver
from pipelinex_mlflow.io.naming import name_mlflow_datasets
from pipelinex_mlflow.io.shared_values import remove_shared
from pipelinex_mlflow.kedro_helpers import project_root
from pipelinex_mlflow.masking import declare_secret_names, get_logger
from pipelinex_mlflow.options import RunOptions, as_names
from pipelinex_mlflow.pipeline_ml import PipelineModelError
from pipelinex_mlflow.tracking import (
    DEFAULT_FLUSH_TIMEOUT_S,
    DISABLE_ENV_VAR,
    MLFLOW_MAX_PARAM_LENGTH,
    SERVER_TIMEOUT_S,
    LongParamError,
    LongParamPolicy,
    RunEnd,
    RunLogger,
    RunRef,
    RunStatus,
    SendReport,
    TrackingError,
    close_all,
    default_tracking_uri,
    disabled_by_environment,
    get_start_time,
    normalize_tracking_uri,
    run_set_in_this_process,
    set_current_run,
    set_flush_timeout,
    set_tracking_off,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Mapping, Sequence

    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

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

logger = get_logger(__name__)


class MLflowBasicLoggerHook(OptionsHolder):
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

    Options = RunOptions

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
            ValueError: For an argument of the wrong kind, naming it and what it
                must be (see :class:`~pipelinex_mlflow.options.RunOptions`).
        """
        self._exit_guard = ExitGuard(self._end_at_exit)
        self._reset()
        self.use(RunOptions.from_arguments(locals()))

    def use(self, options: RunOptions) -> None:
        """Take ``options``; its secret names are masked from here on."""
        self.options: RunOptions = options
        if options.secret_names:
            declare_secret_names(as_names(options.secret_names))

    def _reset(self) -> None:
        # The run being tracked, as its features see it; None between runs.
        self._scope: RunScope | None = None
        self._features: list[RunFeature] = []
        self._switched_off = False
        self._previous_run: RunRef | None = None

    @property
    def run(self) -> RunRef | None:
        """The MLflow run of the Kedro run in progress, if it is tracked."""
        return self._scope.opened.run if self._scope is not None else None

    def run_features(self) -> list[RunFeature]:
        """This hook's run features for one Kedro run, in the order they are called."""
        features: list[RunFeature] = [Liveness(), WorkerHandOver(), PipelineModels()]
        if self.options.log_system_metrics:
            features.append(SystemMetrics(self.options.system_metrics_interval))
        if self.options.log_datasets:
            features.append(Lineage())
        if self.options.log_pipeline_structure:
            features.append(PipelineStructure())
        features.append(
            RunRecords(
                self._times(),
                tags=self.options.tags,
                log_parameters=self.options.log_parameters,
                flatten_separator=self.options.flatten_separator,
                logging_kedro_run_params=self.options.logging_kedro_run_params or (),
            )
        )
        return features

    def _times(self) -> RunTimes:
        return RunTimes(
            self.options.offset_hours,
            log_begin=self.options.enable_logging_time_begin,
            log_end=self.options.enable_logging_time_end,
            log_duration=self.options.enable_logging_time,
        )

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
            self.options.enable_mlflow
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
        scope = self._scope
        if scope is not None:
            for feature in self._features:
                feature.before_workers(scope)
        return result

    @hook_impl(wrapper=True)
    @mark_guarded
    def after_pipeline_run(self) -> Generator[None, Any, Any]:
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
        self._finish("FINISHED")
        return result

    @hook_impl(wrapper=True)
    @mark_guarded
    def on_pipeline_error(self, error: BaseException) -> Generator[None, Any, Any]:
        """End the run FAILED once every other ``on_pipeline_error`` has run."""
        try:
            return (yield)
        finally:
            if self._scope is not None:
                with warn_on_failure(self, "tag the error"):
                    self._scope.logger.set_tags(
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
        features = self.run_features()
        for feature in features:
            feature.prepare(pipeline, catalog, run_params)
        opened = open_tracked_run(self, project_root(run_params.get("project_path")))
        # The run exists: from here on, each step only warns when it fails.
        run_logger = RunLogger(
            opened.run,
            max_param_length=self.options.max_param_length,
            long_param_policy=self.options.long_param_policy,
            check_existing_params=opened.may_hold_params,
        )
        self._scope = RunScope(self, opened, run_logger, pipeline, catalog, run_params)
        self._features = features
        # A run of mlflow_start_run(...) stays the current run after this one.
        self._previous_run = run_set_in_this_process()
        set_current_run(opened.run)
        self._exit_guard.arm()
        announce(opened)
        try:
            for feature in features:
                feature.start(self._scope)
        except LongParamError:
            with warn_on_failure(self, "log the run's tags"):
                run_logger.flush()
            raise
        with warn_on_failure(self, "log the run's tags and params"):
            run_logger.flush()

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

    def _disabled_for(self, run_params: Mapping[str, Any]) -> bool:
        """Whether every pipeline of this run is in ``disabled_pipelines``."""
        disabled = as_names(self.options.disabled_pipelines)
        return bool(disabled) and set(pipeline_names(run_params)) <= set(disabled)

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
            if not self.options.enable_mlflow
            else f"{DISABLE_ENV_VAR}={os.environ.get(DISABLE_ENV_VAR)}"
            if disabled_by_environment()
            else "disabled_pipelines lists " + ", ".join(pipeline_names(run_params)),
        )

    def tracking_uri(self, project_path: str | os.PathLike[str] | None) -> str:
        """``uri``, else ``MLFLOW_TRACKING_URI``, else the project's SQLite store."""
        root = project_root(project_path)
        return normalize_tracking_uri(
            self.options.uri or default_tracking_uri(root), root
        )

    def resolved_experiment_name(self) -> str:
        """``experiment_name``, else ``MLFLOW_EXPERIMENT_NAME``, else the package's name."""
        return (
            self.options.experiment_name
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
        import time

        run_logger = RunLogger(run, check_existing_params=True)
        started_s = get_start_time(run) / 1000
        self._times().queue_end(run_logger, time.time() - started_s)
        run_logger.flush()
        set_flush_timeout(self.options.flush_timeout)
        return close_all({run: RunEnd.now(status)}).get(run, SendReport())

    def _finish(self, status: RunStatus) -> None:
        """End the run ``status``; never raises: a failure is a warning."""
        if self._switched_off:
            set_tracking_off(False)
            self._switched_off = False
        scope = self._scope
        if scope is None:
            return
        try:
            for feature in self._features:
                feature.finish(scope, status)
            end_tracked_run(self, scope.opened, status)
            with warn_on_failure(self, "remove the values workers handed each other"):
                remove_shared(scope.opened.run)
        finally:
            self._exit_guard.disarm()
            set_current_run(self._previous_run)
            self._reset()

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


def _default_experiment_name() -> str:
    from kedro.framework.project import PACKAGE_NAME

    return PACKAGE_NAME or "Default"
