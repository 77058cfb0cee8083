"""Reading a spool file back, trusting nothing in it."""

from __future__ import annotations

import errno
import stat
import zipfile
from typing import TYPE_CHECKING

from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.paths import containment_problem
from pipelinex_mlflow.tracking.run_ref import RunRef
from pipelinex_mlflow.tracking.spool.content import SpoolContent
from pipelinex_mlflow.tracking.spool.schema import BatchRecord, SpoolHeader, one_line

if TYPE_CHECKING:
    from pathlib import Path

    from pipelinex_mlflow.tracking.spool.content import Spooled

#: Errors of the machine replaying, not of the spool: it stays pending.
_LOCAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


class BadSpoolError(TrackingError):
    """A file that is not a valid spool: it is set aside, never replayed."""


def read_spool(path: Path, extract_to: Path | None = None) -> SpoolContent:
    """Read a spool file; with ``extract_to``, extract its files there.

    Nothing in the file is trusted: its records are checked against the spool's
    schema (:class:`BatchRecord`), every member name and every file a record
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
            f"{path} is not a readable pipelinex_mlflow spool file: {one_line(exc)}"
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
            f"{path} is not a readable pipelinex_mlflow spool file: {one_line(exc)}"
        ) from exc
    except BadSpoolError as exc:
        raise BadSpoolError(
            f"{path} is not a readable pipelinex_mlflow spool file: {exc}"
        ) from exc
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as exc:
        # pydantic's ValidationError is a ValueError.
        raise BadSpoolError(
            f"{path} is not a readable pipelinex_mlflow spool file: {one_line(exc)}"
        ) from exc
    run = RunRef(tracking_uri=header.tracking_uri, run_id=header.run_id)
    return SpoolContent(run=run, batches=batches, files_root=extract_to)


def _read_checked(
    archive: zipfile.ZipFile, extract_to: Path | None
) -> tuple[SpoolHeader, list[Spooled]]:
    """The header and batches of a spool, every record and member checked first."""
    names = _checked_members(archive)
    header = SpoolHeader.model_validate_json(archive.read("run.json"))
    batch_names = sorted(n for n in names if n.startswith("batches/"))
    records = [
        BatchRecord.model_validate_json(archive.read(name)) for name in batch_names
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
