"""Reading a run back: its params, metrics, tags, metric histories and artifacts.

Each read first waits for what this process still sends to the run, so a process
reads back what it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.runs import WHOLE_NAME_ARTIFACTS_TAG
from pipelinex_mlflow.tracking.senders import drain_run
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking.run_ref import RunRef


@dataclass(frozen=True)
class RunData:
    """What a run holds: params as strings, latest metrics as floats, tags."""

    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def get_run_data(run: RunRef) -> RunData:
    """Read the params, latest metrics and tags of ``run``."""
    drain_run(run)
    data = get_client(run.tracking_uri).get_run(run.run_id).data
    return RunData(
        params=dict(data.params), metrics=dict(data.metrics), tags=dict(data.tags)
    )


def has_whole_name_artifacts(run: RunRef) -> bool:
    """Whether ``run`` was created by a version that keeps artifact names whole."""
    tags = get_client(run.tracking_uri).get_run(run.run_id).data.tags
    return WHOLE_NAME_ARTIFACTS_TAG in tags


def get_start_time(run: RunRef) -> int:
    """When ``run`` started, in milliseconds since the epoch."""
    return int(get_client(run.tracking_uri).get_run(run.run_id).info.start_time or 0)


def get_experiment_id(run: RunRef) -> str:
    """The id of the experiment ``run`` belongs to."""
    return str(get_client(run.tracking_uri).get_run(run.run_id).info.experiment_id)


def get_metric_history(run: RunRef, key: str) -> list[float]:
    """Return the values of metric ``key`` in step order."""
    drain_run(run)
    history = get_client(run.tracking_uri).get_metric_history(run.run_id, key)
    return [m.value for m in sorted(history, key=lambda m: (m.step, m.timestamp))]


def artifact_exists(run: RunRef, artifact_path: str) -> bool:
    """Tell whether ``artifact_path`` (a file or folder) exists in ``run``."""
    drain_run(run)
    parent, _, name = artifact_path.rstrip("/").rpartition("/")
    listed = get_client(run.tracking_uri).list_artifacts(run.run_id, parent or None)
    return any(info.path.rstrip("/").rpartition("/")[2] == name for info in listed)


def list_artifact_files(run: RunRef, folder: str) -> list[str]:
    """The paths of the files directly in artifact folder ``folder`` of ``run``."""
    drain_run(run)
    listed = get_client(run.tracking_uri).list_artifacts(run.run_id, folder)
    return sorted(info.path for info in listed if not info.is_dir)


def download_artifact(run: RunRef, artifact_path: str, dst_dir: Path) -> Path:
    """Download ``artifact_path`` of ``run`` into ``dst_dir`` and return its local path.

    Raises:
        TrackingError: If the run has no such artifact.
    """
    from mlflow.exceptions import MlflowException

    drain_run(run)
    try:
        local = get_client(run.tracking_uri).download_artifacts(
            run.run_id, artifact_path, dst_path=str(dst_dir)
        )
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow run {run.run_id!r} has no artifact {artifact_path!r}: "
            f"{exc.message}"
        ) from scrubbed(exc)
    return Path(local)
