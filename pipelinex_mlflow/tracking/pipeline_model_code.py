"""The code of a logged Kedro pipeline model (MLflow's models-from-code).

MLflow runs this file when it loads the model; the predictor it runs comes from
the model's ``predictor`` artifact (see ``KedroPipelineModel.load_context``).
"""

from mlflow.models import set_model

from pipelinex_mlflow.tracking.pyfunc_adapter import KedroPipelineModel

set_model(KedroPipelineModel())
