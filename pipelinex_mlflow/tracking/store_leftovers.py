"""What creating a SQLite store may leave beside it, and how it is cleared.

A store is created under a temporary name (:func:`temporary_name`) that names
its creator's host and process; creators that died leave only that file, which
:func:`remove_dead_temporaries` removes. A half-made store an older version left
is moved aside (:func:`set_aside`) once nothing has changed it for a moment
(:func:`seconds_until_quiet`). SQLite's journal files go with their database.

Examples:
    >>> from pathlib import Path
    >>> name = temporary_name(Path("/srv/proj/mlflow.db"))
    >>> name.startswith(".mlflow.db.creating-")
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
import time
from pathlib import Path

from pipelinex_mlflow.masking import get_logger

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

logger = get_logger(__name__)


def temporary_name(db_path: Path) -> str:
    """The hidden name a new store is created under, beside ``db_path``."""
    return f".{db_path.name}.creating-{host_id()}-{os.getpid()}-{secrets.token_hex(4)}"


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
    if host != host_id() or os.name == "nt" or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # another user's: alive
    return True


def host_id() -> str:
    """A short hash of this machine's name, as temporary names carry it."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def seconds_until_quiet(db_path: Path) -> float:
    """How long until the store and its journal have been unchanged for a moment."""
    latest = 0.0
    for path in (db_path, *(Path(f"{db_path}{end}") for end in _COMPANIONS)):
        with contextlib.suppress(OSError):
            latest = max(latest, path.stat().st_mtime)
    return _QUIET_FOR_S - (time.time() - latest)


def set_aside(db_path: Path) -> Path:
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


def unlink_companions(db_path: Path) -> None:
    """Remove SQLite's journal files beside ``db_path``, if any."""
    for end in _COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{db_path}{end}")


def unlink_with_companions(db_path: Path) -> None:
    """Remove ``db_path`` and its journal files, if any."""
    with contextlib.suppress(FileNotFoundError):
        db_path.unlink()
    unlink_companions(db_path)
