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

Examples:
    >>> class Hello(RunFeature):
    ...     def start(self, scope: RunScope) -> None:
    ...         scope.logger.set_tags({"hello": "world"})
    >>> Hello().finish  # doctest: +ELLIPSIS
    <bound method RunFeature.finish of <...Hello object at ...>>
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from pipelinex_mlflow.hooks._run_opening import OpenedRun
    from pipelinex_mlflow.tracking import RunLogger, RunStatus


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
