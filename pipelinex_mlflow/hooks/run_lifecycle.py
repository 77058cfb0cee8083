"""``MLflowBasicLoggerHook`` starts, tags and ends one MLflow run per Kedro run.

The hook chooses its run features (liveness, the workers' hand-over, pipeline
models, system metrics, lineage, the pipeline's structure, the run's own
records) from its options, and hands each Kedro run to the run core
(:mod:`pipelinex_mlflow.core.run_tracking`), which opens the run, loops over the features, and ends
it once.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from pipelinex_mlflow.config import MlflowConfigError
from pipelinex_mlflow.core.configurable import (
    OptionsHolder,
    configure_from_project,
    remembers_given_arguments,
    running_a_pipeline,
)
from pipelinex_mlflow.core.guard import guarded, mark_guarded
from pipelinex_mlflow.core.run_ending import end_shared_run
from pipelinex_mlflow.core.run_opening import (
    experiment_name,
    pipeline_names,
    tracking_uri,
)
from pipelinex_mlflow.core.run_tracking import RunTracking
from pipelinex_mlflow.core.workers import WorkerHandOver
from pipelinex_mlflow.features.lineage.run_feature import Lineage
from pipelinex_mlflow.features.liveness.run_feature import Liveness
from pipelinex_mlflow.features.pipeline_models.run_feature import PipelineModels
from pipelinex_mlflow.features.pipeline_structure.run_feature import PipelineStructure
from pipelinex_mlflow.features.run_records.run_feature import RunRecords, RunTimes
from pipelinex_mlflow.features.system_metrics.run_feature import SystemMetrics
from pipelinex_mlflow.masking import declare_secret_names, get_logger
from pipelinex_mlflow.options import RunOptions, as_names
from pipelinex_mlflow.tracking import (
    DEFAULT_FLUSH_TIMEOUT_S,
    DISABLE_ENV_VAR,
    MLFLOW_MAX_PARAM_LENGTH,
    SERVER_TIMEOUT_S,
    LongParamPolicy,
    RunRef,
    RunStatus,
    SendReport,
    disabled_by_environment,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Mapping, Sequence

    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from pipelinex_mlflow.core.run_features import RunFeature
    from pipelinex_mlflow.options import RunNaming


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
        run_name: str | RunNaming | None = None,
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
                ``RunNaming.PIPELINES``: the pipelines' names joined with ``+``.
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
                (:mod:`pipelinex_mlflow.features.lineage.run_feature`): one request at the end.
            log_system_metrics: Sample CPU, memory, disk, network (and GPU)
                during the run as MLflow's ``system/`` metrics
                (:mod:`pipelinex_mlflow.features.system_metrics.mlflow_side`; needs psutil).
            system_metrics_interval: Seconds between samples; six are averaged
                into each logged point, and the run's end logs the rest.
            log_pipeline_structure: Upload ``pipeline.json`` (the run's nodes
                and datasets, :mod:`pipelinex_mlflow.features.pipeline_structure.run_feature`)
                and, with matplotlib installed, ``pipeline.svg``, a picture of
                its DAG.

        Raises:
            ValueError: For an argument of the wrong kind, naming it and what it
                must be (see :class:`~pipelinex_mlflow.options.RunOptions`).
        """
        self._tracking = RunTracking(self)
        self.use(RunOptions.from_arguments(locals()))

    def use(self, options: RunOptions) -> None:
        """Take ``options``; its secret names are masked from here on."""
        self.options: RunOptions = options
        if options.secret_names:
            declare_secret_names(as_names(options.secret_names))

    @property
    def run(self) -> RunRef | None:
        """The MLflow run of the Kedro run in progress, if it is tracked."""
        return self._tracking.run

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
        # A new context is a new session: a run the last one left open ends first.
        self._tracking.end_stale_run()
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
        configuration errors stop the Kedro run here (see :mod:`pipelinex_mlflow.core.guard`); if
        starting fails otherwise, the pipeline runs untracked, with a warning.
        """
        reason = self._reason_to_switch_off(run_params)
        if reason is None:
            self._tracking.start(self.run_features, run_params, pipeline, catalog)
        else:
            self._tracking.switch_off(pipeline, catalog, run_params, reason=reason)
        try:
            result = yield
        except BaseException:
            # Kedro calls neither on_pipeline_error nor after_pipeline_run here.
            self._tracking.finish("FAILED")
            raise
        # After every hook's before_pipeline_run: what they queued is sent.
        self._tracking.before_workers()
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
            self._tracking.end_at_exit()
            raise
        except BaseException:
            self._tracking.finish("FAILED")
            raise
        self._tracking.finish("FINISHED")
        return result

    @hook_impl(wrapper=True)
    @mark_guarded
    def on_pipeline_error(self, error: BaseException) -> Generator[None, Any, Any]:
        """End the run FAILED once every other ``on_pipeline_error`` has run."""
        try:
            return (yield)
        finally:
            self._tracking.tag_error(error)
            self._tracking.finish("FAILED")

    # ----------------------------------------------------------------------------------
    # Where runs go
    # ----------------------------------------------------------------------------------
    def _reason_to_switch_off(self, run_params: Mapping[str, Any]) -> str | None:
        """Why this Kedro run is not tracked, or ``None`` when it is."""
        if not self.options.enable_mlflow:
            return "enable_mlflow=False"
        if disabled_by_environment():
            return f"{DISABLE_ENV_VAR}={os.environ.get(DISABLE_ENV_VAR)}"
        disabled = as_names(self.options.disabled_pipelines)
        names = pipeline_names(run_params)
        if disabled and set(names) <= set(disabled):
            return "disabled_pipelines lists " + ", ".join(names)
        return None

    def tracking_uri(self, project_path: str | os.PathLike[str] | None) -> str:
        """``uri``, else ``MLFLOW_TRACKING_URI``, else the project's SQLite store."""
        return tracking_uri(self.options, project_path)

    def resolved_experiment_name(self) -> str:
        """``experiment_name``, else ``MLFLOW_EXPERIMENT_NAME``, else the package's name."""
        return experiment_name(self.options)

    def end_shared_run(self, run: RunRef, status: RunStatus) -> SendReport:
        """End a run that orchestrated steps shared (``kedro mlflow end-run``).

        Logs ``__time_end`` and ``__time`` (since the run started) as this hook is
        configured to, then marks the run ended, waiting ``flush_timeout`` at most.

        Returns:
            What could not be sent (spooled or rejected), if anything.
        """
        return end_shared_run(
            run,
            status,
            queue_end=self._times().queue_end,
            flush_timeout=self.options.flush_timeout,
        )
