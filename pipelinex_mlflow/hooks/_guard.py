"""Turns a tracking failure inside a hook into a warning instead of a failed pipeline."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking import current_run, tracking_is_off

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pipelinex_mlflow.tracking import RunRef

logger = get_logger(__name__)


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


class RunFinder:
    """Finds the run ``MLflowBasicLoggerHook`` started, warning once per Kedro run if none.

    Args:
        hook: The companion hook asking, named in the warning.

    Examples:
        >>> finder = RunFinder(object())
        >>> finder.reset()
        >>> finder() is None  # doctest: +SKIP
        True
    """

    def __init__(self, hook: object) -> None:
        self._hook_name = type(hook).__name__
        self._warned = False

    def reset(self) -> None:
        """Warn again in the next Kedro run."""
        self._warned = False

    def __call__(self) -> RunRef | None:
        """Return the current run, or ``None`` after one warning that there is none.

        With tracking off for the run, ``None`` without a warning: nothing is
        missing.
        """
        run = current_run()
        if run is None and not self._warned and not tracking_is_off():
            logger.warning(
                "%s found no MLflow run to log to, so it logs nothing for this Kedro "
                "run. Register MLflowBasicLoggerHook in settings.py HOOKS: it starts "
                "the run.",
                self._hook_name,
            )
            self._warned = True
        return run
