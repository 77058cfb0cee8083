"""One ``RunSender`` per process and run, and what happens to them when it exits.

A process has one sender per run: :func:`sender_for` makes it on first use. The
run's owner closes them (:func:`close_all`), which also ends its run; reads drain
their run first (:func:`drain_run`). A process that exits closes its senders
first: at exit in the main process, in a multiprocessing finalizer in a worker
(multiprocessing runs no exit handlers there), saying on stderr what could not be
sent, since a worker's logging is gone by then. A forked child forgets its
parent's senders: what they hold is the parent's to send.

Every one of these waits has a deadline: :func:`flush_timeout` seconds
(``PIPELINEX_MLFLOW_FLUSH_TIMEOUT``, 60 by default), in total, not per request.
What a closing sender could not send by then goes to the run's spool file.

Examples:
    >>> from pipelinex_mlflow.tracking import RunRef
    >>> run = RunRef("sqlite:///mlflow.db", "0123abcd")
    >>> sender_for(run) is sender_for(run)
    True
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.util
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, TypeVar

# Imported first so that its exit hook (removing temporary folders) runs after ours
# (sending what they hold): exit hooks run in reverse order.
import pipelinex_mlflow.scratch  # noqa: F401
from pipelinex_mlflow.masking import get_logger, mask_url_passwords
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.retry_policy import POLICY
from pipelinex_mlflow.tracking.sender import RunSender, SendReport
from pipelinex_mlflow.tracking.stores import check_reachable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from pipelinex_mlflow.tracking.run_ref import RunRef
    from pipelinex_mlflow.tracking.spool import RunEnd

FLUSH_TIMEOUT_ENV_VAR = "PIPELINEX_MLFLOW_FLUSH_TIMEOUT"
DEFAULT_FLUSH_TIMEOUT_S = POLICY.flush_timeout_s

logger = get_logger(__name__)
T = TypeVar("T")


def flush_timeout() -> float:
    """How long (seconds, in total) a process waits for its senders before it spools.

    ``PIPELINEX_MLFLOW_FLUSH_TIMEOUT``, else 60; ``MLflowBasicLoggerHook`` sets the
    variable from its ``flush_timeout`` argument, so worker processes agree.
    """
    text = os.environ.get(FLUSH_TIMEOUT_ENV_VAR)
    try:
        return float(text) if text else DEFAULT_FLUSH_TIMEOUT_S
    except ValueError:
        logger.warning(
            "%s=%r is not a number of seconds; using %s.",
            FLUSH_TIMEOUT_ENV_VAR,
            text,
            DEFAULT_FLUSH_TIMEOUT_S,
        )
        return DEFAULT_FLUSH_TIMEOUT_S


def set_flush_timeout(seconds: float) -> None:
    """Make ``seconds`` the flush timeout of this process and those it starts."""
    os.environ[FLUSH_TIMEOUT_ENV_VAR] = str(seconds)


def _deadline() -> float:
    return time.monotonic() + flush_timeout()


_senders: dict[tuple[int, str, str], RunSender] = {}
_senders_lock = threading.Lock()


def sender_for(run: RunRef) -> RunSender:
    """Return this process's sender for ``run``, made on first use."""
    key = (os.getpid(), run.tracking_uri, run.run_id)
    with _senders_lock:
        sender = _senders.get(key)
        if sender is None:
            sender = _senders[key] = RunSender(run)
            if multiprocessing.parent_process() is not None:
                # A worker process: multiprocessing runs no atexit handlers there,
                # but it does run its finalizers before the worker exits.
                multiprocessing.util.Finalize(
                    sender, _close_in_worker, args=(sender,), exitpriority=10
                )
        return sender


#: The longest a direct call (a trace, the datasets) may take before it is given up.
DIRECT_CALL_TIMEOUT_S = POLICY.direct_call_timeout_s
#: How long the server may take to answer the check before a direct call.
DIRECT_CALL_PROBE_S = POLICY.direct_call_probe_s


