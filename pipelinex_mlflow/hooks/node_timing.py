"""``MLflowTimeLoggerHook`` logs how long each node ran, with a Gantt chart of the run.

The hook is a short loop, as ``MLflowBasicLoggerHook`` is. Each Kedro run gets a
fresh :class:`~._timed_run.TimedRun`: its :class:`~._node_recorder.NodeRecorder`
records every node and its loads and saves (in ParallelRunner's workers too),
and when the pipeline ends the run's timeline features
(:class:`~._run_features.TimelineFeature`) each record one thing from its
:class:`~._run_features.RunTimeline`: the timing metrics
(:mod:`pipelinex_mlflow.features.timing_metrics`), the resource metrics (:mod:`pipelinex_mlflow.features.resource_metrics`), the
time log and the Gantt chart with their local copies (:mod:`pipelinex_mlflow.features.gantt_chart`),
and the trace (:mod:`pipelinex_mlflow.features.trace`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from pipelinex_mlflow.core.configurable import (
    ConfigurableHook,
    remembers_given_arguments,
)
from pipelinex_mlflow.core.exit_guard import flush_at_exit, forget_exit_flush
from pipelinex_mlflow.core.guard import (
    RunFinder,
    guarded,
    mark_guarded,
    warn_on_failure,
)
from pipelinex_mlflow.features.gantt_chart.run_feature import (
    GANTT_ARTIFACT,
    TIME_LOG_ARTIFACT,
    GanttChart,
)
from pipelinex_mlflow.features.resource_metrics.run_feature import ResourceMetrics
from pipelinex_mlflow.features.timing_metrics.run_feature import TimingMetrics
from pipelinex_mlflow.features.trace.run_feature import RunTrace
from pipelinex_mlflow.gantt import PlotlyJs, from_pipelinex, validate_gantt_params
from pipelinex_mlflow.hooks._timed_run import TimedRun
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.options.timing import (
    DEFAULT_METRIC_NAME_PREFIX,
    TimingOptions,
    default_task_name,
)
from pipelinex_mlflow.scratch import WorkerSpool

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Generator, Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

    from pipelinex_mlflow.core.run_features import TimelineFeature
    from pipelinex_mlflow.tracking import RunRef

__all__ = [
    "DEFAULT_METRIC_NAME_PREFIX",
    "GANTT_ARTIFACT",
    "TIME_LOG_ARTIFACT",
    "MLflowTimeLoggerHook",
    "default_task_name",
]

logger = get_logger(__name__)


class MLflowTimeLoggerHook(ConfigurableHook):
    """Logs how long each node ran, with a Gantt chart of the run, to MLflow.

    It logs to the run of ``MLflowBasicLoggerHook``, which must be registered too:

    - a metric ``<metric_name_prefix><task name>`` per node: its duration in
      seconds (``time.perf_counter``, from ``before_node_run`` to
      ``after_node_run``, so the node's function without loading its inputs or
      saving its outputs), failed nodes included; the task name is
      ``task_name_func(node)``, by default PipelineX's ``<function> -- <outputs>``
      (:func:`default_task_name`);
    - the artifact ``time_log.json``: ``{"nodes": [...]}``, one entry per node
      with ``node``, ``task``, ``start``/``end`` (ISO 8601, UTC),
      ``duration_s``, ``status`` (``completed``/``failed``, or ``interrupted``
      for a node that never finished: no metric then), ``pid`` and ``thread``,
      in start order;
    - the artifact ``gantt.html``: a plotly Gantt chart, one bar per node on a
      time axis (local time), colored by the thread or process that ran it. The
      page inlines plotly.js's partial bundle (1.2 MB), so the MLflow UI shows
      it offline (``gantt_plotlyjs``: ``full`` or ``cdn`` otherwise).

    Everything is sent once, when the pipeline ends or fails, or when the
    process exits mid-run (Ctrl-C, ``SIGTERM``): then the nodes that finished
    have their timings, and those running are ``interrupted``. Timings are
    complete under ``SequentialRunner``, ``ThreadRunner`` and ``ParallelRunner``:
    its workers leave their timings in a per-run temporary folder that the main
    process collects. Workers started with ``spawn`` or ``forkserver`` (macOS,
    Windows, Linux from Python 3.14) run node hooks only in a Kedro project
    (``kedro run``, or ``KedroSession`` after ``bootstrap_project``): the hook
    configures the project there, which Kedro 1.7 misses
    (:mod:`pipelinex_mlflow.core.workers`). Without a project the run says once
    that its timings are missing.

    Examples:
        In ``settings.py``:

        .. code-block:: python

            from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowTimeLoggerHook

            HOOKS = (
                MLflowBasicLoggerHook(experiment_name="my_experiment"),
                MLflowTimeLoggerHook(gantt_params={"title": "Training", "height": 600}),
            )

        >>> hook = MLflowTimeLoggerHook(metric_name_prefix="time/")
        >>> hook.metric_name_prefix
        'time/'
    """

    Options = TimingOptions
    DERIVED = frozenset({"gantt_params"})

    @remembers_given_arguments
    def __init__(  # noqa: PLR0917 - PipelineX's signature, kept for its users
        self,
        gantt_filepath: str | os.PathLike[str] | None = None,
        gantt_params: Mapping[str, Any] | None = None,
        metric_name_prefix: str = DEFAULT_METRIC_NAME_PREFIX,
        task_name_func: Callable[[Node], str] = default_task_name,
        time_log_filepath: str | os.PathLike[str] | None = None,
        enable_plotly: bool = True,
        enable_mlflow: bool = True,
        *,
        gantt_plotlyjs: PlotlyJs = "basic",
        enable_trace: bool = True,
        enable_resource_metrics: bool = True,
    ) -> None:
        """Configure what is logged and which local copies are written.

        Args:
            gantt_filepath: Also write the Gantt chart to this local HTML file
                (relative paths are taken from the project root). ``None``
                writes no local copy.
            gantt_params: Styling of the chart: ``title`` (default "Kedro node
                timeline"), ``height`` and ``width`` (pixels; the height grows
                with the number of nodes by default), ``colors`` (CSS colors
                cycled over the workers), ``bar_width`` and ``layout`` (further
                plotly layout properties, applied last). PipelineX's
                ``create_gantt`` options are translated where they mean
                something (``showgrid_x``, ``showgrid_y``, ``show_colorbar``)
                and otherwise ignored with one warning.
            metric_name_prefix: Put in front of each task name to make the metric
                name; PipelineX's ``"_time_to_run "`` by default.
            task_name_func: Turns a Kedro node into its task name. Its result is
                made a valid MLflow key, and a suffix is added where two nodes'
                names would clash.
            time_log_filepath: Also write the time log to this local JSON file.
            enable_plotly: Draw the Gantt chart.
            enable_mlflow: Log to MLflow; with ``False`` only the local copies
                are written.
            gantt_plotlyjs: How the chart's page gets plotly.js: ``basic`` (the
                default) inlines its 1.2 MB bundle of the trace types the chart
                uses, ``full`` the whole 4.8 MB, both rendering offline; ``cdn``
                loads it from the internet (a 10 KB page).
            enable_trace: Also log the run as one MLflow trace: a span per node,
                its loads and saves as child spans (see :mod:`pipelinex_mlflow.features.trace.mlflow_side`).
            enable_resource_metrics: Also log each node's CPU time
                (``_cpu_time <task>``, seconds) and its process's peak memory
                (``_peak_memory_mb <task>``).

        Raises:
            ValueError: For an argument of the wrong type, or unknown or ill-typed
                ``gantt_params``.
        """
        self._find_run = RunFinder(self)
        self._spool: WorkerSpool | None = None
        self.use(TimingOptions.from_arguments(locals()))

    def use(self, options: TimingOptions) -> None:
        """Take ``options``; PipelineX's ``gantt_params`` are translated and checked.

        Raises:
            ValueError: For unknown or ill-typed ``gantt_params``.
        """
        translated, dropped = from_pipelinex(options.gantt_params)
        if dropped:
            logger.warning(
                "MLflowTimeLoggerHook ignores gantt_params %s: PipelineX's "
                "create_gantt options with no meaning in this chart (one row per "
                "node, colored by worker).",
                ", ".join(dropped),
            )
        self.gantt_params = validate_gantt_params(translated)
        self.options: TimingOptions = options
        self._reset()

    def _reset(self) -> None:
        """Make the state of one Kedro run afresh: service mode shares one hook."""
        self._timed = TimedRun(
            self, self.timeline_features(), self.options.task_name_func
        )
        self._find_run.reset()

    def timeline_features(self) -> list[TimelineFeature]:
        """This hook's features for one Kedro run, in the order they are called.

        The metrics come first: a Ctrl-C while the chart is drawn leaves them sent.
        """
        features: list[TimelineFeature] = [
            TimingMetrics(self.options.metric_name_prefix)
        ]
        if self.options.enable_resource_metrics:
            features.append(ResourceMetrics())
        features.append(_gantt_chart(self))
        if self.options.enable_trace:
            features.append(RunTrace())
        return features

    @hook_impl
    @guarded("prepare to time nodes")
    def before_pipeline_run(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
    ) -> None:
        """Start a fresh record, with a folder where worker processes leave theirs."""
        self._remove_spool()
        self._reset()
        self._timed.active = True
        # Interrupted runs (Ctrl-C, SIGTERM) get no pipeline hook from Kedro.
        flush_at_exit(
            self,
            lambda: self._finish(
                run_params, pipeline, succeeded=False, interrupted=True
            ),
        )
        for feature in self._timed.features:
            feature.start(self, pipeline, catalog)
        with warn_on_failure(self, "prepare to time nodes"):
            self._spool = WorkerSpool("pipelinex_mlflow-timing-")
            self._timed.hand_to_workers(self._spool, catalog, run_params)

    @hook_impl
    @guarded("time a node")
    def before_node_run(self, node: Node) -> None:
        """Note when the node starts, per thread, since nodes may run concurrently.

        A ParallelRunner worker also leaves a record that the node started, so a
        node its run is interrupted in still shows, ``interrupted``.
        """
        self._timed.recorder.node_started(node)

    @hook_impl(wrapper=True)
    @mark_guarded
    def after_node_run(self, node: Node) -> Generator[None, Any, Any]:
        """Record the finished node's timing, before any other ``after_node_run``.

        First, because a Ctrl-C or ``SIGTERM`` while another hook's
        ``after_node_run`` works (pluggy calls the hooks registered last first:
        a project's hooks, ``MLflowCatalogLoggerHook`` logging the node's values)
        would otherwise lose the timing of a node that finished.
        """
        self._timed.recorder.node_ended(node, "completed")
        return (yield)

    @hook_impl(wrapper=True)
    @mark_guarded
    def on_node_error(
        self, error: BaseException, node: Node
    ) -> Generator[None, Any, Any]:
        """Record the failed node's timing (how long it ran before it raised), first."""
        self._timed.recorder.node_ended(node, "failed", error)
        return (yield)

    @hook_impl
    @guarded("time a dataset load")
    def before_dataset_loaded(self, dataset_name: str, node: Node) -> None:
        """Note when a node's input starts loading (a child span of the trace)."""
        self._timed.recorder.dataset_started(dataset_name, node, "load")

    @hook_impl
    @guarded("time a dataset load")
    def after_dataset_loaded(self, dataset_name: str, node: Node) -> None:
        """Record a node's input load."""
        self._timed.recorder.dataset_ended(dataset_name, node, "load")

    @hook_impl
    @guarded("time a dataset save")
    def before_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Note when a node's output starts saving."""
        self._timed.recorder.dataset_started(dataset_name, node, "save")

    @hook_impl
    @guarded("time a dataset save")
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Record a node's output save."""
        self._timed.recorder.dataset_ended(dataset_name, node, "save")

    @hook_impl
    @guarded("log the node timings")
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline
    ) -> None:
        """Log every timing, the time log and the Gantt chart at once."""
        self._finish(run_params, pipeline, succeeded=True)

    @hook_impl
    @guarded("log the node timings")
    def on_pipeline_error(self, run_params: dict[str, Any], pipeline: Pipeline) -> None:
        """Log the timings of the nodes that ran before the pipeline failed."""
        self._finish(run_params, pipeline, succeeded=False)

    def _finish(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        *,
        succeeded: bool,
        interrupted: bool = False,
    ) -> None:
        if not self._timed.active:
            forget_exit_flush(self)
            return
        with warn_on_failure(self, "collect the node timings"):
            self._timed.report(
                self._run_to_log,
                run_params,
                pipeline,
                succeeded=succeeded,
                interrupted=interrupted,
            )
        # Only once done: a Ctrl-C meanwhile (drawing the chart, say) leaves it
        # all, the workers' records too, to the flush at exit.
        self._timed.active = False
        forget_exit_flush(self)
        self._remove_spool()

    def _run_to_log(self) -> RunRef | None:
        """The run ``MLflowBasicLoggerHook`` started, unless MLflow is off for this hook."""
        return self._find_run() if self.options.enable_mlflow else None

    def rebuild_timeline(self, run: RunRef) -> int:
        """Log the time log and Gantt chart of every step of a shared run again.

        ``kedro mlflow end-run`` calls it, so steps that ran at the same time are
        all on the chart even if each drew it before the other's timings landed.

        Returns:
            How many node timings the chart shows.
        """
        return _gantt_chart(self).rebuild(self, run)

    def _remove_spool(self) -> None:
        if self._spool is not None:
            self._spool.remove()
            self._spool = None


def _gantt_chart(hook: MLflowTimeLoggerHook) -> GanttChart:
    """The hook's time log and chart, as its options say."""
    return GanttChart(
        hook.gantt_params,
        hook.options.gantt_plotlyjs,
        draw=hook.options.enable_plotly,
        gantt_filepath=hook.options.gantt_filepath,
        time_log_filepath=hook.options.time_log_filepath,
    )
