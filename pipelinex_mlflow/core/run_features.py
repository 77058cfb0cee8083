"""What a run feature is: one thing a tracked Kedro run records, with one small interface.

``MLflowBasicLoggerHook`` opens the MLflow run, then hands each of its run
features the same :class:`RunScope`: the opened run, the run's buffered logger,
the pipeline, the catalog and Kedro's ``run_params``. A feature is called four
times at most, in the order of the hook's feature list:

1. :meth:`RunFeature.prepare`, before the MLflow run exists: the one place a
   feature may refuse the run, with one of the package's configuration errors
   (a catalog it cannot track), so that no run is left behind;
2. :meth:`RunFeature.start`, once the run is open and before any node runs;
3. :meth:`RunFeature.before_workers`, after every hook's
   ``before_pipeline_run``, before a ParallelRunner starts its workers;
4. :meth:`RunFeature.finish`, when the Kedro run ends (``FINISHED``,
   ``FAILED`` or ``KILLED``), before the run's buffered values are sent and the
   run is ended.

Each feature warns for itself, through
:func:`~pipelinex_mlflow.tracking.first_rule.warn_on_failure` with the hook as
owner, so a failing feature costs only what it records. A new run feature is one
class with these methods and one line in the hook's list.

``MLflowTimeLoggerHook`` is the same loop over :class:`TimelineFeature` s (the
node metrics, the Gantt chart, the trace). Its features never see a node: the
hook records every node and dataset event once (:mod:`pipelinex_mlflow.hooks._node_recorder`, which
also collects them from ParallelRunner's workers), and hands each feature the
finished :class:`RunTimeline`. A feature is called twice at most:
:meth:`TimelineFeature.start` when the pipeline starts, and
:meth:`TimelineFeature.finish` when it ends, fails, or the process exits mid-run
(then a second time if a Ctrl-C stopped the first).

Examples:
    >>> class Hello(RunFeature):
    ...     def start(self, scope: RunScope) -> None:
    ...         scope.logger.set_tags({"hello": "world"})
    >>> Hello().finish  # doctest: +ELLIPSIS
    <bound method RunFeature.finish of <...Hello object at ...>>
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from pipelinex_mlflow.core.node_timings import DatasetEvent, NodeTiming
    from pipelinex_mlflow.core.run_opening import OpenedRun
    from pipelinex_mlflow.tracking import RunLogger, RunRef, RunStatus


@dataclass(frozen=True)
class RunScope:
    """One tracked Kedro run, as every run feature sees it.

    Attributes:
        owner: The hook the features work for, named in their warnings.
        opened: The MLflow run, its experiment and its mode.
        logger: The run's buffered logger: what features queue is sent in one
            batch after all of them have started, and again when the run ends.
        pipeline: The pipeline Kedro runs (with the run's filters applied).
        catalog: The run's catalog.
        run_params: Kedro's ``run_params``.
    """

    owner: object
    opened: OpenedRun
    logger: RunLogger
    pipeline: Pipeline
    catalog: CatalogProtocol[Any, Any]
    run_params: dict[str, Any]


class RunFeature:
    """One thing a tracked run records; each step does nothing unless overridden."""

    def prepare(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
        run_params: Mapping[str, Any],
    ) -> None:
        """Check what must hold before the MLflow run is created.

        Raises:
            TrackingError: Or another of the package's configuration errors,
                which stop the Kedro run before any node runs.
        """

    def start(self, scope: RunScope) -> None:
        """Record what the run's start knows; queue values on ``scope.logger``."""

    def before_workers(self, scope: RunScope) -> None:
        """Hand over to ParallelRunner's workers, before they start."""

    def finish(self, scope: RunScope, status: RunStatus) -> None:
        """Record what the run's end knows, before the run is ended ``status``."""


@dataclass(frozen=True)
class RunTimeline:
    """One Kedro run's node timings, as every timeline feature sees them at its end.

    Attributes:
        owner: The hook the features work for, named in their warnings.
        run: The MLflow run to log to; ``None`` when nothing goes to MLflow
            (``enable_mlflow=False``, or no run was started).
        own: The timings this process recorded (its workers' included), in
            start order.
        timings: What the time log and the chart show: ``own`` and, in a run
            that orchestrated steps share, the other steps' so far, in start order.
        tasks: The task name of each of ``timings``, a valid MLflow key unique
            in the run.
        events: The loads and saves of ``own``'s nodes (recorded only when a
            feature reads them).
        run_params: Kedro's ``run_params``.
        main_pid: The process that ran the pipeline: its nodes ran in a thread
            of it, the others in a worker process.
        shared: Orchestrated steps share the run (``timings`` holds theirs).
        succeeded: The pipeline succeeded.
        interrupted: The process is exiting mid-run (Ctrl-C, ``SIGTERM``).
    """

    owner: object
    run: RunRef | None
    own: list[NodeTiming]
    timings: list[NodeTiming]
    tasks: list[str]
    events: list[DatasetEvent]
    run_params: Mapping[str, Any]
    main_pid: int
    shared: bool = False
    succeeded: bool = True
    interrupted: bool = False

    def own_tasks(self) -> Iterator[tuple[NodeTiming, str]]:
        """Each of this process's timings with its task name, in start order."""
        mine = set(map(id, self.own))
        for timing, task in zip(self.timings, self.tasks, strict=True):
            if id(timing) in mine:
                yield timing, task


class TimelineFeature:
    """One thing a run records from its node timings; each step does nothing unless overridden."""

    #: Whether :meth:`finish` reads ``RunTimeline.events``: loads and saves are
    #: recorded only if a feature does.
    reads_dataset_events: ClassVar[bool] = False

    def start(
        self, owner: object, pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]
    ) -> None:
        """Prepare as the pipeline starts, before any node runs; warn as ``owner``."""

    def finish(self, timeline: RunTimeline) -> None:
        """Record the run's timings, once its nodes have run (or never will)."""
