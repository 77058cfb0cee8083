"""Telling a live run from one whose process is gone, and ending the latter FAILED.

A run's owner tags it with who it is (``pipelinex_mlflow.process``: host, pid, boot
id and the process's start time) and refreshes ``pipelinex_mlflow.heartbeat``
while it lives (:meth:`~pipelinex_mlflow.tracking.sender.RunSender.start_heartbeat`).
A process killed with ``SIGKILL``, or a machine that lost power, leaves its run
RUNNING; :func:`end_dead_runs` finds such runs and marks them FAILED, with the tag
``pipelinex_mlflow.ended_because`` saying why. A run is taken for dead only when
that is certain, or nearly so:

- on this machine (same host name and boot): its process no longer exists, or
  the pid now belongs to a process that started at another time;
- on this machine before a reboot: always;
- on another machine: no heartbeat for :data:`STALE_AFTER_S` seconds.

Runs shared by an orchestrator's steps (``pipelinex_mlflow.run_key``) have no
living owner between steps and are left alone: the orchestrator ends them.

Examples:
    >>> identity = process_identity()
    >>> why_dead(identity, heartbeat=None, start_time_ms=0) is None
    True
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.keys import MAX_TAG_LENGTH
from pipelinex_mlflow.tracking.runs import SHARED_RUN_KEY_TAG
from pipelinex_mlflow.tracking.sender import HEARTBEAT_FORMAT, HEARTBEAT_TAG
from pipelinex_mlflow.tracking.spool import spool_path
from pipelinex_mlflow.tracking.stores import get_client

PROCESS_TAG = "pipelinex_mlflow.process"
ENDED_BECAUSE_TAG = "pipelinex_mlflow.ended_because"
#: How often a run's owner refreshes its heartbeat.
HEARTBEAT_EVERY_S = 30.0
#: Silence after which a run of another machine is taken for dead.
STALE_AFTER_S = 600.0

logger = get_logger(__name__)


@dataclass(frozen=True)
class DeadRun:
    """A RUNNING run whose process is gone.

    Attributes:
        run_id: The run.
        reason: Why it is taken for dead, for the tag and the log.
    """

    run_id: str
    reason: str


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """Who process ``pid`` (this one by default) is: host, pid, boot id, start time.

    The boot id and start time are known on Linux (``/proc``), else ``None``.
    """
    pid = os.getpid() if pid is None else pid
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "boot": _boot_id(),
        "started": _start_ticks(pid),
    }


def process_tag() -> str:
    """The value of the tag ``pipelinex_mlflow.process`` for this process."""
    return json.dumps(process_identity(), sort_keys=True)


def why_dead(
    identity: dict[str, Any],
    heartbeat: str | None,
    start_time_ms: int,
    now: float | None = None,
) -> str | None:
    """Say why the process ``identity`` is gone, or ``None`` if it may live.

    Args:
        identity: The run's ``pipelinex_mlflow.process`` tag, parsed.
        heartbeat: Its ``pipelinex_mlflow.heartbeat`` tag (ISO 8601, UTC), if any.
        start_time_ms: The run's start time, standing in for a missing heartbeat.
        now: The time to judge at (seconds since the epoch); now by default.
    """
    host, pid = identity.get("host"), identity.get("pid")
    if host == socket.gethostname() and isinstance(pid, int):
        boot = _boot_id()
        if identity.get("boot") and boot and identity["boot"] != boot:
            return f"its machine {host} restarted since it started"
        if not _exists(pid):
            return f"its process {pid} on {host} no longer exists"
        started = identity.get("started")
        if started is not None and _start_ticks(pid) not in (None, started):
            return f"its process {pid} on {host} ended (the pid is another process now)"
        return None
    last = _epoch(heartbeat) if heartbeat else start_time_ms / 1000
    silent = (time.time() if now is None else now) - last
    if silent < STALE_AFTER_S:
        return None
    return (
        f"its process {pid} on {host} sent no heartbeat for {silent / 60:.0f} min "
        f"(more than {STALE_AFTER_S / 60:.0f})"
    )


def find_dead_runs(tracking_uri: str, experiment_ids: list[str]) -> list[DeadRun]:
    """Find the RUNNING runs pipelinex_mlflow started whose process is gone.

    The module's rules say when a process counts as gone.
    """
    client = get_client(tracking_uri)
    dead = []
    for run in client.search_runs(
        experiment_ids, filter_string="attributes.status = 'RUNNING'", max_results=1000
    ):
        tags = run.data.tags
        if SHARED_RUN_KEY_TAG in tags or PROCESS_TAG not in tags:
            continue
        try:
            identity = json.loads(tags[PROCESS_TAG])
        except ValueError:
            continue
        if not isinstance(identity, dict):
            continue
        reason = why_dead(identity, tags.get(HEARTBEAT_TAG), run.info.start_time or 0)
        if reason is not None:
            dead.append(DeadRun(run.info.run_id, reason))
    return dead


def end_dead_runs(
    tracking_uri: str, experiment_ids: list[str], *, found_by: str
) -> list[DeadRun]:
    """Mark FAILED the runs :func:`find_dead_runs` finds, saying why; return them.

    Args:
        tracking_uri: The store.
        experiment_ids: The experiments to look in.
        found_by: Who ends them (a run id, ``kedro mlflow runs``), for the tag.
    """
    client = get_client(tracking_uri)
    dead = find_dead_runs(tracking_uri, experiment_ids)
    stamp = datetime.now(timezone.utc).strftime(HEARTBEAT_FORMAT)
    for run in dead:
        reason = f"{run.reason}; marked FAILED by {found_by} at {stamp}"
        spool = spool_path(run.run_id)
        if spool.exists():
            reason += f"; {spool} holds what it could not send: replay it"
        client.set_tag(run.run_id, ENDED_BECAUSE_TAG, reason[:MAX_TAG_LENGTH])
        client.set_terminated(run.run_id, status="FAILED")
        logger.warning("MLflow run %s was left RUNNING: %s", run.run_id, reason)
    return dead


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    return True


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), else ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _epoch(iso: str) -> float:
    try:
        return (
            datetime.strptime(iso, HEARTBEAT_FORMAT)
            .replace(tzinfo=timezone.utc)
            .timestamp()
        )
    except ValueError:
        return 0.0
