"""The copy of its last save an ``MLflowDataSet`` keeps for the run's later loads.

A copy is served only in the run that saved it: a notebook's next run, or a
save from another run, never gets it. In a ``ParallelRunner`` worker the copy is
also left for the other workers (:mod:`~pipelinex_mlflow.io.shared_values`).

Examples:
    >>> kept = keep_copy(object(), None, {"a": 1}, copy_mode=None)
    >>> kept
    RunCopy(run_id='', copy=kedro.io.memory_dataset.MemoryDataset(data='<dict>'))
    >>> served_copy(kept, None).load()
    {'a': 1}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from kedro.io import MemoryDataset

from pipelinex_mlflow.io.shared_values import share, shared_copy
from pipelinex_mlflow.tracking import current_run
from pipelinex_mlflow.tracking.first_rule import warn_on_failure
from pipelinex_mlflow.tracking.run_ref import in_kedro_run, in_worker_of_kedro_run

if TYPE_CHECKING:
    from pipelinex_mlflow.io.backends.base import CopyMode


class RunCopy(NamedTuple):
    """A copy of what was saved, and the run it was saved in (``""`` for none)."""

    run_id: str
    copy: MemoryDataset


def keep_copy(
    owner: object,
    name: str | None,
    data: Any,
    *,
    copy_mode: CopyMode | None,
    keep: bool = True,
) -> RunCopy | None:
    """Copy ``data`` for this run's loads; in a worker, leave it for the others too.

    Args:
        owner: The dataset, named in the warning if the other workers miss it.
        name: The dataset's name, under which the workers find the copy.
        data: What was saved.
        copy_mode: How the copy is returned: ``deepcopy``, ``copy`` or ``assign``;
            inferred from the data when ``None``.
        keep: Keep a copy in this process (``caching``); ``None`` is returned
            when not.
    """
    run = current_run()
    if run is not None and name and in_worker_of_kedro_run():
        # The next node may run in another worker, before (or without) the
        # value reaching MLflow.
        with warn_on_failure(
            owner, f"leave {name!r} for the other ParallelRunner workers"
        ):
            share(run, name, data)
    if not keep:
        return None
    copy = MemoryDataset(copy_mode=copy_mode)
    copy.save(data)
    return RunCopy(run.run_id if run else "", copy)


def served_copy(kept: RunCopy | None, name: str | None) -> MemoryDataset | None:
    """This run's copy: ``kept`` in this process's memory, or left by another worker."""
    run = current_run()
    if kept is not None and (run.run_id if run else "") == kept.run_id:
        return kept.copy
    if run is not None and name and in_kedro_run():
        return shared_copy(run, name)
    return None
