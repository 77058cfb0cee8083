"""``MLflowTimeLoggerHook`` logs how long each node ran, with a Gantt chart of the run."""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import threading
import time
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from kedro.framework.hooks import hook_impl

from pipelinex_mlflow.gantt import (
    PLOTLYJS_MODES,
    PlotlyJs,
    TimelineEntry,
    from_pipelinex,
    gantt_html,
    validate_gantt_params,
)
from pipelinex_mlflow.hooks._arguments import (
    check_bool,
    check_callable,
    check_choice,
    check_path,
    check_text,
)
from pipelinex_mlflow.hooks._configurable import (
    ConfigurableHook,
    remembers_given_arguments,
)
from pipelinex_mlflow.hooks._exit_guard import flush_at_exit, forget_exit_flush
from pipelinex_mlflow.hooks._guard import (
    RunFinder,
    guarded,
    mark_guarded,
    warn_on_failure,
)
from pipelinex_mlflow.hooks._node_timings import (
    DatasetEvent,
    DatasetOperation,
    NodeStatus,
    NodeTiming,
    peak_memory_mb,
    unique_task_names,
)
from pipelinex_mlflow.hooks._run_context import runner_name
from pipelinex_mlflow.hooks._run_trace import run_spans
from pipelinex_mlflow.hooks._workers import (
    TIMING_SPOOL,
    WorkerSetup,
    prepare_workers,
    worker_spool,
)
from pipelinex_mlflow.io.naming import artifacts_of_outputs, path_beside_entries
from pipelinex_mlflow.kedro_helpers import project_root
from pipelinex_mlflow.masking import get_logger, mask_json, mask_secrets
from pipelinex_mlflow.scratch import ScratchFolder, WorkerSpool
from pipelinex_mlflow.tracking import (
    RUN_KEY_ENV_VAR,
    RunLogger,
    RunRef,
    download_artifact,
    list_artifact_files,
    log_trace,
    sanitize_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Mapping
    from pathlib import Path

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

DEFAULT_METRIC_NAME_PREFIX = "_time_to_run "
CPU_METRIC_PREFIX = "_cpu_time "
MEMORY_METRIC_PREFIX = "_peak_memory_mb "
# Marks a worker's spooled dataset event among its node timings.
EVENT_MARK = "dataset_event"
# Marks a worker's record that a node started; its timing, once kept, replaces it.
STARTED_MARK = "node_started"
#: The error of a node that never finished, when the process exits mid-run.
INTERRUPTED_AT_EXIT = "interrupted: the process exited before the node finished"
#: The error of a node that never finished otherwise (its worker process died...).
NEVER_FINISHED = "interrupted: the node never finished"
GANTT_ARTIFACT = "gantt.html"
TIME_LOG_ARTIFACT = "time_log.json"
#: Where each orchestrated step of a shared run leaves its own timings.
STEP_TIMINGS_FOLDER = "time_log_steps"


logger = get_logger(__name__)


_NOT_IN_TASK_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")
_TASK_NAME_LENGTH = 50
_FUNC_NAME_LENGTH = 20


class _Started(NamedTuple):
    """When a node started, in the thread that runs it."""

    perf: float
    wall: float
    cpu: float
    thread: str
    node: Node


def default_task_name(node: Node) -> str:
    """Name a node's timing as PipelineX did: ``<function> -- <outputs>``.

    The function's name (at most 20 characters), `` -- ``, the outputs joined by
    `` - ``; other characters than letters, digits, ``_ - . /`` and space become
    spaces, and the whole is cut to 50 characters. Readable where Kedro 1.x's
    ``node.name`` is ``train_model__40daef8f``; two nodes that would share a name
    get a suffix.

    Examples:
        >>> from kedro.pipeline import node
        >>> def train_model(df): ...
        >>> default_task_name(node(train_model, "train_df", "model"))
        'train_model -- model'
    """
    func = node.func
    while isinstance(func, functools.partial):
        func = func.func  # PipelineX showed "partial"; the function reads better
    func_name = getattr(func, "__name__", None) or type(func).__name__
    task_name = f"{func_name[:_FUNC_NAME_LENGTH]} -- {' - '.join(node.outputs)}"
    return _NOT_IN_TASK_NAME.sub(" ", task_name)[:_TASK_NAME_LENGTH]


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
    (:mod:`pipelinex_mlflow.hooks._workers`). Without a project the run says once
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
                its loads and saves as child spans (see :mod:`pipelinex_mlflow.tracking.traces`).
            enable_resource_metrics: Also log each node's CPU time
                (``_cpu_time <task>``, seconds) and its process's peak memory
                (``_peak_memory_mb <task>``).

        Raises:
            ValueError: For an argument of the wrong type, or unknown or ill-typed
                ``gantt_params``.
        """
        hook = "MLflowTimeLoggerHook"
        check_path(hook, "gantt_filepath", gantt_filepath)
        check_path(hook, "time_log_filepath", time_log_filepath)
        check_text(hook, "metric_name_prefix", metric_name_prefix)
        check_callable(hook, "task_name_func", task_name_func)
        check_bool(hook, "enable_plotly", enable_plotly)
        check_choice(hook, "gantt_plotlyjs", gantt_plotlyjs, PLOTLYJS_MODES)
        self.gantt_plotlyjs: PlotlyJs = gantt_plotlyjs
        check_bool(hook, "enable_mlflow", enable_mlflow)
        check_bool(hook, "enable_trace", enable_trace)
        check_bool(hook, "enable_resource_metrics", enable_resource_metrics)
        self.enable_trace = enable_trace
        self.enable_resource_metrics = enable_resource_metrics
        self.gantt_filepath = gantt_filepath
        translated, dropped = from_pipelinex(gantt_params)
        if dropped:
            logger.warning(
                "MLflowTimeLoggerHook ignores gantt_params %s: PipelineX's "
                "create_gantt options with no meaning in this chart (one row per "
                "node, colored by worker).",
                ", ".join(dropped),
            )
        self.gantt_params = validate_gantt_params(translated)
        self.metric_name_prefix = metric_name_prefix
        self.task_name_func = task_name_func
        self.time_log_filepath = time_log_filepath
        self.enable_plotly = enable_plotly
        self.enable_mlflow = enable_mlflow
        self._find_run = RunFinder(self)
        self._spool: WorkerSpool | None = None
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._parent_pid = os.getpid()
        self._starts: dict[tuple[str, int], _Started] = {}
        self._timings: list[NodeTiming] = []
        self._io_starts: dict[tuple[str, str, DatasetOperation, int], float] = {}
        self._events: list[DatasetEvent] = []
        self._run_params: dict[str, Any] = {}
        self._active = False
        self._metrics_logged = False
        self._worker_setup: WorkerSetup | None = None
        # Where this run's time log and chart go: beside an entry that took the name.
        self._time_log_artifact = TIME_LOG_ARTIFACT
        self._gantt_artifact = GANTT_ARTIFACT
        self._find_run.reset()

    # ----------------------------------------------------------------------------------
    # Hook implementations
    # ----------------------------------------------------------------------------------
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
        self._active = True
        self._run_params = dict(run_params)
        # Interrupted runs (Ctrl-C, SIGTERM) get no pipeline hook from Kedro.
        flush_at_exit(
            self,
            lambda: self._finish(
                run_params, pipeline, succeeded=False, interrupted=True
            ),
        )
        with warn_on_failure(self, "find the artifact names datasets upload to"):
            saved = artifacts_of_outputs(pipeline, catalog)
            writer = type(self).__name__
            self._time_log_artifact = path_beside_entries(
                TIME_LOG_ARTIFACT, saved, writer
            )
            self._gantt_artifact = path_beside_entries(GANTT_ARTIFACT, saved, writer)
        with warn_on_failure(self, "prepare to time nodes"):
            self._spool = WorkerSpool("pipelinex_mlflow-timing-")
            self._worker_setup = prepare_workers(self, catalog, run_params)
            if self._worker_setup is not None:
                self._worker_setup.spools[TIMING_SPOOL] = self._spool

    @hook_impl
    @guarded("time a node")
    def before_node_run(self, node: Node) -> None:
        """Note when the node starts, per thread, since nodes may run concurrently.

        A ParallelRunner worker also leaves a record that the node started, so a
        node its run is interrupted in still shows, ``interrupted``.
        """
        started = _Started(
            time.perf_counter(),
            time.time(),
            time.thread_time(),
            threading.current_thread().name,
            node,
        )
        with warn_on_failure(self, f"time node {node.name!r}"):
            with self._lock:
                self._starts[(node.name, threading.get_ident())] = started
            spool = self._spool_in_worker()
            if spool is not None:
                timing = self._timing(
                    started, "interrupted", perf_end=started.perf, wall_end=started.wall
                )
                _put(spool, {STARTED_MARK: True, **asdict(timing)}, node.name)

    @hook_impl(wrapper=True)
    @mark_guarded
    def after_node_run(self, node: Node) -> Generator[None, Any, Any]:
        """Record the finished node's timing, before any other ``after_node_run``.

        First, because a Ctrl-C or ``SIGTERM`` while another hook's
        ``after_node_run`` works (pluggy calls the hooks registered last first:
        a project's hooks, ``MLflowCatalogLoggerHook`` logging the node's values)
        would otherwise lose the timing of a node that finished.
        """
        self._record(node, "completed")
        return (yield)

    @hook_impl(wrapper=True)
    @mark_guarded
    def on_node_error(
        self, error: BaseException, node: Node
    ) -> Generator[None, Any, Any]:
        """Record the failed node's timing (how long it ran before it raised), first."""
        self._record(node, "failed", error)
        return (yield)

    @hook_impl
    @guarded("time a dataset load")
    def before_dataset_loaded(self, dataset_name: str, node: Node) -> None:
        """Note when a node's input starts loading (a child span of the trace)."""
        self._io_started(dataset_name, node, "load")

    @hook_impl
    @guarded("time a dataset load")
    def after_dataset_loaded(self, dataset_name: str, node: Node) -> None:
        """Record a node's input load."""
        self._io_ended(dataset_name, node, "load")

    @hook_impl
    @guarded("time a dataset save")
    def before_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Note when a node's output starts saving."""
        self._io_started(dataset_name, node, "save")

    @hook_impl
    @guarded("time a dataset save")
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Record a node's output save."""
        self._io_ended(dataset_name, node, "save")

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

    # ----------------------------------------------------------------------------------
    # Recording
    # ----------------------------------------------------------------------------------
    def _record(
        self, node: Node, status: NodeStatus, error: BaseException | None = None
    ) -> None:
        perf_end, wall_end, cpu_end = (
            time.perf_counter(),
            time.time(),
            time.thread_time(),
        )
        with warn_on_failure(self, f"time node {node.name!r}"):
            key = (node.name, threading.get_ident())
            with self._lock:
                started = self._starts.get(key)
            if started is None:
                return
            # Masked where it is made: the time log, the chart and the trace all
            # show it, and an exception's text often quotes a connection string.
            text = (
                None
                if error is None
                else mask_secrets(f"{type(error).__name__}: {error}")
            )
            timing = self._timing(
                started,
                status,
                perf_end=perf_end,
                wall_end=wall_end,
                cpu_end=cpu_end,
                error=text,
            )
            self._keep(asdict(timing), timing, self._timings)
            # Forgotten only once kept: a Ctrl-C in between leaves the node twice
            # (the collection keeps its timing), never not at all.
            with self._lock:
                self._starts.pop(key, None)

    def _timing(
        self,
        started: _Started,
        status: NodeStatus,
        *,
        perf_end: float,
        wall_end: float,
        cpu_end: float | None = None,
        error: str | None = None,
    ) -> NodeTiming:
        """The node's timing; an ``interrupted`` one has no CPU or memory figures."""
        node = started.node
        finished = status != "interrupted" and cpu_end is not None
        return NodeTiming(
            node=node.name,
            task=str(self.task_name_func(node)),
            start=started.wall,
            end=wall_end,
            duration=perf_end - started.perf,
            status=status,
            pid=os.getpid(),
            thread=started.thread,
            inputs=tuple(node.inputs),
            outputs=tuple(node.outputs),
            error=error,
            cpu_s=cpu_end - started.cpu if finished and cpu_end is not None else None,
            peak_memory_mb=peak_memory_mb() if finished else None,
        )

    def _spool_in_worker(self) -> WorkerSpool | None:
        """In a ParallelRunner worker, the main process's spool; else ``None``."""
        # A spawned worker's hook is new there: the main process's spool is
        # handed to the worker, not to the hook.
        spool = self._spool if self._spool is not None else worker_spool(TIMING_SPOOL)
        return spool if spool is not None and spool.in_worker() else None

    def _keep(self, record: dict[str, Any], item: Any, here: list[Any]) -> None:
        """Keep a record here, or in the spool the main process collects from workers."""
        spool = self._spool_in_worker()
        if spool is not None:
            _put(spool, record, str(record.get("node")))
        else:
            with self._lock:
                here.append(item)

    def _io_started(
        self, dataset: str, node: Node, operation: DatasetOperation
    ) -> None:
        if not self.enable_trace:
            return
        key = (dataset, node.name, operation, threading.get_ident())
        with self._lock:
            self._io_starts[key] = time.time()

    def _io_ended(self, dataset: str, node: Node, operation: DatasetOperation) -> None:
        if not self.enable_trace:
            return
        end = time.time()
        with warn_on_failure(self, f"time the {operation} of {dataset!r}"):
            key = (dataset, node.name, operation, threading.get_ident())
            with self._lock:
                start = self._io_starts.pop(key, None)
            if start is None:
                return
            event = DatasetEvent(node.name, dataset, operation, start, end, os.getpid())
            self._keep({EVENT_MARK: True, **asdict(event)}, event, self._events)

    def _collect(
        self, *, at_exit: bool = False
    ) -> tuple[list[NodeTiming], list[DatasetEvent]]:
        """Every timing and load or save of the run, this process's and its workers'.

        A node, load or save that started and never finished is ``interrupted``,
        ending now.
        """
        perf_now, wall_now = time.perf_counter(), time.time()
        reason = INTERRUPTED_AT_EXIT if at_exit else NEVER_FINISHED
        with self._lock:
            timings, events = list(self._timings), list(self._events)
            starts = list(self._starts.values())
            io_starts = list(self._io_starts.items())
        timings += [
            self._timing(
                s, "interrupted", perf_end=perf_now, wall_end=wall_now, error=reason
            )
            for s in starts
        ]
        events += [
            DatasetEvent(node, dataset, operation, start, wall_now, os.getpid(), True)
            for (dataset, node, operation, _), start in io_starts
        ]
        for record in self._spool.records() if self._spool is not None else []:
            try:
                if record.pop(EVENT_MARK, False):
                    events.append(DatasetEvent(**record))
                elif record.pop(STARTED_MARK, False):
                    timing = NodeTiming.from_record(record)
                    end = max(wall_now, timing.start)
                    timings.append(
                        replace(
                            timing, end=end, duration=end - timing.start, error=reason
                        )
                    )
                else:
                    timings.append(NodeTiming.from_record(record))
            except TypeError as exc:
                logger.debug("Skipping a malformed timing record %s: %s", record, exc)
        timings = _finished_over_started(timings)
        timings.sort(key=lambda timing: (timing.start, timing.node))
        return timings, events

    # ----------------------------------------------------------------------------------
    # Reporting
    # ----------------------------------------------------------------------------------
    def _finish(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        *,
        succeeded: bool,
        interrupted: bool = False,
    ) -> None:
        if not self._active:
            forget_exit_flush(self)
            return
        with warn_on_failure(self, "collect the node timings"):
            timings, events = self._collect(at_exit=interrupted)
            if timings:
                run = self._find_run() if self.enable_mlflow else None
                self._report(timings, run_params.get("project_path"), run)
                if run is not None and self.enable_trace:
                    self._log_trace(
                        run,
                        timings,
                        events,
                        succeeded=succeeded,
                        interrupted=interrupted,
                    )
            else:
                self._say_why_none(run_params, pipeline, succeeded=succeeded)
        # Only once done: a Ctrl-C meanwhile (drawing the chart, say) leaves it
        # all, the workers' records too, to the flush at exit.
        self._active = False
        forget_exit_flush(self)
        self._remove_spool()

    def _say_why_none(
        self, run_params: dict[str, Any], pipeline: Pipeline, *, succeeded: bool
    ) -> None:
        """Say why a run that succeeded has no timing, unless it was said already."""
        setup = self._worker_setup
        if not succeeded or not pipeline.nodes or (setup is not None and setup.warned):
            return
        from kedro.framework.project import settings

        nodes = len(pipeline.nodes)
        if setup is not None and not any(hook is self for hook in settings.HOOKS):
            # The case it is meant for: a ParallelRunner's workers register only
            # settings.HOOKS, so this instance's node hooks never ran anywhere.
            logger.warning(
                "MLflowTimeLoggerHook timed none of the %d nodes: Kedro called none "
                "of its node hooks. ParallelRunner's workers run the hooks of the "
                "project's settings.HOOKS only: register it there.",
                nodes,
            )
        elif run_params.get("only_missing_outputs"):
            # Its node hooks reach it: no node ran.
            logger.info(
                "MLflowTimeLoggerHook timed no node: Kedro ran none of the %d nodes "
                "(--only-missing-outputs: every persisted output exists).",
                nodes,
            )
        else:
            logger.warning(
                "MLflowTimeLoggerHook timed none of the %d nodes: %s called none of "
                "its node hooks.",
                nodes,
                runner_name(run_params),
            )

    def _log_trace(
        self,
        run: RunRef,
        timings: list[NodeTiming],
        events: list[DatasetEvent],
        *,
        succeeded: bool,
        interrupted: bool,
    ) -> None:
        with warn_on_failure(self, "log the run's trace"):
            spans = run_spans(
                timings,
                events,
                self._run_params,
                self._parent_pid,
                succeeded=succeeded,
                interrupted=interrupted,
            )
            trace_id = log_trace(run, spans)
            logger.info(
                "Logged the run as MLflow trace %s (%d spans)", trace_id, len(spans)
            )

    def _report(
        self,
        timings: list[NodeTiming],
        project_path: str | None,
        run: RunRef | None,
    ) -> None:
        own = timings
        shared = run is not None and bool(os.environ.get(RUN_KEY_ENV_VAR))
        if shared and run is not None:
            # Orchestrated steps share the run: the chart shows every step so far.
            with warn_on_failure(self, "read the timings of the run's other steps"):
                timings = _merged(own, self._step_timings(run))
        tasks = unique_task_names(timings)
        if run is not None and not self._metrics_logged:
            with warn_on_failure(self, "log the node timings"):
                # Queued before the chart is drawn: at exit, a second Ctrl-C
                # while it is drawn exits at once, and the figures may be sent.
                self._log_metrics(run, timings, tasks, own)
            # Once: a Ctrl-C after this leaves the rest to the flush at exit.
            self._metrics_logged = True
        time_log, html = self._render(timings, tasks)
        root = project_root(project_path)
        if self.time_log_filepath is not None:
            with warn_on_failure(self, "write the local time log"):
                _write(root / self.time_log_filepath, time_log)
        if self.gantt_filepath is not None and html is not None:
            with warn_on_failure(self, "write the local Gantt chart"):
                _write(root / self.gantt_filepath, html)
        if run is None:
            return
        with warn_on_failure(self, "log the time log and the Gantt chart"):
            run_logger = RunLogger(run)
            if shared and own:
                run_logger.log_text(
                    json.dumps(mask_json([asdict(t) for t in own])),
                    f"{STEP_TIMINGS_FOLDER}/{_step_name(own)}.json",
                )
            run_logger.log_text(time_log, self._time_log_artifact)
            if html is not None:
                run_logger.log_text(html, self._gantt_artifact)
            run_logger.flush()

    def _log_metrics(
        self,
        run: RunRef,
        timings: list[NodeTiming],
        tasks: list[str],
        own: list[NodeTiming],
    ) -> None:
        """Log this step's finished nodes' metrics, before the chart is drawn."""
        mine = set(map(id, own))
        metrics = {}
        finished = 0
        for timing, task in zip(timings, tasks, strict=True):
            # An interrupted node's time so far is not its time to run.
            if id(timing) not in mine or timing.status == "interrupted":
                continue
            finished += 1
            metrics[sanitize_key(self.metric_name_prefix + task)] = timing.duration
            if self.enable_resource_metrics:
                metrics.update(_resource_metrics(timing, task))
        run_logger = RunLogger(run)
        run_logger.log_metrics(metrics)
        run_logger.flush()
        logger.info(
            "Logged the timings of %d nodes to MLflow run %s", finished, run.run_id
        )

    def rebuild_timeline(self, run: RunRef) -> int:
        """Log the time log and Gantt chart of every step of a shared run again.

        ``kedro mlflow end-run`` calls it, so steps that ran at the same time are
        all on the chart even if each drew it before the other's timings landed.

        Returns:
            How many node timings the chart shows.
        """
        timings = sorted(self._step_timings(run), key=lambda t: (t.start, t.node))
        if not timings:
            return 0
        time_log, html = self._render(timings, unique_task_names(timings))
        run_logger = RunLogger(run)
        run_logger.log_text(time_log, TIME_LOG_ARTIFACT)
        if html is not None:
            run_logger.log_text(html, GANTT_ARTIFACT)
        run_logger.flush()
        return len(timings)

    def _render(
        self, timings: list[NodeTiming], tasks: list[str]
    ) -> tuple[str, str | None]:
        """The time log's text and the Gantt page (``None`` if not drawn)."""
        entries = [t.as_log_entry(task) for t, task in zip(timings, tasks, strict=True)]
        # Another step's timings come from the store: masked again, never trusted.
        time_log = json.dumps(mask_json({"nodes": entries}), indent=2)
        html = None
        if self.enable_plotly:
            with warn_on_failure(self, "draw the Gantt chart"):
                html = gantt_html(
                    self._timeline(timings, tasks),
                    mask_json(self.gantt_params),  # its title is on the page
                    self.gantt_plotlyjs,
                )
        return time_log, html

    def _step_timings(self, run: RunRef) -> list[NodeTiming]:
        """The timings other steps of a shared run left in ``time_log_steps/``."""
        folder = ScratchFolder("pipelinex_mlflow-steps-")
        try:
            timings = []
            for path in list_artifact_files(run, STEP_TIMINGS_FOLDER):
                local = download_artifact(run, path, folder.path)
                for record in json.loads(local.read_text(encoding="utf-8")):
                    try:
                        timings.append(NodeTiming.from_record(record))
                    except TypeError as exc:
                        logger.debug("Skipping a malformed timing %s: %s", record, exc)
            return timings
        finally:
            folder.remove()

    def _timeline(
        self, timings: list[NodeTiming], tasks: list[str]
    ) -> list[TimelineEntry]:
        # The page is uploaded as it is drawn: its texts pass the masking rule here
        # (gantt.py is independent of it).
        return [
            TimelineEntry(
                task=mask_secrets(task),
                start=timing.start,
                end=timing.end,
                worker=mask_secrets(timing.thread)
                if timing.pid == self._parent_pid
                else f"process {timing.pid}",
                failed=timing.status != "completed",
                duration=timing.duration,
                status=timing.status,
            )
            for timing, task in zip(timings, tasks, strict=True)
        ]

    def _remove_spool(self) -> None:
        if self._spool is not None:
            self._spool.remove()
            self._spool = None


def _resource_metrics(timing: NodeTiming, task: str) -> dict[str, float]:
    found = {}
    if timing.cpu_s is not None:
        found[sanitize_key(CPU_METRIC_PREFIX + task)] = timing.cpu_s
    if timing.peak_memory_mb is not None:
        found[sanitize_key(MEMORY_METRIC_PREFIX + task)] = timing.peak_memory_mb
    return found


def _put(spool: WorkerSpool, record: dict[str, Any], node: str) -> None:
    """Leave a worker's record for the main process, unless its run has ended."""
    try:
        spool.put(record)
    except FileNotFoundError:
        if spool.exists:
            raise
        # The main process ended the run and removed the folder: it exited
        # mid-run (a second Ctrl-C) while this worker still ran the node.
        logger.warning(
            "MLflowTimeLoggerHook: node %r ran on in worker process %d after its "
            "MLflow run ended (the main process exited mid-run); this is not "
            "recorded.",
            node,
            os.getpid(),
        )


def _finished_over_started(timings: list[NodeTiming]) -> list[NodeTiming]:
    """Each node run once: its timing rather than its ``interrupted`` start record."""
    kept: dict[tuple[str, int, float], NodeTiming] = {}
    for timing in timings:
        key = (timing.node, timing.pid, timing.start)
        if key not in kept or kept[key].status == "interrupted":
            kept[key] = timing
    return list(kept.values())


def _step_name(timings: list[NodeTiming]) -> str:
    """A name for one step's timings, unique across the processes of a run."""
    first = min(timings, key=lambda t: t.start)
    return f"{socket.gethostname()}-{first.pid}-{int(first.start * 1000)}"


def _merged(own: list[NodeTiming], others: list[NodeTiming]) -> list[NodeTiming]:
    """This step's timings and the other steps', each once, in start order."""
    seen = {(t.node, t.pid, t.start) for t in own}
    rest = [t for t in others if (t.node, t.pid, t.start) not in seen]
    return sorted([*own, *rest], key=lambda t: (t.start, t.node))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    logger.debug("Wrote %s", path)
