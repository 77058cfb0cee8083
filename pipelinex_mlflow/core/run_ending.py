"""Ending the MLflow run of a Kedro run, and saying truly how it ended.

The run's end is sent after everything the process still holds for it (the
buffered values, the files being uploaded); what the store did not take is
named, and the log says "ended" only when the end reached the store.

Examples:
    >>> from pipelinex_mlflow.core.run_opening import OpenedRun, RunMode
    >>> from pipelinex_mlflow.tracking import RunRef
    >>> opened = OpenedRun(RunRef("sqlite:///m.db", "r1"), "0", RunMode.ADOPTED)
    >>> _closing_note(opened, "FINISHED") is None
    False
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelinex_mlflow.core.run_opening import RunMode
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking import (
    RunEnd,
    RunLogger,
    SendReport,
    close_all,
    get_start_time,
    set_flush_timeout,
)
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from collections.abc import Callable

    from pipelinex_mlflow.core.run_opening import OpenedRun
    from pipelinex_mlflow.tracking import RunRef, RunStatus

logger = get_logger(__name__)


def end_tracked_run(owner: object, opened: OpenedRun, status: RunStatus) -> None:
    """Send what every process of the run still holds, then end it ``status``.

    A run this process does not end (shared, adopted) is only flushed. Never
    raises: a failure is a warning naming what was not recorded.
    """
    run = opened.run
    end = RunEnd.now(status) if opened.ends_here else None
    reports: dict[RunRef, SendReport] = {}
    # Said only when the end reached the store: the log must match it.
    ended = False
    with warn_on_failure(
        owner,
        f"end MLflow run {run.run_id} {status} (it stays RUNNING until the next "
        "run of the project marks it FAILED)",
    ):
        reports = close_all({run: end} if end is not None else {})
        ended = True
    for unsent_run, report in reports.items():
        # Each report names what was rejected, and the spool of what was not sent.
        if unsent_run == run:
            logger.warning(
                "MLflow run %s ends %s, but %s", run.run_id, status, report.summary()
            )
        else:
            logger.warning("For MLflow run %s, %s", unsent_run.run_id, report.summary())
    end_unrecorded = run in reports and reports[run].end_unrecorded
    note = _closing_note(opened, status)
    if note is not None and (not opened.ends_here or (ended and not end_unrecorded)):
        logger.info(note)


def _closing_note(opened: OpenedRun, status: RunStatus) -> str | None:
    run_id = opened.run.run_id
    if opened.mode is RunMode.SHARED:
        return (
            f"MLflow run {run_id} stays open for the other steps; the orchestrator "
            "ends it with `kedro mlflow end-run --status ...`"
        )
    if opened.mode is RunMode.ADOPTED:
        return (
            f"MLflow run {run_id} stays open: it is the caller's (mlflow.start_run()), "
            "who ends it."
        )
    return f"MLflow run {run_id} ended {status}"


def end_shared_run(
    run: RunRef,
    status: RunStatus,
    *,
    queue_end: Callable[[RunLogger, float], None],
    flush_timeout: float,
) -> SendReport:
    """End a run that orchestrated steps shared (``kedro mlflow end-run``).

    Args:
        run: The shared run.
        status: How it ends.
        queue_end: Queues the run's end times (``__time_end``, ``__time``) given
            its duration in seconds, as the run hook is configured to.
        flush_timeout: Seconds to wait for what is still being sent.

    Returns:
        What could not be sent (spooled or rejected), if anything.
    """
    import time

    run_logger = RunLogger(run, check_existing_params=True)
    started_s = get_start_time(run) / 1000
    queue_end(run_logger, time.time() - started_s)
    run_logger.flush()
    set_flush_timeout(flush_timeout)
    return close_all({run: RunEnd.now(status)}).get(run, SendReport())
