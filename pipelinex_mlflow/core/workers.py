"""Node hooks in ParallelRunner workers that are spawned, not forked.

Kedro 1.7 builds each ParallelRunner task's hooks in the worker, from
``settings.HOOKS`` (``Task._run_node_synchronization`` in ``kedro/runner/task.py``).
A forked worker inherits the configured project. A spawned one (start method
``spawn`` or ``forkserver``: macOS, Windows, Linux from Python 3.14, or
``KEDRO_MP_CONTEXT``) does not: ``Task.execute`` reads ``PACKAGE_NAME`` in the
worker, where it is ``None``, so the project is never configured there,
``settings.HOOKS`` is empty and no node hook runs.

:class:`WorkerSetup` closes that gap. The companion hooks put one into a
ParallelRunner's catalog when the pipeline starts (:func:`prepare_workers`). Kedro
pickles the catalog into every task, and unpickling the entry in a worker, before
the task runs:

- loads the project's settings, so that Kedro registers the project's hooks
  there, as it does in a forked worker;
- makes the main process's run the worker's current run (a ``forkserver`` worker
  has the environment of the moment the fork server started: maybe another run's);
- hands the fresh hooks there the folders the main process collects
  (:func:`worker_spool`).

In the process that made it, and in a forked worker (which has all of this
already), unpickling it changes nothing. Where workers are spawned and no project
is configured, Kedro runs no node hooks in them whatever we do: the run says so,
once, with a warning and the tag ``pipelinex_mlflow.worker_hooks``.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from kedro.io import AbstractDataset, DatasetError, SharedMemoryCatalogProtocol

from pipelinex_mlflow.config import current_config
from pipelinex_mlflow.core.configurable import apply_config_to_all
from pipelinex_mlflow.core.guard import warn_on_failure
from pipelinex_mlflow.core.run_features import RunFeature, RunScope
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking import (
    RunLogger,
    current_run,
    set_current_run,
    settle_before_fork,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.io import CatalogProtocol

    from pipelinex_mlflow.config import LoadedConfig
    from pipelinex_mlflow.scratch import WorkerSpool
    from pipelinex_mlflow.tracking import RunRef

WORKER_SETUP_ENTRY = "pipelinex_mlflow.worker_setup"
WORKER_HOOKS_TAG = "pipelinex_mlflow.worker_hooks"
TIMING_SPOOL = "timing"
VALUES_SPOOL = "values"
_START_METHODS = frozenset({"fork", "spawn", "forkserver"})

logger = get_logger(__name__)


@dataclass
class _Worker:
    """What a worker process got from the main process's :class:`WorkerSetup`."""

    parent_pid: int
    spools: dict[str, WorkerSpool] = field(default_factory=dict)


# Set in a worker process when a WorkerSetup is unpickled there; None elsewhere.
_worker: _Worker | None = None
_configured_package: str | None = None
_failed_in_this_process = False


def worker_spool(kind: str) -> WorkerSpool | None:
    """In a ParallelRunner worker: the main process's spool of ``kind``.

    A hook made afresh in a spawned worker never saw ``before_pipeline_run``; this
    is how it finds the folder its records go to.

    Args:
        kind: :data:`TIMING_SPOOL` or :data:`VALUES_SPOOL`.

    Returns:
        The spool, or ``None`` outside a worker or if the main process made none.
    """
    worker = _worker
    if worker is None or worker.parent_pid == os.getpid():
        return None
    return worker.spools.get(kind)


def start_method() -> str:
    """The start method ParallelRunner's workers get, without fixing the default.

    Kedro 1.7 (``ParallelRunner._get_executor``) takes ``KEDRO_MP_CONTEXT`` when
    it is ``fork``, ``spawn`` or ``forkserver``, else the default context.
    """
    chosen = os.environ.get("KEDRO_MP_CONTEXT")
    if chosen in _START_METHODS:
        return chosen
    # The first supported method is the platform's default.
    return (
        multiprocessing.get_start_method(allow_none=True)
        or multiprocessing.get_all_start_methods()[0]
    )


