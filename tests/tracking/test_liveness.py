"""Which RUNNING runs have lost their process: real processes, a real SQLite store."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from pipelinex_mlflow.tracking import (
    PROCESS_TAG,
    SHARED_RUN_KEY_TAG,
    end_dead_runs,
    process_tag,
    start_run,
)
from pipelinex_mlflow.tracking.liveness import (
    HEARTBEAT_TAG,
    STALE_AFTER_S,
    process_identity,
    why_dead,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def test_a_live_process_is_alive_and_a_finished_one_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = process_identity(child.pid)
        assert why_dead(identity, heartbeat=None, start_time_ms=0) is None
    finally:
        child.kill()
        child.wait()
    assert "no longer exists" in str(why_dead(identity, None, 0))


def test_a_reused_pid_or_a_reboot_means_gone() -> None:
    identity = process_identity()
    if identity["started"] is not None:
        reused = {**identity, "started": identity["started"] - 1}
        assert "another process now" in str(why_dead(reused, None, 0))
    if identity["boot"] is not None:
        rebooted = {**identity, "boot": "another-boot"}
        assert "restarted" in str(why_dead(rebooted, None, 0))


def test_another_machine_is_judged_by_its_heartbeat() -> None:
    elsewhere = {"host": "build-agent-7", "pid": 42, "boot": "b", "started": 1}
    now = time.time()
    assert why_dead(elsewhere, _iso(now - 60), 0, now=now) is None
    old = _iso(now - STALE_AFTER_S - 120)
    assert "sent no heartbeat for 12 min" in str(why_dead(elsewhere, old, 0, now=now))
    # No heartbeat yet: the run's start stands in for it.
    assert why_dead(elsewhere, None, int(now * 1000), now=now) is None
    assert why_dead(elsewhere, None, 0, now=now) is not None


def test_only_dead_runs_of_ours_are_ended(
    tracking_uri: str, client: MlflowClient
) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    gone = json.dumps(process_identity(child.pid))
    dead = start_run(tracking_uri, "0", tags={PROCESS_TAG: gone})
    alive = start_run(tracking_uri, "0", tags={PROCESS_TAG: process_tag()})
    shared = start_run(
        tracking_uri, "0", tags={PROCESS_TAG: gone, SHARED_RUN_KEY_TAG: "dag-1"}
    )
    foreign = start_run(tracking_uri, "0")  # started by someone else's code
    client.set_tag(alive.run_id, HEARTBEAT_TAG, _iso(time.time()))

    (ended,) = end_dead_runs(tracking_uri, ["0"], found_by="a test")
    assert ended.run_id == dead.run_id
    status = {
        r: client.get_run(r.run_id).info.status for r in (dead, alive, shared, foreign)
    }
    assert status == {
        dead: "FAILED",
        alive: "RUNNING",
        shared: "RUNNING",
        foreign: "RUNNING",
    }
    because = client.get_run(dead.run_id).data.tags["pipelinex_mlflow.ended_because"]
    assert f"its process {child.pid}" in because
    assert "marked FAILED by a test" in because
    assert end_dead_runs(tracking_uri, ["0"], found_by="a test") == []
