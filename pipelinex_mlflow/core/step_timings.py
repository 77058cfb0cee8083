"""The node timings of a run that orchestrated steps share, one file per step.

Each ``kedro run`` step of a shared run (``PIPELINEX_MLFLOW_RUN_KEY``) leaves its
own timings in ``time_log_steps/`` and draws the time log and the chart from
every step's so far; ``kedro mlflow end-run`` draws them once more from all.

Examples:
    >>> from pipelinex_mlflow.core.node_timings import NodeTiming
    >>> mine = NodeTiming("b", "b", 2.0, 3.0, 1.0, "completed", 7, "MainThread")
    >>> other = NodeTiming("a", "a", 1.0, 2.0, 1.0, "completed", 8, "MainThread")
    >>> [t.node for t in merged([mine], [other, mine])]
    ['a', 'b']
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict
from typing import TYPE_CHECKING

from pipelinex_mlflow.core.node_timings import NodeTiming
from pipelinex_mlflow.masking import get_logger, mask_json
from pipelinex_mlflow.scratch import ScratchFolder
from pipelinex_mlflow.tracking import download_artifact, list_artifact_files

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking import RunLogger, RunRef

#: Where each orchestrated step of a shared run leaves its own timings.
STEP_TIMINGS_FOLDER = "time_log_steps"

logger = get_logger(__name__)


def step_timings(run: RunRef) -> list[NodeTiming]:
    """The timings the steps of a shared run left in ``time_log_steps/``."""
    folder = ScratchFolder("pipelinex_mlflow-steps-")
    try:
        timings = []
        for path in list_artifact_files(run, STEP_TIMINGS_FOLDER):
            local = download_artifact(run, path, folder.path)
            for record in json.loads(local.read_text(encoding="utf-8")):
                try:
                    timings.append(NodeTiming.from_record(record))
                except TypeError as exc:
                    logger.debug("Skipping a malformed timing %s: %s", record, exc)
        return timings
    finally:
        folder.remove()


def queue_step_timings(run_logger: RunLogger, own: list[NodeTiming]) -> None:
    """Queue this step's timings (masked) as its own file in ``time_log_steps/``."""
    run_logger.log_text(
        json.dumps(mask_json([asdict(t) for t in own])),
        f"{STEP_TIMINGS_FOLDER}/{_step_name(own)}.json",
    )


def merged(own: list[NodeTiming], others: list[NodeTiming]) -> list[NodeTiming]:
    """This step's timings and the other steps', each once, in start order."""
    seen = {(t.node, t.pid, t.start) for t in own}
    rest = [t for t in others if (t.node, t.pid, t.start) not in seen]
    return sorted([*own, *rest], key=lambda t: (t.start, t.node))


def _step_name(timings: list[NodeTiming]) -> str:
    """A name for one step's timings, unique across the processes of a run."""
    first = min(timings, key=lambda t: t.start)
    return f"{socket.gethostname()}-{first.pid}-{int(first.start * 1000)}"
