"""``MLflowArtifactsLoggerHook`` uploads chosen files, folders and dataset files."""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError

from pipelinex_mlflow.hooks._guard import current_run_or_warn, warn_on_failure
from pipelinex_mlflow.tracking import RunLogger, RunRef

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from kedro.io import AbstractDataset, CatalogProtocol

PathSpec = str | os.PathLike[str]
_GLOB_CHARS = frozenset("*?[")

logger = logging.getLogger(__name__)


def resolve_paths(
    specs: Iterable[PathSpec], root: Path
) -> tuple[list[Path], list[str]]:
    """Expand files, folders and glob patterns into existing paths.

    Args:
        specs: Paths or glob patterns (``**`` recurses); ``~`` is expanded and
            relative ones are taken from ``root``.
        root: The folder relative paths start from.

    Returns:
        The existing paths, in order and without duplicates, and the specs that
        matched nothing.

    Examples:
        >>> resolve_paths(["no/such/file.txt"], Path("/tmp"))
        ([], ['no/such/file.txt'])
    """
    found: dict[Path, None] = {}
    missing: list[str] = []
    for spec in specs:
        text = os.path.expanduser(os.fspath(spec))
        path = Path(text) if Path(text).is_absolute() else root / text
        if _GLOB_CHARS & set(text):
            matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
        else:
            matches = [path] if path.exists() else []
        if not matches:
            missing.append(os.fspath(spec))
        found.update(dict.fromkeys(matches))
    return list(found), missing


def dataset_local_path(dataset: AbstractDataset[Any, Any]) -> Path | None:
    """Return the local file or folder a Kedro dataset writes, if it has one.

    For a versioned dataset it is the file of the version just saved (the save
    version), else the latest one. Datasets on remote storage (``s3://``...) and
    in-memory ones have none.
    """
    if getattr(dataset, "_protocol", "file") not in ("file", None):
        return None
    if getattr(dataset, "_version", None) is not None:
        return _versioned_path(dataset)
    for attribute in ("_filepath", "_path"):
        value = getattr(dataset, attribute, None)
        if value is not None:
            return Path(os.fspath(value))
    return None


def _versioned_path(dataset: Any) -> Path | None:
    try:
        saved = Path(dataset._get_versioned_path(dataset.resolve_save_version()))
        return saved if saved.exists() else Path(dataset._get_load_path())
    except (DatasetError, AttributeError, TypeError):
        return None


def _upload(run_logger: RunLogger, path: Path, hook: object) -> None:
    with warn_on_failure(hook, f"upload {path}"):
        # A folder goes up in one call, under its own name.
        run_logger.log_artifact(path, path.name if path.is_dir() else None)