class WorkerSetup(AbstractDataset[None, None]):
    """A catalog entry that sets up the ParallelRunner worker it is unpickled in.

    It holds no data: loading or saving it raises ``DatasetError``.

    Args:
        package_name: The Kedro project to configure in spawned workers, or
            ``None`` when no project is configured in this process.
        parent_pid: The process that made it (by default this one); only
            elsewhere does unpickling set the process up.

    Examples:
        >>> import pickle
        >>> setup = WorkerSetup("my_project")
        >>> pickle.loads(pickle.dumps(setup)).package_name  # here: no effect
        'my_project'
    """

    def __init__(self, package_name: str | None, parent_pid: int | None = None) -> None:
        self.package_name = package_name
        self.run_key: tuple[Any, ...] | None = None
        self.spools: dict[str, WorkerSpool] = {}
        self.warned = False
        self._parent_pid = os.getpid() if parent_pid is None else parent_pid

    def start(self, run_key: tuple[Any, ...], package_name: str | None) -> None:
        """Forget an earlier run's spools and warning (a catalog used again)."""
        self.run_key = run_key
        self.package_name = package_name
        self.spools = {}
        self.warned = False
        self._parent_pid = os.getpid()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle what a worker needs, with the run current at pickling time."""
        return (
            _set_up_worker,
            (
                self.package_name,
                self._parent_pid,
                dict(self.spools),
                current_run(),
                current_config(),
            ),
        )

    def load(self) -> NoReturn:
        """Refuse: the entry is no data."""
        raise DatasetError(f"'{WORKER_SETUP_ENTRY}' is not data: nothing to load.")

    def save(self, data: None) -> None:
        """Refuse: the entry is no data."""
        raise DatasetError(f"'{WORKER_SETUP_ENTRY}' is not data: nothing to save.")

    def _describe(self) -> dict[str, Any]:
        return {"package_name": self.package_name, "spools": sorted(self.spools)}


def _set_up_worker(
    package_name: str | None,
    parent_pid: int,
    spools: Mapping[str, WorkerSpool],
    run: RunRef | None,
    config: LoadedConfig | None = None,
) -> WorkerSetup:
    """Unpickle a :class:`WorkerSetup`; in a worker, set the worker up first.

    A spawned worker's hooks are made afresh from ``settings.py``: the main
    process's ``mlflow.yml`` (``config``) is applied to them too.

    It never raises: a failed unpickling would fail the task, and so the pipeline.
    """
    global _worker, _failed_in_this_process  # noqa: PLW0603 - one worker per process
    if os.getpid() != parent_pid:
        try:
            _worker = _Worker(parent_pid, dict(spools))
            set_current_run(run, owner_pid=parent_pid)
            _configure_project(package_name)
            _apply_config_to_project_hooks(config)
        except Exception as exc:
            if not _failed_in_this_process:
                _failed_in_this_process = True
                logger.warning(
                    "pipelinex_mlflow could not set up ParallelRunner worker %d "
                    "(%s: %s): its node timings and auto-logged values are missing.",
                    os.getpid(),
                    type(exc).__name__,
                    exc,
                )
    setup = WorkerSetup(package_name, parent_pid)
    setup.spools = dict(spools)
    return setup


def _configure_project(package_name: str | None) -> None:
    """Load the project's settings in a spawned worker, as ``configure_project`` does.

    Only the settings: with ``PACKAGE_NAME`` set, Kedro 1.7's ``Task`` would run its
    own bootstrap of spawned workers (``Task._bootstrap_subprocess``), whose
    ``configure_logging(LOGGING)`` makes ``LOGGING`` its own data, so the worker's
    second task dies of a ``RecursionError``.
    """
    global _configured_package  # noqa: PLW0603 - one project per process
    from kedro.framework import project

    if package_name is None or package_name in {
        project.PACKAGE_NAME,
        _configured_package,
    }:
        return  # nothing to configure, a forked worker, or done for an earlier task
    project.settings.configure(f"{package_name}.settings")
    _configured_package = package_name
    logger.debug("Loaded the settings of %s in worker %d", package_name, os.getpid())


def _apply_config_to_project_hooks(config: LoadedConfig | None) -> None:
    if config is None:
        return
    from kedro.framework.project import settings

    apply_config_to_all(settings.HOOKS, config)


def prepare_workers(
    hook: object, catalog: CatalogProtocol[Any, Any], run_params: Mapping[str, Any]
) -> WorkerSetup | None:
    """Put this run's :class:`WorkerSetup` into a ParallelRunner's catalog.

    Every companion hook calls it in ``before_pipeline_run``; the first call of a
    run makes (or resets) the entry, the others get it back. If the workers will be
    spawned with no Kedro project to configure, it warns once per run and tags the
    run.

    Args:
        hook: The companion hook calling, named if tagging the run fails.
        catalog: The run's catalog; only a ParallelRunner's
            (``SharedMemoryCatalogProtocol``) gets the entry.
        run_params: Kedro's ``run_params``; its ``run_id`` tells runs apart.

    Returns:
        The entry, or ``None`` for other runners' catalogs.
    """
    if not isinstance(catalog, SharedMemoryCatalogProtocol):
        return None
    from kedro.framework.project import PACKAGE_NAME

    run = current_run()
    run_key = (run_params.get("run_id"), run.run_id if run is not None else None)
    existing = catalog[WORKER_SETUP_ENTRY] if _registered(catalog) else None
    if isinstance(existing, WorkerSetup):
        setup = existing
        if setup.run_key != run_key:
            setup.start(run_key, PACKAGE_NAME)
    else:
        setup = WorkerSetup(PACKAGE_NAME)
        setup.start(run_key, PACKAGE_NAME)
        catalog[WORKER_SETUP_ENTRY] = setup
    if setup.package_name is None and not setup.warned:
        method = start_method()
        if method != "fork":
            setup.warned = True
            _warn_no_worker_hooks(hook, method, run)
    return setup


def _registered(catalog: CatalogProtocol[Any, Any]) -> bool:
    # Not `in catalog`: a catch-all dataset pattern would match the name.
    return WORKER_SETUP_ENTRY in catalog.keys()  # noqa: SIM118


def _warn_no_worker_hooks(hook: object, method: str, run: RunRef | None) -> None:
    logger.warning(
        "ParallelRunner starts its workers with '%s' and no Kedro project is "
        "configured in this process, so Kedro runs no node or dataset hooks in "
        "them: MLflow run %s will have no node timings (MLflowTimeLoggerHook: "
        "_time_to_run metrics, time_log.json, gantt.html), no auto-logged node "
        "values (MLflowCatalogLoggerHook) and no datasets_after_node_run uploads "
        "(MLflowArtifactsLoggerHook); datasets still log. Run the pipeline in its "
        "Kedro project (kedro run, or KedroSession after bootstrap_project), set "
        "KEDRO_MP_CONTEXT=fork where fork is safe, or use ThreadRunner.",
        method,
        run.run_id if run is not None else "(none)",
    )
    if run is None:
        return
    with warn_on_failure(hook, "tag the run"):
        run_logger = RunLogger(run)
        run_logger.set_tags(
            {
                WORKER_HOOKS_TAG: f"none: '{method}' workers and no Kedro project "
                "configured; no node timings or auto-logged values"
            }
        )
        run_logger.flush()


class WorkerHandOver(RunFeature):
    """What ParallelRunner's workers need from the run, handed over before they start."""

    def start(self, scope: RunScope) -> None:
        """Put the run's :class:`WorkerSetup` into a ParallelRunner's catalog."""
        with warn_on_failure(scope.owner, "prepare ParallelRunner's spawned workers"):
            # Spawned workers log datasets to this run (a fork server keeps the
            # environment of an earlier run).
            prepare_workers(scope.owner, scope.catalog, scope.run_params)

    def before_workers(self, scope: RunScope) -> None:
        """Before ParallelRunner forks its workers, let the sending threads go idle."""
        if not isinstance(scope.catalog, SharedMemoryCatalogProtocol):
            return
        if start_method() != "fork":
            return
        with warn_on_failure(
            scope.owner, "send the run's start before the workers fork"
        ):
            settle_before_fork(scope.opened.run)
