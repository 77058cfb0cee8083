"""Turns a tracking failure inside a hook into a warning instead of a failed pipeline."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger(__name__)


@contextmanager
def warn_on_failure(hook: object, action: str) -> Iterator[None]:
    """Run the block; if it raises, log a warning naming ``hook`` and ``action``.

    Kedro aborts the whole run when a hook raises, and losing a metric is not worth
    losing the user's pipeline.

    Examples:
        >>> with warn_on_failure(object(), "log something"):
        ...     raise RuntimeError("server down")
    """
    try:
        yield
    except Exception as exc:
        logger.warning(
            "%s could not %s (%s: %s); the pipeline goes on without it.",
            type(hook).__name__,
            action,
            type(exc).__name__,
            exc,
        )
