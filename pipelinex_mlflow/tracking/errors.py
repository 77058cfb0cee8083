"""The one exception type of the tracking layer, whose text never carries a secret."""

from __future__ import annotations

import contextlib
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


def scrubbed(error: BaseException) -> BaseException:
    """Mask the secrets in ``error``'s text in place, and return it.

    For an MLflow error chained below a :class:`TrackingError` (``raise ... from
    scrubbed(exc)``): the traceback then keeps the cause without its secrets.
    MLflow quotes a failed request's whole URL, password included.

    Examples:
        >>> str(scrubbed(ValueError("GET http://a:pw@h/api failed")))
        'GET http://a:*****@h/api failed'
    """
    error.args = tuple(
        mask_secrets(arg) if isinstance(arg, str) else arg for arg in error.args
    )
    message = getattr(error, "message", None)
    if isinstance(message, str):
        with contextlib.suppress(AttributeError):  # a read-only property
            error.message = mask_secrets(message)  # type: ignore[attr-defined]
    return error
