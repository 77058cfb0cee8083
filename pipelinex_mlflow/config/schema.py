"""The schema of ``mlflow.yml``, and which hook argument each of its keys sets.

Every section is a pydantic model that forbids unknown keys and takes values of
their own type only (``"yes"`` is not a bool), so a typo or a wrong type fails
before any run starts. A key left out sets nothing: the hook keeps its constructor
argument, else its ``MLFLOW_*`` environment variable, else its default.

kedro-mlflow's ``mlflow.yml`` keys are accepted where they mean the same here
(``server.mlflow_tracking_uri``, ``tracking.experiment.create_experiment_kwargs``,
``tracking.params.long_params_strategy``, ``ui.port`` ...), so its file works
with few edits; the keys whose behaviour differs are refused with the reason.

Examples:
    >>> config = MlflowConfig.model_validate(
    ...     {"tracking": {"experiment": {"name": "churn"}, "run": {"nested": False}}}
    ... )
    >>> hook_arguments(config)["MLflowBasicLoggerHook"]
    {'experiment_name': 'churn', 'nested': False}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    model_validator,
)

from pipelinex_mlflow.gantt import PlotlyJs  # noqa: TC001 - pydantic reads it at runtime
from pipelinex_mlflow.tracking import (
    DEFAULT_FLUSH_TIMEOUT_S,
    MLFLOW_MAX_PARAM_LENGTH,
    SERVER_TIMEOUT_S,
    LongParamPolicy,
)

Seconds = float  # strict: 10 and 10.5 pass, "10" does not
Names = StrictStr | list[StrictStr]


class _Section(BaseModel):
    """A section of ``mlflow.yml``: unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_are_unset(cls, data: Any) -> Any:
        """``nodes:`` with every key commented out is YAML's null: no keys set."""
        if not isinstance(data, dict):
            return data
        return {
            key: value
            for key, value in data.items()
            if not (value is None and _is_section(cls.model_fields.get(key)))
        }


class RequestHeaderProviderSection(_Section):
    """kedro-mlflow's ``server.request_header_provider``: accepted only when empty."""

    type: None = Field(
        default=None,
        description="Not supported: set headers with MLFLOW_TRACKING_TOKEN or a "
        "credentials entry instead.",
    )
    pass_context: StrictBool = False
    init_kwargs: dict[str, Any] = Field(default_factory=dict)


class ServerSection(_Section):
    """Where the runs go, and how long the server may take."""

    mlflow_tracking_uri: StrictStr | None = None
    mlflow_registry_uri: StrictStr | None = Field(
        default=None,
        description="Only null or the tracking URI: models are registered in the "
        "tracking store.",
    )
    credentials: StrictStr | None = Field(
        default=None,
        description="A credentials.yml entry whose keys are set as environment "
        "variables (MLFLOW_TRACKING_TOKEN, AWS_ACCESS_KEY_ID...) before the run.",
    )
    timeout: Seconds = Field(default=SERVER_TIMEOUT_S, gt=0)
    flush_timeout: Seconds = Field(default=DEFAULT_FLUSH_TIMEOUT_S, gt=0)
    request_header_provider: RequestHeaderProviderSection = Field(
        default_factory=RequestHeaderProviderSection
    )

    @model_validator(mode="after")
    def _registry_is_the_tracking_store(self) -> ServerSection:
        registry = self.mlflow_registry_uri
        if registry is not None and registry != self.mlflow_tracking_uri:
            raise ValueError(
                "mlflow_registry_uri must be null or the tracking URI: "
                "pipelinex_mlflow registers models in the tracking store"
            )
        return self


class DisableTrackingSection(_Section):
    """Runs to leave untracked."""

    all: StrictBool = False
    pipelines: list[StrictStr] = Field(default_factory=list)
    # kedro-mlflow turns MLflow's autologging off; pipelinex_mlflow never turns it on.
    disable_autologging: StrictBool = True


class CreateExperimentKwargs(_Section):
    """kedro-mlflow's spelling of ``artifact_location`` and ``tags``."""

    artifact_location: StrictStr | None = None
    tags: dict[StrictStr, Any] | None = None


class ExperimentSection(_Section):
    """The experiment the runs go to."""

    name: StrictStr | None = Field(default=None, min_length=1)
    artifact_location: StrictStr | None = None
    tags: dict[StrictStr, Any] = Field(default_factory=dict)
    create_experiment_kwargs: CreateExperimentKwargs = Field(
        default_factory=CreateExperimentKwargs
    )
    # A deleted experiment of that name is always restored.
    restore_if_deleted: Literal[True] = True


class RunSection(_Section):
    """The MLflow run of each Kedro run."""

    id: StrictStr | None = None
    name: StrictStr | None = None
    nested: StrictBool = False
    tags: dict[StrictStr, Any] = Field(default_factory=dict)


class DictParamsSection(_Section):
    """How nested parameters are flattened: always, recursively, with ``sep``."""

    # Each leaf is its own param, so it can be searched and a secret one masked.
    flatten: Literal[True] = True
    recursive: Literal[True] = True
    sep: StrictStr = Field(default=".", min_length=1)


