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

One module per kind of helper: ``values`` (params, metrics), ``files``
(artifacts, a dataset's file), ``timing`` (``mlflow_log_time``, timestamps),
``runs`` (``mlflow_start_run``, ``mlflow_end_run``), ``env_vars``,
``dict_files`` and ``kedro_runner``; ``sending`` finds the run they log to.

Examples:
    >>> from datetime import datetime
    >>> get_timestamp(datetime(2026, 12, 2, 9, 30), offset_hours=9)
    '2026-12-02T18:30:00'
    >>> get_timestamps(datetime(2026, 12, 2, 9, 30))
    ('2026-12-02T09:30:00', 20261202093000)
"""

from __future__ import annotations

from pipelinex_mlflow.pipelinex_api.dict_files import dump_dict, load_dict
from pipelinex_mlflow.pipelinex_api.env_vars import (
    env_vars_to_dict,
    log_metric_env_vars,
    log_param_env_vars,
)
from pipelinex_mlflow.pipelinex_api.files import (
    mlflow_log_artifacts,
    mlflow_log_dataset,
)
from pipelinex_mlflow.pipelinex_api.kedro_runner import (
    get_kedro_runner,
    running_parallel,
)
from pipelinex_mlflow.pipelinex_api.runs import mlflow_end_run, mlflow_start_run
from pipelinex_mlflow.pipelinex_api.timing import (
    get_timestamp,
    get_timestamp_int,
    get_timestamps,
    mlflow_log_time,
)
from pipelinex_mlflow.pipelinex_api.values import (
    mlflow_log_metrics,
    mlflow_log_params,
    mlflow_log_values,
)

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
