"""Secrets inside errors: an error's text and its chain masked in place."""

from __future__ import annotations

import contextlib

from pipelinex_mlflow.masking.text import mask_secrets


def scrubbed(error: BaseException) -> BaseException:
    """Mask the secrets in the text of ``error`` and of the errors chained to it, in place.

    For an error about to be shown or chained (``raise ... from scrubbed(exc)``):
    MLflow quotes a failed request's whole URL, password included, and a
    traceback prints every chained error.

    Returns:
        ``error`` itself.

    Examples:
        >>> str(scrubbed(ValueError("GET http://a:pw@h/api failed")))
        'GET http://a:*****@h/api failed'
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(
            mask_secrets(arg) if isinstance(arg, str) else arg for arg in current.args
        )
        message = getattr(current, "message", None)
        if isinstance(message, str):
            with contextlib.suppress(AttributeError):  # a read-only property
                current.message = mask_secrets(message)  # type: ignore[attr-defined]
        current = current.__cause__ or current.__context__
    return error
