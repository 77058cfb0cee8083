"""Which MLflow run an ``MLflowDataSet`` saves to and loads from."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedro.io import DatasetError

from pipelinex_mlflow.kedro_helpers import project_root
from pipelinex_mlflow.tracking import (
    MLFLOW_MAX_PARAM_LENGTH,
    LongParamPolicy,
    RunEnd,
    RunLogger,
    RunRef,
    RunStatus,
    TrackingError,
    close_run,
    current_run,
    default_tracking_uri,
    ensure_experiment,
    start_run,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

SOURCE_RUN_TAG = "pipelinex_mlflow.source_run_id"


@dataclass(frozen=True)
class RunTarget:
    """Where a dataset's saves go and its loads come from.

    Saves go to ``saving_run_id`` (an existing run, left as it was), else a new run
    of ``saving_experiment_name`` (ended right after the save), else the current
    run. Loads come from ``loading_run_id``, else the current run. An unset
    tracking URI means the current run's store.

    Examples:
        >>> target = RunTarget(loading_run_id="0123abcd")
        >>> target.can_load()
        True
    """

    saving_tracking_uri: str | None = None
    saving_experiment_name: str | None = None
    saving_run_id: str | None = None
    loading_tracking_uri: str | None = None
    loading_run_id: str | None = None
    max_param_length: int = MLFLOW_MAX_PARAM_LENGTH
    long_param_policy: LongParamPolicy = "truncate"

    def __post_init__(self) -> None:
        if self.saving_tracking_uri and not (
            self.saving_run_id or self.saving_experiment_name
        ):
            raise DatasetError(
                "MLflowDataSet 'saving_tracking_uri' needs 'saving_run_id' or "
                "'saving_experiment_name': without them data goes to the current run, "
                "which lives in the hook's store."
            )

    @property
    def saves_to_current_run(self) -> bool:
        """Whether saves go to the run of ``MLflowBasicLoggerHook``."""
        return not (self.saving_run_id or self.saving_experiment_name)

    def check_can_save(self, name: str | None) -> None:
        """Fail before anything is written when there is no run to save to.

        Raises:
            DatasetError: Naming the fixes.
        """
        if self.saves_to_current_run:
            _require_current_run(name, "save to")

    @contextmanager
    def logger(self, name: str | None) -> Iterator[RunLogger]:
        """A ``RunLogger`` for the run this save goes to, flushed when the block ends.

        A run of ``saving_experiment_name`` is started here and ended ``FINISHED``
        (``FAILED`` if the save failed).

        Raises:
            DatasetError: With no run to save to, or when MLflow rejects the save.
        """
        try:
            if not self.saving_experiment_name or self.saving_run_id:
                run = self._saving_run(name)
                # Only an existing run may already hold this dataset's params.
                yield from self._flushed(run, check_existing=bool(self.saving_run_id))
                return
            uri = self._store_uri(self.saving_tracking_uri)
            experiment_id = ensure_experiment(uri, self.saving_experiment_name)
            parent = current_run()
            tags = {SOURCE_RUN_TAG: parent.run_id} if parent else {}
            new_run = start_run(uri, experiment_id, run_name=name, tags=tags)
            status: RunStatus = "FAILED"
            try:
                yield from self._flushed(new_run, check_existing=False)
                status = "FINISHED"
            finally:
                # Its values land first, within the flush timeout (or are spooled).
                report = close_run(new_run, RunEnd.now(status))
            if report.lost:
                raise TrackingError(
                    f"For MLflow run {new_run.run_id}, {report.summary()}"
                )
        except TrackingError as exc:
            raise DatasetError(str(exc)) from exc

    def _saving_run(self, name: str | None) -> RunRef:
        if self.saving_run_id:
            return RunRef(self._store_uri(self.saving_tracking_uri), self.saving_run_id)
        return _require_current_run(name, "save to")

    def _flushed(self, run: RunRef, *, check_existing: bool) -> Iterator[RunLogger]:
        run_logger = RunLogger(
            run,
            max_param_length=self.max_param_length,
            long_param_policy=self.long_param_policy,
            check_existing_params=check_existing,
        )
        yield run_logger
        run_logger.flush()

    def can_load(self) -> bool:
        """Whether there is a run to load from."""
        return bool(self.loading_run_id) or current_run() is not None

    def loading_run(self, name: str | None) -> RunRef:
        """The run to load from.

        Raises:
            DatasetError: With no ``loading_run_id`` and no current run.
        """
        if self.loading_run_id:
            return RunRef(
                self._store_uri(self.loading_tracking_uri), self.loading_run_id
            )
        return _require_current_run(name, "load from")

    def loading_store(self) -> str:
        """The tracking URI loads read from: ``loading_tracking_uri`` or the current run's."""
        return self._store_uri(self.loading_tracking_uri)

    @staticmethod
    def _store_uri(uri: str | None) -> str:
        if uri:
            return uri
        run = current_run()
        return run.tracking_uri if run else default_tracking_uri(project_root(None))


def _require_current_run(name: str | None, purpose: str) -> RunRef:
    run = current_run()
    if run is None:
        raise DatasetError(
            f"MLflowDataSet {name!r} has no MLflow run to {purpose}. Register "
            "MLflowBasicLoggerHook in settings.py HOOKS (it starts a run for each "
            "kedro run), set saving_run_id / saving_experiment_name (or "
            "loading_run_id to load), or use dataset=None to skip MLflow."
        )
    return run
