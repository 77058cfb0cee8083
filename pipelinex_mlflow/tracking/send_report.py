"""``SendReport``: what a sender could not send, and where it went instead.

Examples:
    >>> report = SendReport(lost_values=2, errors=["MLflow refused 2 values"])
    >>> report.summary()
    '2 value(s) could not be logged: MLflow refused 2 values'
    >>> bool(SendReport())
    False
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import get_logger, mask_secrets

if TYPE_CHECKING:
    from pathlib import Path

logger = get_logger(__name__)


@dataclass
class SendReport:
    """What could not be sent since the last drain.

    Attributes:
        lost_values: How many params, metrics and tags did not land.
        lost_files: The local files (or artifact names) that did not land.
        errors: One line per failure, for the warning.
        spool: The spool file holding what the store did not take in time.
        spooled_values: How many values wait in ``spool``.
        spooled_files: How many files and texts wait in ``spool``.
        spooled_end: Whether the run's end waits in ``spool``.
        end_lost: The status the run should have ended with, when that end
            reached neither the store nor a spool: the store shows it RUNNING.
        unsent_in_time: Whether values were lost only because the store did not
            take them in time (another try may land them), as opposed to
            refused for good.
    """

    lost_values: int = 0
    lost_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    spool: Path | None = None
    spooled_values: int = 0
    spooled_files: int = 0
    spooled_end: bool = False
    end_lost: str | None = None
    unsent_in_time: bool = False

    @property
    def end_unrecorded(self) -> bool:
        """Whether the run's end is not in the store (spooled, or lost)."""
        return self.spooled_end or self.end_lost is not None

    @property
    def lost(self) -> bool:
        """Whether values, files or the end were lost (a spool holds none of them)."""
        return bool(self.lost_values or self.lost_files or self.end_lost)

    def __bool__(self) -> bool:
        return self.lost or self.spool is not None

    def summary(self) -> str:
        """One or two sentences naming what was lost or spooled, and why."""
        sentences = []
        if self.lost:
            parts = []
            if self.lost_values:
                parts.append(f"{self.lost_values} value(s)")
            if self.lost_files:
                parts.append(
                    f"{len(self.lost_files)} file(s) ({', '.join(self.lost_files)})"
                )
            reasons = "; ".join(dict.fromkeys(self.errors))
            if parts:
                sentences.append(
                    f"{' and '.join(parts)} could not be logged: {reasons}"
                )
            elif reasons:
                sentences.append(reasons)
            if self.end_lost:
                sentences.append(
                    f"the run's end ({self.end_lost}) could not be recorded: the "
                    "store shows the run RUNNING until `kedro mlflow runs` marks it "
                    "FAILED"
                )
        if self.spool is not None:
            parts = [f"{self.spooled_values} value(s)", f"{self.spooled_files} file(s)"]
            if self.spooled_end:
                parts.append("the run's end")
            sentences.append(
                f"the tracking store did not take {', '.join(parts)} in time; they "
                f"wait in {self.spool}: send them with `kedro mlflow replay "
                f"{self.spool}`"
            )
        # A reason quotes an error, which may hold a signed URL or a password.
        return mask_secrets("; ".join(sentences))

    def merge(self, other: SendReport) -> None:
        """Add what ``other`` reports to this report."""
        self.lost_values += other.lost_values
        self.lost_files += other.lost_files
        self.errors += other.errors
        self.spool = other.spool or self.spool
        self.spooled_values += other.spooled_values
        self.spooled_files += other.spooled_files
        self.spooled_end = self.spooled_end or other.spooled_end
        self.end_lost = self.end_lost or other.end_lost


class Losses:
    """What a sender lost since it was last asked, counted from any thread.

    Args:
        run_id: The run, for the debug line.

    Examples:
        >>> losses = Losses("0123abcd")
        >>> losses.lose(2, "refused: password=hunter2")
        >>> losses.take().errors, losses.take().errors
        (['refused: password=*****'], [])
    """

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id
        self._lock = threading.Lock()
        self._report = SendReport()

    def lose(self, count: int, reason: str) -> None:
        """Count ``count`` values as lost, for ``reason`` (masked)."""
        reason = mask_secrets(reason)
        with self._lock:
            self._report.lost_values += count
            self._report.errors.append(reason)
        logger.debug(
            "Could not log %d value(s) to run %s: %s", count, self._run_id, reason
        )

    def lose_file(self, name: str, reason: str) -> None:
        """Count the file ``name`` as lost, for ``reason`` (masked)."""
        reason = mask_secrets(reason)
        with self._lock:
            self._report.lost_files.append(name)
            self._report.errors.append(reason)

    def take(self) -> SendReport:
        """What was lost since the last call."""
        with self._lock:
            report, self._report = self._report, SendReport()
        return report
