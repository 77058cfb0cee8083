"""The files behind an ``MLflowDataSet`` artifact: written, found, downloaded, read."""

from __future__ import annotations

import tempfile
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError

from pipelinex_mlflow.io.artifact_formats import (
    ARTIFACT_FORMATS,
    MATPLOTLIB_TYPE,
    is_matplotlib_figure,
    is_plotly_figure,
)
from pipelinex_mlflow.io.backends.base import LocalFile
from pipelinex_mlflow.kedro_helpers import (
    dataset_base_path,
    dataset_config,
    dataset_local_path,
    relocated_dataset,
)
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.scratch import ScratchFolder
from pipelinex_mlflow.tracking import (
    TrackingError,
    current_run,
    download_artifact,
    has_whole_name_artifacts,
    wait_for_uploads_of,
)

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking import RunRef

logger = get_logger(__name__)


class FileBackend:
    """Writes and reads the file (or folder) of a file code or a nested dataset.

    The default file of a file code is ``<temporary folder>/<run id>/<name>.<ext>``,
    so no two runs share one, and its artifact is ``<artifact_path>/<name>.<ext>``:
    the name's folders are kept, so ``left/model`` and ``right/model`` are two
    artifacts. A user's file or a nested dataset's file (or folder) is uploaded
    under ``artifact_path`` with its own name.

    Args:
        code: The file code (``csv``, ``pkl``...), or ``None`` for a nested dataset.
        inner: The nested dataset, or ``None`` for a file code.
        inner_config: The nested dataset's config, when it was given as one.
        filepath: The user's local file for a file code.
        artifact_path: The folder in the run's artifacts.

    Examples:
        >>> backend = FileBackend("json", None, None, "/tmp/x.json", "reports")
        >>> backend.artifact_file("x")
        'reports/x.json'
        >>> FileBackend("json", None, None, None, None).artifact_file("left/model")
        'left/model.json'
    """

    def __init__(
        self,
        code: str | None,
        inner: AbstractDataset[Any, Any] | None,
        inner_config: dict[str, Any] | None,
        filepath: str | None,
        artifact_path: str | None,
    ) -> None:
        self._code = code
        self._inner = inner
        self._inner_config = inner_config
        self._filepath = filepath
        self._artifact_path = artifact_path
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._scratch = ScratchFolder("pipelinex_mlflow-")
        self._saved_files: set[str] = set()
        self._file_datasets: dict[tuple[str, str], AbstractDataset[Any, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # A worker process gets the configuration, not this process's files.
        state = self.__dict__.copy()
        for key in ("_scratch", "_saved_files", "_file_datasets"):
            del state[key]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    @property
    def needs_name(self) -> bool:
        """Whether the file is named after the dataset (a file code's default file)."""
        return self._inner is None and not self._filepath

    def replace_inner(self, inner: AbstractDataset[Any, Any]) -> None:
        """Write and read through ``inner`` from now on (the nested dataset rebuilt).

        Its config, which reads a downloaded copy, stays: only the versions differ.
        """
        self._inner = inner

    # ----------------------------------------------------------------------------------
    # Saving
    # ----------------------------------------------------------------------------------
    @property
    def scratch(self) -> ScratchFolder:
        """The temporary folder of default files and downloads (removed when collected)."""
        return self._scratch

    def write(self, data: Any, name: str) -> LocalFile:
        """Write ``data`` locally; return the file or folder and its artifact folder.

        An upload of an earlier save that still reads the same file is waited for.

        Raises:
            DatasetError: If the nested dataset writes no local file.
        """
        writer = self._writer_for(data, name)
        base = dataset_base_path(writer)
        if base is not None:
            wait_for_uploads_of(base)
        writer.save(data)
        local = dataset_local_path(writer)
        if local is None:
            raise DatasetError(
                f"MLflowDataSet cannot upload what {type(writer).__name__} saved: it "
                "has no local 'filepath' or 'path'. Nest a dataset that writes local "
                "files, or log remote data with its own tools."
            )
        self._saved_files.add(str(local))
        folder = self._artifact_folder(name)
        if local.is_dir():
            return LocalFile(local, str(PurePosixPath(folder or "", local.name)))
        return LocalFile(local, folder)

    def _artifact_folder(self, name: str) -> str | None:
        """The artifact folder of the file: ``artifact_path``, then the name's folders.

        Only a default file is named after the dataset; the folders of its name
        keep two entries that differ only in them (``left/model``,
        ``right/model``) apart.
        """
        parts = [self._artifact_path or ""]
        if self.needs_name:
            parts.append(str(PurePosixPath(name).parent))
        folder = str(PurePosixPath(*parts))
        return None if folder == "." else folder

    def _writer_for(self, data: Any, name: str) -> AbstractDataset[Any, Any]:
        if self._inner is not None:
            return self._inner
        fmt = ARTIFACT_FORMATS[self._code or ""]
        filepath = self._code_filepath(name)
        if is_matplotlib_figure(data):
            return self._file_dataset(
                MATPLOTLIB_TYPE, filepath, name, {"save_args": {"format": fmt.suffix}}
            )
        if fmt.load_type and isinstance(data, str) and not is_plotly_figure(data):
            # An html/svg page given as text is written as it is.
            return self._file_dataset(fmt.load_type, filepath, name)
        return self._file_dataset(fmt.dataset_type, filepath, name)

    # ----------------------------------------------------------------------------------
    # Loading
    # ----------------------------------------------------------------------------------
    def reader(self, name: str) -> AbstractDataset[Any, Any]:
        """The dataset that reads the local file."""
        if self._inner is not None:
            return self._inner
        fmt = ARTIFACT_FORMATS[self._code or ""]
        return self._file_dataset(
            fmt.load_type or fmt.dataset_type, self._code_filepath(name), name
        )

    def usable_local_file(self, name: str, *, other_run: bool) -> Path | None:
        """The local file to load, if it is this run's or the user's own.

        A default temporary file is only ever this run's (the folder is per run). A
        user's file is used unless ``other_run`` (a ``loading_run_id``) asks for
        another run's data.
        """
        try:
            local = dataset_local_path(self.reader(name))
        except DatasetError:
            return None
        if local is None or not local.exists():
            return None
        if str(local) in self._saved_files:
            return local
        return None if other_run else local

    def artifact_file(self, name: str) -> str | None:
        """The artifact this dataset's file is uploaded as, or ``None`` if it has none."""
        local = dataset_base_path(self.reader(name))
        if local is None:
            return None
        return str(PurePosixPath(self._artifact_folder(name) or "", local.name))

    def earlier_artifact_file(self, name: str) -> str | None:
        """Where earlier versions uploaded the file, if that differs; else ``None``.

        They dropped the folders of the dataset's name (``left/model`` became
        ``model.json``); runs they logged still load from there.
        """
        local = dataset_base_path(self.reader(name))
        if local is None:
            return None
        earlier = str(PurePosixPath(self._artifact_path or "", local.name))
        return None if earlier == self.artifact_file(name) else earlier

    def download_and_load(self, run: RunRef, name: str) -> Any:
        """Download the artifact from ``run`` into a fresh folder and read it.

        A run logged by an earlier version, which holds the file under its name
        alone (:meth:`earlier_artifact_file`), is read from there, with a warning.

        Raises:
            DatasetError: If the dataset has no file or the run has no artifact.
        """
        artifact = self.artifact_file(name)
        if artifact is None:
            raise DatasetError(
                "MLflowDataSet cannot tell which artifact to download: its nested "
                "dataset has no local 'filepath' or 'path'."
            )
        # Partitioned datasets read lazily, so the download outlives this call.
        download_dir = Path(
            tempfile.mkdtemp(prefix="download-", dir=self._scratch.path)
        )
        downloaded: Path | None
        try:
            downloaded = download_artifact(run, artifact, download_dir)
        except TrackingError as exc:
            downloaded = self._download_earlier(run, name, download_dir)
            if downloaded is None:
                raise DatasetError(
                    f"{exc}. Check loading_run_id and the dataset's name."
                ) from exc
        return self._reader_of(str(downloaded), name).load()

    def _download_earlier(
        self, run: RunRef, name: str, download_dir: Path
    ) -> Path | None:
        earlier = self.earlier_artifact_file(name)
        if earlier is None or has_whole_name_artifacts(run):
            # A run of this version: its bare name is another entry's file.
            return None
        try:
            downloaded = download_artifact(run, earlier, download_dir)
        except TrackingError:
            return None
        logger.warning(
            "MLflow run %s has no artifact %r for MLflowDataSet %r, but has %r, "
            "where earlier versions of pipelinex_mlflow uploaded it: loading that.",
            run.run_id,
            self.artifact_file(name),
            name,
            earlier,
        )
        return downloaded

    def _reader_of(self, local: str, name: str) -> AbstractDataset[Any, Any]:
        if self._inner is None:
            fmt = ARTIFACT_FORMATS[self._code or ""]
            return self._file_dataset(fmt.load_type or fmt.dataset_type, local, name)
        config = self._inner_config or dataset_config(self._inner)
        return relocated_dataset(config, local, name)

    # ----------------------------------------------------------------------------------
    # File datasets of a file code
    # ----------------------------------------------------------------------------------
    def _code_filepath(self, name: str) -> str:
        if self._filepath:
            return self._filepath
        run = current_run()
        folder = self._scratch.path / (run.run_id if run else "no-run")
        path = folder / f"{name}.{ARTIFACT_FORMATS[self._code or ''].suffix}"
        # Names are checked when the catalog is built; this is the last guard.
        if not path.resolve().is_relative_to(folder.resolve()):
            raise DatasetError(
                f"MLflowDataSet {name!r} would write {path} outside its temporary "
                "folder. Give the dataset a relative name without '..'."
            )
        return str(path)

    def _file_dataset(
        self,
        dataset_type: str,
        filepath: str,
        name: str,
        extra_config: dict[str, Any] | None = None,
    ) -> AbstractDataset[Any, Any]:
        key = (dataset_type, filepath)
        if key not in self._file_datasets:
            fmt = ARTIFACT_FORMATS[self._code or ""]
            config: dict[str, Any] = {"type": dataset_type, "filepath": filepath}
            if dataset_type == fmt.dataset_type:
                config.update(deepcopy(fmt.config))
            config.update(extra_config or {})
            self._file_datasets[key] = AbstractDataset.from_config(name, config)
        return self._file_datasets[key]
