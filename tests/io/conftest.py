"""Fixtures of the dataset tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking.run_ref import mark_outside_kedro

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pipelinex_mlflow.tracking import RunRef


@pytest.fixture
def outside_kedro(request: pytest.FixtureRequest) -> Iterator[RunRef]:
    """The module's current run, as a notebook's (``mlflow_start_run``) would be.

    A save that fails there raises, as MLflow's own calls do; in a Kedro run it
    is a warning (``tests/io/test_mlflow_dataset.py::TestInsideAKedroRun``).
    """
    try:
        run: RunRef = request.getfixturevalue("saving_run")
    except pytest.FixtureLookupError:
        run = request.getfixturevalue("run")
    mark_outside_kedro(run)
    yield run
    mark_outside_kedro(run, False)
