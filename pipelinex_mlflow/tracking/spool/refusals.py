"""What a spool would refuse, taken out of a batch before it is written, and named."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipelinex_mlflow.tracking.spool.schema import (
    BatchRecord,
    FileRecord,
    TextRecord,
    empty_record,
    metric_row,
    refusal,
)
from pipelinex_mlflow.tracking.value_text import valid_utf8

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking.spool.content import Spooled


def leave_out_refused(spooled: Spooled, batch_id: str) -> None:
    """Take out of ``spooled`` each item the reader's schema refuses; count it."""
    refused = spooled.refused
    for kind in ("params", "checked_params", "tags"):
        values: dict[str, str] = getattr(spooled, kind)
        if refusal(BatchRecord, empty_record(**{kind: values})) is None:
            continue  # all good: the usual case, one check
        for key, value in list(values.items()):
            problem = refusal(BatchRecord, empty_record(**{kind: {key: value}}))
            if problem is not None:
                del values[key]
                refused.values += 1
                refused.reasons.append(
                    f"{kind.rstrip('s')} {valid_utf8(key)!r}: {problem}"
                )
    rows = [metric_row(point) for point in spooled.metrics]
    if refusal(BatchRecord, empty_record(metrics=rows)) is not None:
        kept = []
        for point, row in zip(spooled.metrics, rows, strict=True):
            problem = refusal(BatchRecord, empty_record(metrics=[row]))
            if problem is None:
                kept.append(point)
            else:
                refused.values += 1
                refused.reasons.append(f"metric {valid_utf8(point.key)!r}: {problem}")
        spooled.metrics = kept
    _leave_out_refused_files(spooled, batch_id)


def _leave_out_refused_files(spooled: Spooled, batch_id: str) -> None:
    """Take out of ``spooled`` each file and text the reader's schema refuses."""
    refused = spooled.refused
    kept_files = []
    for number, (local, artifact_path) in enumerate(spooled.files):
        problem = refusal(
            FileRecord,
            {
                "member": f"files/{batch_id}/{number}",
                "name": valid_utf8(Path(local).name),
                "artifact_path": artifact_path,
            },
        )
        if problem is None:
            kept_files.append((local, artifact_path))
        else:
            name = _artifact_name(local, artifact_path)
            refused.files.append(name)
            refused.reasons.append(f"{name}: {problem}")
    spooled.files = kept_files
    kept_texts = []
    for number, (text, artifact_file) in enumerate(spooled.texts):
        problem = refusal(
            TextRecord,
            {"member": f"texts/{batch_id}/{number}", "artifact_file": artifact_file},
        )
        if problem is None:
            kept_texts.append((text, artifact_file))
        else:
            refused.files.append(valid_utf8(artifact_file))
            refused.reasons.append(f"{valid_utf8(artifact_file)}: {problem}")
    spooled.texts = kept_texts


def _artifact_name(local: str, artifact_path: str | None) -> str:
    """The artifact ``local`` makes in the run, as the MLflow UI shows it."""
    base = valid_utf8(Path(local).name)
    shown = valid_utf8(artifact_path or "")
    if Path(local).is_dir():
        return f"{shown or base}/"
    return f"{shown.rstrip('/')}/{base}" if shown else base
