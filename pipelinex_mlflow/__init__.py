"""Track Kedro pipeline runs in MLflow without one line of MLflow code in the nodes.

Importing this package is cheap: MLflow is imported only when a run is tracked.
"""

import logging
import warnings

from pipelinex_mlflow.hooks import (
    MLflowArtifactsLoggerHook,
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowTimeLoggerHook,
)
from pipelinex_mlflow.io import MLflowDataSet, MLflowDataset

__version__ = "0.1.0"

__all__ = [
    "MLflowArtifactsLoggerHook",
    "MLflowBasicLoggerHook",
    "MLflowCatalogLoggerHook",
    "MLflowDataSet",
    "MLflowDataset",
    "MLflowEnvVarsLoggerHook",
    "MLflowTimeLoggerHook",
    "__version__",
]

# `type: pipelinex_mlflow.MLflowDataSet` is PipelineX's documented spelling and a
# real class here, so Kedro's advice to respell "DataSet" would only mislead.
warnings.filterwarnings(
    "ignore",
    message=r"Since kedro-datasets 2\.0, 'Dataset' is spelled with a lowercase 's'\. "
    r"Got 'pipelinex_mlflow\.",
    category=UserWarning,
)

# Like Kedro's own logger: say which run is tracked and where to see it, unless
# the project's logging configuration sets another level.
_package_logger = logging.getLogger(__name__)
if _package_logger.level == logging.NOTSET:
    _package_logger.setLevel(logging.INFO)
