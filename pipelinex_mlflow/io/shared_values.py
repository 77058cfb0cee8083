"""What ParallelRunner workers hand each other: a copy of each value a node saved.

A node's output saved to an ``MLflowDataSet`` in one worker is loaded by the next
node, which may run in another worker: it shares neither the first worker's
memory nor its background sender, so the value may not be in MLflow yet (or ever,
with the store away or tracking off). Each worker therefore leaves a copy of what
it saves in a folder of the run, and a worker's load reads this run's copy before
MLflow, as the process of a sequential run reads its memory.

The folder is ``<temp>/pipelinex_mlflow-shared-<uid>-<run id>``, made private
(0700) by the first worker, used only when it is this user's and private (the
copies are pickles), and removed by ``MLflowBasicLoggerHook`` when the run ends.

Examples:
    >>> from pipelinex_mlflow.tracking import RunRef
    >>> run = RunRef("sqlite:///mlflow.db", "0123abcd")
    >>> share(run, "score", 0.5)
    >>> shared_copy(run, "score").load()
    0.5
    >>> remove_shared(run)
    >>> shared_copy(run, "score") is None
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import MemoryDataset

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking import RunRef

_PRIVATE = 0o700


def _folder(run: RunRef) -> Path:
    user = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"pipelinex_mlflow-shared-{user}-{run.run_id}"


def _file(run: RunRef, name: str) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return _folder(run) / f"{digest}.pkl"


def _is_private(folder: Path) -> bool:
    """Whether ``folder`` is a real folder of this user that no one else can use."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    owner = os.getuid() if hasattr(os, "getuid") else info.st_uid
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == owner
        and stat.S_IMODE(info.st_mode) & 0o077 == 0
    )


def share(run: RunRef, name: str, data: Any) -> None:
    """Leave a copy of ``data``, saved as ``name`` in ``run``, for the other workers.

    Written to a temporary file and renamed, so a reader never sees half of it.

    Raises:
        OSError: If the folder cannot be made, or another user's stands there.
        pickle.PicklingError: If ``data`` cannot be pickled.
    """
    folder = _folder(run)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=_PRIVATE)
    if not _is_private(folder):
        raise OSError(f"{folder} is not a private folder of this user")
    target = _file(run, name)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(data, stream, protocol=pickle.HIGHEST_PROTOCOL)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def shared_copy(run: RunRef, name: str) -> MemoryDataset | None:
    """This run's copy of ``name`` left by a worker, or ``None`` if there is none."""
    path = _file(run, name)
    if not (_is_private(path.parent) and path.is_file()):
        return None
    with path.open("rb") as stream:
        # The folder is this user's and no one else's (checked above).
        data = pickle.load(stream)  # noqa: S301
    return MemoryDataset(data, copy_mode="assign")


def remove_shared(run: RunRef) -> None:
    """Remove the copies of ``run`` (its owner's job, when the run ends)."""
    folder = _folder(run)
    if _is_private(folder):
        shutil.rmtree(folder, ignore_errors=True)
