"""Adding to a run's spool file: atomically, under the spool folder's lock."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import get_logger, mask_secrets
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.paths import containment_problem
from pipelinex_mlflow.tracking.spool.folder import spool_path
from pipelinex_mlflow.tracking.spool.refusals import leave_out_refused
from pipelinex_mlflow.tracking.spool.schema import SPOOL_FORMAT, metric_row
from pipelinex_mlflow.tracking.value_text import valid_utf8

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pipelinex_mlflow.tracking.run_ref import RunRef
    from pipelinex_mlflow.tracking.spool.content import Refused, Spooled

#: How long a process waits for another one writing the same spool file.
SPOOL_LOCK_TIMEOUT_S = 120.0
COPY_CHUNK_BYTES = 1 << 20
_batch_numbers = itertools.count()

logger = get_logger(__name__)


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
                                "format": SPOOL_FORMAT,
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
    leave_out_refused(spooled, batch_id)
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
        "metrics": [metric_row(point) for point in spooled.metrics],
        "files": files,
        "texts": texts,
        "end": None
        if spooled.end is None
        else {"status": spooled.end.status, "end_time": spooled.end.end_time},
    }
    archive.writestr(f"batches/{batch_id}.json", json.dumps(record))


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
