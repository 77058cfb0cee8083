"""``MLflowDataSet(dataset=None)``: data kept in memory only; MLflow is never called.

Examples:
    >>> from pipelinex_mlflow.io.backends.base import BackendSettings
    >>> from pipelinex_mlflow.io.run_target import RunTarget
    >>> backend = MemoryBackend(BackendSettings(code=None, target=RunTarget()))
    >>> backend.exists("cache")
    False
"""

from __future__ import annotations

from typing import Any

from kedro.io import DatasetError

from pipelinex_mlflow.io.backends.base import DatasetBackend, LocalFile


class MemoryBackend(DatasetBackend):
    """Records nothing; the entry's in-memory copy is all there is."""

    def record(self, data: Any, local: LocalFile | None, name: str | None) -> None:
        """Log nothing: this entry never calls MLflow."""

    def load(self, name: str | None) -> Any:
        """Fail: what was saved in this run was served from memory already.

        Raises:
            DatasetError: Always, saying that nothing was saved yet.
        """
        raise DatasetError(
            "MLflowDataSet(dataset=None) holds nothing yet: it keeps data in "
            "memory only, and nothing was saved to it in this run."
        )

    def exists(self, name: str | None) -> bool:
        """Nothing exists outside memory."""
        return False
