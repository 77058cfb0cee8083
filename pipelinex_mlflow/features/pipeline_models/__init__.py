"""The ``pipeline_ml_factory`` models whose training ran, logged into the run.

Always on; declared with :func:`pipelinex_mlflow.pipeline_ml_factory`.
"""
