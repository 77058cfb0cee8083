"""The options of the smaller companion hooks: env vars, files, catalog datasets.

Examples:
    >>> ArtifactsOptions.from_arguments({"datasets_after_node_run": "model"})
    ArtifactsOptions(filepaths_before_pipeline_run=None, filepaths_after_pipeline_run=None, datasets_after_node_run='model', enable_mlflow=True, allow_credentials_files=False)
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from pipelinex_mlflow.options.base import HookOptions, InYml
from pipelinex_mlflow.options.kinds import Flag, Names, OptionalText, Paths, Table


class EnvVarsOptions(HookOptions):
    """The options of ``MLflowEnvVarsLoggerHook``, in its constructor's order."""

    hook: ClassVar[str] = "MLflowEnvVarsLoggerHook"

    param_env_vars: Annotated[Names, InYml("tracking.env_vars.params")] = None
    metric_env_vars: Annotated[Names, InYml("tracking.env_vars.metrics")] = None
    prefix: Annotated[OptionalText, InYml("tracking.env_vars.prefix")] = None
    enable_mlflow: Annotated[Flag, InYml("tracking.env_vars.enabled")] = True


class ArtifactsOptions(HookOptions):
    """The options of ``MLflowArtifactsLoggerHook``, in its constructor's order."""

    hook: ClassVar[str] = "MLflowArtifactsLoggerHook"

    filepaths_before_pipeline_run: Annotated[
        Paths, InYml("tracking.artifacts.before_pipeline_run")
    ] = None
    filepaths_after_pipeline_run: Annotated[
        Paths, InYml("tracking.artifacts.after_pipeline_run")
    ] = None
    datasets_after_node_run: Annotated[
        Names, InYml("tracking.artifacts.datasets_after_node_run")
    ] = None
    enable_mlflow: Annotated[Flag, InYml("tracking.artifacts.enabled")] = True
    allow_credentials_files: Annotated[
        Flag, InYml("tracking.artifacts.allow_credentials_files")
    ] = False


class CatalogOptions(HookOptions):
    """The options of ``MLflowCatalogLoggerHook``, in its constructor's order."""

    hook: ClassVar[str] = "MLflowCatalogLoggerHook"

    auto: Annotated[Flag, InYml("tracking.catalog.auto")] = True
    mlflow_catalog: Annotated[Table, InYml("tracking.catalog.datasets")] = Field(
        default_factory=dict
    )
    enable_mlflow: Annotated[Flag, InYml("tracking.catalog.enabled")] = True
