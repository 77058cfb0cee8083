"""Project settings: pipelinex_mlflow's hooks, registered as PipelineX users do."""

from pipelinex_mlflow import (
    MLflowArtifactsLoggerHook,
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowTimeLoggerHook,
)

# The tracking URI defaults to MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db.
mlflow_hooks = (
    MLflowBasicLoggerHook(
        experiment_name="demo_project",
        tags={"purpose": "pipelinex_mlflow example"},
        logging_kedro_run_params=["env", "pipeline_names"],
    ),
    # Logs node inputs and outputs that the catalog does not persist (memory datasets).
    MLflowCatalogLoggerHook(auto=True),
    MLflowArtifactsLoggerHook(
        filepaths_before_pipeline_run=["conf/base"],
        filepaths_after_pipeline_run=["data/test_features.parquet"],
    ),
    # Values of secret-looking names (MY_API_TOKEN, DB_PASSWORD...) are always masked.
    MLflowEnvVarsLoggerHook(param_env_vars=["HOME", "KEDRO_DISABLE_TELEMETRY"]),
    MLflowTimeLoggerHook(),
)

HOOKS = mlflow_hooks
