"""A throwaway PostgreSQL server for tests, on 127.0.0.1 in a temporary folder.

``initdb`` and ``postgres`` refuse to run as root. As root (CI), both run as the
``postgres`` user that Debian's package creates, through ``runuser``; as anyone
else (a developer's laptop), they run as that user directly.

The binaries are those in ``$PIPELINEX_MLFLOW_POSTGRES_BIN`` if it is set, else
found on ``PATH``, else in ``/usr/lib/postgresql/<version>/bin`` (Debian keeps
them off ``PATH``).
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import _free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Set to ``1`` (``.ci/run`` does) to fail, not skip, when PostgreSQL is missing.
REQUIRE_ENV_VAR = "PIPELINEX_MLFLOW_REQUIRE_POSTGRES"
#: A folder holding ``initdb``, ``pg_ctl`` and ``createdb``: the only one looked in.
BIN_ENV_VAR = "PIPELINEX_MLFLOW_POSTGRES_BIN"
#: Who runs the server when the tests run as root.
SERVER_USER = "postgres"
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT_S = 60
_TOOLS = ("initdb", "pg_ctl", "createdb")


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be started here; the message says why and what to install."""


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL server and one database on it."""

    #: libpq URI of the database (``psycopg.connect``), password included, so
    #: kept out of the repr.
    conninfo: str = field(repr=False)
    port: int
    #: The server's own log file.
    log: Path

    @property
    def uri(self) -> str:
        """The database as MLflow's ``--backend-store-uri`` (a SQLAlchemy URI).

        The driver is named: SQLAlchemy 2.0 reads a bare ``postgresql://`` as
        psycopg2, 2.1 as psycopg 3, and only psycopg 3 is installed for the tests.
        """
        return self.conninfo.replace("postgresql://", "postgresql+psycopg://", 1)


def required() -> bool:
    """Whether a missing PostgreSQL must fail the tests (CI) rather than skip them."""
    return os.environ.get(REQUIRE_ENV_VAR, "") == "1"


def find_bindir() -> Path:
    """The folder of PostgreSQL's server binaries.

    Raises:
        PostgresUnavailable: If no folder has all of ``initdb``, ``pg_ctl`` and
            ``createdb``.
    """
    candidates: list[Path] = []
    if os.environ.get(BIN_ENV_VAR):
        # Chosen on purpose: no falling back to another PostgreSQL.
        candidates.append(Path(os.environ[BIN_ENV_VAR]))
    else:
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
        # Newest first: a machine upgraded in place keeps the old binaries too.
        debian = Path("/").glob(DEBIAN_BIN_GLOB.lstrip("/"))
        candidates.extend(sorted(debian, key=_version, reverse=True))
    for folder in candidates:
        if all((folder / tool).is_file() for tool in _TOOLS):
            return folder
    where = (
        f"{BIN_ENV_VAR}={os.environ[BIN_ENV_VAR]}"
        if os.environ.get(BIN_ENV_VAR)
        else f"PATH or {DEBIAN_BIN_GLOB}"
    )
    raise PostgresUnavailable(
        f"PostgreSQL's server binaries (initdb, pg_ctl, createdb) are not in {where}. "
        "Install them (Debian: apt-get install postgresql; macOS: brew install "
        f"postgresql) or set {BIN_ENV_VAR} to their folder."
    )


def _version(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name))


def _server_user() -> pwd.struct_passwd | None:
    """The user to run the server as: ``None`` for the current one (not root).

    Raises:
        PostgresUnavailable: As root, without a ``postgres`` user or ``runuser``.
    """
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"Running as root, which PostgreSQL refuses, and there is no "
            f"{SERVER_USER!r} user to run it as (Debian's postgresql package "
            f"creates it; or: useradd --system {SERVER_USER})."
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable(
            f"Running as root, and `runuser` (util-linux) is missing to run "
            f"PostgreSQL as {SERVER_USER!r}."
        )
    return user


def check_available() -> None:
    """Raise :class:`PostgresUnavailable` if :func:`running_postgres` cannot work."""
    find_bindir()
    _server_user()


@contextmanager
def running_postgres(database: str = "mlflow") -> Iterator[Postgres]:
    """Start PostgreSQL with a fresh ``database``; stop it and delete its files after.

    The server listens on 127.0.0.1 only, on a free port, with password
    (SCRAM) authentication, and keeps its socket in its own folder so it touches
    nothing of a PostgreSQL the machine may already run.

    Args:
        database: Name of the database to create.

    Yields:
        The running server.

    Raises:
        PostgresUnavailable: If it cannot be started here (see
            :func:`check_available`).
    """
    bindir = find_bindir()
    user = _server_user()
    run_as = [] if user is None else ["runuser", "-u", user.pw_name, "--"]
    root = Path(tempfile.mkdtemp(prefix="pipelinex-pg-"))
    data, log = root / "data", root / "postgres.log"
    password = secrets.token_hex(16)
    owner = "mlflow"
    try:
        pwfile = root / "pwfile"
        pwfile.write_text(password)
        if user is not None:
            # mkdtemp's folder is root's and private: hand it to the server's user.
            for path in (root, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        _run(
            [
                *run_as,
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                owner,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-locale",
                # Throwaway data: durability is not under test, and fsync costs seconds.
                "--no-sync",
            ],
            cwd=root,
        )
        pwfile.unlink()
        port = _start(run_as, bindir, data, log, root)
        try:
            _run(
                [
                    str(bindir / "createdb"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--username",
                    owner,
                    database,
                ],
                cwd=root,
                env={**os.environ, "PGPASSWORD": password},
            )
            yield Postgres(
                conninfo=f"postgresql://{owner}:{password}@127.0.0.1:{port}/{database}",
                port=port,
                log=log,
            )
        finally:
            _run(
                [
                    *run_as,
                    str(bindir / "pg_ctl"),
                    "stop",
                    "-D",
                    str(data),
                    "-m",
                    "fast",
                ],
                cwd=root,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(run_as: list[str], bindir: Path, data: Path, log: Path, root: Path) -> int:
    """Start the server on a free port and return it, once it accepts connections.

    Another process may take the free port before the server binds it: a few
    tries with a new port make that harmless.
    """
    for _ in range(3):
        port = _free_port()
        # fsync off as initdb's --no-sync: throwaway data.
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} "
            f"-c unix_socket_directories={root} -c fsync=off"
        )
        done = subprocess.run(
            [
                *run_as,
                str(bindir / "pg_ctl"),
                "start",
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "-o",
                options,
            ],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return port
        if "in use" not in _tail(log):
            break
    raise RuntimeError(
        f"PostgreSQL did not start:\n{done.stdout}{done.stderr}{_tail(log)}"
    )


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
