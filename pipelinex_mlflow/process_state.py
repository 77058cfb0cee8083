"""Every piece of state the package keeps in a process, in one list.

State that outlives a call (module globals, environment variables, exit, fork
and signal handlers) is easy to lose track of: it is what makes a spawned
ParallelRunner worker, a second session in one process or a forked child see
something else than the main process. Each piece is listed here with the
module that owns it, what it holds, and how a worker gets it;
``tests/test_process_state.py`` fails when a module keeps state this list does
not name, or the list names state that is gone.

The ways state reaches workers:

- ``environ``: an environment variable, inherited by forked and spawned
  workers alike;
- ``worker entry``: the ``pipelinex_mlflow.worker_setup`` catalog entry
  (:mod:`pipelinex_mlflow.core.workers`), which a spawned worker loads before
  its first node;
- ``fork``: a forked child inherits it and an at-fork handler resets what must
  not be shared;
- ``process``: it stays in the process that made it.

Examples:
    >>> owners = {piece.module for piece in PROCESS_STATE}
    >>> "pipelinex_mlflow.tracking.run_ref" in owners
    True
"""

from __future__ import annotations

from typing import NamedTuple


class StatePiece(NamedTuple):
    """One piece of process state.

    Attributes:
        module: The module that owns it (the only one that changes it).
        names: Its module globals, and ``environ``, ``atexit``, ``at-fork`` or
            ``signals`` for the environment variables it sets and the handlers
            it registers.
        holds: What it is for.
        workers: How a worker gets it: ``environ``, ``worker entry``, ``fork``
            or ``process``.
    """

    module: str
    names: tuple[str, ...]
    holds: str
    workers: str


_P = "pipelinex_mlflow."

#: Every piece of state the package keeps in a process.
PROCESS_STATE: tuple[StatePiece, ...] = (
    # What a run's processes agree on.
    StatePiece(
        _P + "tracking.run_ref",
        ("_current_run", "_current_run_pid", "_runs_outside_kedro", "environ"),
        "the current run, and whether tracking is off for this Kedro run",
        "environ",
    ),
    StatePiece(
        _P + "tracking.senders",
        ("_senders", "_senders_lock", "environ", "atexit", "at-fork"),
        "one sender per process and run; the flush timeout; closed at exit, "
        "forgotten in a forked child",
        "environ",
    ),
    StatePiece(
        _P + "tracking.spool.folder",
        ("environ",),
        "the folder of the run's spool files",
        "environ",
    ),
    StatePiece(
        _P + "masking.names",
        ("_declared", "_declared_lock", "environ"),
        "the names declared secret (secret_names, credentials entries)",
        "environ",
    ),
    StatePiece(
        _P + "config.loading",
        ("environ",),
        "the variables of mlflow.yml's server.credentials entry",
        "environ",
    ),
    StatePiece(
        _P + "config",
        ("_lock", "_last_read", "_current"),
        "the project's mlflow.yml, read once per context; the run's, for workers",
        "worker entry",
    ),
    StatePiece(
        _P + "core.workers",
        ("_worker", "_configured_package", "_failed_in_this_process"),
        "a spawned worker's set-up: its project, hooks and spools",
        "worker entry",
    ),
    StatePiece(
        _P + "core.exit_guard",
        ("_exit_flushes", "_exit_flushes_lock", "atexit", "signals"),
        "what each hook sends when the process exits mid-run; SIGTERM and a "
        "second Ctrl-C while a run is armed",
        "process",
    ),
    StatePiece(
        _P + "scratch",
        ("_leftovers", "atexit", "at-fork"),
        "the run's temporary folders, removed at exit, not a forked child's",
        "fork",
    ),
    # MLflow's own settings, set once.
    StatePiece(
        _P + "tracking.retry_policy",
        ("environ",),
        "MLflow's HTTP retries and timeouts, where the environment sets none",
        "environ",
    ),
    StatePiece(
        _P + "tracking.stores",
        ("_clients", "_clients_lock", "environ"),
        "one MLflow client per store; MLflow's run-URL printing off",
        "process",
    ),
    # Caches and once-only warnings of one process.
    StatePiece(
        _P + "tracking.logged_models",
        ("_logged_here", "_logged_here_lock"),
        "the models this process logged, found without a search",
        "process",
    ),
    StatePiece(
        _P + "pipeline_ml.spec",
        ("_registry", "_registry_lock"),
        "the pipeline_ml_factory declarations of this process",
        "fork",
    ),
    StatePiece(
        _P + "pipeline_ml.predictor",
        ("_quiet_lock", "_quiet_callers", "_saved_levels"),
        "Kedro's log levels, quieted while a pipeline model predicts",
        "process",
    ),
    StatePiece(
        _P + "pipelinex_api.runs",
        ("_started_runs",),
        "the runs PipelineX's mlflow_start_run opened",
        "process",
    ),
    StatePiece(
        _P + "io.value_codec",
        ("_warned_rounded_keys",),
        "metrics already warned of as rounded",
        "process",
    ),
    StatePiece(
        _P + "tracking.metric_checks",
        ("_warned_nan_keys",),
        "metrics already warned of as NaN",
        "process",
    ),
    StatePiece(
        _P + "tracking.param_checks",
        ("_warned_secret_keys",),
        "params already warned of as masked",
        "process",
    ),
    StatePiece(
        _P + "features.run_records.run_feature",
        ("_warned_run_params",),
        "run_params keys already warned of as unknown",
        "process",
    ),
    StatePiece(
        _P + "core.other_plugins",
        ("_warned",),
        "whether kedro-mlflow's active hook was warned of",
        "process",
    ),
)
