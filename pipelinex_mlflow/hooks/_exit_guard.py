"""Ends a tracked run when the process exits mid-run (Ctrl-C, ``SIGTERM``, ``exit``)."""

from __future__ import annotations

import atexit
import signal
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

_SIGTERM_EXIT_CODE = 128 + signal.SIGTERM


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(_SIGTERM_EXIT_CODE)


class ExitGuard:
    """Calls ``on_exit`` if the process exits while armed.

    ``SIGTERM``'s default action kills the process without running ``atexit``
    handlers, so while armed (and only if no other handler was set) ``SIGTERM``
    raises ``SystemExit`` instead. Signal handlers can only be set from the main
    thread; elsewhere only the ``atexit`` part applies.

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
        atexit.register(self._on_exit)
        if threading.current_thread() is not threading.main_thread():
            return
        current = signal.getsignal(signal.SIGTERM)
        if current is signal.SIG_DFL:
            self._previous_sigterm = current
            signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def disarm(self) -> None:
        """Stop guarding, and give ``SIGTERM`` its previous handler back."""
        atexit.unregister(self._on_exit)
        if self._previous_sigterm is not None and (
            threading.current_thread() is threading.main_thread()
        ):
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
