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

import contextlib
import hashlib
import os
import re
import secrets
import socket
import sqlite3
import tempfile
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pipelinex_mlflow.masking import get_logger, mask_url_passwords
from pipelinex_mlflow.tracking.errors import TrackingError
from pipelinex_mlflow.tracking.retry_policy import POLICY

if TYPE_CHECKING:
    from collections.abc import Iterator

#: How long a process waits for another one to finish creating the store. Creating
#: it takes 1.5-3 s; a holder that dies releases the lock at once.
CREATION_LOCK_TIMEOUT_S = POLICY.creation_lock_timeout_s
#: What follows the store's name in the name of a half-made store set aside.
HALF_MADE_SUFFIX = ".half-made-"
# How long reading the store waits for a writer before the lock is taken instead.
_READ_BUSY_TIMEOUT_S = 0.5
# A temporary store is ``.<name>.creating-<host>-<pid>-<random>`` (its journal adds
# ``-journal``): hidden, and naming the process that makes it.
_TEMPORARY = re.compile(
    r"^\.(?P<name>.+)\.creating-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}"
    r"(?:-journal|-wal|-shm)?$"
)
# A temporary store whose creator cannot be checked (another host) is a dead one's
# when untouched this long: creating one takes seconds.
_ABANDONED_AFTER_S = 600.0
# A half-made store is set aside only once unchanged this long: a process of another
# tool (``mlflow ui``, a notebook) may be creating it in place right now, which
# writes it every few milliseconds for 1.5-3 s.
_QUIET_FOR_S = 2.0
# SQLite's files beside a database: a journal left by a dead process would be rolled
# back into a new database of the same name, so they move or go with it.
_COMPANIONS = ("-journal", "-wal", "-shm")
# The tables whose rows are someone's work: a store holding any is never moved.
_USER_DATA_TABLES = (
    "experiments",
    "runs",
    "registered_models",
    "logged_models",
    "trace_info",
)

logger = get_logger(__name__)

StoreKind = Literal["missing", "empty", "ready", "half_made", "incomplete", "other"]


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


@dataclass(frozen=True)
class StoreState:
    """What a SQLite file holds, as far as opening it as a store goes.

    The kinds: ``missing`` (no file); ``empty`` (no byte, or no table); ``ready``
    (complete: :func:`store_is_ready`); ``half_made`` (only MLflow's tables, some of
    them, and no experiment, run, model or trace: a creation that was cut short);
    ``incomplete`` (MLflow's tables, not all of them or no schema version, holding
    experiments or runs); ``other`` (anything MLflow itself should open and judge: a
    complete schema without its ``Default`` experiment, another schema version,
    another application's tables, not a database at all).

    Examples:
        >>> StoreState("incomplete", runs=3, experiments=1).kind
        'incomplete'
    """

    kind: StoreKind
    #: Rows of ``runs`` and of ``experiments`` (``Default`` included).
    runs: int = 0
    experiments: int = 0
    #: How many of MLflow's tables are missing.
    missing_tables: int = 0
    #: Whether the schema version (``alembic_version``) is recorded.
    has_version: bool = False


def inspect_store(db_path: Path) -> StoreState:
    """Tell what the file at ``db_path`` holds, without changing what it holds.

    The file is read with ``sqlite3`` in read-only mode. A transaction a dead
    process left unfinished is first rolled back, as any SQLite connection does on
    opening: the state read is then the one the next reader sees.

    Args:
        db_path: The SQLite database file.

    Examples:
        >>> from pathlib import Path
        >>> inspect_store(Path("/no/such/folder/mlflow.db")).kind
        'missing'
    """
    expected = _expected_tables()
    told = _file_kind(db_path, expected)
    if told is not None or expected is None:
        return StoreState(told or "other")
    try:
        _roll_back_unfinished_transaction(db_path)
        found = _read_schema(db_path, expected | {"alembic_version"})
    except sqlite3.Error:
        return StoreState("other")
    if found is None:
        return StoreState("other")  # another application's tables, or newer MLflow's
    tables, counts, versions = found
    if not tables:
        return StoreState("empty")
    missing = len(expected - tables)
    has_version = versions == 1
    kind: StoreKind
    if not any(counts.values()):
        kind = "half_made"
    elif missing or not has_version:
        kind = "incomplete"
    else:
        kind = "other"  # only its Default experiment is missing: MLflow adds it
    return StoreState(
        kind,
        runs=counts.get("runs", 0),
        experiments=counts.get("experiments", 0),
        missing_tables=missing,
        has_version=has_version,
    )


