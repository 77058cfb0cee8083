"""A small Kedro project tracked in MLflow by pipelinex_mlflow."""

__version__ = "0.1.0"
