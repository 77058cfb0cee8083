"""The lock, shared by the processes of a machine, on creating one SQLite store.

The lock file lives in the temporary folder, named by a hash of the user and the
database's real path, so nothing is written into the project and a lock file
left by another user cannot block; it is released when its holder exits, even
if it is killed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import mask_url_passwords
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.retry_policy import POLICY

if TYPE_CHECKING:
    from collections.abc import Iterator

#: How long a process waits for another one to finish creating the store. Creating
#: it takes 1.5-3 s; a holder that dies releases the lock at once.
CREATION_LOCK_TIMEOUT_S = POLICY.creation_lock_timeout_s


def creation_lock_path(db_path: Path) -> Path:
    """Return the lock file guarding the creation of the store at ``db_path``.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> lock = creation_lock_path(Path("/srv/proj/mlflow.db"))
        >>> lock.parent == Path(tempfile.gettempdir()), lock.suffix
        (True, '.lock')
    """
    user = os.getuid() if hasattr(os, "getuid") else 0
    key = f"{user}:{os.path.realpath(db_path)}".encode()
    digest = hashlib.sha256(key).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"pipelinex_mlflow-store-{digest}.lock"


@contextmanager
def creation_lock(
    db_path: Path, tracking_uri: str, timeout_s: float = CREATION_LOCK_TIMEOUT_S
) -> Iterator[None]:
    """Hold the cross-process lock on creating the store at ``db_path``.

    Args:
        db_path: The SQLite database file.
        tracking_uri: Its URI, for the error message.
        timeout_s: How long to wait for another process holding it.

    Raises:
        TrackingError: If another process held it for ``timeout_s``.

    Examples:
        >>> from pathlib import Path
        >>> with creation_lock(Path("/srv/proj/mlflow.db"), "sqlite:///..."):
        ...     pass  # open the store here
    """
    from filelock import FileLock, Timeout

    lock_path = creation_lock_path(db_path)
    try:
        lock = FileLock(lock_path, timeout=timeout_s)
        lock.acquire()
    except Timeout:
        raise TrackingError(
            f"Waited {timeout_s:g} s for another process to finish creating the MLflow "
            f"store at {mask_url_passwords(tracking_uri)!r}. Wait for the other "
            f"`kedro run` to start; if none is running, delete {str(lock_path)!r} "
            "and run again."
        ) from None
    except OSError as exc:
        raise TrackingError(
            f"Cannot create the lock file {str(lock_path)!r} that guards creating the "
            f"MLflow store at {mask_url_passwords(tracking_uri)!r} ({exc}). Check that "
            "the temporary folder (TMPDIR) is writable."
        ) from None
    try:
        yield
    finally:
        lock.release()
