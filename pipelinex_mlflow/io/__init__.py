"""Kedro datasets that save to MLflow."""

from pipelinex_mlflow.io.mlflow_dataset import MLflowDataSet, MLflowDataset

__all__ = ["MLflowDataSet", "MLflowDataset"]
