"""The local spool: what could not be sent to a run, kept on disk until it can be.

When the tracking store does not take a run's last values, files or final status
in time (the server is down, say), the sender writes them here instead of losing
them: one ZIP file per run, ``<spool folder>/<run id>.zip``, which every process
of the run (ParallelRunner workers too) adds to under a file lock.
:func:`~pipelinex_mlflow.tracking.replay.replay` sends a spool into its run later
(``kedro mlflow replay``).

Inside the file: ``run.json`` (the tracking URI and run id), one
``batches/<n>.json`` per write (params, tags, metrics with their original
timestamps, the files and texts of the batch, and the run's end if the batch
holds it), and the files under ``files/<batch>/``. Keeping the original metric
timestamps is what makes a replay idempotent: MLflow ignores a metric it already
holds with the same key, value, step and timestamp.

Examples:
    >>> import tempfile
    >>> from pipelinex_mlflow.tracking.run_ref import RunRef
    >>> folder = Path(tempfile.mkdtemp())
    >>> run = RunRef("http://127.0.0.1:5000", "0123abcd")
    >>> path = write_spool(
    ...     run, Spooled(metrics=[("loss", 0.5, 0, 1700000000000)]), folder
    ... )
    >>> path.name
    '0123abcd.zip'
    >>> read_spool(path).batches[0].metrics
    [('loss', 0.5, 0, 1700000000000)]
"""

from __future__ import annotations

import itertools
import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.run_ref import RunRef

SPOOL_DIR_ENV_VAR = "PIPELINEX_MLFLOW_SPOOL_DIR"
DEFAULT_SPOOL_DIR_NAME = "mlflow_spool"
SPOOL_SUFFIX = ".zip"
REPLAYED_SUFFIX = ".replayed"
_FORMAT = 1

