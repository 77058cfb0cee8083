"""``MLflowDataSet`` file codes and nested Kedro datasets: a local file, uploaded.

Examples:
    >>> from pipelinex_mlflow.io.backends.base import BackendSettings
    >>> from pipelinex_mlflow.io.run_target import RunTarget
    >>> backend = ArtifactBackend(
    ...     BackendSettings(code="json", target=RunTarget(), artifact_path="reports")
    ... )
    >>> backend.artifact_destination("summary")
    ArtifactDestination(store='', run='', artifact='reports/summary.json')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kedro.io import AbstractDataset, DatasetError, Version

from pipelinex_mlflow.compat.kedro_private import describe_dataset
from pipelinex_mlflow.io.artifact_formats import check_installed
from pipelinex_mlflow.io.backends.base import (
    ArtifactDestination,
    BackendSettings,
    DatasetBackend,
    LocalFile,
    require_name,
)
from pipelinex_mlflow.io.file_backend import FileBackend
from pipelinex_mlflow.kedro_helpers import dataset_version
from pipelinex_mlflow.tracking import artifact_exists, has_whole_name_artifacts

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking import RunRef

#: The name Kedro gives the nested dataset in its messages.
INNER_NAME = "mlflow_inner"


def nested_dataset(
    config: dict[str, Any], version: Version | None = None
) -> AbstractDataset[Any, Any]:
    """Build the nested dataset of ``config``; with ``version``, versioned by it.

    As Kedro's ``CachedDataset`` does for the dataset it wraps: ``version`` (from
    ``versioned: true`` on the ``MLflowDataSet`` entry, or the run's versions,
    see :meth:`~pipelinex_mlflow.io.mlflow_dataset.MLflowDataSet.bind_versions`)
    gives its load and save versions. Without it, a nested ``versioned: true``
    gets what Kedro gives a dataset built alone: the latest version to load, and
    a save version made now.

    Examples:
        >>> config = {"type": "json.JSONDataset", "filepath": "x.json"}
        >>> nested_dataset(config, Version(None, "2026-01-02T03.04.05.678Z"))
        kedro_datasets.json.json_dataset.JSONDataset(..., version=Version(load=None, save='2026-01-02T03.04.05.678Z'))
    """
    if version is None:
        return AbstractDataset.from_config(INNER_NAME, config)
    return AbstractDataset.from_config(
        INNER_NAME, {**config, "versioned": True}, version.load, version.save
    )


class ArtifactBackend(DatasetBackend):
    """Writes the entry's file, uploads it, and reads it back locally or downloaded.

    The files themselves are :class:`~pipelinex_mlflow.io.file_backend.FileBackend`'s.

    Args:
        settings: The entry's configuration: a file ``code`` (``csv``, ``pkl``...)
            with an optional ``filepath``, or a nested dataset ``inner``.
    """

    takes_filepath: ClassVar[bool] = True

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._inner = settings.inner
        self._inner_config = settings.inner_config
        self._version = settings.version
        self._file_caching = settings.file_caching
        self.files = FileBackend(
            settings.code,
            settings.inner,
            settings.inner_config,
            settings.filepath,
            settings.artifact_path,
        )

    @classmethod
    def check_available(cls, code: str) -> None:
        """Fail if the file format's optional dependency is missing.

        Raises:
            DatasetError: Naming the missing module and the exact ``pip install``.
        """
        check_installed(code)

    @property
    def label(self) -> str | None:
        """The file code, or the nested dataset's class name."""
        return self.code if self._inner is None else type(self._inner).__name__

    def _file_name(self, name: str | None) -> str:
        # A nested dataset or a user's filepath names the file itself.
        if self.files.needs_name:
            return require_name(name)
        return name or INNER_NAME

    def bind_versions(self, save_version: str, load_version: str | None) -> None:
        """Rebuild a versioned nested dataset given as a config with these versions.

        A nested dataset that is not versioned, or was given as an instance (Kedro
        leaves the versions of dataset instances as they are too), stays as it is.
        """
        if self._inner is None or self._inner_config is None:
            return
        if dataset_version(self._inner, saved=True) is None:
            return  # not versioned
        if load_version is None and self._version is not None:
            load_version = self._version.load
        inner = nested_dataset(self._inner_config, Version(load_version, save_version))
        self._inner = inner
        self.files.replace_inner(inner)

    def artifact_destination(self, name: str | None) -> ArtifactDestination | None:
        """Where saves upload the file; ``None`` for a new run at each save."""
        target = self._target
        if target.saving_experiment_name and not target.saving_run_id:
            return None
        try:
            artifact = self.files.artifact_file(self._file_name(name))
        except DatasetError:
            return None  # never named: it cannot be saved either
        if artifact is None:
            return None
        return ArtifactDestination(
            target.saving_tracking_uri or "", target.saving_run_id or "", artifact
        )

    def write_local(
        self, data: Any, name: str | None, *, tracked: bool
    ) -> LocalFile | None:
        """Write the file; when tracked, refuse first if there is no run to upload to.

        Raises:
            DatasetError: With no run to save to, or when the file cannot be written.
        """
        if tracked:
            self._target.check_can_save(name)
        return self.files.write(data, self._file_name(name))

    def record(self, data: Any, local: LocalFile | None, name: str | None) -> None:
        """Upload the file :meth:`write_local` wrote."""
        if local is not None:
            self._target.log_file(
                name, local.path, local.artifact_dir, keep_alive=self.files.scratch
            )

    def local_reader(self, name: str | None) -> AbstractDataset[Any, Any] | None:
        """The reader of the local file, if it is this run's or the user's own."""
        if not self._file_caching:
            return None
        file_name = self._file_name(name)
        other_run = bool(self._target.loading_run_id)
        if self.files.usable_local_file(file_name, other_run=other_run) is None:
            return None
        return self.files.reader(file_name)

    def load(self, name: str | None) -> Any:
        """Read the local file, else download the artifact from the loading run.

        Raises:
            DatasetError: With no run to load from, or no artifact there.
        """
        reader = self.local_reader(name)
        if reader is not None:
            return reader.load()
        file_name = self._file_name(name)
        run = self._target.loading_run(file_name)
        return self.files.download_and_load(run, file_name)

    def exists(self, name: str | None) -> bool:
        """Whether the local file or the loading run's artifact is there."""
        if name is None and self.files.needs_name:
            return False  # never named, so never saved
        if self.local_reader(name) is not None:
            return True
        target = self._target
        return target.can_load() and self._exists_in_run(
            target.loading_run(name), self._file_name(name)
        )

    def _exists_in_run(self, run: RunRef, file_name: str) -> bool:
        artifact = self.files.artifact_file(file_name)
        if artifact is not None and artifact_exists(run, artifact):
            return True
        # A run of an earlier version holds the file under its name alone.
        earlier = self.files.earlier_artifact_file(file_name)
        return (
            earlier is not None
            and not has_whole_name_artifacts(run)
            and artifact_exists(run, earlier)
        )

    def describe(self) -> dict[str, Any]:
        """The nested dataset's own description, without its credentials."""
        if self._inner is None:
            return {}
        inner = describe_dataset(self._inner)
        inner.pop("credentials", None)
        return {"inner": inner}

    def release(self) -> None:
        """Release the nested dataset."""
        if self._inner is not None:
            self._inner.release()
