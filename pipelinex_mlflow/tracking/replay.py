"""Sending a spool file into its run: what the store did not take when the run ran.

A replay first checks the whole file (a spool may come from anywhere): a file
that is not a valid spool sends nothing, and is renamed ``<name>.rejected.zip``.
It sends every batch of the spool with the same sender a run uses, then ends
the run with the status it should have had, then renames the file
``<run id>.replayed.zip``. It adds nothing the run already holds: metrics keep
their original timestamps (MLflow keeps one of identical entries), params already
held with the same value are skipped, tags and artifacts are overwritten with the
same content. So a replay interrupted halfway can be run again.

What the store refuses for good (a param changed since, say) is named, and the
file is still marked replayed: a second try would be refused the same way. Only
what the store did not take in time keeps the file pending.

Given the project's tracking URI, a spool naming another store is refused and
kept pending: MLflow's client would send the project's credentials
(``MLFLOW_TRACKING_TOKEN``, say) to whatever host a copied or crafted spool names.

Examples:
    >>> replay_all(Path("no-such-folder"))
    []
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import get_logger, mask_secrets, mask_url_passwords
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.run_ref import RunRef
from pipelinex_mlflow.tracking.sender import RunSender
from pipelinex_mlflow.tracking.spool import (
    BadSpoolError,
    mark_rejected,
    mark_replayed,
    pending_spools,
    read_spool,
)

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking.send_report import SendReport
    from pipelinex_mlflow.tracking.spool import RunEnd, SpoolContent, Spooled

#: How long a replay may take in total (large artifacts over a slow link).
REPLAY_TIMEOUT_S = 600.0

logger = get_logger(__name__)


class ForeignSpoolError(TrackingError):
    """A spool naming another tracking store than the project's: kept, not sent."""


@dataclass(frozen=True)
class ReplayResult:
    """What a replay sent.

    Attributes:
        run: The run the spool belonged to.
        values: How many params, metrics and tags it sent.
        files: How many files and texts it uploaded.
        status: The status the run was ended with, if the spool held the end.
        replayed_path: Where the spool file is now.
        lost: What the store refused for good, in one line (``None``: nothing).
    """

    run: RunRef
    values: int
    files: int
    status: str | None
    replayed_path: Path
    lost: str | None = None


def replay(
    path: Path, tracking_uri: str | None = None, *, project_uri: str | None = None
) -> ReplayResult:
    """Send the spool file ``path`` into its run, end the run, mark the file replayed.

    Args:
        path: A spool file (``<run id>.zip``).
        tracking_uri: Send to this store instead of the one the spool names (the
            same server under another address, say).
        project_uri: The project's tracking URI: without ``tracking_uri``, a
            spool naming another store is refused.

    Nothing in the file is trusted (it may have been copied from elsewhere, or
    crafted): :func:`~pipelinex_mlflow.tracking.spool.read_spool` checks every
    record and path first, and only files inside the spool are uploaded.

    Raises:
        BadSpoolError: If the file is not a valid spool; nothing of it is sent,
            and it is renamed ``<name>.rejected.zip`` so later replays pass it by.
        ForeignSpoolError: If the spool names another store than
            ``project_uri``; nothing is sent, and the file is kept.
        TrackingError: If the store did not take everything in time; the file is
            kept then, and can be replayed again.
    """
    with tempfile.TemporaryDirectory(prefix="pipelinex_mlflow-replay-") as folder:
        content = _read_or_set_aside(path, Path(folder))
        if tracking_uri is None and project_uri is not None:
            _check_same_store(path, content.run.tracking_uri, project_uri)
        run = RunRef(tracking_uri or content.run.tracking_uri, content.run.run_id)
        sender = RunSender(run)
        submitted = _submit_batches(sender, content.batches)
        # Closed inside the folder: the files extracted there are uploaded first.
        deadline = time.monotonic() + REPLAY_TIMEOUT_S
        report = sender.close(deadline, submitted.end, spool=False)
    lost = _refused_for_good(path, run, report)
    done = mark_replayed(path)
    logger.info(
        "Replayed %d value(s) and %d file(s) into MLflow run %s%s; the spool is now %s",
        submitted.values,
        submitted.files,
        run.run_id,
        f", ended {submitted.end.status}" if submitted.end else "",
        done,
    )
    return ReplayResult(
        run=run,
        values=submitted.values,
        files=submitted.files,
        status=submitted.end.status if submitted.end else None,
        replayed_path=done,
        lost=lost,
    )


