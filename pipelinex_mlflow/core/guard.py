"""What the companion hooks share: the first rule's guard, and finding the run.

The guard itself lives in :mod:`pipelinex_mlflow.tracking.first_rule`, where the
datasets reach it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking import current_run, tracking_is_off
from pipelinex_mlflow.tracking.first_rule import (
    guarded,
    is_guarded,
    mark_guarded,
    warn_on_failure,
)

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking import RunRef

__all__ = ["RunFinder", "guarded", "is_guarded", "mark_guarded", "warn_on_failure"]

logger = get_logger(__name__)


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
