"""A Kedro inference pipeline, with what training produced for it, as one MLflow model."""

from pipelinex_mlflow.pipeline_ml.factory import PipelineML, pipeline_ml_factory
from pipelinex_mlflow.pipeline_ml.run_models import RunModels
from pipelinex_mlflow.pipeline_ml.spec import (
    InferenceSpec,
    ModelOptions,
    PipelineModelError,
)

__all__ = [
    "InferenceSpec",
    "ModelOptions",
    "PipelineML",
    "PipelineModelError",
    "RunModels",
    "pipeline_ml_factory",
]
