"""Kedro hooks that track pipeline runs in MLflow."""

from pipelinex_mlflow.hooks.run_lifecycle import MLflowBasicLoggerHook

__all__ = ["MLflowBasicLoggerHook"]
