"""One Kedro run as ``MLflowTimeLoggerHook`` times it: its recorder, its features, its end.

The hook makes a :class:`TimedRun` afresh for each Kedro run (Kedro's service
mode shares one hook across runs). When the pipeline ends, fails, or the
process exits mid-run, :meth:`TimedRun.report` collects what the recorder holds
(its workers' records too), adds, in a run orchestrated steps share, the other
steps' timings, names each node once, and hands that
:class:`~._run_features.RunTimeline` to each feature in turn; or, when no node
was timed, says why.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.core.node_timings import unique_task_names
from pipelinex_mlflow.core.run_context import runner_name
from pipelinex_mlflow.core.run_features import RunTimeline, TimelineFeature
from pipelinex_mlflow.core.step_timings import merged, step_timings
from pipelinex_mlflow.core.workers import TIMING_SPOOL, WorkerSetup, prepare_workers
from pipelinex_mlflow.hooks._node_recorder import NodeRecorder
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking import RUN_KEY_ENV_VAR
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

    from pipelinex_mlflow.core.node_timings import NodeTiming
    from pipelinex_mlflow.scratch import WorkerSpool
    from pipelinex_mlflow.tracking import RunRef

logger = get_logger(__name__)


class TimedRun:
    """The state of one timed Kedro run.

    Args:
        owner: The hook timing it, named in warnings.
        features: What the run records from its timings, in order.
        task_name: Turns a node into its task name (``task_name_func``).

    Attributes:
        recorder: Where every node and dataset event goes.
        features: ``features``.
        active: The pipeline started and its timings are not reported yet.
        worker_setup: The run's ParallelRunner worker setup, if any.

    Examples:
        >>> timed = TimedRun(object(), [], lambda node: node.name)
        >>> timed.active, timed.worker_setup
        (False, None)
    """

    def __init__(
        self,
        owner: object,
        features: list[TimelineFeature],
        task_name: Callable[[Node], str],
    ) -> None:
        self.features = features
        self.recorder = NodeRecorder(
            owner,
            task_name,
            datasets=any(feature.reads_dataset_events for feature in features),
        )
        self.active = False
        self.worker_setup: WorkerSetup | None = None
        self._owner = owner

    def hand_to_workers(
        self,
        spool: WorkerSpool,
        catalog: CatalogProtocol[Any, Any],
        run_params: Mapping[str, Any],
    ) -> None:
        """Have ParallelRunner's workers leave their records in ``spool``."""
        self.recorder.spool = spool
        self.worker_setup = prepare_workers(self._owner, catalog, run_params)
        if self.worker_setup is not None:
            self.worker_setup.spools[TIMING_SPOOL] = spool

    def report(
        self,
        find_run: Callable[[], RunRef | None],
        run_params: dict[str, Any],
        pipeline: Pipeline,
        *,
        succeeded: bool,
        interrupted: bool = False,
    ) -> None:
        """Hand the run's timeline to each feature, or say why no node was timed.

        Args:
            find_run: Finds the MLflow run to log to (``None``: none), asked only
                when a node was timed.
            run_params: Kedro's ``run_params``.
            pipeline: The pipeline that ran.
            succeeded: The pipeline succeeded.
            interrupted: The process is exiting mid-run.
        """
        own, events = self.recorder.collect(at_exit=interrupted)
        if not own:
            _say_why_none(
                self._owner, self.worker_setup, run_params, pipeline, succeeded
            )
            return
        run = find_run()
        timings, shared = self._with_other_steps(run, own)
        timeline = RunTimeline(
            owner=self._owner,
            run=run,
            own=own,
            timings=timings,
            tasks=unique_task_names(timings),
            events=events,
            run_params=run_params,
            main_pid=self.recorder.main_pid,
            shared=shared,
            succeeded=succeeded,
            interrupted=interrupted,
        )
        for feature in self.features:
            feature.finish(timeline)

    def _with_other_steps(
        self, run: RunRef | None, own: list[NodeTiming]
    ) -> tuple[list[NodeTiming], bool]:
        """``own`` and, if orchestrated steps share the run, theirs; whether they do."""
        shared = run is not None and bool(os.environ.get(RUN_KEY_ENV_VAR))
        if shared and run is not None:
            # Orchestrated steps share the run: the chart shows every step so far.
            with warn_on_failure(
                self._owner, "read the timings of the run's other steps"
            ):
                return merged(own, step_timings(run)), shared
        return own, shared


def _say_why_none(
    owner: object,
    setup: WorkerSetup | None,
    run_params: dict[str, Any],
    pipeline: Pipeline,
    succeeded: bool,
) -> None:
    """Say why a run that succeeded has no timing, unless it was said already."""
    if not succeeded or not pipeline.nodes or (setup is not None and setup.warned):
        return
    from kedro.framework.project import settings

    nodes = len(pipeline.nodes)
    if setup is not None and not any(hook is owner for hook in settings.HOOKS):
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
