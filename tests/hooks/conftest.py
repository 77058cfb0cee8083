"""Fixtures for the companion hooks: the run-starting hook they all need."""

from __future__ import annotations

import pytest

from pipelinex_mlflow import MLflowBasicLoggerHook
from tests.hooks._pipeline import EXPERIMENT


@pytest.fixture
def basic_hook(tracking_uri: str) -> MLflowBasicLoggerHook:
    """The hook that opens and closes the MLflow run, without its own extras.

    ``pipeline.json``/``pipeline.svg`` and the ``system/`` metrics are left out, so
    a test sees what the hook it tests logged; their own tests switch them on.
    """
    return MLflowBasicLoggerHook(
        uri=tracking_uri,
        experiment_name=EXPERIMENT,
        log_pipeline_structure=False,
        log_system_metrics=False,
    )
