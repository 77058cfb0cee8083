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
holds it), and the files under ``files/<batch>/<n>`` (named by number: a file's
own name, which need not be valid UTF-8, is kept in its record, made valid). Keeping the original metric
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

import errno
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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from pipelinex_mlflow.masking import get_logger, mask_secrets
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.paths import containment_problem
from pipelinex_mlflow.tracking.run_ref import RunRef
from pipelinex_mlflow.tracking.values import valid_utf8

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
#: Errors of the machine replaying, not of the spool: it stays pending.
_LOCAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})

logger = get_logger(__name__)


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
        metrics: ``(key, value, step, timestamp[, model id])`` entries.
        files: ``(local path, artifact path)`` of files or folders to upload.
        texts: ``(text, artifact file)`` of texts to upload.
        end: The run's end, if it could not be recorded either.
        refused: What :func:`write_spool` left out of the spool file.
    """

    params: dict[str, str] = field(default_factory=dict)
    checked_params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricEntry] = field(default_factory=list)
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

    What the spool's own reader would refuse (a lone surrogate, an artifact path
    with a backslash, say) is left out, so one bad item never makes the whole
    file unreadable: it is taken out of ``spooled``, counted and named in
    ``spooled.refused``, and warned of.

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
    except (OSError, ValueError, Timeout, zipfile.BadZipFile) as exc:
        # ValueError: zipfile's UnicodeEncodeError, say; never a crash of the run.
        raise TrackingError(
            f"the spool {path} of MLflow run {run.run_id} could not be written "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if spooled.refused:
        logger.warning(
            "MLflow run %s: %d value(s) and %d file(s) could not be kept in the "
            "spool and are lost: %s",
            run.run_id,
            spooled.refused.values,
            len(spooled.refused.files),
            mask_secrets("; ".join(spooled.refused.reasons)),
        )
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
    _leave_out_refused(spooled, batch_id)
    files = []
    for number, (local, artifact_path) in enumerate(spooled.files):
        member = f"files/{batch_id}/{number}"
        _add_path(archive, Path(local), member, artifact_path, spooled.refused)
        files.append(
            {
                "member": member,
                "name": valid_utf8(Path(local).name),
                "artifact_path": artifact_path,
            }
        )
    texts = []
    for number, (text, artifact_file) in enumerate(spooled.texts):
        member = f"texts/{batch_id}/{number}"
        archive.writestr(member, valid_utf8(text))
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


def _leave_out_refused(spooled: Spooled, batch_id: str) -> None:
    """Take out of ``spooled`` each item the reader's schema refuses; count it."""
    refused = spooled.refused
    for kind in ("params", "checked_params", "tags"):
        values: dict[str, str] = getattr(spooled, kind)
        if _refusal(_BatchRecord, _empty_record(**{kind: values})) is None:
            continue  # all good: the usual case, one check
        for key, value in list(values.items()):
            problem = _refusal(_BatchRecord, _empty_record(**{kind: {key: value}}))
            if problem is not None:
                del values[key]
                refused.values += 1
                refused.reasons.append(
                    f"{kind.rstrip('s')} {valid_utf8(key)!r}: {problem}"
                )
    if _refusal(_BatchRecord, _empty_record(metrics=spooled.metrics)) is not None:
        kept = []
        for entry in spooled.metrics:
            problem = _refusal(_BatchRecord, _empty_record(metrics=[entry]))
            if problem is None:
                kept.append(entry)
            else:
                refused.values += 1
                refused.reasons.append(f"metric {valid_utf8(entry[0])!r}: {problem}")
        spooled.metrics = kept
    _leave_out_refused_files(spooled, batch_id)