#: ``(key, value, step, timestamp)``, and the id of the model it is linked to.
MetricEntry = tuple[str, float, int, int] | tuple[str, float, int, int, str]
_batch_numbers = itertools.count()


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
class Spooled:
    """What one process could not send to a run.

    Attributes:
        params: Params to log.
        checked_params: Params the run may already hold: compared before logging.
        tags: Tags to set.
        metrics: ``(key, value, step, timestamp[, model id])`` entries.
        files: ``(local path, artifact path)`` of files or folders to upload.
        texts: ``(text, artifact file)`` of texts to upload.
        end: The run's end, if it could not be recorded either.
    """

    params: dict[str, str] = field(default_factory=dict)
    checked_params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricEntry] = field(default_factory=list)
    files: list[tuple[str, str | None]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    end: RunEnd | None = None

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


def spool_dir() -> Path:
    """The spool folder: ``PIPELINEX_MLFLOW_SPOOL_DIR``, else ``./mlflow_spool``.

    ``MLflowBasicLoggerHook`` sets the variable to ``<project root>/mlflow_spool``
    when a run starts, so every process of the run (and the CLI) agrees.
    """
    return Path(os.environ.get(SPOOL_DIR_ENV_VAR) or DEFAULT_SPOOL_DIR_NAME).resolve()


def set_spool_dir(folder: Path) -> None:
    """Make ``folder`` the spool folder of this process and the processes it starts."""
    os.environ[SPOOL_DIR_ENV_VAR] = str(folder)


def spool_path(run_id: str, folder: Path | None = None) -> Path:
    """The spool file of run ``run_id``."""
    return (folder or spool_dir()) / f"{run_id}{SPOOL_SUFFIX}"


def pending_spools(folder: Path | None = None) -> list[Path]:
    """The spool files in ``folder`` not replayed yet, oldest first."""
    folder = folder or spool_dir()
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.glob(f"*{SPOOL_SUFFIX}")
        if p.is_file() and REPLAYED_SUFFIX not in p.name
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def write_spool(run: RunRef, spooled: Spooled, folder: Path | None = None) -> Path:
    """Add ``spooled`` to the spool file of ``run``; return the file's path.

    Files are copied into the spool, so temporary folders may go afterwards.

    Raises:
        TrackingError: If the spool cannot be written (a full disk, say).
    """
    from filelock import FileLock

    path = spool_path(run.run_id, folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock"):
            _append(path, run, spooled)
    except OSError as exc:
        raise TrackingError(
            f"Could not write the spool {path} for MLflow run {run.run_id}: {exc}"
        ) from exc
    finally:
        Path(f"{path}.lock").unlink(missing_ok=True)
    return path


def _append(path: Path, run: RunRef, spooled: Spooled) -> None:
    batch_id = f"{time.time_ns():020d}-{os.getpid()}-{next(_batch_numbers)}"
    fresh = not path.exists()
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        if fresh:
            os.chmod(path, 0o600)  # the URI may carry credentials
            archive.writestr(
                "run.json",
                json.dumps(
                    {
                        "format": _FORMAT,
                        "tracking_uri": run.tracking_uri,
                        "run_id": run.run_id,
                    }
                ),
            )
        files = []
        for number, (local, artifact_path) in enumerate(spooled.files):
            member = f"files/{batch_id}/{number}/{Path(local).name}"
            _add_path(archive, Path(local), member)
            files.append({"member": member, "artifact_path": artifact_path})
        texts = []
        for number, (text, artifact_file) in enumerate(spooled.texts):
            member = f"texts/{batch_id}/{number}"
            archive.writestr(member, text)
            texts.append({"member": member, "artifact_file": artifact_file})
        record = {
            "params": spooled.params,
            "checked_params": spooled.checked_params,
            "tags": spooled.tags,
            "metrics": spooled.metrics,
            "files": files,
            "texts": texts,
            "end": None
            if spooled.end is None
            else {"status": spooled.end.status, "end_time": spooled.end.end_time},
        }
        archive.writestr(f"batches/{batch_id}.json", json.dumps(record))


def _add_path(archive: zipfile.ZipFile, local: Path, member: str) -> None:
    if local.is_dir():
        archive.writestr(f"{member}/", "")
        for child in sorted(local.rglob("*")):
            if child.is_file():
                archive.write(child, f"{member}/{child.relative_to(local).as_posix()}")
    else:
        archive.write(local, member)


def read_spool(path: Path, extract_to: Path | None = None) -> SpoolContent:
    """Read a spool file; with ``extract_to``, extract its files there.

    Raises:
        TrackingError: If ``path`` is missing or not a spool file.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            header = json.loads(archive.read("run.json"))
            names = sorted(n for n in archive.namelist() if n.startswith("batches/"))
            records = [json.loads(archive.read(name)) for name in names]
            if extract_to is not None:
                _extract_safely(archive, extract_to)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise TrackingError(
            f"{path} is not a readable pipelinex_mlflow spool file ({exc})."
        ) from exc
    run = RunRef(tracking_uri=header["tracking_uri"], run_id=header["run_id"])
    root = extract_to
    batches = [_batch(record, root) for record in records]
    return SpoolContent(run=run, batches=batches, files_root=root)


def _extract_safely(archive: zipfile.ZipFile, target: Path) -> None:
    target = target.resolve()
    for info in archive.infolist():
        destination = (target / info.filename).resolve()
        if not destination.is_relative_to(target):
            raise ValueError(f"member {info.filename!r} points outside the spool")
    archive.extractall(target)


def _batch(record: dict[str, Any], root: Path | None) -> Spooled:
    def local(member: str) -> str:
        return str((root or Path()) / member)

    texts = [
        (
            Path(local(t["member"])).read_text(encoding="utf-8") if root else "",
            str(t["artifact_file"]),
        )
        for t in record.get("texts") or []
    ]
    end = record.get("end")
    return Spooled(
        params=dict(record.get("params") or {}),
        checked_params=dict(record.get("checked_params") or {}),
        tags=dict(record.get("tags") or {}),
        metrics=[_metric_entry(entry) for entry in record.get("metrics") or []],
        files=[
            (local(f["member"]), f["artifact_path"]) for f in record.get("files") or []
        ],
        texts=texts,
        end=None if not end else RunEnd(str(end["status"]), int(end["end_time"])),
    )


def linked_model_id(entry: MetricEntry) -> str | None:
    """The id of the model a metric entry is linked to, if any."""
    # A linked entry has a fifth part; mypy narrows the tuple by the literal length.
    return entry[4] if len(entry) == 5 else None  # noqa: PLR2004


def _metric_entry(entry: list[Any]) -> MetricEntry:
    key, value, step, timestamp, *model = entry
    plain = (str(key), float(value), int(step), int(timestamp))
    return (*plain, str(model[0])) if model else plain


def mark_replayed(path: Path) -> Path:
    """Rename a replayed spool file so it is not replayed again; return the new path."""
    done = path.with_name(f"{path.stem}{REPLAYED_SUFFIX}{SPOOL_SUFFIX}")
    if done.exists():
        done = path.with_name(
            f"{path.stem}{REPLAYED_SUFFIX}-{time.time_ns()}{SPOOL_SUFFIX}"
        )
    path.rename(done)
    return done
