"""The project's pipelines."""

from kedro.pipeline import Pipeline

from demo_project.pipelines import regression


def register_pipelines() -> dict[str, Pipeline]:
    pipeline = regression.create_pipeline()
    return {"__default__": pipeline, "regression": pipeline}
