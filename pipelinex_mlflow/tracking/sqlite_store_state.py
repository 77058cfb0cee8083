"""What a SQLite file holds, as far as opening it as an MLflow store goes.

Read with ``sqlite3`` in read-only mode, never created: whether the store is
complete (:func:`store_is_ready`, a few file reads), what it holds otherwise
(:func:`inspect_store`), and whether SQLite can work where it lies
(:func:`check_sqlite_location`).

Examples:
    >>> from pathlib import Path
    >>> sqlite_db_path("sqlite:////srv/proj/mlflow.db")
    PosixPath('/srv/proj/mlflow.db')
    >>> store_is_ready(Path("/no/such/folder/mlflow.db"))
    False
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelinex_mlflow.masking import mask_url_passwords
from pipelinex_mlflow.tracking.errors import TrackingError

# How long reading the store waits for a writer before the lock is taken instead.
_READ_BUSY_TIMEOUT_S = 0.5
# The tables whose rows are someone's work: a store holding any is never moved.
_USER_DATA_TABLES = (
    "experiments",
    "runs",
    "registered_models",
    "logged_models",
    "trace_info",
)

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
