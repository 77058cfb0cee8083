"""The run's own records: its tags, its start and end times, and its params.

What lands (the names PipelineX's dashboards query):

- tags: the hook's ``tags`` (masked by name), ``kedro.*``, git and host tags
  (:mod:`pipelinex_mlflow.core.run_context`) and the process tag of liveness;
- params: the Kedro parameters the pipeline uses, flattened; ``__time_begin``
  and ``__time_end`` as ``%Y-%m-%dT%H:%M:%S``; the chosen ``run_params`` as
  ``___<key>``;
- metrics: ``__time_begin`` and ``__time_end`` as ``YYYYMMDDhhmmss`` numbers,
  and ``__time``, the run's duration in seconds.

Examples:
    >>> chosen_run_params({"env": "prod", "runner": "SequentialRunner"}, ["env"])
    {'___env': 'prod'}
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.core.run_context import effective_run_params, run_tags
from pipelinex_mlflow.core.run_features import RunFeature, RunScope
from pipelinex_mlflow.core.run_opening import RunMode
from pipelinex_mlflow.kedro_helpers import used_parameters
from pipelinex_mlflow.masking import get_logger, mask_value
from pipelinex_mlflow.tracking import (
    PROCESS_TAG,
    LongParamError,
    RunLogger,
    param_text,
    process_tag,
)
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from pipelinex_mlflow.tracking import RunStatus

logger = get_logger(__name__)

#: ``logging_kedro_run_params`` value that logs every ``run_params`` key.
ALL_RUN_PARAMS = "__ALL__"
RUN_PARAM_PREFIX = "___"
#: run_params keys of the Kedro versions PipelineX ran on -> Kedro 1.x's key.
_PIPELINEX_RUN_PARAMS = {
    "extra_params": "runtime_params",
    "pipeline_name": "pipeline_names",
}
_warned_run_params: set[str] = set()


@dataclass
class RunTimes:
    """How the run's begin, end and duration are logged."""

    offset_hours: float = 0
    log_begin: bool = True
    log_end: bool = True
    log_duration: bool = True

    def log_time(self, name: str, run_logger: RunLogger) -> None:
        """Queue ``name`` (``__time_begin``/``__time_end``) as a param and a metric."""
        run_logger.log_params(
            {name: _timestamp(self.offset_hours, "%Y-%m-%dT%H:%M:%S")},
            enforce_limit=False,
        )
        run_logger.log_metrics(
            {name: int(_timestamp(self.offset_hours, "%Y%m%d%H%M%S"))}
        )

    def queue_end(self, run_logger: RunLogger, duration_s: float) -> None:
        """Queue ``__time_end`` and ``__time`` as this hook is configured to."""
        if self.log_end:
            self.log_time("__time_end", run_logger)
        if self.log_duration:
            run_logger.log_metrics({"__time": duration_s})


@dataclass
class RunRecords(RunFeature):
    """The run's tags, times and params: the records every run gets."""

    times: RunTimes
    tags: Mapping[str, Any] = field(default_factory=dict)
    log_parameters: bool = True
    flatten_separator: str = "."
    logging_kedro_run_params: Sequence[str] | str = ()
    _started_at: float = 0.0

    def start(self, scope: RunScope) -> None:
        """Queue the tags, ``__time_begin`` and the params.

        Raises:
            LongParamError: A param refused by ``long_param_policy="fail"``.
        """
        self._started_at = time.perf_counter()
        owner, run_logger = scope.owner, scope.logger
        with warn_on_failure(owner, "log the run's tags"):
            # The caller's run is the caller's process's: no process tag for liveness.
            adopted = scope.opened.mode is RunMode.ADOPTED
            process = {} if adopted else {PROCESS_TAG: process_tag()}
            # Your tags pass the name rule too: a tag named api_token is masked whole.
            yours = {k: mask_value(k, param_text(v)) for k, v in self.tags.items()}
            run_logger.set_tags({**run_tags(scope.run_params), **process, **yours})
        if self.times.log_begin and scope.opened.created:
            with warn_on_failure(owner, "log the run's start time"):
                self.times.log_time("__time_begin", run_logger)
        if self.log_parameters:
            with warn_on_failure(
                owner, "log the run's parameters", stops_for=(LongParamError,)
            ):
                run_logger.log_params(
                    used_parameters(scope.pipeline, scope.catalog),
                    sep=self.flatten_separator,
                )
        with warn_on_failure(
            owner, "log the chosen run_params", stops_for=(LongParamError,)
        ):
            run_logger.log_params(
                chosen_run_params(scope.run_params, self.logging_kedro_run_params)
            )

    def finish(self, scope: RunScope, status: RunStatus) -> None:
        """Queue ``__time_end`` and ``__time``, then send what the run holds."""
        with warn_on_failure(scope.owner, "log the run's end time"):
            if scope.opened.mode is not RunMode.SHARED:
                # A shared run's end is the orchestrator's (kedro mlflow end-run).
                self.times.queue_end(
                    scope.logger, time.perf_counter() - self._started_at
                )
            scope.logger.flush()


def chosen_run_params(
    run_params: Mapping[str, Any], wanted: Sequence[str] | str
) -> dict[str, Any]:
    """The ``run_params`` that ``logging_kedro_run_params`` chooses, as ``___<key>``."""
    if wanted == ALL_RUN_PARAMS:
        keys: Iterable[str] = run_params
    elif isinstance(wanted, str):
        keys = (wanted,)
    else:
        keys = wanted
    chosen = {}
    effective = effective_run_params(dict(run_params))
    for key in keys:
        if key in _PIPELINEX_RUN_PARAMS:
            chosen[f"{RUN_PARAM_PREFIX}{key}"] = _pipelinex_run_param(key, run_params)
        elif key in effective:
            chosen[f"{RUN_PARAM_PREFIX}{key}"] = effective[key]
    return chosen


def _pipelinex_run_param(key: str, run_params: Mapping[str, Any]) -> Any:
    """The value of a PipelineX-era ``run_params`` key, from its Kedro 1.x successor.

    Logged under the old name, which queries and dashboards use.
    """
    new_key = _PIPELINEX_RUN_PARAMS[key]
    if key not in _warned_run_params:
        _warned_run_params.add(key)
        logger.warning(
            "logging_kedro_run_params: %r is Kedro 0.17's name; it is logged from "
            "Kedro 1.x's %r as ___%s. Switch to %r (logged as ___%s).",
            key,
            new_key,
            key,
            new_key,
            new_key,
        )
    value = run_params.get(new_key)
    if key == "pipeline_name":
        # Kedro 0.17 ran one pipeline by name; "__default__" when none was given.
        return ",".join(value or ()) or "__default__"
    return value or {}


def _timestamp(offset_hours: float, fmt: str) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=offset_hours)).strftime(fmt)
