"""Fixtures of the tracking tests: a run in the test's own SQLite store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import RunRef

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


@pytest.fixture
def run(client: MlflowClient, tracking_uri: str) -> RunRef:
    experiment_id = client.create_experiment("tracking")
    return RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)
