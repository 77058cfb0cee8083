"""The schema of a spool file's records, which its reader and its writer both apply.

The writer leaves out what :func:`refusal` finds the reader would refuse, so one
bad item never makes a whole spool unreadable.

A metric is a :class:`~pipelinex_mlflow.tracking.metric_point.MetricPoint`
everywhere but in the file, where it is a row (:data:`MetricRow`):
:func:`metric_row` and :func:`metric_point` convert, the only places that do.

Examples:
    >>> point = MetricPoint("acc", 0.9, step=3, timestamp=17, model_id="m-1")
    >>> metric_row(point)
    ('acc', 0.9, 3, 17, 'm-1')
    >>> metric_point(metric_row(point)) == point
    True
    >>> metric_row(MetricPoint("loss", 0.5, step=0, timestamp=17))
    ('loss', 0.5, 0, 17)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from pipelinex_mlflow.tracking.metric_point import MetricPoint
from pipelinex_mlflow.tracking.paths import containment_problem
from pipelinex_mlflow.tracking.spool.content import RunEnd, Spooled

#: The version of the spool format, written in ``run.json``.
SPOOL_FORMAT = 1

#: A metric point in a spool file: ``[key, value, step, timestamp]``, and the id
#: of the model it is linked to, if it is.
MetricRow = tuple[str, float, int, int] | tuple[str, float, int, int, str]

# The schema of a spool file's records. A spool may come from anywhere (copied
# from another machine, crafted): every record is checked before anything is sent.
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


def _inside_artifacts(path: str | None) -> str | None:
    """Refuse an artifact path that would leave the run's artifacts."""
    if not path:
        return path  # None or "": the run's artifact root
    problem = containment_problem(path)
    if problem is not None:
        raise ValueError(
            f"artifact path {path!r} leaves the run's artifacts: {problem}"
        )
    return path


def _single_name(name: str | None) -> str | None:
    """Refuse a file name that is not one plain name (it names the upload)."""
    if name is None:
        return None
    problem = containment_problem(name) or ("it holds a '/'" if "/" in name else None)
    if problem is not None or name == ".":
        raise ValueError(f"file name {name!r} is not a plain name: {problem}")
    return name


def _inside_artifacts_required(path: str) -> str:
    return _inside_artifacts(path) or ""


class SpoolHeader(BaseModel):
    """``run.json``: the spool format, and the run the spool belongs to."""

    model_config = _STRICT
    format: Literal[1]
    tracking_uri: str = Field(min_length=1)
    run_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


class FileRecord(BaseModel):
    """A spooled file or folder: its member, its own name, its artifact path."""

    model_config = _STRICT
    member: str
    # The file's own name (its member is named by number); absent in spools
    # written before, whose member ends with it.
    name: Annotated[str | None, AfterValidator(_single_name)] = None
    artifact_path: Annotated[str | None, AfterValidator(_inside_artifacts)]


class TextRecord(BaseModel):
    """A spooled text: its member and the artifact file it becomes."""

    model_config = _STRICT
    member: str
    artifact_file: Annotated[
        str, Field(min_length=1), AfterValidator(_inside_artifacts_required)
    ]


class EndRecord(BaseModel):
    """The run's end, if the batch holds it."""

    model_config = _STRICT
    status: Literal["FINISHED", "FAILED", "KILLED"]
    end_time: int


class BatchRecord(BaseModel):
    """One ``batches/<n>.json``: what one write added to the spool."""

    model_config = _STRICT
    params: dict[str, str]
    checked_params: dict[str, str]
    tags: dict[str, str]
    metrics: list[MetricRow]
    files: list[FileRecord]
    texts: list[TextRecord]
    end: EndRecord | None

    def members(self) -> list[str]:
        """The spool members this record names."""
        return [f.member for f in self.files] + [t.member for t in self.texts]

    def to_spooled(self, root: Path | None) -> Spooled:
        """The batch, its files and texts read from ``root`` (where it was extracted)."""

        def local(member: str) -> str:
            return str((root or Path()) / member)

        return Spooled(
            params=dict(self.params),
            checked_params=dict(self.checked_params),
            tags=dict(self.tags),
            metrics=[metric_point(row) for row in self.metrics],
            files=[(_named(f, root), f.artifact_path) for f in self.files],
            texts=[
                (
                    Path(local(t.member)).read_text(encoding="utf-8") if root else "",
                    t.artifact_file,
                )
                for t in self.texts
            ],
            end=None
            if self.end is None
            else RunEnd(self.end.status, self.end.end_time),
        )


def _named(record: FileRecord, root: Path | None) -> str:
    """Where an extracted file is, under its own name (the upload's name)."""
    extracted = (root or Path()) / record.member
    if root is None or record.name is None or not extracted.is_file():
        return str(extracted)  # a folder uploads its content, without its name
    named = root / ".named" / record.member / record.name
    named.parent.mkdir(parents=True, exist_ok=True)
    extracted.rename(named)
    return str(named)


def metric_row(point: MetricPoint) -> MetricRow:
    """The row the spool file holds for ``point`` (four parts unless it is linked)."""
    if point.model_id is None:
        return (point.key, point.value, point.step, point.timestamp)
    return (point.key, point.value, point.step, point.timestamp, point.model_id)


def metric_point(row: MetricRow) -> MetricPoint:
    """The point a spool file's ``row`` holds (its fifth part, a linked model's id)."""
    # mypy narrows the tuple by the literal length.
    model_id = row[4] if len(row) == 5 else None  # noqa: PLR2004
    key, value, step, timestamp = row[:4]
    return MetricPoint(key, value, step, timestamp, model_id)


def empty_record(**values: Any) -> dict[str, Any]:
    """A batch record holding nothing but ``values``, to check them alone."""
    record: dict[str, Any] = {
        "params": {},
        "checked_params": {},
        "tags": {},
        "metrics": [],
        "files": [],
        "texts": [],
        "end": None,
    }
    record.update(values)
    return record


def refusal(model: type[BaseModel], record: dict[str, Any]) -> str | None:
    """Why the reader would refuse ``record`` as written to the file, or ``None``."""
    try:
        model.model_validate_json(json.dumps(record))
    except (ValidationError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            # Without the input: a refused value may be a secret.
            return "; ".join(
                " ".join(e["msg"].split())
                for e in exc.errors(include_input=False, include_url=False)
            )[:300]
        return one_line(exc)
    return None


def one_line(exc: BaseException) -> str:
    """The error as one line: its type and text, at most 500 characters."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500]