class MLflowArtifactsLoggerHook:
    """Uploads files and folders to MLflow before and after the pipeline runs.

    Uploads go to the run of ``MLflowBasicLoggerHook``, which must be registered
    too:

    - ``filepaths_before_pipeline_run`` when the pipeline starts (for example the
      configuration);
    - ``filepaths_after_pipeline_run`` when it ends, and also when it fails (logs
      help most then);
    - the files of the node outputs named in ``datasets_after_node_run``, right
      after they are saved (for a versioned dataset, the version just saved),
      also from ThreadRunner threads and ParallelRunner workers.

    Each entry is a file, a folder or a glob pattern (``**`` recurses); ``~`` is
    expanded and relative paths are taken from the project root (the current
    folder outside a project). A file lands at the artifact root under its own
    name; a folder is uploaded in one call, as a folder of that name. Paths that
    match nothing are named in one warning, and the others are uploaded anyway.

    Examples:
        In ``settings.py``:

        .. code-block:: python

            from pipelinex_mlflow import (
                MLflowArtifactsLoggerHook,
                MLflowBasicLoggerHook,
            )

            HOOKS = (
                MLflowBasicLoggerHook(experiment_name="my_experiment"),
                MLflowArtifactsLoggerHook(
                    filepaths_before_pipeline_run=["conf/base"],
                    filepaths_after_pipeline_run=["logs/*.log"],
                    datasets_after_node_run=["model"],
                ),
            )

        >>> hook = MLflowArtifactsLoggerHook(
        ...     filepaths_before_pipeline_run=["conf/base"]
        ... )
        >>> hook.filepaths_before_pipeline_run
        ['conf/base']
    """

    def __init__(
        self,
        filepaths_before_pipeline_run: Sequence[PathSpec] | None = None,
        filepaths_after_pipeline_run: Sequence[PathSpec] | None = None,
        datasets_after_node_run: Sequence[str] | None = None,
        enable_mlflow: bool = True,
    ) -> None:
        """Choose what to upload and when.

        Args:
            filepaths_before_pipeline_run: Files, folders or glob patterns to
                upload when the pipeline starts.
            filepaths_after_pipeline_run: Files, folders or glob patterns to
                upload when the pipeline ends or fails.
            datasets_after_node_run: Catalog names of node outputs whose local
                file or folder is uploaded after the node runs (the version just
                saved, for a versioned dataset).
            enable_mlflow: ``False`` turns the hook off.
        """
        self.filepaths_before_pipeline_run = list(filepaths_before_pipeline_run or [])
        self.filepaths_after_pipeline_run = list(filepaths_after_pipeline_run or [])
        self.datasets_after_node_run = list(datasets_after_node_run or [])
        self.enable_mlflow = enable_mlflow
        self._root = Path.cwd()
        self._catalog: CatalogProtocol[Any, Any] | None = None
        self._warned_no_run = False

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], catalog: CatalogProtocol[Any, Any]
    ) -> None:
        """Upload ``filepaths_before_pipeline_run``."""
        self._warned_no_run = False
        self._catalog = catalog
        project_path = run_params.get("project_path")
        self._root = Path(project_path) if project_path else Path.cwd()
        self._upload_paths(self.filepaths_before_pipeline_run, "before the pipeline")

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        """Upload the file of a dataset listed in ``datasets_after_node_run``.

        Kedro saves a node's outputs after ``after_node_run``, so this is the first
        moment the file is there.
        """
        if dataset_name not in self.datasets_after_node_run or not self.enable_mlflow:
            return
        with warn_on_failure(self, f"upload the file of dataset {dataset_name!r}"):
            run = self._run_or_warn()
            if run is None:
                return
            catalog = self._catalog
            dataset = catalog.get(dataset_name) if catalog is not None else None
            path = dataset_local_path(dataset) if dataset is not None else None
            if path is None or not path.exists():
                logger.warning(
                    "MLflowArtifactsLoggerHook cannot upload dataset %r: %s.",
                    dataset_name,
                    "it has no local file"
                    if path is None
                    else f"{path} does not exist",
                )
                return
            _upload(RunLogger(run), path, self)

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Upload ``filepaths_after_pipeline_run``."""
        self._catalog = None
        self._upload_paths(self.filepaths_after_pipeline_run, "after the pipeline")

    @hook_impl
    def on_pipeline_error(self) -> None:
        """Upload ``filepaths_after_pipeline_run`` of a failed pipeline too."""
        self._catalog = None
        self._upload_paths(self.filepaths_after_pipeline_run, "after the pipeline")

    def _upload_paths(self, specs: list[PathSpec], when: str) -> None:
        if not specs or not self.enable_mlflow:
            return
        with warn_on_failure(self, f"upload files {when}"):
            run = self._run_or_warn()
            if run is None:
                return
            paths, missing = resolve_paths(specs, self._root)
            if missing:
                logger.warning(
                    "MLflowArtifactsLoggerHook found nothing to upload %s at %s "
                    "(relative to %s); uploading the other %d path(s).",
                    when,
                    ", ".join(missing),
                    self._root,
                    len(paths),
                )
            run_logger = RunLogger(run)
            for path in paths:
                _upload(run_logger, path, self)
            logger.debug(
                "Uploaded %d path(s) %s to run %s", len(paths), when, run.run_id
            )

    def _run_or_warn(self) -> RunRef | None:
        run = current_run_or_warn(self, warned=self._warned_no_run)
        self._warned_no_run = self._warned_no_run or run is None
        return run
