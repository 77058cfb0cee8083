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
import shutil
import stat
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.run_ref import RunRef

if TYPE_CHECKING:
    from collections.abc import Iterator

SPOOL_DIR_ENV_VAR = "PIPELINEX_MLFLOW_SPOOL_DIR"
DEFAULT_SPOOL_DIR_NAME = "mlflow_spool"
SPOOL_SUFFIX = ".zip"
REPLAYED_SUFFIX = ".replayed"
REJECTED_SUFFIX = ".rejected"
#: How long a process waits for another one writing the same spool file.
SPOOL_LOCK_TIMEOUT_S = 120.0
COPY_CHUNK_BYTES = 1 << 20
_FORMAT = 1

#: ``(key, value, step, timestamp)``, and the id of the model it is linked to.
MetricEntry = tuple[str, float, int, int] | tuple[str, float, int, int, str]
_batch_numbers = itertools.count()


class BadSpoolError(TrackingError):
    """A file that is not a valid spool: it is set aside, never replayed."""


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
        if p.is_file()
        and REPLAYED_SUFFIX not in p.name
        and REJECTED_SUFFIX not in p.name
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def write_spool(run: RunRef, spooled: Spooled, folder: Path | None = None) -> Path:
    """Add ``spooled`` to the spool file of ``run``; return the file's path.

    Files are copied into the spool, so temporary folders may go afterwards. The
    file is written whole under a temporary name in the same folder, synced, then
    renamed over the old one: a full disk or a crash leaves the spool as it was,
    never a truncated one. Processes of one run (ParallelRunner workers) take
    turns under the folder's lock.

    Raises:
        TrackingError: If the spool cannot be written (a full disk, a folder that
            is a file or read-only, say); the spool is then as it was.
    """
    from filelock import Timeout

    path = spool_path(run.run_id, folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _folder_lock(path.parent):
            _rewrite(path, run, spooled)
    except (OSError, Timeout, zipfile.BadZipFile) as exc:
        raise TrackingError(
            f"the spool {path} of MLflow run {run.run_id} could not be written "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    return path


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold the spool folder's lock, so processes rewrite its files in turns.

    The folder itself is locked (``flock`` on its descriptor), so no lock file is
    left beside the spools, and none is ever removed while another process waits
    on it (which would let a third one lock a new file, and a batch be lost).

    Raises:
        TimeoutError: If another process holds it ``SPOOL_LOCK_TIMEOUT_S``.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock, a lock file beside the spools
        from filelock import FileLock

        with FileLock(folder / ".lock", timeout=SPOOL_LOCK_TIMEOUT_S):
            yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        deadline = time.monotonic() + SPOOL_LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"another process held the lock of {folder} for "
                        f"{SPOOL_LOCK_TIMEOUT_S:.0f} s"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _rewrite(path: Path, run: RunRef, spooled: Spooled) -> None:
    """Write the spool with ``spooled`` added, atomically (write, fsync, rename)."""
    # Made readable by its owner only (as mkstemp does): the URI may carry
    # credentials. Its name matches no spool, so a leftover is never replayed.
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed, not closed
        dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False
    )
    written = Path(handle.name)
    try:
        with handle:
            with zipfile.ZipFile(
                handle, "w", compression=zipfile.ZIP_DEFLATED
            ) as archive:
                if path.exists():
                    _copy_members(path, archive)
                else:
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
                _add_batch(archive, spooled)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(written, path)
    except BaseException:
        written.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _copy_members(path: Path, archive: zipfile.ZipFile) -> None:
    with zipfile.ZipFile(path) as old:
        for info in old.infolist():
            with old.open(info) as source, archive.open(info, "w") as target:
                shutil.copyfileobj(source, target, COPY_CHUNK_BYTES)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where folders can be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # Windows: folders cannot be opened; the rename is durable there
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems refuse to sync a folder; the file itself is synced
    finally:
        os.close(descriptor)


def _add_batch(archive: zipfile.ZipFile, spooled: Spooled) -> None:
    batch_id = f"{time.time_ns():020d}-{os.getpid()}-{next(_batch_numbers)}"
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


# The schema of a spool file's records. A spool may come from anywhere (copied
# from another machine, crafted): every record is checked before anything is sent.
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


def _inside_artifacts(path: str | None) -> str | None:
    """Refuse an artifact path that would leave the run's artifacts."""
    if path is None:
        return None
    pure = PurePosixPath(path)
    if (
        "\\" in path
        or pure.is_absolute()
        or PureWindowsPath(path).drive
        or ".." in pure.parts
    ):
        raise ValueError(f"artifact path {path!r} leaves the run's artifacts")
    return path


def _inside_artifacts_required(path: str) -> str:
    return _inside_artifacts(path) or ""


class _Header(BaseModel):
    model_config = _STRICT
    format: Literal[1]
    tracking_uri: str = Field(min_length=1)
    run_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


class _FileRecord(BaseModel):
    model_config = _STRICT
    member: str
    artifact_path: Annotated[str | None, AfterValidator(_inside_artifacts)]


class _TextRecord(BaseModel):
    model_config = _STRICT
    member: str
    artifact_file: Annotated[
        str, Field(min_length=1), AfterValidator(_inside_artifacts_required)
    ]


class _EndRecord(BaseModel):
    model_config = _STRICT
    status: Literal["FINISHED", "FAILED", "KILLED"]
    end_time: int


class _BatchRecord(BaseModel):
    model_config = _STRICT
    params: dict[str, str]
    checked_params: dict[str, str]
    tags: dict[str, str]
    metrics: list[tuple[str, float, int, int] | tuple[str, float, int, int, str]]
    files: list[_FileRecord]
    texts: list[_TextRecord]
    end: _EndRecord | None

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
            metrics=list(self.metrics),
            files=[(local(f.member), f.artifact_path) for f in self.files],
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


def read_spool(path: Path, extract_to: Path | None = None) -> SpoolContent:
    """Read a spool file; with ``extract_to``, extract its files there.

    Nothing in the file is trusted: its records are checked against the spool's
    schema (:class:`_BatchRecord`), every member name and every file a record
    names must stay inside the spool (no symbolic link either), and artifact
    paths must be relative paths inside the run's artifacts.

    Raises:
        BadSpoolError: If ``path`` is not a valid spool file, in one line that
            says what is wrong with it.
        TrackingError: If ``path`` cannot be read (missing, say).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = _checked_members(archive)
            header = _Header.model_validate_json(archive.read("run.json"))
            batch_names = sorted(n for n in names if n.startswith("batches/"))
            records = [
                _BatchRecord.model_validate_json(archive.read(name))
                for name in batch_names
            ]
            for record in records:
                for member in record.members():
                    if member not in names and f"{member}/" not in names:
                        raise BadSpoolError(
                            f"a record names {member!r}, which the spool does not hold"
                        )
            if extract_to is not None:
                archive.extractall(extract_to)
            batches = [record.to_spooled(extract_to) for record in records]
    except BadSpoolError as exc:
        raise BadSpoolError(
            f"{path} is not a readable pipelinex_mlflow spool file: {exc}"
        ) from exc
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as exc:
        # pydantic's ValidationError is a ValueError.
        raise BadSpoolError(
            f"{path} is not a readable pipelinex_mlflow spool file: {_one_line(exc)}"
        ) from exc
    except OSError as exc:
        raise TrackingError(
            f"{path} is not a readable pipelinex_mlflow spool file ({exc})."
        ) from exc
    run = RunRef(tracking_uri=header.tracking_uri, run_id=header.run_id)
    return SpoolContent(run=run, batches=batches, files_root=extract_to)


def _checked_members(archive: zipfile.ZipFile) -> set[str]:
    """The member names, each checked to stay inside the folder it extracts to."""
    names = set()
    for info in archive.infolist():
        name = info.filename
        parts = PurePosixPath(name).parts
        if (
            not name
            or "\\" in name
            or PurePosixPath(name).is_absolute()
            or PureWindowsPath(name).drive
            or ".." in parts
        ):
            raise BadSpoolError(f"member {name!r} points outside the spool")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise BadSpoolError(f"member {name!r} is a symbolic link")
        names.add(name)
    return names


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500]


def linked_model_id(entry: MetricEntry) -> str | None:
    """The id of the model a metric entry is linked to, if any."""
    # A linked entry has a fifth part; mypy narrows the tuple by the literal length.
    return entry[4] if len(entry) == 5 else None  # noqa: PLR2004


def mark_replayed(path: Path) -> Path:
    """Rename a replayed spool file so it is not replayed again; return the new path."""
    return _set_aside(path, REPLAYED_SUFFIX)


def mark_rejected(path: Path) -> Path:
    """Rename a spool file that is not valid, so replays pass it by; return the new path.

    It is kept, as ``<name>.rejected.zip``, for someone to look at; a file
    rejected before keeps its name.
    """
    if REJECTED_SUFFIX in path.name:
        return path
    return _set_aside(path, REJECTED_SUFFIX)


def _set_aside(path: Path, suffix: str) -> Path:
    done = path.with_name(f"{path.stem}{suffix}{SPOOL_SUFFIX}")
    if done.exists():
        done = path.with_name(f"{path.stem}{suffix}-{time.time_ns()}{SPOOL_SUFFIX}")
    path.rename(done)
    return done
