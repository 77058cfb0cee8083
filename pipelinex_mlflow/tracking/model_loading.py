"""A model folder downloaded from its store and loaded with its flavor's own loader."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger, scrubbed
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.flavors import PYFUNC, Flavor, flavor_in

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pipelinex_mlflow.tracking.model_refs import ModelSource

logger = get_logger(__name__)


def download_model(tracking_uri: str, source: ModelSource, dst_dir: Path) -> Path:
    """Download the model folder at ``source`` into ``dst_dir``; return its path.

    Raises:
        TrackingError: If nothing is there.
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    try:
        local = download_artifacts(
            artifact_uri=source.location,
            dst_path=str(dst_dir),
            tracking_uri=tracking_uri,
        )
    except (MlflowException, OSError) as exc:
        raise TrackingError(
            f"Cannot download model {source.description}: {exc}"
        ) from scrubbed(exc)
    path = Path(local)
    if not (path / "MLmodel").is_file():
        raise TrackingError(
            f"{source.description} is not an MLflow model: its folder holds no "
            "MLmodel file."
        )
    return path


def load_model(flavor: Flavor | None, path: Path, load_args: Mapping[str, Any]) -> Any:
    """Load the model in ``path`` with ``flavor``'s own loader.

    With no flavor, the one its ``MLmodel`` file names is used. A flavor whose
    library is missing loads as ``pyfunc``, with a warning.

    Raises:
        TrackingError: If the model cannot be loaded, saying why.
    """
    if flavor is None:
        flavor = flavor_in(path)
    if not flavor.is_installed:
        logger.warning(
            "MLflow model flavor %r needs %r, which is not installed: loading the "
            "model as pyfunc instead (pip install %s to load it natively).",
            flavor.name,
            flavor.pip_package,
            flavor.pip_package,
        )
        flavor = Flavor(PYFUNC, None, None)
    try:
        return flavor.module().load_model(str(path), **load_args)
    except Exception as exc:
        raise TrackingError(
            f"{flavor.module_name}.load_model could not load the model in {path} "
            f"({type(exc).__name__}: {exc}). Check that it was saved with flavor "
            f"{flavor.name!r} (its MLmodel file lists its flavors)."
        ) from scrubbed(exc)
