"""The first rule, enforced here: tracking never breaks a valid pipeline.

Tracking may stop a Kedro run only before any node runs, and only for the
package's own configuration errors: a bad or unreachable store URI, an invalid
``mlflow.yml``, bad hook or dataset arguments. Every other tracking problem (a
value MLflow cannot take, a name clash, an upload that fails, a store that goes
away, a bug of ours) is a warning that names what was not recorded, and the
pipeline's own result and exit code are what they would be untracked.

Kedro aborts the whole run when a hook raises, so every hook implementation of
the package is :func:`guarded` (``tests/hooks/test_guard.py`` checks that none is
left out), and the steps inside one run in :func:`warn_on_failure` blocks, each
naming what it records. The few steps allowed to stop a run name the
exceptions that may pass (``stops_for``): the package's own errors, which say
what is wrong and how to fix it. A dataset's save, which runs in a node, records
through :func:`warn_on_failure` too while a Kedro run is tracked
(``pipelinex_mlflow.io.mlflow_dataset``).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from pipelinex_mlflow.masking import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

logger = get_logger(__name__)

F = TypeVar("F", bound="Callable[..., Any]")
#: Set on every hook implementation :func:`guarded` wraps.
GUARDED_MARK = "__pipelinex_mlflow_guarded__"


@contextmanager
def warn_on_failure(
    hook: object,
    action: str,
    *,
    stops_for: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Run the block; if it raises, log a warning naming ``hook`` and ``action``.

    Kedro aborts the whole run when a hook raises, and losing a metric is not worth
    losing the user's pipeline. ``KeyboardInterrupt`` and ``SystemExit`` pass.

    Args:
        hook: The hook (or dataset) whose step this is, named in the warning.
        action: What the block records, as "could not <action>" reads.
        stops_for: The exceptions that may stop the run from this block: only
            the package's own configuration errors, only before any node runs.

    Examples:
        >>> with warn_on_failure(object(), "log the answer"):
        ...     answer = 42  # a failure here would be logged, not raised
        >>> answer
        42
    """
    try:
        yield
    except stops_for:
        raise
    except Exception as exc:
        _warn(hook, action, exc)


def succeeds(owner: object, action: str, call: Callable[[], object]) -> bool:
    """Run ``call``; ``False``, after the warning of :func:`warn_on_failure`, if it raised.

    Examples:
        >>> succeeds(object(), "log the answer", lambda: 42)
        True
    """
    try:
        call()
    except Exception as exc:
        _warn(owner, action, exc)
        return False
    return True


def _warn(hook: object, action: str, error: Exception) -> None:
    logger.warning(
        "%s could not %s (%s: %s); the pipeline goes on without it.",
        type(hook).__name__,
        action,
        type(error).__name__,
        error,
    )


def guarded(
    action: str, *, stops_for: tuple[type[BaseException], ...] = ()
) -> Callable[[F], F]:
    """Make a hook implementation warn instead of raising: see :func:`warn_on_failure`.

    Put it under ``@hook_impl``; Kedro still sees the implementation's own
    arguments (pluggy reads them through ``__wrapped__``).

    Args:
        action: What the implementation records, as "could not <action>" reads.
        stops_for: The exceptions that may stop the run (configuration errors of
            a hook that runs before any node).

    Examples:
        >>> class Hook:
        ...     @guarded("log the answer")
        ...     def after_pipeline_run(self) -> int:
        ...         return 42  # a failure here would be logged, not raised
        >>> Hook().after_pipeline_run(), is_guarded(Hook.after_pipeline_run)
        (42, True)
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: object, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except stops_for:
                raise
            except Exception as exc:
                _warn(self, action, exc)
                return None

        setattr(wrapper, GUARDED_MARK, True)
        return wrapper  # type: ignore[return-value]

    return decorate


def is_guarded(function: Callable[..., Any]) -> bool:
    """Whether ``function`` is a hook implementation wrapped by :func:`guarded`."""
    return bool(getattr(function, GUARDED_MARK, False))


def mark_guarded(function: F) -> F:
    """Mark a hook implementation that guards itself step by step.

    For the wrappers of ``MLflowBasicLoggerHook``, which must let other hooks'
    errors pass and may stop a run for a configuration error before any node
    runs; their steps each run in :func:`warn_on_failure`.
    """
    setattr(function, GUARDED_MARK, True)
    return function
