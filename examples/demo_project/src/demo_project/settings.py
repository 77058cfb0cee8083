"""Project settings: pipelinex_mlflow's hooks, registered as PipelineX users do."""

from pipelinex_mlflow import MLflowBasicLoggerHook

# The tracking URI defaults to MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db.
mlflow_hooks = (
    MLflowBasicLoggerHook(
        experiment_name="demo_project",
        tags={"purpose": "pipelinex_mlflow example"},
        logging_kedro_run_params=["env", "pipeline_names"],
    ),
)

HOOKS = mlflow_hooks
