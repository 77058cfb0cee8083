"""Turns a tracking failure inside a hook into a warning instead of a failed pipeline."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pipelinex_mlflow.tracking import current_run

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pipelinex_mlflow.tracking import RunRef

logger = logging.getLogger(__name__)


@contextmanager
def warn_on_failure(hook: object, action: str) -> Iterator[None]:
    """Run the block; if it raises, log a warning naming ``hook`` and ``action``.

    Kedro aborts the whole run when a hook raises, and losing a metric is not worth
    losing the user's pipeline.

    Examples:
        >>> with warn_on_failure(object(), "log something"):  # doctest: +SKIP
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


def current_run_or_warn(hook: object, *, warned: bool = False) -> RunRef | None:
    """Return the run ``MLflowBasicLoggerHook`` started, or warn that there is none.

    Args:
        hook: The companion hook asking, named in the warning.
        warned: ``True`` when the hook already warned in this Kedro run.
    """
    run = current_run()
    if run is None and not warned:
        logger.warning(
            "%s found no MLflow run to log to, so it logs nothing for this Kedro run. "
            "Register MLflowBasicLoggerHook in settings.py HOOKS: it starts the run.",
            type(hook).__name__,
        )
    return run
