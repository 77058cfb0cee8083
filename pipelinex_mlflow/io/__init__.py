"""Kedro datasets that save to MLflow."""

from pipelinex_mlflow.io.mlflow_dataset import MLflowDataset, MLflowDataSet

__all__ = ["MLflowDataSet", "MLflowDataset"]