class ParamsSection(_Section):
    """Which parameters are logged, and how."""

    log: StrictBool = True
    dict_params: DictParamsSection = Field(default_factory=DictParamsSection)
    long_params_strategy: LongParamPolicy = "truncate"
    max_length: int = Field(default=MLFLOW_MAX_PARAM_LENGTH, gt=0)
    kedro_run_params: Names = Field(default_factory=list)
    secret_names: Names = Field(default_factory=list)


class LineageSection(_Section):
    """The datasets a run reads and writes, as its MLflow dataset inputs."""

    enabled: StrictBool = True


class PipelineStructureSection(_Section):
    """``pipeline.json`` and ``pipeline.svg`` of each run."""

    enabled: StrictBool = True


class SystemMetricsSection(_Section):
    """CPU, memory, disk, network and GPU use, sampled during the run."""

    enabled: StrictBool = True
    interval: Seconds = Field(default=10.0, gt=0)


class TimeSection(_Section):
    """The run's begin, end and duration."""

    log_begin: StrictBool = True
    log_end: StrictBool = True
    log_duration: StrictBool = True
    offset_hours: float = 0


class GanttSection(_Section):
    """The Gantt chart of node timings."""

    enabled: StrictBool = True
    filepath: StrictStr | None = None
    params: dict[StrictStr, Any] = Field(default_factory=dict)
    plotlyjs: PlotlyJs = "basic"


class NodesSection(_Section):
    """``MLflowTimeLoggerHook``: each node's duration and the Gantt chart."""

    enabled: StrictBool = True
    metric_name_prefix: StrictStr = "_time_to_run "
    time_log_filepath: StrictStr | None = None
    gantt: GanttSection = Field(default_factory=GanttSection)
    trace: StrictBool = True
    resource_metrics: StrictBool = True


class EnvVarsSection(_Section):
    """``MLflowEnvVarsLoggerHook``: environment variables to log."""

    enabled: StrictBool = True
    params: Names = Field(default_factory=list)
    metrics: Names = Field(default_factory=list)
    prefix: StrictStr | None = None


class ArtifactsSection(_Section):
    """``MLflowArtifactsLoggerHook``: files to upload."""

    enabled: StrictBool = True
    before_pipeline_run: Names = Field(default_factory=list)
    after_pipeline_run: Names = Field(default_factory=list)
    datasets_after_node_run: Names = Field(default_factory=list)
    allow_credentials_files: StrictBool = False


class CatalogSection(_Section):
    """``MLflowCatalogLoggerHook``: node inputs and outputs to log."""

    enabled: StrictBool = True
    auto: StrictBool = True
    datasets: dict[StrictStr, StrictStr | dict[StrictStr, Any] | None] = Field(
        default_factory=dict
    )


class TrackingSection(_Section):
    """What each Kedro run logs."""

    disable_tracking: DisableTrackingSection = Field(
        default_factory=DisableTrackingSection
    )
    experiment: ExperimentSection = Field(default_factory=ExperimentSection)
    run: RunSection = Field(default_factory=RunSection)
    params: ParamsSection = Field(default_factory=ParamsSection)
    lineage: LineageSection = Field(default_factory=LineageSection)
    system_metrics: SystemMetricsSection = Field(default_factory=SystemMetricsSection)
    pipeline_structure: PipelineStructureSection = Field(
        default_factory=PipelineStructureSection
    )
    time: TimeSection = Field(default_factory=TimeSection)
    nodes: NodesSection = Field(default_factory=NodesSection)
    env_vars: EnvVarsSection = Field(default_factory=EnvVarsSection)
    artifacts: ArtifactsSection = Field(default_factory=ArtifactsSection)
    catalog: CatalogSection = Field(default_factory=CatalogSection)


class UiSection(_Section):
    """``kedro mlflow ui``'s defaults."""

    host: StrictStr = "127.0.0.1"
    # kedro-mlflow's template writes the port as a string ("5000").
    port: int = Field(default=5000, gt=0, lt=65536, strict=False)


