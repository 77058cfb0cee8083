"""The end of a sender's run: marking it ended, and spooling what is still unsent.

Marking the run ended has its own daemon thread, bounded by the close's
deadline: uploads stuck on the pool must not hold it up, and a store that never
answers must not hold the process. What the store did not take in time (values,
files, texts, the end itself) goes to the run's spool file
(:mod:`~pipelinex_mlflow.tracking.spool`), to be replayed later; a spool that
cannot be written is a counted loss, named in the report.
"""

from __future__ import annotations

import time
from concurrent.futures import wait
from pathlib import Path
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import get_logger, mask_url_passwords
from pipelinex_mlflow.tracking.daemon_pool import DaemonPool
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.send_failures import error_text, is_transient, retrying
from pipelinex_mlflow.tracking.spool import Spooled, write_spool
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking.file_uploads import FileJob
    from pipelinex_mlflow.tracking.pending_values import PendingValues
    from pipelinex_mlflow.tracking.run_ref import RunRef
    from pipelinex_mlflow.tracking.send_report import SendReport
    from pipelinex_mlflow.tracking.spool import RunEnd

logger = get_logger(__name__)


def mark_ended(
    run: RunRef, end: RunEnd, deadline: float | None, report: SendReport
) -> bool:
    """Mark ``run`` ended with ``end``; ``False`` if the store did not answer in time.

    A refusal for good (a deleted run, say) is not spooled: it is said in
    ``report``, and counts as done.
    """
    client = get_client(run.tracking_uri)
    ending = DaemonPool(1, "pipelinex_mlflow-end-run").submit(
        retrying,
        lambda: client.set_terminated(
            run.run_id, status=end.status, end_time=end.end_time
        ),
    )
    done, _ = wait(
        [ending],
        None if deadline is None else max(0.0, deadline - time.monotonic()),
    )
    if not done:
        return False
    error = ending.exception()
    if error is None:
        return True
    if is_transient(error):
        return False
    report.end_lost = end.status
    report.errors.append(
        f"the run could not be marked {end.status}: {type(error).__name__}: "
        f"{error_text(error)}"
    )
    return True


def spool_unsent(
    run: RunRef,
    rest: PendingValues,
    jobs: list[FileJob],
    end: RunEnd | None,
    report: SendReport,
    *,
    write: bool = True,
) -> None:
    """Write ``rest``, ``jobs`` (and ``end``) to the run's spool file.

    With ``write=False`` they are counted as lost instead (a replay, which reads
    the spool, says so).
    """
    jobs = list(jobs)
    for job in [j for j in jobs if j.local is not None and not Path(j.local).exists()]:
        jobs.remove(job)
        report.lost_files.append(job.name)
        report.errors.append(f"{job.local} no longer exists")
    spooled = Spooled(
        params=rest.params,
        checked_params=rest.checked_params,
        tags=rest.tags,
        metrics=list(rest.metrics),
        files=[(j.local, j.artifact_path) for j in jobs if j.local is not None],
        texts=[(j.text, str(j.artifact_path)) for j in jobs if j.text is not None],
        end=end,
    )
    if not spooled:
        return
    try:
        if not write:
            report.unsent_in_time = True
            raise TrackingError("the tracking store did not take them in time")
        report.spool = write_spool(run, spooled)
    except TrackingError as exc:
        _count_lost(report, spooled, jobs, end, exc, written=write)
        return
    _count_spooled(run, report, spooled, end)


def _count_lost(
    report: SendReport,
    spooled: Spooled,
    jobs: list[FileJob],
    end: RunEnd | None,
    exc: TrackingError,
    *,
    written: bool,
) -> None:
    """Count and name what could not be spooled, like a refused value."""
    report.lost_values += spooled.value_count
    report.lost_files += [job.name for job in jobs]
    if end is not None:
        report.end_lost = end.status
    if written:
        report.errors.append(f"the tracking store did not take them in time, and {exc}")
    else:
        report.errors.append(str(exc))


def _count_spooled(
    run: RunRef, report: SendReport, spooled: Spooled, end: RunEnd | None
) -> None:
    """Count what waits in the spool (and what its reader would refuse: lost)."""
    report.lost_values += spooled.refused.values
    report.lost_files += spooled.refused.files
    report.errors += spooled.refused.reasons
    report.spooled_values += spooled.value_count
    report.spooled_files += spooled.file_count
    report.spooled_end = report.spooled_end or end is not None
    logger.warning(
        "MLflow run %s: the tracking store at %s did not take %d value(s), "
        "%d file(s)%s in time; they are kept in %s. Send them with "
        "`kedro mlflow replay %s` once the store is back.",
        run.run_id,
        mask_url_passwords(run.tracking_uri),
        spooled.value_count,
        spooled.file_count,
        " and the run's end" if end is not None else "",
        report.spool,
        report.spool,
    )