def _read_or_set_aside(path: Path, folder: Path) -> SpoolContent:
    """Read and check the spool ``path``, extracting its files into ``folder``.

    Raises:
        BadSpoolError: If it is not a valid spool, once it is renamed
            ``<name>.rejected.zip`` so later replays pass it by.
    """
    try:
        return read_spool(path, extract_to=folder)
    except BadSpoolError as exc:
        aside = mark_rejected(path)
        raise BadSpoolError(
            f"{str(exc).rstrip('.')}. Nothing of it was sent; it is kept aside "
            f"as {aside.name}."
        ) from None


@dataclass(frozen=True)
class _Submitted:
    """What was handed to the sender: counts for the result, and the run's end."""

    values: int
    files: int
    end: RunEnd | None


def _submit_batches(sender: RunSender, batches: list[Spooled]) -> _Submitted:
    """Hand every batch of a spool to ``sender``, in order; the last end wins."""
    values = files = 0
    end = None
    for batch in batches:
        sender.submit(params=batch.params, metrics=batch.metrics, tags=batch.tags)
        sender.submit(
            params=batch.checked_params,
            metrics=[],
            tags={},
            check_existing_params=True,
        )
        for local, artifact_path in batch.files:
            sender.upload(local, artifact_path)
        for text, artifact_file in batch.texts:
            sender.upload_text(text, artifact_file)
        values += batch.value_count
        files += batch.file_count
        end = batch.end or end
    return _Submitted(values, files, end)


def _refused_for_good(path: Path, run: RunRef, report: SendReport) -> str | None:
    """What the store refused for good, in one line (warned of), or ``None``.

    Raises:
        TrackingError: If the store did not take everything in time: the file is
            kept then, to be replayed again.
    """
    reasons = mask_secrets("; ".join(dict.fromkeys(report.errors)))
    if report.unsent_in_time:
        raise TrackingError(
            f"Replaying {path} into MLflow run {run.run_id} at "
            f"{mask_url_passwords(run.tracking_uri)} did not finish: the store did "
            f"not take everything in time ({reasons}). The file is kept; replay it "
            "again later."
        )
    if not report.lost:
        return None
    # Refused for good: another try would be refused the same way.
    parts = [f"{report.lost_values} value(s)"] if report.lost_values else []
    if report.lost_files:
        names = ", ".join(report.lost_files)
        parts.append(f"{len(report.lost_files)} file(s) ({names})")
    if report.end_lost:
        parts.append(f"the run's end ({report.end_lost})")
    lost = f"{' and '.join(parts)} were refused by the store: {reasons}"
    logger.warning("Replaying %s into MLflow run %s: %s", path, run.run_id, lost)
    return lost


def _check_same_store(path: Path, spool_uri: str, project_uri: str) -> None:
    """Refuse a spool naming another store than the project's.

    Raises:
        ForeignSpoolError: Naming both stores (passwords masked) and the way out.
    """
    if spool_uri.rstrip("/") == project_uri.rstrip("/"):
        return
    raise ForeignSpoolError(
        f"{path} names the tracking store {mask_url_passwords(spool_uri)}, not this "
        f"project's {mask_url_passwords(project_uri)}: nothing was sent, so this "
        "project's MLflow credentials did not go to a store a copied or crafted "
        "file names. It is kept; send it to a store you choose with "
        f"`kedro mlflow replay --uri <uri> {path}` (this project's: "
        f"--uri {mask_url_passwords(project_uri)})."
    )


def replay_all(
    folder: Path, tracking_uri: str | None = None, *, project_uri: str | None = None
) -> list[ReplayResult]:
    """Replay every spool file in ``folder`` not replayed yet, oldest first.

    Args:
        folder: The spool folder.
        tracking_uri: Send every spool to this store.
        project_uri: The project's tracking URI (see :func:`replay`).

    Raises:
        TrackingError: After trying them all, naming the ones that failed.
    """
    results, failures = [], []
    for path in pending_spools(folder):
        try:
            results.append(replay(path, tracking_uri, project_uri=project_uri))
        except TrackingError as exc:
            failures.append(str(exc))
    if failures:
        raise TrackingError(" ".join(failures))
    return results
