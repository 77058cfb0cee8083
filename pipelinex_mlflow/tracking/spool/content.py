"""What a spool holds: the values, files and end of a run that could not be sent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from pipelinex_mlflow.tracking.metric_point import MetricPoint
    from pipelinex_mlflow.tracking.run_ref import RunRef


@dataclass
class RunEnd:
    """How a run ended: its status and end time (milliseconds since the epoch)."""

    status: str
    end_time: int

    @classmethod
    def now(cls, status: str) -> RunEnd:
        """The end of a run that ends now with ``status``."""
        return cls(status, int(time.time() * 1000))


@dataclass
class Refused:
    """What a spool could not hold: its own reader would refuse it.

    Attributes:
        values: How many params, metrics and tags were left out.
        files: The artifacts (as the run would name them) left out.
        reasons: One line per item left out.
    """

    values: int = 0
    files: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.values or self.files)


@dataclass
class Spooled:
    """What one process could not send to a run.

    Attributes:
        params: Params to log.
        checked_params: Params the run may already hold: compared before logging.
        tags: Tags to set.
        metrics: Metric points, in the order they came.
        files: ``(local path, artifact path)`` of files or folders to upload.
        texts: ``(text, artifact file)`` of texts to upload.
        end: The run's end, if it could not be recorded either.
        refused: What :func:`write_spool` left out of the spool file.
    """

    params: dict[str, str] = field(default_factory=dict)
    checked_params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricPoint] = field(default_factory=list)
    files: list[tuple[str, str | None]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    end: RunEnd | None = None
    refused: Refused = field(default_factory=Refused)

    @property
    def value_count(self) -> int:
        """How many params, metrics and tags it holds."""
        return (
            len(self.params)
            + len(self.checked_params)
            + len(self.tags)
            + len(self.metrics)
        )

    @property
    def file_count(self) -> int:
        """How many files and texts it holds."""
        return len(self.files) + len(self.texts)

    def __bool__(self) -> bool:
        return bool(self.value_count or self.file_count or self.end)


@dataclass
class SpoolContent:
    """A spool file read back: its run, and the batches in the order written.

    Attributes:
        run: The run the spool belongs to.
        batches: The batches; their ``files`` point into ``files_root``.
        files_root: Where the spooled files were extracted (``None``: not extracted).
    """

    run: RunRef
    batches: list[Spooled]
    files_root: Path | None = None
