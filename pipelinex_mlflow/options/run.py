"""``MLflowBasicLoggerHook``'s options: where runs go and what each run records.

The constructor's docstring says what each option does; this model says what
each accepts, its default and the ``mlflow.yml`` key that sets it.

Examples:
    >>> options = RunOptions.from_arguments({"run_name": "nightly"})
    >>> options.run_name, options.server_timeout
    ('nightly', 10.0)
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from pipelinex_mlflow.options.base import HookOptions, InYml
from pipelinex_mlflow.options.kinds import (
    Flag,
    LongParamPolicyChoice,
    Names,
    NonEmptyText,
    Number,
    OptionalText,
    PositiveInteger,
    RunName,
    RunNaming,
    Seconds,
    Table,
)
from pipelinex_mlflow.tracking import (
    DEFAULT_FLUSH_TIMEOUT_S,
    MLFLOW_MAX_PARAM_LENGTH,
    SERVER_TIMEOUT_S,
)

_KEDRO_MLFLOW_EXPERIMENT = "tracking.experiment.create_experiment_kwargs"


class RunOptions(HookOptions):
    """The options of ``MLflowBasicLoggerHook``, in its constructor's order."""

    hook: ClassVar[str] = "MLflowBasicLoggerHook"

    uri: Annotated[OptionalText, InYml("server.mlflow_tracking_uri")] = None
    experiment_name: Annotated[OptionalText, InYml("tracking.experiment.name")] = None
    artifact_location: Annotated[
        OptionalText,
        InYml(
            "tracking.experiment.artifact_location",
            f"{_KEDRO_MLFLOW_EXPERIMENT}.artifact_location",
        ),
    ] = None
    # kedro-mlflow's `name: null` named the run after its pipelines; left out, MLflow
    # picks a name.
    run_name: Annotated[
        RunName, InYml("tracking.run.name", null=RunNaming.PIPELINES)
    ] = None
    run_id: Annotated[OptionalText, InYml("tracking.run.id")] = None
    nested: Annotated[Flag, InYml("tracking.run.nested")] = False
    tags: Annotated[Table, InYml("tracking.run.tags")] = Field(default_factory=dict)
    offset_hours: Annotated[Number, InYml("tracking.time.offset_hours")] = 0
    enable_logging_time_begin: Annotated[Flag, InYml("tracking.time.log_begin")] = True
    enable_logging_time_end: Annotated[Flag, InYml("tracking.time.log_end")] = True
    enable_logging_time: Annotated[Flag, InYml("tracking.time.log_duration")] = True
    logging_kedro_run_params: Annotated[
        Names, InYml("tracking.params.kedro_run_params")
    ] = None
    enable_mlflow: Annotated[
        Flag, InYml("tracking.disable_tracking.all", negated=True)
    ] = True
    log_parameters: Annotated[Flag, InYml("tracking.params.log")] = True
    max_param_length: Annotated[
        PositiveInteger, InYml("tracking.params.max_length")
    ] = MLFLOW_MAX_PARAM_LENGTH
    long_param_policy: Annotated[
        LongParamPolicyChoice, InYml("tracking.params.long_params_strategy")
    ] = "truncate"
    flatten_separator: Annotated[
        NonEmptyText, InYml("tracking.params.dict_params.sep")
    ] = "."
    server_timeout: Annotated[Seconds, InYml("server.timeout")] = SERVER_TIMEOUT_S
    flush_timeout: Annotated[Seconds, InYml("server.flush_timeout")] = (
        DEFAULT_FLUSH_TIMEOUT_S
    )
    secret_names: Annotated[Names, InYml("tracking.params.secret_names")] = None
    disabled_pipelines: Annotated[
        Names, InYml("tracking.disable_tracking.pipelines")
    ] = None
    experiment_tags: Annotated[
        Table,
        InYml("tracking.experiment.tags", f"{_KEDRO_MLFLOW_EXPERIMENT}.tags"),
    ] = Field(default_factory=dict)
    log_datasets: Annotated[Flag, InYml("tracking.lineage.enabled")] = True
    log_system_metrics: Annotated[Flag, InYml("tracking.system_metrics.enabled")] = True
    system_metrics_interval: Annotated[
        Seconds, InYml("tracking.system_metrics.interval")
    ] = 10.0
    log_pipeline_structure: Annotated[
        Flag, InYml("tracking.pipeline_structure.enabled")
    ] = True
