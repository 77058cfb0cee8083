"""Which MLflow run an ``MLflowDataSet`` saves to and loads from."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from pipelinex_mlflow.kedro_helpers import project_root
from pipelinex_mlflow.masking import mask_url_passwords
from pipelinex_mlflow.tracking import (
    FLUSH_TIMEOUT_ENV_VAR,
    MLFLOW_MAX_PARAM_LENGTH,
    LongParamPolicy,
    RunEnd,
    RunLogger,
    RunRef,
    RunStatus,
    TrackingError,
    artifact_exists,
    close_run,
    current_run,
    default_tracking_uri,
    drain_run,
    ensure_experiment,
    flush_timeout,
    list_artifact_files,
    start_run,
)
from pipelinex_mlflow.tracking.run_ref import in_kedro_run
from pipelinex_mlflow.tracking.senders import call_directly

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

SOURCE_RUN_TAG = "pipelinex_mlflow.source_run_id"


@dataclass(frozen=True)
class RunTarget:
    """Where a dataset's saves go and its loads come from.

    Saves go to ``saving_run_id`` (an existing run, left as it was), else a new run
    of ``saving_experiment_name`` (ended right after the save), else the current
    run. Loads come from ``loading_run_id``, else the current run. An unset
    tracking URI means the current run's store.

    Inside a Kedro run (:func:`~pipelinex_mlflow.tracking.run_ref.in_kedro_run`) a
    save hands its values and files to the run's background sender and returns;
    the run's end waits for them. Outside one (a notebook, a script) nothing
    would, so a save returns once everything it logged has landed, as MLflow's
    own ``log_*`` calls do.

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

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> RunTarget:
        """The target of a dataset's constructor ``arguments`` (its ``locals()``).

        Raises:
            DatasetError: For ``saving_tracking_uri`` without a run to save to.
        """
        return cls(**{f.name: arguments[f.name] for f in fields(cls)})

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

    @property
    def _starts_own_run(self) -> bool:
        """Whether each save goes to a new run of ``saving_experiment_name``."""
        return bool(self.saving_experiment_name and not self.saving_run_id)

    @contextmanager
    def logger(self, name: str | None) -> Iterator[RunLogger]:
        """A ``RunLogger`` for the run this save goes to, flushed when the block ends.

        Outside a Kedro run the flush waits until the values have landed (the
        flush timeout at most). A run of ``saving_experiment_name`` is started
        here and ended ``FINISHED`` (``FAILED`` if the save failed); ending it
        waits for its values and files, inside a Kedro run too.

        Raises:
            DatasetError: With no run to save to, when MLflow rejects the save, or
                when a save that waits finds something did not land: naming the
                dataset, what did not land and why.
        """
        with self._logger(name, wait=not in_kedro_run()) as run_logger:
            yield run_logger

    def log_file(
        self,
        name: str | None,
        local: Path,
        artifact_dir: str | None,
        *,
        keep_alive: object = None,
    ) -> None:
        """Upload the file or folder ``local`` under ``artifact_dir`` of the run.

        Outside a Kedro run it is in the run's artifacts when this returns: the
        upload is waited for (the flush timeout at most), then the store is asked
        for the file(s), since an upload that the store did not take in time is
        kept for a later try rather than reported. Values that earlier saves
        left queued are theirs to report, not this file's.

        Raises:
            DatasetError: As :meth:`logger`, and naming the files that did not land.
        """
        # A new run of saving_experiment_name is checked when it is closed.
        wait = not (in_kedro_run() or self._starts_own_run)
        with self._logger(name, wait=False) as run_logger:
            run_logger.log_artifact(local, artifact_dir, keep_alive=keep_alive)
        if not wait:
            return
        run = run_logger.run
        try:
            report = drain_run(run)
            if report:
                raise TrackingError(report.summary())
            _confirm_uploaded(run, local, artifact_dir)
        except TrackingError as exc:
            raise _not_landed(name, run, exc) from exc

    @contextmanager
    def _logger(self, name: str | None, *, wait: bool) -> Iterator[RunLogger]:
        try:
            if not self.saving_experiment_name or self.saving_run_id:
                run = self._saving_run(name)
                # Only an existing run may already hold this dataset's params.
                yield from self._flushed(
                    run, name, check_existing=bool(self.saving_run_id), wait=wait
                )
                return
            uri = self._store_uri(self.saving_tracking_uri)
            experiment_id = ensure_experiment(uri, self.saving_experiment_name)
            parent = current_run()
            tags = {SOURCE_RUN_TAG: parent.run_id} if parent else {}
            new_run = start_run(uri, experiment_id, run_name=name, tags=tags)
            status: RunStatus = "FAILED"
            try:
                yield from self._flushed(
                    new_run, name, check_existing=False, wait=False
                )
                status = "FINISHED"
            finally:
                # Its values land first, within the flush timeout (or are spooled).
                report = close_run(new_run, RunEnd.now(status))
            if report:
                # Rejected, or spooled for `kedro mlflow replay`: either way, said.
                raise DatasetError(
                    f"MLflowDataSet {name!r} did not land in MLflow run "
                    f"{new_run.run_id}: {report.summary()}"
                )
        except TrackingError as exc:
            raise DatasetError(str(exc)) from exc

    def _saving_run(self, name: str | None) -> RunRef:
        if self.saving_run_id:
            return RunRef(self._store_uri(self.saving_tracking_uri), self.saving_run_id)
        return _require_current_run(name, "save to")

    def _flushed(
        self, run: RunRef, name: str | None, *, check_existing: bool, wait: bool
    ) -> Iterator[RunLogger]:
        run_logger = RunLogger(
            run,
            max_param_length=self.max_param_length,
            long_param_policy=self.long_param_policy,
            check_existing_params=check_existing,
        )
        yield run_logger
        try:
            run_logger.flush(wait=wait)
        except TrackingError as exc:
            if not wait:
                raise
            raise _not_landed(name, run, exc) from exc

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

    def describe(self) -> dict[str, str]:
        """The runs and stores that were set, for ``repr``: URIs without passwords."""
        described = {
            "saving_tracking_uri": _masked(self.saving_tracking_uri),
            "saving_experiment_name": self.saving_experiment_name,
            "saving_run_id": self.saving_run_id,
            "loading_tracking_uri": _masked(self.loading_tracking_uri),
            "loading_run_id": self.loading_run_id,
        }
        return {k: v for k, v in described.items() if v is not None}

    def loading_store(self) -> str:
        """The tracking URI loads read from: ``loading_tracking_uri`` or the current run's."""
        return self._store_uri(self.loading_tracking_uri)

    @staticmethod
    def _store_uri(uri: str | None) -> str:
        if uri:
            return uri
        run = current_run()
        return run.tracking_uri if run else default_tracking_uri(project_root(None))