def call_directly(
    run: RunRef, what: str, call: Callable[[], T], *, even_if_away: bool = False
) -> T:
    """Make a call outside the batches (``log_inputs``, a trace), never for minutes.

    MLflow's client retries a lost server for minutes. The call is not made
    while the run's sender finds the store away (unless ``even_if_away``), and is
    given up after ``DIRECT_CALL_TIMEOUT_S`` (or the flush timeout, if shorter);
    the thread making it is a daemon, so it never holds the process at exit.

    Args:
        run: The run the call is about.
        what: What the call logs or checks, for the message.
        call: The call.
        even_if_away: Make the call even while the sender finds the store away
            (the store may be back without a batch having told the sender: a
            check that files landed, say); the server is still probed first.

    Raises:
        TrackingError: Naming ``what`` was not logged, and why; or the call's
            own error.
    """
    shown = mask_url_passwords(run.tracking_uri)
    if not even_if_away and sender_for(run).store_away:
        raise TrackingError(
            f"{what} was not logged to MLflow run {run.run_id}: the tracking store "
            f"at {shown} is away."
        )
    try:
        # A server that went away since the last batch: known in milliseconds.
        check_reachable(run.tracking_uri, timeout_s=DIRECT_CALL_PROBE_S)
    except TrackingError as exc:
        raise TrackingError(
            f"{what} was not logged to MLflow run {run.run_id}: {exc}"
        ) from None
    timeout = min(DIRECT_CALL_TIMEOUT_S, flush_timeout())
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(
        target=target, name="pipelinex_mlflow-direct", daemon=True
    )
    try:
        thread.start()
    except RuntimeError:
        # No thread starts in exit handlers on Python 3.12.0 and 3.12.1 (a run
        # ended at exit logs its trace there): the call is made here, bounded by
        # the store's own timeouts only, as DaemonPool does.
        target()
    else:
        thread.join(timeout)
    if thread.is_alive():
        raise TrackingError(
            f"{what} was not logged to MLflow run {run.run_id}: the tracking store at "
            f"{shown} did not answer within {timeout:.0f} s."
        )
    if failure:
        raise failure[0]
    return outcome[0]


def settle_before_fork(run: RunRef) -> SendReport:
    """Let this process's threads for ``run`` go idle before worker processes fork.

    A process forked while another of its threads holds a lock (an import lock
    while a module loads, a client's) gives the child that lock held forever:
    a ParallelRunner worker then hangs on its first MLflow call. Everything
    queued and uploading is sent (bounded by the flush timeout), so the threads
    sleep when Kedro forks.

    Returns:
        What the store rejected meanwhile, if anything.
    """
    return drain_run(run)


def drain_run(run: RunRef) -> SendReport:
    """Send everything this process holds for ``run`` and wait for it (bounded)."""
    key = (os.getpid(), run.tracking_uri, run.run_id)
    with _senders_lock:
        sender = _senders.get(key)
    return sender.drain(_deadline()) if sender is not None else SendReport()


def close_all(
    ends: Mapping[RunRef, RunEnd] | None = None, deadline: float | None = None
) -> dict[RunRef, SendReport]:
    """Close and forget every sender of this process; return what each did not send.

    Args:
        ends: The runs to end, with their status and end time. A run to end that
            this process has no sender for gets one.
        deadline: A ``time.monotonic()`` value shared by all senders; by default
            :func:`flush_timeout` seconds from now.

    Returns:
        For each run with something rejected or spooled, its report.
    """
    ends = dict(ends or {})
    deadline = _deadline() if deadline is None else deadline
    for run in ends:
        sender_for(run)
    with _senders_lock:
        mine = [k for k in _senders if k[0] == os.getpid()]
        senders = [_senders.pop(k) for k in mine]
    reports = {
        sender.run: sender.close(deadline, ends.get(sender.run)) for sender in senders
    }
    return {run: report for run, report in reports.items() if report}


def close_run(run: RunRef, end: RunEnd | None = None) -> SendReport:
    """Close this process's sender for ``run`` (ending the run with ``end``).

    Waits :func:`flush_timeout` seconds at most; what is left goes to the spool.
    """
    key = (os.getpid(), run.tracking_uri, run.run_id)
    with _senders_lock:
        sender = _senders.pop(key, None)
    if sender is None:
        sender = RunSender(run)
    return sender.close(_deadline(), end)


def wait_for_uploads_of(local: Path) -> None:
    """Wait until no background upload of this process reads ``local``."""
    with _senders_lock:
        senders = [s for (pid, _, _), s in _senders.items() if pid == os.getpid()]
    for sender in senders:
        sender.wait_for_uploads_of(local)


def _close_all_at_exit() -> None:
    for run, report in close_all().items():
        _warn_unsent(run, report)


def _close_in_worker(sender: RunSender) -> None:
    report = sender.close(_deadline())
    if report:
        # Kedro's logging handlers are gone when a worker exits: say it on stderr,
        # which the worker shares with the main process.
        sys.stderr.write(
            f"WARNING pipelinex_mlflow: worker process {os.getpid()} exits, and for "
            f"MLflow run {sender.run.run_id} {report.summary()}\n"
        )
        sys.stderr.flush()


def _warn_unsent(run: RunRef, report: SendReport) -> None:
    logger.warning(
        "Process %d exits, and for MLflow run %s %s",
        os.getpid(),
        run.run_id,
        report.summary(),
    )


def _forget_parents_senders() -> None:
    # A forked child has the parent's senders but not their threads; what they
    # hold is the parent's to send.
    global _senders_lock  # noqa: PLW0603 - a fresh lock: the parent's may be held
    _senders_lock = threading.Lock()
    _senders.clear()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):  # Unix only; Windows has no fork
    os.register_at_fork(after_in_child=_forget_parents_senders)
