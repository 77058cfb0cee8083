"""The one exception type of the tracking layer, whose text never carries a secret."""

from __future__ import annotations

from typing import Any

from pipelinex_mlflow.masking import mask_secrets


class TrackingError(Exception):
    """Raised when pipelinex_mlflow cannot track to MLflow as configured.

    Its message passes the masking rule, so a tracking URI's password or a
    token quoted from an MLflow error never reaches a traceback.

    Examples:
        >>> str(TrackingError("cannot reach http://alice:pw@host"))
        'cannot reach http://alice:*****@host'
    """

    def __init__(self, message: str = "", *args: Any) -> None:
        super().__init__(mask_secrets(str(message)), *args)


class LongParamError(TrackingError):
    """A param longer than ``max_param_length`` under ``long_param_policy="fail"``.

    The one value problem that may stop a Kedro run: the user asked for it, and
    the run's own params are logged before any node runs.
    """
