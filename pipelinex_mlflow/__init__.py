"""Track Kedro pipeline runs in MLflow without one line of MLflow code in the nodes.

Importing this package is cheap: MLflow is imported only when a run is tracked.
"""

import logging
import warnings

from pipelinex_mlflow.hooks import (
    MLflowArtifactsLoggerHook,
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowDataSetsLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowOutputsLoggerHook,
    MLflowTimeLoggerHook,
)
from pipelinex_mlflow.io import MLflowDataSet, MLflowDataset
from pipelinex_mlflow.pipeline_ml import PipelineML, pipeline_ml_factory
from pipelinex_mlflow.pipelinex_api import (
    dump_dict,
    env_vars_to_dict,
    get_kedro_runner,
    get_timestamp,
    get_timestamp_int,
    get_timestamps,
    load_dict,
    log_metric_env_vars,
    log_param_env_vars,
    mlflow_end_run,
    mlflow_log_artifacts,
    mlflow_log_dataset,
    mlflow_log_metrics,
    mlflow_log_params,
    mlflow_log_time,
    mlflow_log_values,
    mlflow_start_run,
    running_parallel,
)

__version__ = "0.1.0"

__all__ = [
    "MLflowArtifactsLoggerHook",
    "MLflowBasicLoggerHook",
    "MLflowCatalogLoggerHook",
    "MLflowDataSet",
    "MLflowDataSetsLoggerHook",
    "MLflowDataset",
    "MLflowEnvVarsLoggerHook",
    "MLflowOutputsLoggerHook",
    "MLflowTimeLoggerHook",
    "PipelineML",
    "__version__",
    "dump_dict",
    "env_vars_to_dict",
    "get_kedro_runner",
    "get_timestamp",
    "get_timestamp_int",
    "get_timestamps",
    "load_dict",
    "log_metric_env_vars",
    "log_param_env_vars",
    "mlflow_end_run",
    "mlflow_log_artifacts",
    "mlflow_log_dataset",
    "mlflow_log_metrics",
    "mlflow_log_params",
    "mlflow_log_time",
    "mlflow_log_values",
    "mlflow_start_run",
    "pipeline_ml_factory",
    "running_parallel",
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