def _leave_out_refused_files(spooled: Spooled, batch_id: str) -> None:
    """Take out of ``spooled`` each file and text the reader's schema refuses."""
    refused = spooled.refused
    kept_files = []
    for number, (local, artifact_path) in enumerate(spooled.files):
        problem = _refusal(
            _FileRecord,
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
        problem = _refusal(
            _TextRecord,
            {"member": f"texts/{batch_id}/{number}", "artifact_file": artifact_file},
        )
        if problem is None:
            kept_texts.append((text, artifact_file))
        else:
            refused.files.append(valid_utf8(artifact_file))
            refused.reasons.append(f"{valid_utf8(artifact_file)}: {problem}")
    spooled.texts = kept_texts


def _empty_record(**values: Any) -> dict[str, Any]:
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


def _refusal(model: type[BaseModel], record: dict[str, Any]) -> str | None:
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
        return _one_line(exc)
    return None


def _artifact_name(local: str, artifact_path: str | None) -> str:
    """The artifact ``local`` makes in the run, as the MLflow UI shows it."""
    base = valid_utf8(Path(local).name)
    shown = valid_utf8(artifact_path or "")
    if Path(local).is_dir():
        return f"{shown or base}/"
    return f"{shown.rstrip('/')}/{base}" if shown else base


def _add_path(
    archive: zipfile.ZipFile,
    local: Path,
    member: str,
    artifact_path: str | None,
    refused: Refused,
) -> None:
    if not local.is_dir():
        archive.write(local, member)
        return
    archive.writestr(f"{member}/", "")
    written: set[str] = set()
    for child in sorted(local.rglob("*")):
        if not child.is_file():
            continue
        relative = valid_utf8(child.relative_to(local).as_posix())
        # Two names that differ only in bytes UTF-8 cannot hold become one.
        problem = containment_problem(relative) or (
            "another file of its folder has the same name once made valid UTF-8"
            if relative in written
            else None
        )
        if problem is None:
            archive.write(child, f"{member}/{relative}")
            written.add(relative)
        else:  # its reader would refuse the whole spool: this file only is lost
            name = f"{valid_utf8(artifact_path or local.name).rstrip('/')}/{relative}"
            refused.files.append(name)
            refused.reasons.append(f"{name}: {problem}")


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


class _Header(BaseModel):
    model_config = _STRICT
    format: Literal[1]
    tracking_uri: str = Field(min_length=1)
    run_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


class _FileRecord(BaseModel):
    model_config = _STRICT
    member: str
    # The file's own name (its member is named by number); absent in spools
    # written before, whose member ends with it.
    name: Annotated[str | None, AfterValidator(_single_name)] = None
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


def _named(record: _FileRecord, root: Path | None) -> str:
    """Where an extracted file is, under its own name (the upload's name)."""
    extracted = (root or Path()) / record.member
    if root is None or record.name is None or not extracted.is_file():
        return str(extracted)  # a folder uploads its content, without its name
    named = root / ".named" / record.member / record.name
    named.parent.mkdir(parents=True, exist_ok=True)
    extracted.rename(named)
    return str(named)


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
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise BadSpoolError(
            f"{path} is not a readable pipelinex_mlflow spool file: {_one_line(exc)}"
        ) from exc
    except OSError as exc:  # missing, unreadable: the file may still be good
        raise TrackingError(
            f"{path} is not a readable pipelinex_mlflow spool file ({exc})."
        ) from exc
    try:
        with archive:
            header, batches = _read_checked(archive, extract_to)
    except OSError as exc:
        if exc.errno in _LOCAL_ERRNOS:  # a full disk here: the spool may be good
            raise TrackingError(
                f"{path} could not be read here ({exc}); it is kept."
            ) from exc
        # What extracting the spool's own members raises: a spool that lies.
        raise BadSpoolError(
            f"{path} is not a readable pipelinex_mlflow spool file: {_one_line(exc)}"
        ) from exc
    except BadSpoolError as exc:
        raise BadSpoolError(
            f"{path} is not a readable pipelinex_mlflow spool file: {exc}"
        ) from exc
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as exc:
        # pydantic's ValidationError is a ValueError.
        raise BadSpoolError(
            f"{path} is not a readable pipelinex_mlflow spool file: {_one_line(exc)}"
        ) from exc
    run = RunRef(tracking_uri=header.tracking_uri, run_id=header.run_id)
    return SpoolContent(run=run, batches=batches, files_root=extract_to)


def _read_checked(
    archive: zipfile.ZipFile, extract_to: Path | None
) -> tuple[_Header, list[Spooled]]:
    """The header and batches of a spool, every record and member checked first."""
    names = _checked_members(archive)
    header = _Header.model_validate_json(archive.read("run.json"))
    batch_names = sorted(n for n in names if n.startswith("batches/"))
    records = [
        _BatchRecord.model_validate_json(archive.read(name)) for name in batch_names
    ]
    for record in records:
        for member in record.members():
            if member not in names and f"{member}/" not in names:
                raise BadSpoolError(
                    f"a record names {member!r}, which the spool does not hold"
                )
        for text in record.texts:
            if text.member not in names:  # a folder: nothing to read as a text
                raise BadSpoolError(
                    f"a text names {text.member!r}, which is not a file of the spool"
                )
    if extract_to is not None:
        archive.extractall(extract_to)
    return header, [record.to_spooled(extract_to) for record in records]


def _checked_members(archive: zipfile.ZipFile) -> set[str]:
    """The member names, each checked to stay inside the folder it extracts to.

    Each name is also one member only: neither twice, nor a file that another
    member's path goes through (extracting either fails half-way).
    """
    names: set[str] = set()
    for info in archive.infolist():
        name = info.filename
        problem = containment_problem(name)
        if problem is not None:
            raise BadSpoolError(f"member {name!r} points outside the spool: {problem}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise BadSpoolError(f"member {name!r} is a symbolic link")
        if name in names:
            raise BadSpoolError(f"member {name!r} appears twice")
        names.add(name)
    files = {name for name in names if not name.endswith("/")}
    folders = {name.rstrip("/") for name in names if name.endswith("/")}
    for name in names:
        parts = name.rstrip("/").split("/")
        folders.update("/".join(parts[:end]) for end in range(1, len(parts)))
    both = files & folders
    if both:
        raise BadSpoolError(f"member {min(both)!r} is both a file and a folder")
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
