"""Track Kedro pipeline runs in MLflow without one line of MLflow code in the nodes.

Importing this package is cheap: MLflow is imported only when a run is tracked.
"""

from pipelinex_mlflow.hooks import MLflowBasicLoggerHook
from pipelinex_mlflow.io import MLflowDataset, MLflowDataSet

__version__ = "0.1.0"

__all__ = [
    "MLflowBasicLoggerHook",
    "MLflowDataSet",
    "MLflowDataset",
    "__version__",
]
