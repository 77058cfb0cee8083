"""PipelineX's ``mlflow_log_artifacts`` and ``mlflow_log_dataset``: files uploaded to the run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.hooks._credential_files import filter_uploads
from pipelinex_mlflow.kedro_helpers import dataset_local_path
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipelinex_api.sending import send, target_run
from pipelinex_mlflow.tracking import RunLogger

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kedro.io import AbstractDataset

logger = get_logger(__name__)


def mlflow_log_artifacts(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None,
    artifact_path: str | None = None,
    enable_mlflow: bool = True,
) -> None:
    """Upload files and folders to the current run, under ``artifact_path``.

    Missing paths and credentials files (``credentials.yml``, ``.env``, keys)
    are named in a warning and left out.
    """
    if not enable_mlflow:
        return
    run = target_run("mlflow_log_artifacts")
    if run is None:
        return
    listed = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or [])
    found = [Path(p).resolve() for p in listed if Path(p).exists()]
    missing = [os.fspath(p) for p in listed if not Path(p).exists()]
    if missing:
        logger.warning("mlflow_log_artifacts found nothing at %s.", ", ".join(missing))
    filtered = filter_uploads(found, set(), allow_credentials=False)
    if filtered.skipped:
        logger.warning(
            "mlflow_log_artifacts did not upload %s: credentials files hold secrets.",
            filtered.skipped_with_reasons(),
        )
    if not filtered.uploads:
        return
    run_logger = RunLogger(run)
    for upload in filtered.uploads:
        # As in PipelineX, a folder's contents go under artifact_path.
        run_logger.log_artifact(
            upload.local, artifact_path, keep_alive=upload.keep_alive
        )
        logger.info("Uploading %s to MLflow run %s", upload.source, run.run_id)
    send(run_logger)


def mlflow_log_dataset(
    dataset: AbstractDataset[Any, Any], enable_mlflow: bool = True
) -> None:
    """Upload the local file (or folder) of a Kedro dataset to the current run."""
    path = dataset_local_path(dataset)
    if path is None:
        logger.warning(
            "mlflow_log_dataset found no local file behind %s; nothing uploaded.",
            type(dataset).__name__,
        )
        return
    mlflow_log_artifacts([path], enable_mlflow=enable_mlflow)
