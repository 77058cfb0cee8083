"""A SQLite store's first opening, one process at a time: MLflow's schema creation.

MLflow creates (or migrates) a SQLite store's schema when the first client of a
process opens it (``SqlAlchemyStore.__init__`` runs ``_initialize_tables`` when a
table of its models is missing, then adds the ``Default`` experiment), with no lock
between processes: two ``kedro run`` started together on a project without a
``mlflow.db`` both create the tables, and one fails (``table ... already exists``,
``duplicate column name``). So a process that finds the store unfinished opens it
holding a lock file; one that finds it finished (a few file reads, well under a
millisecond) opens it without.

The lock file lives in the temporary folder, named by a hash of the user and the
database's real path, so nothing is written into the project and a lock file left
by another user cannot block. The lock is released when its holder exits, even if
it is killed.

Examples:
    >>> from pathlib import Path
    >>> sqlite_db_path("sqlite:////srv/proj/mlflow.db")
    PosixPath('/srv/proj/mlflow.db')
    >>> sqlite_db_path("http://127.0.0.1:5000") is None
    True
    >>> store_is_ready(Path("/no/such/folder/mlflow.db"))
    False
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import mask_url_passwords
from pipelinex_mlflow.tracking.errors import TrackingError

if TYPE_CHECKING:
    from collections.abc import Iterator

#: How long a process waits for another one to finish creating the store. Creating
#: it takes 1.5-3 s; a holder that dies releases the lock at once.
CREATION_LOCK_TIMEOUT_S = 120.0
# How long reading the store waits for a writer before the lock is taken instead.
_READ_BUSY_TIMEOUT_S = 0.5


def sqlite_db_path(tracking_uri: str) -> Path | None:
    """Return the database file of a ``sqlite:`` URI, ``None`` for other stores.

    An in-memory database has no file (and no other process shares it).

    Examples:
        >>> sqlite_db_path("sqlite:///:memory:") is None
        True
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path).absolute()


def store_is_ready(db_path: Path) -> bool:
    """Tell whether opening the store at ``db_path`` would create nothing in it.

    That is MLflow's own test (every table of its models exists), plus a schema
    version and the ``Default`` experiment, which it adds after the tables. The file
    is read with ``sqlite3`` in read-only mode, never created. Any doubt (MLflow's
    table list unknown, the file busy or not a database) answers ``False``: the
    store is then opened under the lock, which is always safe.

    Args:
        db_path: The SQLite database file.
    """
    expected = _expected_tables()
    try:
        if expected is None or db_path.stat().st_size == 0:
            return False
        uri = f"{db_path.as_uri()}?mode=ro"
        with closing(
            sqlite3.connect(uri, uri=True, timeout=_READ_BUSY_TIMEOUT_S)
        ) as db:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not expected <= {name for (name,) in rows}:
                return False
            (versions,) = db.execute("SELECT count(*) FROM alembic_version").fetchone()
            default = db.execute(
                "SELECT 1 FROM experiments WHERE experiment_id = 0"
            ).fetchone()
    except (OSError, sqlite3.Error):
        return False
    return bool(versions == 1 and default is not None)


def _expected_tables() -> set[str] | None:
    """The tables MLflow's store creates when one is missing, or ``None`` if unknown."""
    try:
        # The modules MLflow's SQLite store builder imports define every table it
        # checks; importing them fills the shared metadata.
        import mlflow.store.tracking.sqlalchemy_store
        import mlflow.store.tracking.sqlalchemy_workspace_store  # noqa: F401
        from mlflow.store.db.base_sql_model import Base
    except ImportError:  # pragma: no cover - another MLflow layout: always lock
        return None
    return {name for name in Base.metadata.tables if not name.startswith("alembic_")}


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
