"""Opening the MLflow run of a Kedro run: which run, and in which mode, as one value.

A Kedro run is tracked in one of four modes (:class:`RunMode`), decided once
here and read from :class:`OpenedRun` everywhere else:

- ``OWN``: a new run, begun and ended by this process;
- ``RESUMED``: an existing run named by ``run_id``, ended by this process;
- ``SHARED``: the run orchestrated steps share (``PIPELINEX_MLFLOW_RUN_KEY``),
  ended by the orchestrator with ``kedro mlflow end-run``;
- ``ADOPTED``: the run the caller opened with ``mlflow.start_run()``, logged
  into and ended by its owner.

Examples:
    >>> from pipelinex_mlflow.tracking import RunRef
    >>> opened = OpenedRun(RunRef("sqlite:///m.db", "r1"), "0", RunMode.SHARED)
    >>> opened.ends_here, opened.may_hold_params
    (False, True)
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from pipelinex_mlflow.kedro_helpers import project_root
from pipelinex_mlflow.masking import get_logger, mask_url_passwords
from pipelinex_mlflow.options import RunNaming
from pipelinex_mlflow.tracking import (
    PROCESS_TAG,
    RUN_KEY_ENV_VAR,
    callers_active_run,
    check_reachable,
    check_run_key,
    default_tracking_uri,
    get_experiment_id,
    normalize_tracking_uri,
    open_run,
    open_shared_run,
    process_tag,
    run_view_hint,
    run_view_lines,
    set_flush_timeout,
    set_spool_dir,
)
from pipelinex_mlflow.tracking.spool import DEFAULT_SPOOL_DIR_NAME

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from pipelinex_mlflow.options import RunOptions
    from pipelinex_mlflow.tracking import RunRef

logger = get_logger(__name__)
#: MLflow's own variable for the experiment, below ``experiment_name`` and mlflow.yml.
EXPERIMENT_NAME_ENV_VAR = "MLFLOW_EXPERIMENT_NAME"


class RunMode(Enum):
    """Who began the MLflow run of a Kedro run, and who ends it."""

    OWN = "own"
    RESUMED = "resumed"
    SHARED = "shared"
    ADOPTED = "adopted"


@dataclass(frozen=True)
class OpenedRun:
    """The MLflow run a Kedro run logs into, its experiment, and its mode.

    Attributes:
        run: The run.
        experiment_id: Its experiment's id.
        mode: Who began it and who ends it.
        created: Whether this process created the run (a shared run joined by a
            later step was created by the first).
        key: The orchestrated run key, for a ``SHARED`` run.
    """

    run: RunRef
    experiment_id: str
    mode: RunMode
    created: bool = True
    key: str | None = None

    @property
    def ends_here(self) -> bool:
        """Whether this process logs the run's end and marks it ended."""
        return self.mode in (RunMode.OWN, RunMode.RESUMED)

    @property
    def may_hold_params(self) -> bool:
        """Whether the run may already hold params (MLflow refuses changed ones)."""
        return self.mode is not RunMode.OWN


class RunSettings(Protocol):
    """What opening a run reads from ``MLflowBasicLoggerHook``: its options."""

    @property
    def options(self) -> RunOptions:
        """The hook's options."""


def tracking_uri(
    options: RunOptions, project_path: str | os.PathLike[str] | None
) -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else the project's SQLite store."""
    root = project_root(project_path)
    return normalize_tracking_uri(options.uri or default_tracking_uri(root), root)


def experiment_name(options: RunOptions) -> str:
    """``experiment_name``, else ``MLFLOW_EXPERIMENT_NAME``, else the package's name."""
    from kedro.framework.project import PACKAGE_NAME

    return (
        options.experiment_name
        or os.environ.get(EXPERIMENT_NAME_ENV_VAR)
        or PACKAGE_NAME
        or "Default"
    )


def run_name(options: RunOptions, run_params: Mapping[str, Any]) -> str | None:
    """The new run's name: ``run_name``, or the Kedro run's pipelines joined with ``+``.

    Examples:
        >>> from pipelinex_mlflow.options import RunNaming, RunOptions
        >>> named = RunOptions(run_name=RunNaming.PIPELINES)
        >>> run_name(named, {"pipeline_names": ["a", "b"]}), run_name(named, {})
        ('a+b', '__default__')
        >>> run_name(RunOptions(), {}) is None
        True
    """
    if isinstance(options.run_name, RunNaming):
        # kedro-mlflow's rule: the requested names, "__default__" when none.
        return "+".join(pipeline_names(run_params))
    return options.run_name