class MlflowConfig(_Section):
    """The whole of ``mlflow.yml``."""

    server: ServerSection = Field(default_factory=ServerSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    ui: UiSection = Field(default_factory=UiSection)


def _is_section(field: Any) -> bool:
    annotation = getattr(field, "annotation", None)
    return isinstance(annotation, type) and issubclass(annotation, _Section)


def _negated(value: Any) -> Any:
    return not value


# (path in mlflow.yml, hook argument, conversion) for each hook.
_Key = tuple[tuple[str, ...], str, Callable[[Any], Any] | None]
HOOK_KEYS: dict[str, tuple[_Key, ...]] = {
    "MLflowBasicLoggerHook": (
        (("server", "mlflow_tracking_uri"), "uri", None),
        (("server", "timeout"), "server_timeout", None),
        (("server", "flush_timeout"), "flush_timeout", None),
        (("tracking", "disable_tracking", "all"), "enable_mlflow", _negated),
        (("tracking", "disable_tracking", "pipelines"), "disabled_pipelines", None),
        (("tracking", "experiment", "name"), "experiment_name", None),
        (
            ("tracking", "experiment", "create_experiment_kwargs", "artifact_location"),
            "artifact_location",
            None,
        ),
        (("tracking", "experiment", "artifact_location"), "artifact_location", None),
        (
            ("tracking", "experiment", "create_experiment_kwargs", "tags"),
            "experiment_tags",
            None,
        ),
        (("tracking", "experiment", "tags"), "experiment_tags", None),
        (("tracking", "run", "id"), "run_id", None),
        (("tracking", "run", "name"), "run_name", None),
        (("tracking", "run", "nested"), "nested", None),
        (("tracking", "run", "tags"), "tags", None),
        (("tracking", "params", "log"), "log_parameters", None),
        (("tracking", "params", "dict_params", "sep"), "flatten_separator", None),
        (("tracking", "params", "long_params_strategy"), "long_param_policy", None),
        (("tracking", "params", "max_length"), "max_param_length", None),
        (("tracking", "params", "kedro_run_params"), "logging_kedro_run_params", None),
        (("tracking", "params", "secret_names"), "secret_names", None),
        (("tracking", "lineage", "enabled"), "log_datasets", None),
        (("tracking", "system_metrics", "enabled"), "log_system_metrics", None),
        (
            ("tracking", "pipeline_structure", "enabled"),
            "log_pipeline_structure",
            None,
        ),
        (
            ("tracking", "system_metrics", "interval"),
            "system_metrics_interval",
            None,
        ),
        (("tracking", "time", "log_begin"), "enable_logging_time_begin", None),
        (("tracking", "time", "log_end"), "enable_logging_time_end", None),
        (("tracking", "time", "log_duration"), "enable_logging_time", None),
        (("tracking", "time", "offset_hours"), "offset_hours", None),
    ),
    "MLflowTimeLoggerHook": (
        (("tracking", "nodes", "enabled"), "enable_mlflow", None),
        (("tracking", "nodes", "metric_name_prefix"), "metric_name_prefix", None),
        (("tracking", "nodes", "time_log_filepath"), "time_log_filepath", None),
        (("tracking", "nodes", "gantt", "enabled"), "enable_plotly", None),
        (("tracking", "nodes", "gantt", "filepath"), "gantt_filepath", None),
        (("tracking", "nodes", "gantt", "params"), "gantt_params", None),
        (("tracking", "nodes", "gantt", "plotlyjs"), "gantt_plotlyjs", None),
        (("tracking", "nodes", "trace"), "enable_trace", None),
        (("tracking", "nodes", "resource_metrics"), "enable_resource_metrics", None),
    ),
    "MLflowEnvVarsLoggerHook": (
        (("tracking", "env_vars", "enabled"), "enable_mlflow", None),
        (("tracking", "env_vars", "params"), "param_env_vars", None),
        (("tracking", "env_vars", "metrics"), "metric_env_vars", None),
        (("tracking", "env_vars", "prefix"), "prefix", None),
    ),
    "MLflowArtifactsLoggerHook": (
        (("tracking", "artifacts", "enabled"), "enable_mlflow", None),
        (
            ("tracking", "artifacts", "before_pipeline_run"),
            "filepaths_before_pipeline_run",
            None,
        ),
        (
            ("tracking", "artifacts", "after_pipeline_run"),
            "filepaths_after_pipeline_run",
            None,
        ),
        (
            ("tracking", "artifacts", "datasets_after_node_run"),
            "datasets_after_node_run",
            None,
        ),
        (
            ("tracking", "artifacts", "allow_credentials_files"),
            "allow_credentials_files",
            None,
        ),
    ),
    "MLflowCatalogLoggerHook": (
        (("tracking", "catalog", "enabled"), "enable_mlflow", None),
        (("tracking", "catalog", "auto"), "auto", None),
        (("tracking", "catalog", "datasets"), "mlflow_catalog", None),
    ),
}


def set_keys(config: BaseModel) -> dict[tuple[str, ...], Any]:
    """The keys the file set (not the defaults), as paths, with their values.

    Examples:
        >>> set_keys(MlflowConfig.model_validate({"ui": {"port": 8080}}))
        {('ui', 'port'): 8080}
    """
    found: dict[tuple[str, ...], Any] = {}
    for name in config.model_fields_set:
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            found.update({(name, *path): v for path, v in set_keys(value).items()})
        else:
            found[(name,)] = value
    return found


def hook_arguments(config: MlflowConfig) -> dict[str, dict[str, Any]]:
    """Hook class name -> the constructor arguments ``config`` sets for it.

    Only keys present in the file set an argument; where two keys set one
    argument, ours wins over kedro-mlflow's spelling.
    """
    present = set_keys(config)
    arguments: dict[str, dict[str, Any]] = {}
    for hook, keys in HOOK_KEYS.items():
        chosen: dict[str, Any] = {}
        for path, argument, convert in keys:
            if path in present:
                value = present[path]
                chosen[argument] = convert(value) if convert else value
        arguments[hook] = chosen
    return arguments


def key_path(path: tuple[str, ...]) -> str:
    """``("tracking", "run", "name")`` -> ``"tracking.run.name"``."""
    return ".".join(path)
