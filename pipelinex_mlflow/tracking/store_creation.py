"""A SQLite store's first opening: made whole aside, published at once, one process at a time.

MLflow creates (or migrates) a SQLite store's schema when the first client of a
process opens it (``SqlAlchemyStore.__init__`` runs ``_initialize_tables`` when a
table of its models is missing, then adds the ``Default`` experiment), in place and
with no lock between processes. Two processes doing it together break each other
(``table ... already exists``), and a process that dies on the way (Ctrl-C, SIGKILL)
leaves a store every later run fails on, ``mlflow db upgrade`` included.

So the package never lets MLflow create a store in place. Holding a lock shared by
the processes of the machine, it creates the store complete under a temporary name
in the same folder and publishes it under its real name in one step (a hard link,
which never replaces a store another process published first), so ``mlflow.db``
either does not exist or is complete. Creators that died leave only their
temporary file, which the next creator removes. A store an older version left
half-made (some tables, no experiment, no run) is moved aside, with a warning
naming where, and made anew; one that is incomplete but holds runs is left as it is,
and the error names the command that migrates it.

A process that finds the store complete (a few file reads, well under a
millisecond) opens it without the lock. The lock file lives in the temporary
folder, named by a hash of the user and the database's real path, so nothing is
written into the project and a lock file left by another user cannot block; it is
released when its holder exits, even if it is killed. Processes that do not share
it (another ``TMPDIR``, another container on a shared folder) are still safe: the
first published store is the one every one of them uses.

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

import os
import time
from typing import TYPE_CHECKING

from pipelinex_mlflow.compat.mlflow_private import (
    create_sqlalchemy_store,
    pop_cached_engines,
)
from pipelinex_mlflow.masking import get_logger, mask_url_passwords
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.sqlite_store_state import (
    StoreState,
    check_sqlite_location,
    inspect_store,
    sqlite_db_path,
    store_is_ready,
)
from pipelinex_mlflow.tracking.store_creation_lock import (
    CREATION_LOCK_TIMEOUT_S,
    creation_lock,
    creation_lock_path,
)
from pipelinex_mlflow.tracking.store_leftovers import (
    HALF_MADE_SUFFIX,
    remove_dead_temporaries,
    seconds_until_quiet,
    set_aside,
    temporary_name,
    unlink_companions,
    unlink_with_companions,
)

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CREATION_LOCK_TIMEOUT_S",
    "HALF_MADE_SUFFIX",
    "StoreState",
    "check_sqlite_location",
    "create_store",
    "creation_lock",
    "creation_lock_path",
    "forget_engines",
    "inspect_store",
    "prepare_store",
    "remove_dead_temporaries",
    "sqlite_db_path",
    "store_is_ready",
]

logger = get_logger(__name__)


def prepare_store(db_path: Path, tracking_uri: str) -> None:
    """Make the store at ``db_path`` complete, or leave it for MLflow to judge.

    Call it holding :func:`creation_lock`. Temporary stores of creators that died
    are removed first. Then:

    - no store (no file, an empty one): one is created complete aside and
      published under ``db_path`` (:func:`create_store`);
    - a half-made store: moved aside (``<name>.half-made-<time>``), with a warning
      naming where, once nothing has changed it for a moment (another tool may be
      creating it in place), then created anew;
    - an incomplete store holding runs: refused, untouched;
    - a complete store, or anything else: left as it is.

    Args:
        db_path: The SQLite database file.
        tracking_uri: Its URI, for the messages.

    Raises:
        TrackingError: If the store holds runs but is incomplete (naming the
            command that migrates it), or cannot be created (saying why).
    """
    remove_dead_temporaries(db_path)
    deadline = time.monotonic() + CREATION_LOCK_TIMEOUT_S
    while True:
        state = inspect_store(db_path)
        if state.kind in ("ready", "other"):
            return
        if state.kind == "incomplete":
            raise TrackingError(_incomplete_message(tracking_uri, state))
        if state.kind == "missing":
            break
        wait = seconds_until_quiet(db_path)
        if wait <= 0:
            break
        if time.monotonic() + wait > deadline:
            raise TrackingError(
                f"The MLflow store at {mask_url_passwords(tracking_uri)!r} is "
                f"unfinished and another process kept changing it for "
                f"{CREATION_LOCK_TIMEOUT_S:g} s. Stop the other process that opens "
                "it (an `mlflow ui` or `mlflow server`, a notebook), then run again."
            )
        time.sleep(wait)
    if state.kind == "half_made":
        aside = set_aside(db_path)
        logger.warning(
            "The MLflow store %s was left half-made (its creation was cut short: "
            "%d of MLflow's tables missing, no experiment, no run); it was moved to "
            "%s and a new store is created in its place. Delete that file once you "
            "no longer want it.",
            db_path,
            state.missing_tables,
            aside,
        )
    elif state.kind == "empty":
        unlink_with_companions(db_path)
    create_store(db_path, tracking_uri)


def _incomplete_message(tracking_uri: str, state: StoreState) -> str:
    shown = mask_url_passwords(tracking_uri)
    what = (
        f"{state.missing_tables} of MLflow's tables are missing"
        if state.missing_tables
        else "its schema version is not recorded"
    )
    runs = f"{state.runs} run{'' if state.runs == 1 else 's'}"
    experiments = (
        f"{state.experiments} experiment{'' if state.experiments == 1 else 's'}"
    )
    return (
        f"The MLflow store at {shown!r} is incomplete ({what}) but holds {runs} in "
        f"{experiments}, so pipelinex_mlflow leaves it as it is. Back the file up, "
        f"then migrate it with `mlflow db upgrade {shown}` and run again."
    )


def create_store(db_path: Path, tracking_uri: str) -> None:
    """Create a complete store aside and publish it at ``db_path`` in one step.

    MLflow creates the schema and the ``Default`` experiment in a new file of the
    same folder; its engine is then disposed of and forgotten. The file is
    published with a hard link, which fails if ``db_path`` exists: a process that
    did not share the lock (another ``TMPDIR``, another container) and published
    first keeps its store, and this one is dropped. (``os.replace`` would put a new
    store over one that already took runs.) Where the file system has no hard
    links, ``os.replace`` publishes it, still under the lock.

    Args:
        db_path: Where the store goes; its folder is created if missing.
        tracking_uri: Its URI, for the messages.

    Raises:
        TrackingError: If the folder cannot hold it, or MLflow fails to create it.
    """
    shown = mask_url_passwords(tracking_uri)
    folder = db_path.parent
    temporary = folder / temporary_name(db_path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Made here first so that an unwritable folder fails at once, not after
        # MLflow's ten connection attempts (about 100 s).
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as exc:
        raise TrackingError(
            f"Cannot create the MLflow store at {shown!r}: its folder {str(folder)!r} "
            f"cannot hold a new file ({exc.strerror or exc}). Make the folder "
            "writable, or point the store elsewhere (the `uri` of "
            "MLflowBasicLoggerHook or MLFLOW_TRACKING_URI)."
        ) from None
    try:
        if not db_path.exists():  # a dead writer's journal must not apply to it
            unlink_companions(db_path)
        _create_schema(temporary)
        _publish(temporary, db_path)
    except TrackingError:
        raise
    except Exception as exc:
        logger.debug("Creating the MLflow store %s failed", shown, exc_info=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise TrackingError(
            f"Cannot create the MLflow store at {shown!r} ({type(exc).__name__}: "
            f"{first}). Check that its folder is writable and has free space, then "
            "run again; nothing was left in place of the store."
        ) from None
    finally:
        unlink_with_companions(temporary)


def _create_schema(db_path: Path) -> None:
    """Let MLflow create its schema and ``Default`` experiment in ``db_path``.

    The store is built as MLflow builds one for a URI (same class, same artifact
    root for ``Default``), but directly, so MLflow's cache of stores never holds
    the temporary URI; its engines are disposed of and forgotten after.
    """
    uri = f"sqlite:///{db_path.as_posix()}"
    try:
        create_sqlalchemy_store(uri)
    finally:
        forget_engines(uri)


def forget_engines(uri: str) -> None:
    """Dispose of MLflow's cached engines for ``uri`` and drop them from its caches.

    MLflow keeps one engine per URI for the life of the process, in the tracking
    store's and in the model registry store's class; an engine of a
    temporary file would keep it open (and its name in use) after it is gone.

    Examples:
        >>> forget_engines("sqlite:////no/such/store.db")  # none cached: no-op
    """
    for engine in pop_cached_engines(uri):
        engine.dispose()


def _publish(temporary: Path, db_path: Path) -> None:
    try:
        os.link(temporary, db_path)
    except FileExistsError:
        logger.debug("%s was published by another process first; using it", db_path)
        return
    except FileNotFoundError:
        if not store_is_ready(db_path):
            raise TrackingError(
                f"The new MLflow store {str(temporary)!r} was removed by another "
                f"process before it became {str(db_path)!r}; run again."
            ) from None
        return
    except OSError as exc:  # no hard links on this file system
        logger.debug("No hard link for %s (%s); replacing", db_path, exc)
        if db_path.exists():
            return
        os.replace(temporary, db_path)
    _sync_folder(db_path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the new name durable (best effort: not every system opens folders)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
