"""Ends a tracked run when the process exits mid-run (Ctrl-C, ``SIGTERM``, ``exit``).

Kedro calls neither ``on_pipeline_error`` nor ``after_pipeline_run`` when a run is
interrupted (``KeyboardInterrupt`` and ``SystemExit`` are not ``Exception``), so
the companion hooks register what they still hold with :func:`flush_at_exit`, and
``MLflowBasicLoggerHook`` runs those flushes (:func:`run_exit_flushes`) before it
marks the run ``KILLED``. While that happens a second Ctrl-C exits at once.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

_SIGTERM_EXIT_CODE = 128 + signal.SIGTERM
_SIGINT_EXIT_CODE = 128 + signal.SIGINT

logger = get_logger(__name__)

# Flushes of companion hooks, by the id of the hook that registered them, in
# registration order.
_exit_flushes: dict[int, tuple[str, Callable[[], None]]] = {}
_exit_flushes_lock = threading.Lock()


def flush_at_exit(owner: object, flush: Callable[[], None]) -> None:
    """Have ``flush`` run if the process exits before ``owner`` forgets it.

    Args:
        owner: The hook whose buffer ``flush`` sends (one flush per owner).
        flush: Sends what ``owner`` holds; its failures are logged, not raised.

    Examples:
        >>> hook = object()
        >>> flush_at_exit(hook, lambda: print("flushed"))
        >>> run_exit_flushes()
        flushed
        >>> forget_exit_flush(hook)
    """
    with _exit_flushes_lock:
        _exit_flushes[id(owner)] = (type(owner).__name__, flush)


def forget_exit_flush(owner: object) -> None:
    """Forget ``owner``'s flush: it has flushed on its own."""
    with _exit_flushes_lock:
        _exit_flushes.pop(id(owner), None)


def run_exit_flushes() -> None:
    """Run (and forget) every registered flush, each failure a warning."""
    with _exit_flushes_lock:
        flushes = list(_exit_flushes.values())
        _exit_flushes.clear()
    for name, flush in flushes:
        try:
            flush()
        except Exception as exc:  # one hook's failure must not stop the others
            logger.warning(
                "%s could not send what it held at exit (%s: %s).",
                name,
                type(exc).__name__,
                exc,
            )


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(_SIGTERM_EXIT_CODE)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write(
        "pipelinex_mlflow: interrupted again while sending the run's last values; "
        "exiting now. The run may stay RUNNING until the next run of the project "
        "marks it FAILED.\n"
    )
    sys.stderr.flush()
    os._exit(_SIGINT_EXIT_CODE)


class ExitGuard:
    """Calls ``on_exit`` if the process exits while armed.

    ``SIGTERM``'s default action kills the process without running ``atexit``
    handlers, so while armed (and only if no other handler was set) ``SIGTERM``
    raises ``SystemExit`` instead. While ``on_exit`` runs, a second Ctrl-C (or
    ``SIGTERM``) ends the process at once. Signal handlers can only be set from
    the main thread; elsewhere only the ``atexit`` part applies.

    Args:
        on_exit: What to do at exit, for example end the run ``KILLED``.

    Examples:
        >>> guard = ExitGuard(lambda: None)
        >>> guard.arm()
        >>> guard.disarm()
    """

    def __init__(self, on_exit: Callable[[], None]) -> None:
        self._on_exit = on_exit
        self._previous_sigterm: Any = None

    def arm(self) -> None:
        """Start guarding: at exit, ``on_exit`` runs."""
        # atexit, so after threading's own exit hooks (threading._register_atexit:
        # concurrent.futures joins its executors' threads there, then refuses new
        # futures). Not before them, though that private hook would allow it: a
        # Ctrl-C'd ThreadRunner or ParallelRunner has waited for its running
        # nodes by then, so they are timed too. Nothing run at exit may need a
        # future: a trace's spans skip OpenTelemetry's resource detection
        # (tracking/traces.py); uploads and direct calls run in this thread when
        # no thread can start (DaemonPool, senders.call_directly).
        atexit.register(self._exit)
        if threading.current_thread() is not threading.main_thread():
            return
        current = signal.getsignal(signal.SIGTERM)
        if current is signal.SIG_DFL:
            self._previous_sigterm = current
            signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def disarm(self) -> None:
        """Stop guarding, and give ``SIGTERM`` its previous handler back."""
        atexit.unregister(self._exit)
        if self._previous_sigterm is not None and (
            threading.current_thread() is threading.main_thread()
        ):
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def _exit(self) -> None:
        if threading.current_thread() is threading.main_thread():
            # The user asked to stop once already: a second time means now.
            signal.signal(signal.SIGINT, _exit_now)
            signal.signal(signal.SIGTERM, _exit_now)
        self._on_exit()