def open_tracked_run(
    settings: RunSettings, project: Path, run_params: Mapping[str, Any]
) -> OpenedRun:
    """Open the MLflow run of a Kedro run of ``project``, in the mode its settings say.

    Raises:
        TrackingError: The store cannot be used as configured (its URI, its
            reachability, a run to resume, a bad run key).
    """
    key = os.environ.get(RUN_KEY_ENV_VAR)
    callers = (
        None
        if settings.options.run_id or settings.options.nested or key
        else callers_active_run()
    )
    uri = callers.tracking_uri if callers else tracking_uri(settings.options, project)
    # Every process of the run (workers, later the CLI) agrees on these.
    set_spool_dir(project / DEFAULT_SPOOL_DIR_NAME)
    set_flush_timeout(settings.options.flush_timeout)
    check_reachable(uri, timeout_s=settings.options.server_timeout)
    if callers is not None:
        _say_callers_run_wins(settings)
        return OpenedRun(callers, get_experiment_id(callers), RunMode.ADOPTED)
    experiment = experiment_name(settings.options)
    if key and not settings.options.run_id:
        run, experiment_id, created = open_shared_run(
            uri,
            experiment_name=experiment,
            key=check_run_key(key),
            artifact_location=settings.options.artifact_location,
            run_name=run_name(settings.options, run_params),
            experiment_tags=settings.options.experiment_tags,
        )
        return OpenedRun(run, experiment_id, RunMode.SHARED, created, key)
    run, experiment_id = open_run(
        uri,
        experiment_name=experiment,
        artifact_location=settings.options.artifact_location,
        run_id=settings.options.run_id,
        run_name=run_name(settings.options, run_params),
        nested=settings.options.nested,
        experiment_tags=settings.options.experiment_tags,
        # At creation: a process killed in its first second is known too.
        tags={PROCESS_TAG: process_tag()},
    )
    mode = RunMode.RESUMED if settings.options.run_id else RunMode.OWN
    return OpenedRun(run, experiment_id, mode)


def _say_callers_run_wins(settings: RunSettings) -> None:
    if (
        settings.options.uri
        or settings.options.experiment_name
        or settings.options.run_name
    ):
        logger.info(
            "MLflowBasicLoggerHook logs into the run the caller opened with "
            "mlflow.start_run(), so its uri, experiment_name and run_name are "
            "not used; pass nested=True for a child run that uses them."
        )


def announce(opened: OpenedRun) -> None:
    """Log which run tracks this Kedro run, and how to view it."""
    run = opened.run
    logger.info(
        "Tracking this Kedro run as MLflow run %s%s; to view it, %s",
        run.run_id,
        _whose(opened),
        run_view_hint(run.tracking_uri, opened.experiment_id, run.run_id),
    )
    _print_view_lines(run, opened.experiment_id)


def _whose(opened: OpenedRun) -> str:
    if opened.mode is RunMode.SHARED:
        return f" (shared by the steps of {opened.key})"
    if opened.mode is RunMode.ADOPTED:
        return " (the caller's, from mlflow.start_run())"
    return ""


def _print_view_lines(run: RunRef, experiment_id: str) -> None:
    """Write how to view the run on lines of their own, where no log handler wraps them.

    Kedro's log handler wraps a long line to the terminal's width, which breaks
    the ``mlflow ui`` command and the URL in the log line into pieces that
    cannot be pasted. Written only when the package logs at INFO.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    lines = run_view_lines(
        mask_url_passwords(run.tracking_uri), experiment_id, run.run_id
    )
    sys.stderr.write(
        "".join(["View the MLflow run:\n", *(f"    {x}\n" for x in lines)])
    )


def pipeline_names(run_params: Mapping[str, Any]) -> list[str]:
    """The registered pipelines a Kedro run runs (``__default__`` when none named).

    Examples:
        >>> pipeline_names({"pipeline_names": None})
        ['__default__']
    """
    return list(run_params.get("pipeline_names") or ()) or ["__default__"]
