"""PipelineX's public MLflow helper functions, with its signatures, on the one tracking module.

``pipelinex.mlflow_log_params(...)`` and its kin work as ``pipelinex_mlflow.<name>``
after changing the import. Each logs to the current run: the pipeline's (of
``MLflowBasicLoggerHook``), else the one :func:`mlflow_start_run` started, else
the caller's own ``mlflow.start_run()`` run. With none of them, nothing is logged
and a warning says so: unlike PipelineX, no run is ever created by accident.

What differs from PipelineX, on purpose (the README's "Migrating from PipelineX"
table lists it too): keys keep their ``:`` (MLflow allows it) instead of becoming
``..``; params are not cut to 250 characters; falsy values (``0``, ``False``,
``[]``) are logged instead of dropped; values that cannot be logged are named in
a warning; secrets are masked; credentials files are not uploaded.

Examples:
    >>> get_timestamp(datetime(2026, 12, 2, 9, 30), offset_hours=9)
    '2026-12-02T18:30:00'
    >>> get_timestamps(datetime(2026, 12, 2, 9, 30))
    ('2026-12-02T09:30:00', 20261202093000)
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pipelinex_mlflow.hooks._credential_files import filter_uploads
from pipelinex_mlflow.hooks.env_vars import collect_env_vars
from pipelinex_mlflow.kedro_helpers import dataset_local_path, project_root
from pipelinex_mlflow.masking import get_logger, mask_value
from pipelinex_mlflow.tracking import (
    STRICT,
    RunEnd,
    RunLogger,
    RunRef,
    TrackingError,
    close_run,
    current_run,
    default_tracking_uri,
    end_callers_active_run,
    ensure_experiment,
    fits_a_float,
    is_number,
    normalize_tracking_uri,
    open_run,
    set_current_run,
    split_by_kind,
    start_run,
    tracking_is_off,
)
from pipelinex_mlflow.tracking.run_ref import in_kedro_run, mark_outside_kedro

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from kedro.io import AbstractDataset
    from kedro.runner import AbstractRunner

__all__ = [
    "dump_dict",
    "env_vars_to_dict",
    "get_kedro_runner",
    "get_timestamp",
    "get_timestamp_int",
    "get_timestamps",
    "load_dict",
    "log_metric_env_vars",
    "log_param_env_vars",
    "mlflow_end_run",
    "mlflow_log_artifacts",
    "mlflow_log_dataset",
    "mlflow_log_metrics",
    "mlflow_log_params",
    "mlflow_log_time",
    "mlflow_log_values",
    "mlflow_start_run",
    "running_parallel",
]

logger = get_logger(__name__)
_Func = TypeVar("_Func", bound="Callable[..., Any]")
# The runs mlflow_start_run started, innermost last; mlflow_end_run ends them.
_started_runs: list[RunRef] = []


# ----------------------------------------------------------------------------------
# Logging
# ----------------------------------------------------------------------------------
def _as_float(number: Any) -> float:
    """``number`` as a float; infinity for an int too large for any float."""
    try:
        return float(number)
    except OverflowError:
        return math.inf


def _target_run(helper: str) -> RunRef | None:
    run = current_run()
    if run is None and not tracking_is_off():
        logger.warning(
            "%s found no MLflow run to log to (no tracked Kedro run, no "
            "mlflow_start_run(...), no mlflow.start_run()), so it logs nothing. "
            "Register MLflowBasicLoggerHook, or start a run first.",
            helper,
        )
    return run


def _send(run_logger: RunLogger) -> None:
    # Outside a Kedro run (a notebook's mlflow_start_run run, the caller's own
    # mlflow.start_run() run) nothing waits for the background sender: the values
    # land before this returns, as MLflow's own log_* calls do.
    run_logger.flush(wait=not in_kedro_run())


def mlflow_log_params(params: Mapping[str, Any], enable_mlflow: bool = True) -> None:
    """Log ``params`` (nested dicts flattened with ``.``) to the current run.

    Args:
        params: Name -> value; values are logged as their text.
        enable_mlflow: ``False`` only logs them at INFO level.
    """
    logger.info("%s", dict(params))
    if not enable_mlflow:
        return
    run = _target_run("mlflow_log_params")
    if run is not None:
        run_logger = RunLogger(run, check_existing_params=True)
        run_logger.log_params(params)
        _send(run_logger)


def mlflow_log_metrics(
    metrics: Mapping[str, Any], step: int | None = None, enable_mlflow: bool = True
) -> None:
    """Log the numbers of ``metrics`` to the current run at ``step`` (0 if ``None``).

    Values that are not numbers are named in a warning, not logged.
    """
    logger.info("%s", dict(metrics))
    if not enable_mlflow:
        return
    numbers = {
        key: value
        for key, value in metrics.items()
        if is_number(value) and math.isfinite(_as_float(value))
    }
    skipped = sorted(set(metrics) - set(numbers))
    if skipped:
        logger.warning(
            "mlflow_log_metrics did not log %s: not finite numbers (MLflow cannot "
            "store infinity, or an int too large for a float). Log them with "
            "mlflow_log_params or mlflow_log_values.",
            ", ".join(map(repr, skipped)),
        )
    rounded = sorted(key for key, value in numbers.items() if not fits_a_float(value))
    if rounded:
        logger.warning(
            "mlflow_log_metrics rounds %s: every MLflow metric is a float64, which "
            "does not hold these ints exactly. Log them with mlflow_log_values, "
            "which keeps such an int exactly as a param, if the exact number matters.",
            ", ".join(map(repr, rounded)),
        )
    run = _target_run("mlflow_log_metrics")
    if run is not None and numbers:
        run_logger = RunLogger(run)
        run_logger.log_metrics(numbers, step=step or 0)
        _send(run_logger)


def mlflow_log_values(d: Mapping[str, Any], enable_mlflow: bool = True) -> None:
    """Log ``d`` by type, flattened with ``.``: numbers as metrics, plain values as params.

    The rules of dataset code ``a``; what is neither is named in a warning.
    """
    logger.info("%s", dict(d))
    if not enable_mlflow:
        return
    split = split_by_kind("", d, STRICT)
    if split.skipped:
        logger.warning(
            "mlflow_log_values did not log %s: neither numbers nor plain values.",
            ", ".join(f"{key!r} ({why})" for key, why in sorted(split.skipped.items())),
        )
    run = _target_run("mlflow_log_values")
    if run is not None and (split.params or split.metrics):
        run_logger = RunLogger(run, check_existing_params=True)
        run_logger.log_params(split.params)
        run_logger.log_metrics(split.metrics)
        _send(run_logger)


def mlflow_log_artifacts(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None,
    artifact_path: str | None = None,
    enable_mlflow: bool = True,
) -> None:
    """Upload files and folders to the current run, under ``artifact_path``.

    Missing paths and credentials files (``credentials.yml``, ``.env``, keys)
    are named in a warning and left out.
    """
    if not enable_mlflow:
        return
    run = _target_run("mlflow_log_artifacts")
    if run is None:
        return
    listed = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or [])
    found = [Path(p).resolve() for p in listed if Path(p).exists()]
    missing = [os.fspath(p) for p in listed if not Path(p).exists()]
    if missing:
        logger.warning("mlflow_log_artifacts found nothing at %s.", ", ".join(missing))
    filtered = filter_uploads(found, set(), allow_credentials=False)
    if filtered.skipped:
        logger.warning(
            "mlflow_log_artifacts did not upload %s: credentials files hold secrets.",
            filtered.skipped_with_reasons(),
        )
    if not filtered.uploads:
        return
    run_logger = RunLogger(run)
    for upload in filtered.uploads:
        # As in PipelineX, a folder's contents go under artifact_path.
        run_logger.log_artifact(
            upload.local, artifact_path, keep_alive=upload.keep_alive
        )
        logger.info("Uploading %s to MLflow run %s", upload.source, run.run_id)
    _send(run_logger)


def mlflow_log_dataset(
    dataset: AbstractDataset[Any, Any], enable_mlflow: bool = True
) -> None:
    """Upload the local file (or folder) of a Kedro dataset to the current run."""
    path = dataset_local_path(dataset)
    if path is None:
        logger.warning(
            "mlflow_log_dataset found no local file behind %s; nothing uploaded.",
            type(dataset).__name__,
        )
        return
    mlflow_log_artifacts([path], enable_mlflow=enable_mlflow)


def mlflow_log_time(func: _Func) -> _Func:
    """Decorate ``func`` to log how long each call takes, as metric ``__time_for_<name>``.

    Examples:
        >>> @mlflow_log_time
        ... def add(a, b):
        ...     return a + b
        >>> import logging
        >>> logging.disable(logging.INFO)  # the "took 0.000 s" line
        >>> add(1, 2)
        3
        >>> logging.disable(logging.NOTSET)
    """
    name = getattr(func, "__name__", type(func).__name__)

    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = func(*args, **kwargs)
        elapsed = time.perf_counter() - started
        logger.info("Running %r took %.3f s", name, elapsed)
        run = current_run()
        if run is not None:
            run_logger = RunLogger(run)
            run_logger.log_metrics({f"__time_for_{name}": elapsed})
            _send(run_logger)
        return result

    return timed  # type: ignore[return-value]


# ----------------------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------------------
def mlflow_start_run(  # noqa: PLR0917 - PipelineX's signature
    uri: str | None = None,
    run_id: str | None = None,
    experiment_name: str | None = None,
    artifact_location: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    enable_mlflow: bool = True,
) -> None:
    """Start (or, with ``run_id``, resume) a run and make it the current run.

    The helpers above and ``MLflowDataSet`` then log to it, until
    :func:`mlflow_end_run`. It is not MLflow's active run: MLflow's own
    ``mlflow.log_*`` functions do not see it. With ``nested``, it is a child of
    the current run (or of the caller's ``mlflow.start_run()`` run).

    Args:
        uri: The tracking URI; ``MLFLOW_TRACKING_URI``, else the project's
            ``mlflow.db``, if ``None``.
        run_id: Resume this run.
        experiment_name: Start a run in this experiment (created if missing).
        artifact_location: Where a new experiment keeps artifacts.
        run_name: The new run's name.
        nested: Make the new run a child run.
        tags: Tags of the new run.
        enable_mlflow: ``False`` does nothing.

    Raises:
        ValueError: With neither ``run_id`` nor ``experiment_name``.
        TrackingError: If the store refuses.
    """
    if not enable_mlflow or tracking_is_off():
        return
    if not (run_id or experiment_name):
        raise ValueError(
            "mlflow_start_run needs run_id (to resume a run) or experiment_name (to "
            "start one), as in PipelineX."
        )
    root = project_root(None)
    tracking_uri = normalize_tracking_uri(uri or default_tracking_uri(root), root)
    texts = {key: mask_value(key, str(value)) for key, value in (tags or {}).items()}
    parent = current_run() if nested and not run_id else None
    if parent is not None and experiment_name:
        experiment_id = ensure_experiment(
            tracking_uri, experiment_name, artifact_location
        )
        run = start_run(
            tracking_uri,
            experiment_id,
            run_name=run_name,
            tags=texts,
            parent_run_id=parent.run_id,
        )
    else:
        run, _ = open_run(
            tracking_uri,
            experiment_name=experiment_name or "",
            artifact_location=artifact_location,
            run_id=run_id,
            run_name=run_name,
            nested=nested,
            tags=texts,
        )
    _started_runs.append(run)
    # Not a Kedro run's: nothing waits for its background sends, so saves do.
    mark_outside_kedro(run)
    set_current_run(run)
    logger.info("Started MLflow run %s", run.run_id)


def mlflow_end_run(enable_mlflow: bool = True) -> None:
    """End the run :func:`mlflow_start_run` started last (FINISHED), after sending its values.

    Without one, end the caller's ``mlflow.start_run()`` run, as PipelineX did.
    """
    if not enable_mlflow:
        return
    if _started_runs:
        run = _started_runs.pop()
        report = close_run(run, RunEnd.now("FINISHED"))
        set_current_run(_started_runs[-1] if _started_runs else None)
        mark_outside_kedro(run, False)
        if report:
            logger.warning("MLflow run %s ended, but %s", run.run_id, report.summary())
        else:
            logger.info("MLflow run %s ended FINISHED", run.run_id)
        return
    try:
        if not end_callers_active_run():
            logger.warning("mlflow_end_run found no run to end.")
    except TrackingError as exc:
        logger.warning("mlflow_end_run could not end the run: %s", exc)


# ----------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------
def get_timestamp(
    dt: datetime | None = None, offset_hours: float = 0, fmt: str = "%Y-%m-%dT%H:%M:%S"
) -> str:
    """``dt`` (now, local time, if ``None``) plus ``offset_hours``, formatted with ``fmt``."""
    return ((dt or datetime.now()) + timedelta(hours=offset_hours)).strftime(fmt)


def get_timestamp_int(dt: datetime | None = None, offset_hours: float = 0) -> int:
    """:func:`get_timestamp` as the number ``YYYYMMDDhhmmss``."""
    return int(get_timestamp(dt, offset_hours, "%Y%m%d%H%M%S"))


def get_timestamps(
    dt: datetime | None = None, offset_hours: float = 0
) -> tuple[str, int]:
    """Both forms of one moment: ``(get_timestamp(...), get_timestamp_int(...))``."""
    moment = dt or datetime.now()
    return get_timestamp(moment, offset_hours), get_timestamp_int(moment, offset_hours)


def env_vars_to_dict(
    env_vars: Iterable[str] | str = (), prefix: str = ""
) -> dict[str, str | None]:
    """``{prefix + name: value}`` of the named environment variables (``"__ALL__"``: all).

    The values are the real ones (this does not leave the process); the logging
    functions below mask secrets.

    Raises:
        TypeError: For ``env_vars`` that is neither a name nor a list of names.
    """
    if isinstance(env_vars, str):
        if env_vars == "__ALL__":
            return {prefix + name: value for name, value in os.environ.items()}
        env_vars = [env_vars]
    elif not isinstance(env_vars, (list, tuple, set, frozenset)):
        raise TypeError(
            f"env_vars must be a name, a list of names or '__ALL__', not "
            f"{type(env_vars).__name__}."
        )
    return {prefix + name: os.environ.get(name) for name in env_vars}


def log_param_env_vars(
    env_vars: Iterable[str] | str = (), prefix: str = "", enable_mlflow: bool = True
) -> None:
    """Log environment variables as params ``<prefix><NAME>``, secrets masked."""
    names = [env_vars] if isinstance(env_vars, str) else list(env_vars)
    values = collect_env_vars(os.environ, names, None, prefix)
    mlflow_log_params(values.params, enable_mlflow=enable_mlflow)


def log_metric_env_vars(
    env_vars: Iterable[str] | str = (), prefix: str = "", enable_mlflow: bool = True
) -> None:
    """Log numeric environment variables as metrics ``<prefix><NAME>``."""
    names = [env_vars] if isinstance(env_vars, str) else list(env_vars)
    values = collect_env_vars(os.environ, None, names, prefix)
    for problem in values.problems():
        logger.warning("log_metric_env_vars skipped environment variables %s.", problem)
    mlflow_log_metrics(values.metrics, enable_mlflow=enable_mlflow)


def dump_dict(filepath: str | os.PathLike[str], d: Mapping[str, Any]) -> None:
    """Write ``d`` to ``filepath`` as JSON."""
    Path(filepath).write_text(json.dumps(dict(d)))


def load_dict(filepath: str | os.PathLike[str]) -> Any:
    """Read the JSON in ``filepath``."""
    return json.loads(Path(filepath).read_text())


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
