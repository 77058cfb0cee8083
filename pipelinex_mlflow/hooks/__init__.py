"""Kedro hooks that track pipeline runs in MLflow."""

from pipelinex_mlflow.hooks.artifacts import MLflowArtifactsLoggerHook
from pipelinex_mlflow.hooks.catalog_logger import (
    MLflowCatalogLoggerHook,
    MLflowDataSetsLoggerHook,
    MLflowOutputsLoggerHook,
)
from pipelinex_mlflow.hooks.env_vars import MLflowEnvVarsLoggerHook
from pipelinex_mlflow.hooks.node_timing import MLflowTimeLoggerHook
from pipelinex_mlflow.hooks.run_lifecycle import MLflowBasicLoggerHook

__all__ = [
    "MLflowArtifactsLoggerHook",
    "MLflowBasicLoggerHook",
    "MLflowCatalogLoggerHook",
    "MLflowDataSetsLoggerHook",
    "MLflowEnvVarsLoggerHook",
    "MLflowOutputsLoggerHook",
    "MLflowTimeLoggerHook",
]