def _file_kind(db_path: Path, expected: set[str] | None) -> StoreKind | None:
    """The kind told without reading tables, or ``None`` when they must be read."""
    try:
        size = db_path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "other"
    if size == 0:
        return "empty"
    if expected is None:  # pragma: no cover - another MLflow layout: MLflow judges
        return "other"
    return "ready" if store_is_ready(db_path) else None


def _read_schema(
    db_path: Path, known: set[str]
) -> tuple[set[str], dict[str, int], int] | None:
    """Tables, rows of the user-data tables, schema versions; ``None`` if foreign.

    Raises:
        sqlite3.Error: If the file cannot be read as a database.
    """
    uri = f"{db_path.as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=_READ_BUSY_TIMEOUT_S)) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {name for (name,) in rows if not name.startswith("sqlite_")}
        if any(
            name not in known and not name.startswith("_alembic_tmp_")
            for name in tables
        ):
            return None
        counts = {
            # The names are this module's constants, not input.
            name: int(db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # noqa: S608
            for name in _USER_DATA_TABLES
            if name in tables
        }
        versions = (
            int(db.execute("SELECT count(*) FROM alembic_version").fetchone()[0])
            if "alembic_version" in tables
            else 0
        )
    return tables, counts, versions


def _roll_back_unfinished_transaction(db_path: Path) -> None:
    """Let SQLite roll back what a dead writer left in the journal, if anything.

    A read-only connection cannot; a read-write one does it on its first read.
    Nothing else is written.
    """
    journal = Path(f"{db_path}-journal")
    if not journal.exists() or journal.stat().st_size == 0:
        return
    with closing(sqlite3.connect(db_path, timeout=_READ_BUSY_TIMEOUT_S)) as db:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()


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
        wait = _seconds_until_quiet(db_path)
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
        aside = _set_aside(db_path)
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
        _unlink_with_companions(db_path)
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
    temporary = folder / (
        f".{db_path.name}.creating-{_host_id()}-{os.getpid()}-{secrets.token_hex(4)}"
    )
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
            _unlink_companions(db_path)
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
        _unlink_with_companions(temporary)


def _create_schema(db_path: Path) -> None:
    """Let MLflow create its schema and ``Default`` experiment in ``db_path``.

    The store is built as MLflow builds one for a URI (same class, same artifact
    root for ``Default``), but directly, so MLflow's cache of stores never holds
    the temporary URI; its engines are disposed of and forgotten after.
    """
    uri = f"sqlite:///{db_path.as_posix()}"
    try:
        try:
            from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store
        except ImportError:  # pragma: no cover - another MLflow layout
            from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            SqlAlchemyStore(uri, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)  # type: ignore[no-untyped-call]
        else:
            _get_sqlalchemy_store(uri, None)  # type: ignore[no-untyped-call]
    finally:
        forget_engines(uri)


def forget_engines(uri: str) -> None:
    """Dispose of MLflow's cached engines for ``uri`` and drop them from its caches.

    MLflow keeps one engine per URI for the life of the process, in the tracking
    store's and in the model registry store's ``_engine_map``; an engine of a
    temporary file would keep it open (and its name in use) after it is gone.

    Examples:
        >>> forget_engines("sqlite:////no/such/store.db")  # none cached: no-op
    """
    import sys

    for module in (
        "mlflow.store.tracking.sqlalchemy_store",
        "mlflow.store.model_registry.sqlalchemy_store",
    ):
        store_class = getattr(sys.modules.get(module), "SqlAlchemyStore", None)
        engines = getattr(store_class, "_engine_map", None)
        if not isinstance(engines, dict):
            continue  # not imported: it holds no engine
        guard = getattr(store_class, "_engine_map_lock", None)
        with guard if guard is not None else contextlib.nullcontext():
            engine = engines.pop(uri, None)
        if engine is not None:
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


def remove_dead_temporaries(db_path: Path) -> list[Path]:
    """Remove the temporary stores that creators which died left beside ``db_path``.

    A temporary store names its creator's host and process: it is a dead one's if
    that process is gone (same host), or if it was not changed for ten minutes
    (another host, or a process id that may have been reused).

    Args:
        db_path: The SQLite database file.

    Returns:
        The files removed.
    """
    folder = db_path.parent
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        match = _TEMPORARY.match(name)
        if match is None or match["name"] != db_path.name:
            continue
        path = folder / name
        if _creator_alive(match["host"], int(match["pid"]), path):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.debug("Cannot remove %s: %s", path, exc)
            continue
        removed.append(path)
        logger.debug("Removed %s, left by a creator that died", path)
    return removed


def _creator_alive(host: str, pid: int, path: Path) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return True  # gone already, or not ours to judge
    if age >= _ABANDONED_AFTER_S:
        return False
    # os.kill(pid, 0) only asks on POSIX; on Windows it would end the process.
    if host != _host_id() or os.name == "nt" or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # another user's: alive
    return True


def _host_id() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _seconds_until_quiet(db_path: Path) -> float:
    """How long until the store and its journal have been unchanged for a moment."""
    latest = 0.0
    for path in (db_path, *(Path(f"{db_path}{end}") for end in _COMPANIONS)):
        with contextlib.suppress(OSError):
            latest = max(latest, path.stat().st_mtime)
    return _QUIET_FOR_S - (time.time() - latest)


def _set_aside(db_path: Path) -> Path:
    """Rename the store (and its journal, if any) to a free ``.half-made-`` name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = db_path.with_name(f"{db_path.name}{HALF_MADE_SUFFIX}{stamp}")
    count = 1
    while aside.exists():
        count += 1
        aside = db_path.with_name(f"{db_path.name}{HALF_MADE_SUFFIX}{stamp}-{count}")
    os.rename(db_path, aside)
    for end in _COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{db_path}{end}", f"{aside}{end}")
    return aside


def _unlink_companions(db_path: Path) -> None:
    for end in _COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{db_path}{end}")


def _unlink_with_companions(db_path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        db_path.unlink()
    _unlink_companions(db_path)


def check_sqlite_location(db_path: Path, tracking_uri: str) -> None:
    """Fail at once where a SQLite store cannot work: MLflow would retry for ~100 s.

    SQLite needs to read and write the file and to create files in its folder (a
    journal, on every change); a folder that is missing is created by MLflow, so
    its nearest existing folder must allow that. Checked with the permissions of
    the process (``os.access``, which also sees a read-only mount).

    Args:
        db_path: The SQLite database file.
        tracking_uri: Its URI, for the message.

    Raises:
        TrackingError: In one line: the store, what is wrong, what to do.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as name:
        ...     folder = Path(name)
        ...     check_sqlite_location(folder / "new" / "mlflow.db", "sqlite:///...")
        ...     (folder / "file").write_text("")
        ...     check_sqlite_location(folder / "file" / "mlflow.db", "sqlite:///x")
        Traceback (most recent call last):
        ...
        pipelinex_mlflow.tracking.errors.TrackingError: Cannot use the SQLite ...
    """
    shown = repr(mask_url_passwords(tracking_uri))
    elsewhere = (
        "or point the store elsewhere (the `uri` of MLflowBasicLoggerHook or "
        "MLFLOW_TRACKING_URI)"
    )
    folder = existing = db_path.parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise TrackingError(
            f"Cannot use the SQLite MLflow store at {shown}: its folder "
            f"{str(folder)!r} cannot be created, because {str(existing)!r} is a "
            f"file. Fix the path, {elsewhere}."
        )
    writable = os.access(existing, os.W_OK | os.X_OK)
    if existing != folder and not writable:
        raise TrackingError(
            f"Cannot use the SQLite MLflow store at {shown}: its folder "
            f"{str(folder)!r} does not exist and cannot be created in "
            f"{str(existing)!r} (not writable). Create it, {elsewhere}."
        )
    if not writable:
        raise TrackingError(
            f"Cannot use the SQLite MLflow store at {shown}: its folder "
            f"{str(folder)!r} is not writable, and SQLite writes a journal beside "
            f"the database on every change. Make the folder writable, {elsewhere}."
        )
    if db_path.exists() and not os.access(db_path, os.R_OK | os.W_OK):
        raise TrackingError(
            f"Cannot use the SQLite MLflow store at {shown}: the file is not "
            "readable and writable by this user. Fix its permissions (`chmod u+rw "
            f"{db_path}`, or its owner), {elsewhere}."
        )
