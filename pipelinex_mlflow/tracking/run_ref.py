"""The *current run*: the MLflow run that ``MLflowBasicLoggerHook`` started.

It is kept in a module global (inherited by forked workers) and mirrored in
environment variables of our own (inherited by spawned workers too), so datasets and
node hooks find it from any thread or process without MLflow's thread-local active
run. Without one, a run the caller opened with ``mlflow.start_run()`` is the
current run (read, never created: only when the caller imported MLflow).

A current run is either a Kedro run's (set by ``MLflowBasicLoggerHook``, inherited by
its worker processes) or one opened outside any Kedro run (PipelineX's
``mlflow_start_run`` in a notebook or script, marked with :func:`mark_outside_kedro`):
:func:`in_kedro_run` tells them apart, so that a save outside a Kedro run waits until
it has landed.

Tracking can also be *off* for a run (``MLflowBasicLoggerHook(enable_mlflow=False)``
or ``PIPELINEX_MLFLOW_DISABLE=1``): then there is no current run, and datasets
keep their data locally.

Examples:
    >>> set_current_run(RunRef("sqlite:///mlflow.db", "0123abcd"))
    >>> current_run().run_id
    '0123abcd'
    >>> set_current_run(None)
    >>> current_run() is None
    True
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

RUN_ID_ENV_VAR = "PIPELINEX_MLFLOW_RUN_ID"
TRACKING_URI_ENV_VAR = "PIPELINEX_MLFLOW_TRACKING_URI"
#: Set to 1 (or true, yes, on) to switch tracking off without editing code.
DISABLE_ENV_VAR = "PIPELINEX_MLFLOW_DISABLE"
# Tells worker processes that this run is not tracked.
_OFF_ENV_VAR = "PIPELINEX_MLFLOW_TRACKING_OFF"
# Holds the current run's id when that run was opened outside any Kedro run, so
# that child processes know it too.
_OUTSIDE_KEDRO_ENV_VAR = "PIPELINEX_MLFLOW_RUN_OUTSIDE_KEDRO"
_TRUE_TEXTS = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class RunRef:
    """An MLflow run, addressed without any process-global MLflow state.

    Attributes:
        tracking_uri: The tracking URI of the store holding the run.
        run_id: The MLflow run id.
    """

    tracking_uri: str
    run_id: str


_current_run: RunRef | None = None
# The process that set it: a forked worker inherits the run, not the pid.
_current_run_pid = 0
# Runs opened outside any Kedro run (mlflow_start_run); a Kedro run's hook that
# ends makes such a run current again, and it stays outside.
_runs_outside_kedro: set[RunRef] = set()


def set_current_run(run: RunRef | None, *, owner_pid: int | None = None) -> None:
    """Make ``run`` the run that datasets and node hooks log to (``None`` clears it).

    Args:
        run: The run, or ``None``.
        owner_pid: The process that runs the Kedro run, if not this one (a
            ParallelRunner worker sets its parent's run).
    """
    global _current_run, _current_run_pid  # noqa: PLW0603 - one process-wide slot
    _current_run = run
    _current_run_pid = os.getpid() if owner_pid is None else owner_pid
    if run is None:
        os.environ.pop(RUN_ID_ENV_VAR, None)
        os.environ.pop(TRACKING_URI_ENV_VAR, None)
    else:
        os.environ[RUN_ID_ENV_VAR] = run.run_id
        os.environ[TRACKING_URI_ENV_VAR] = run.tracking_uri
    if run is not None and run in _runs_outside_kedro:
        os.environ[_OUTSIDE_KEDRO_ENV_VAR] = run.run_id
    else:
        os.environ.pop(_OUTSIDE_KEDRO_ENV_VAR, None)


def mark_outside_kedro(run: RunRef, outside: bool = True) -> None:
    """Record that ``run`` was opened outside any Kedro run, or (``False``) forget it.

    PipelineX's ``mlflow_start_run`` marks the runs it opens: saves to them wait
    until they have landed (see :func:`in_kedro_run`), whoever makes them current
    again later (a Kedro run's hook, when it ends, makes the run current that was
    current before it).
    """
    if outside:
        _runs_outside_kedro.add(run)
    else:
        _runs_outside_kedro.discard(run)
    if run == _current_run:
        set_current_run(run)  # mirror the change for child processes


def in_kedro_run() -> bool:
    """Whether this process works for a Kedro run that ``MLflowBasicLoggerHook`` tracks.

    True while the hook's run is current here (any thread; the run's start and
    end are the hook's, and its end waits for everything sent in the
    background), and in the worker processes of such a run: ParallelRunner's,
    forked (the current run is inherited) or spawned (it comes in the
    environment), and the steps of an orchestrated run (each a ``kedro run``
    whose hook joins the shared run).

    False in a plain process (a notebook, a script) with no current run, with the
    caller's own ``mlflow.start_run()`` run, or with a run opened by
    ``mlflow_start_run`` (:func:`mark_outside_kedro`): nothing there would wait
    for the background sender before the process ends, so saves must wait.

    Examples:
        >>> set_current_run(RunRef("sqlite:///mlflow.db", "0123abcd"))
        >>> in_kedro_run()
        True
        >>> mark_outside_kedro(RunRef("sqlite:///mlflow.db", "0123abcd"))
        >>> in_kedro_run()
        False
        >>> mark_outside_kedro(RunRef("sqlite:///mlflow.db", "0123abcd"), False)
        >>> set_current_run(None)
        >>> in_kedro_run()
        False
    """
    if _current_run is not None:
        return _current_run not in _runs_outside_kedro
    run_id = os.environ.get(RUN_ID_ENV_VAR)
    if not (run_id and os.environ.get(TRACKING_URI_ENV_VAR)):
        return False  # no run, or only the caller's mlflow.start_run() run
    return os.environ.get(_OUTSIDE_KEDRO_ENV_VAR) != run_id


def in_worker_of_kedro_run() -> bool:
    """Whether this process is a worker of a Kedro run (ParallelRunner's, any start).

    Its nodes' outputs may be loaded by nodes in other workers, which share
    neither its memory nor its background sender.

    Examples:
        >>> set_current_run(RunRef("sqlite:///mlflow.db", "0123abcd"))
        >>> in_worker_of_kedro_run()
        False
        >>> set_current_run(None)
    """
    if not in_kedro_run():
        return False
    return _current_run is None or _current_run_pid != os.getpid()


def run_set_in_this_process() -> RunRef | None:
    """The run ``set_current_run`` set in this process, without any fallback."""
    return _current_run


def current_run() -> RunRef | None:
    """Return the run started by ``MLflowBasicLoggerHook``, from any thread or process.

    Without one, the run the caller opened in this thread with ``mlflow.start_run()``.

    Returns:
        The run, or ``None`` when no run is being tracked (or tracking is off).
    """
    if tracking_is_off():
        return None
    if _current_run is not None:
        return _current_run
    run_id = os.environ.get(RUN_ID_ENV_VAR)
    tracking_uri = os.environ.get(TRACKING_URI_ENV_VAR)
    if run_id and tracking_uri:
        return RunRef(tracking_uri=tracking_uri, run_id=run_id)
    return callers_active_run()


def callers_active_run() -> RunRef | None:
    """The run the caller opened with ``mlflow.start_run()`` in this thread, if any.

    MLflow is not imported for this: a process that never imported it has no
    active run.
    """
    mlflow = sys.modules.get("mlflow")
    active = getattr(mlflow, "active_run", None)
    run = active() if callable(active) else None
    if run is None:
        return None
    return RunRef(tracking_uri=mlflow.get_tracking_uri(), run_id=run.info.run_id)  # type: ignore[union-attr]


def disabled_by_environment() -> bool:
    """Whether ``PIPELINEX_MLFLOW_DISABLE`` switches tracking off.

    Examples:
        >>> os.environ[DISABLE_ENV_VAR] = "1"
        >>> disabled_by_environment()
        True
        >>> del os.environ[DISABLE_ENV_VAR]
    """
    return os.environ.get(DISABLE_ENV_VAR, "").strip().lower() in _TRUE_TEXTS


def set_tracking_off(off: bool) -> None:
    """Switch tracking off (or back on) for this process and the workers it starts."""
    if off:
        set_current_run(None)
        os.environ[_OFF_ENV_VAR] = "1"
    else:
        os.environ.pop(_OFF_ENV_VAR, None)


def tracking_is_off() -> bool:
    """Whether this run is not tracked: MLflow must not be called at all."""
    return disabled_by_environment() or os.environ.get(_OFF_ENV_VAR) == "1"
