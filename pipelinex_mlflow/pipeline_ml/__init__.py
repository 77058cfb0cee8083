"""A Kedro inference pipeline, with what training produced for it, as one MLflow model."""

from pipelinex_mlflow.pipeline_ml.factory import PipelineML, pipeline_ml_factory
from pipelinex_mlflow.pipeline_ml.model_options import ModelOptions, PipelineModelError
from pipelinex_mlflow.pipeline_ml.packaging import (
    log_pipeline_model,
    log_prepared_model,
    prepare_pipeline_model,
)
from pipelinex_mlflow.pipeline_ml.run_models import RunModels
from pipelinex_mlflow.pipeline_ml.selection import combined, select_spec
from pipelinex_mlflow.pipeline_ml.spec import InferenceSpec

__all__ = [
    "InferenceSpec",
    "ModelOptions",
    "PipelineML",
    "PipelineModelError",
    "RunModels",
    "combined",
    "log_pipeline_model",
    "log_prepared_model",
    "pipeline_ml_factory",
    "prepare_pipeline_model",
    "select_spec",
]
