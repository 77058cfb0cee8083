"""The Kedro run in progress, as the run hook tracks it: started or switched off, ended once.

:class:`RunTracking` is the run core's one stateful piece: it opens the MLflow
run (:mod:`.run_opening`), hands it to the run features in order
(:mod:`.run_features`), and ends it exactly once (:mod:`.run_ending`), FAILED
when a Kedro run stops, KILLED when the process exits mid-run. Only the
package's own configuration errors stop a Kedro run, and only here, before any
node runs; any other failure leaves the pipeline running untracked, with a
warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from pipelinex_mlflow.config import MlflowConfigError
from pipelinex_mlflow.core.exit_guard import ExitGuard, run_exit_flushes
from pipelinex_mlflow.core.guard import warn_on_failure
from pipelinex_mlflow.core.other_plugins import warn_of_other_mlflow_plugins
from pipelinex_mlflow.core.run_ending import end_tracked_run
from pipelinex_mlflow.core.run_features import RunFeature, RunScope
from pipelinex_mlflow.core.run_opening import RunSettings, announce, open_tracked_run
from pipelinex_mlflow.io.naming import name_mlflow_datasets
from pipelinex_mlflow.io.shared_values import remove_shared
from pipelinex_mlflow.kedro_helpers import project_root
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipeline_ml import PipelineModelError
from pipelinex_mlflow.tracking import (
    LongParamError,
    RunLogger,
    RunRef,
    RunStatus,
    TrackingError,
    run_set_in_this_process,
    set_current_run,
    set_tracking_off,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

#: What may stop a Kedro run as it starts: the package's own configuration errors,
#: each saying what is wrong and how to fix it (see :mod:`pipelinex_mlflow.core.guard`).
CONFIGURATION_ERRORS = (
    TrackingError,
    DatasetError,
    MlflowConfigError,
    PipelineModelError,
)

logger = get_logger(__name__)


class RunTracking:
    """One hook's tracking of the Kedro run in progress; reset for each Kedro run.

    Args:
        owner: The run hook: its options and where its runs go.
    """

    def __init__(self, owner: RunSettings) -> None:
        self._owner = owner
        self._exit_guard = ExitGuard(self.end_at_exit)
        self.reset()

    def reset(self) -> None:
        """Forget the last Kedro run (Kedro's service mode shares one hook)."""
        # The run being tracked, as its features see it; None between runs.
        self.scope: RunScope | None = None
        self._features: list[RunFeature] = []
        self._switched_off = False
        self._previous_run: RunRef | None = None

    @property
    def run(self) -> RunRef | None:
        """The MLflow run of the Kedro run in progress, if it is tracked."""
        return self.scope.opened.run if self.scope is not None else None

    def start(
        self,
        features: Callable[[], list[RunFeature]],
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
    ) -> None:
        """Start the run; a failure that is not a configuration error runs untracked.

        Args:
            features: Makes this run's features (inside the guard: a feature
                that cannot be made leaves the pipeline running untracked).
            run_params: Kedro's run parameters.
            pipeline: The pipeline about to run.
            catalog: Its catalog.

        Raises:
            TrackingError: The store cannot be used as configured (its URI, its
                reachability, a run to resume), or a param refused by
                ``long_param_policy="fail"``.
            DatasetError: A catalog entry the package refuses (names that clash).
            PipelineModelError: A ``pipeline_ml_factory`` model that cannot be
                built from this catalog.
        """
        set_tracking_off(False)
        try:
            self._open(features, run_params, pipeline, catalog)
        except CONFIGURATION_ERRORS:
            # Before any node runs: the run, if it exists, ends FAILED with it.
            self.finish("FAILED")
            raise
        except Exception as exc:
            logger.warning(
                "MLflowBasicLoggerHook could not start tracking this Kedro run (%s: "
                "%s); the pipeline runs untracked: nothing of it is recorded in "
                "MLflow, and MLflowDataSet values stay in memory.",
                type(exc).__name__,
                exc,
            )
            self.finish("FAILED")
            with warn_on_failure(self._owner, "switch tracking off"):
                self.switch_off(pipeline, catalog, run_params, reason=None)
        else:
            # The run is open: a second one, by kedro-mlflow, would be a surprise.
            with warn_on_failure(self._owner, "check for kedro-mlflow's hook"):
                warn_of_other_mlflow_plugins()

    def _open(
        self,
        make_features: Callable[[], list[RunFeature]],
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
    ) -> None:
        self.end_stale_run()
        self.reset()
        features = make_features()
        # Before the run exists: a broken catalog entry must not leave a run behind.
        _name_datasets(pipeline, catalog, run_params)
        for feature in features:
            feature.prepare(pipeline, catalog, run_params)
        owner = self._owner
        opened = open_tracked_run(
            owner, project_root(run_params.get("project_path")), run_params
        )
        # The run exists: from here on, each step only warns when it fails.
        run_logger = RunLogger(
            opened.run,
            max_param_length=owner.options.max_param_length,
            long_param_policy=owner.options.long_param_policy,
            check_existing_params=opened.may_hold_params,
        )
        self.scope = RunScope(owner, opened, run_logger, pipeline, catalog, run_params)
        self._features = features
        # A run of mlflow_start_run(...) stays the current run after this one.
        self._previous_run = run_set_in_this_process()
        set_current_run(opened.run)
        self._exit_guard.arm()
        announce(opened)
        try:
            for feature in features:
                feature.start(self.scope)
        except LongParamError:
            with warn_on_failure(owner, "log the run's tags"):
                run_logger.flush()
            raise
        with warn_on_failure(owner, "log the run's tags and params"):
            run_logger.flush()

    def before_workers(self) -> None:
        """Tell the features every hook's ``before_pipeline_run`` has run."""
        if self.scope is not None:
            for feature in self._features:
                feature.before_workers(self.scope)

    def tag_error(self, error: BaseException) -> None:
        """Tag the run with the error that stopped the pipeline."""
        if self.scope is not None:
            with warn_on_failure(self._owner, "tag the error"):
                self.scope.logger.set_tags(
                    {"kedro.error": f"{type(error).__name__}: {error}"}
                )

    def end_stale_run(self) -> None:
        """Mark FAILED the run of an earlier Kedro run that was never ended."""
        if self.run is None:
            return
        logger.warning(
            "MLflow run %s of an earlier Kedro run was never ended; marking it "
            "FAILED before starting a new one.",
            self.run.run_id,
        )
        self.finish("FAILED")

    def switch_off(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
        run_params: Mapping[str, Any],
        *,
        reason: str | None,
    ) -> None:
        """Run as if tracking did not exist: no MLflow call, datasets keep data local.

        Args:
            pipeline: The pipeline about to run.
            catalog: Its catalog, whose MLflow datasets still get their names.
            run_params: Kedro's run parameters.
            reason: Why, for the one info line; ``None`` says nothing (a warning
                said it already).
        """
        self.end_stale_run()
        self.reset()
        # File codes still need a name for their local file; a bad name fails
        # here, before tracking is switched off for the process.
        _name_datasets(pipeline, catalog, run_params)
        set_tracking_off(True)
        self._switched_off = True
        if reason is not None:
            logger.info(
                "MLflow tracking is off for this Kedro run (%s): nothing is sent to "
                "MLflow; MLflowDataSet values stay in memory and files stay local.",
                reason,
            )

    def finish(self, status: RunStatus) -> None:
        """End the run ``status``; never raises: a failure is a warning."""
        if self._switched_off:
            set_tracking_off(False)
            self._switched_off = False
        scope = self.scope
        if scope is None:
            return
        try:
            for feature in self._features:
                feature.finish(scope, status)
            end_tracked_run(self._owner, scope.opened, status)
            with warn_on_failure(
                self._owner, "remove the values workers handed each other"
            ):
                remove_shared(scope.opened.run)
        finally:
            self._exit_guard.disarm()
            set_current_run(self._previous_run)
            self.reset()

    def end_at_exit(self) -> None:
        """Send what the hooks hold, then mark the run KILLED (the process exits)."""
        if self.run is not None:
            logger.warning(
                "Process exiting mid-run: sending what the hooks hold, then marking "
                "MLflow run %s KILLED",
                self.run.run_id,
            )
            run_exit_flushes()
            with warn_on_failure(self._owner, "mark the run KILLED"):
                self.finish("KILLED")


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
