"""The project's pipelines."""

import pandas as pd
from kedro.pipeline import Pipeline

from demo_project.pipelines import regression, serving
from pipelinex_mlflow import pipeline_ml_factory


def register_pipelines() -> dict[str, Pipeline]:
    pipeline = regression.create_pipeline()
    inference = serving.create_inference_pipeline()
    # Runs as the training pipeline; each run also logs `inference`, with the
    # scaler and model that training fitted, as the MLflow model demo-inference.
    training = pipeline_ml_factory(
        training=serving.create_training_pipeline(),
        inference=inference,
        input_name="instances",
        model_name="inference_pipeline",
        registered_model_name="demo-inference",
        alias="champion",
        input_example=pd.DataFrame({"x0": [0.5], "x1": [-1.0], "x2": [2.0]}),
    )
    return {
        "__default__": pipeline + training,
        "regression": pipeline,
        "training": training,
        "inference": inference,
    }
