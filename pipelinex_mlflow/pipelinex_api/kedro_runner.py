"""PipelineX's ``get_kedro_runner`` and ``running_parallel``: the runner of the caller."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kedro.runner import AbstractRunner


def get_kedro_runner() -> AbstractRunner | None:
    """The Kedro runner running the caller, found on the call stack; ``None`` outside one.

    As in PipelineX, a node in a ``ThreadRunner`` worker thread gets ``None`` (its
    stack does not hold the runner).
    """
    from kedro.runner import AbstractRunner

    for frame_info in inspect.stack():
        runner = frame_info.frame.f_locals.get(
            "runner"
        ) or frame_info.frame.f_locals.get("self")
        if isinstance(runner, AbstractRunner):
            return runner
    return None


def running_parallel() -> bool:
    """Whether the caller runs under Kedro's ``ParallelRunner``."""
    from kedro.runner import ParallelRunner

    return isinstance(get_kedro_runner(), ParallelRunner)
