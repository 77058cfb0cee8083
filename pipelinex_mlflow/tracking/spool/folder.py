"""Where spool files live, how they are named, and how replayed ones are set aside."""

from __future__ import annotations

import os
import time
from pathlib import Path

SPOOL_DIR_ENV_VAR = "PIPELINEX_MLFLOW_SPOOL_DIR"
DEFAULT_SPOOL_DIR_NAME = "mlflow_spool"
SPOOL_SUFFIX = ".zip"
REPLAYED_SUFFIX = ".replayed"
REJECTED_SUFFIX = ".rejected"


def spool_dir() -> Path:
    """The spool folder: ``PIPELINEX_MLFLOW_SPOOL_DIR``, else ``./mlflow_spool``.

    ``MLflowBasicLoggerHook`` sets the variable to ``<project root>/mlflow_spool``
    when a run starts, so every process of the run (and the CLI) agrees.
    """
    return Path(os.environ.get(SPOOL_DIR_ENV_VAR) or DEFAULT_SPOOL_DIR_NAME).resolve()


def set_spool_dir(folder: Path) -> None:
    """Make ``folder`` the spool folder of this process and the processes it starts."""
    os.environ[SPOOL_DIR_ENV_VAR] = str(folder)


def spool_path(run_id: str, folder: Path | None = None) -> Path:
    """The spool file of run ``run_id``."""
    return (folder or spool_dir()) / f"{run_id}{SPOOL_SUFFIX}"


def pending_spools(folder: Path | None = None) -> list[Path]:
    """The spool files in ``folder`` not replayed yet, oldest first."""
    folder = folder or spool_dir()
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.glob(f"*{SPOOL_SUFFIX}")
        if p.is_file()
        and REPLAYED_SUFFIX not in p.name
        and REJECTED_SUFFIX not in p.name
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def mark_replayed(path: Path) -> Path:
    """Rename a replayed spool file so it is not replayed again; return the new path."""
    return _set_aside(path, REPLAYED_SUFFIX)


def mark_rejected(path: Path) -> Path:
    """Rename a spool file that is not valid, so replays pass it by; return the new path.

    It is kept, as ``<name>.rejected.zip``, for someone to look at; a file
    rejected before keeps its name.
    """
    if REJECTED_SUFFIX in path.name:
        return path
    return _set_aside(path, REJECTED_SUFFIX)


def _set_aside(path: Path, suffix: str) -> Path:
    done = path.with_name(f"{path.stem}{suffix}{SPOOL_SUFFIX}")
    if done.exists():
        done = path.with_name(f"{path.stem}{suffix}-{time.time_ns()}{SPOOL_SUFFIX}")
    path.rename(done)
    return done