def _masked(uri: str | None) -> str | None:
    return None if uri is None else mask_url_passwords(uri)


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


def _not_landed(name: str | None, run: RunRef, error: TrackingError) -> DatasetError:
    """The error of a save that waited and found something had not landed."""
    why = str(error).removeprefix(f"For MLflow run {run.run_id}, ")
    why = why.replace(f" to MLflow run {run.run_id}", "").rstrip(".")
    return DatasetError(
        f"MLflowDataSet {name!r} did not land in MLflow run {run.run_id}: {why}. "
        "Outside a Kedro run a save waits until it has landed, "
        f"{flush_timeout():.0f} s at most ({FLUSH_TIMEOUT_ENV_VAR}): check the "
        "tracking store and the run, then save again."
    )


def _confirm_uploaded(run: RunRef, local: Path, artifact_dir: str | None) -> None:
    """Check that ``run`` holds the upload of ``local`` (a file, or a folder's files).

    Asked of the store directly, within the direct-call bound: a store that went
    away, or never answers, fails the check in seconds rather than minutes.

    Raises:
        TrackingError: Naming the artifact(s) the run does not hold, and why.
    """
    if not local.is_dir():
        artifact = str(PurePosixPath(artifact_dir or "", local.name))
        what = f"file {artifact}"
        if not call_directly(
            run, what, lambda: artifact_exists(run, artifact), even_if_away=True
        ):
            raise TrackingError(f"{what} is not in the run after its upload")
        return
    # A folder's files sit under artifact_dir (which ends with the folder's name).
    expected: dict[str, set[str]] = {}
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        uploaded = PurePosixPath(artifact_dir or "", *path.relative_to(local).parts)
        expected.setdefault(str(uploaded.parent), set()).add(str(uploaded))

    def missing() -> list[str]:
        return sorted(
            artifact
            for folder, artifacts in expected.items()
            for artifact in artifacts - set(list_artifact_files(run, folder))
        )

    what = f"folder {artifact_dir or local.name}"
    absent = call_directly(run, what, missing, even_if_away=True)
    if absent:
        raise TrackingError(
            f"{what} is not whole in the run after its upload: "
            f"{', '.join(absent)} missing"
        )
