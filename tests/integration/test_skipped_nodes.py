"""A `kedro run` that runs no node says so, and never blames ParallelRunner for it.

``--only-missing-outputs`` skips every node whose persisted outputs exist; it is
the one node selection that leaves a run with no node (``--tags``, ``--nodes``,
``--namespaces``, ``--from-inputs``, ``--to-outputs`` and ``--from-nodes`` that
select nothing stop Kedro before any hook, with no run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests import interruption_project
from tests.reliability_project import kedro, kedro_env, output_of

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.tracking import MlflowClient


@pytest.mark.parametrize("runner", ["SequentialRunner", "ParallelRunner"])
def test_a_run_that_skips_every_node_says_so_without_a_warning(
    tmp_path: Path, tracking_uri: str, client: MlflowClient, runner: str
) -> None:
    project = interruption_project.generate(tmp_path / "project")
    env = kedro_env(tracking_uri)
    first = kedro(project, "run", env=env)
    assert first.returncode == 0, output_of(first)

    again = kedro(project, "run", "--only-missing-outputs", "--runner", runner, env=env)
    output = output_of(again)
    assert again.returncode == 0, output
    assert "Skipping all 3 nodes" in output, "Kedro ran some node"
    assert "MLflowTimeLoggerHook timed no node: Kedro ran none of the 3" in output
    assert "timed none" not in output
    assert "ParallelRunner" not in output.replace(f"--runner {runner}", "")
    experiment = client.get_experiment_by_name(interruption_project.EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["start_time"])
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    skipping = runs[-1]
    assert not [k for k in skipping.data.metrics if k.startswith("_time_to_run")]
