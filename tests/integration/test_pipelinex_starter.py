"""PipelineX's starter project runs with no change but the imports, under every runner.

``kedro run`` on the starter of ``tests/pipelinex_starter.py`` (its 2023 hooks tuple
with ``MLflowDataSet`` entries, and its 2021 ``mlflow_config.py`` with
``mlflow_catalog`` and ``enable_mlflow``), then what PipelineX logged is checked
in the SQLite store the starter names (``mlruns/sqlite.db``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.pipelinex_starter import EXPERIMENT, generate
from tests.reliability_project import kedro, kedro_env, output_of

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.entities import Run

TASKS = (
    "init_model -- init_model",
    "train_model -- model",
    "evaluate_model -- score",
    "run_inference -- pred_df",
)


def _store(project: Path) -> str:
    return f"sqlite:///{(project / 'mlruns' / 'sqlite.db').as_posix()}"


def _only_run(project: Path) -> tuple[Run, set[str]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=_store(project))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    artifacts = {info.path for info in client.list_artifacts(run.info.run_id)}
    artifacts |= {
        info.path for info in client.list_artifacts(run.info.run_id, "conf/base")
    }
    return run, artifacts


@pytest.mark.parametrize(
    ("variant", "runner"),
    [
        ("2023", "SequentialRunner"),
        ("2023", "ThreadRunner"),
        ("2023", "ParallelRunner"),
        ("2021", "SequentialRunner"),
        ("2021", "ParallelRunner"),
    ],
)
def test_the_starter_logs_what_pipelinex_logged(
    tmp_path: Path, variant: str, runner: str
) -> None:
    project = generate(tmp_path / "starter", variant)  # type: ignore[arg-type]
    # The starter sets its own URI: no MLFLOW_TRACKING_URI.
    env = kedro_env("", HOSTNAME="starter-host")
    env.pop("MLFLOW_TRACKING_URI")
    result = kedro(project, "run", f"--runner={runner}", env=env)
    assert result.returncode == 0, output_of(result)
    assert "Traceback" not in result.stderr, output_of(result)

    run, artifacts = _only_run(project)
    assert run.info.status == "FINISHED"
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert tags["kedro.runner"] == runner
    assert params["features"] == "['sepal_length']"
    assert params["target"] == "species"
    assert params["env..HOSTNAME"] == "starter-host"
    assert {"__time_begin", "__time_end"} <= set(params)
    assert {"__time_begin", "__time_end", "__time"} <= set(metrics)
    assert 0 < metrics["score"] <= 1
    assert {f"_time_to_run {task}" for task in TASKS} <= set(metrics)
    assert {"model.pkl", "pred_df.csv", "conf/base/parameters.yml"} <= artifacts
    assert {"gantt.html", "time_log.json"} <= artifacts
    # The starter's artifact_location, relative to the project.
    assert (project / "mlruns" / "experiment_001").is_dir()
    if variant == "2021":
        # mlflow_catalog logs beside the catalog, which still writes its files.
        assert (project / "data" / "06_models" / "model.pkl").is_file()
        assert (project / "data" / "07_model_output" / "pred.csv").is_file()


def test_the_starter_with_tracking_switched_off_never_imports_mlflow(
    tmp_path: Path,
) -> None:
    project = generate(tmp_path / "starter", "2023")
    env = kedro_env("", PIPELINEX_MLFLOW_DISABLE="1", PYTHONPROFILEIMPORTTIME="1")
    env.pop("MLFLOW_TRACKING_URI")
    result = kedro(project, "run", env=env)
    assert result.returncode == 0, output_of(result)
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "kedro" in imported  # the import log is there
    assert not {name for name in imported if name.split(".")[0] == "mlflow"}
    assert not (project / "mlruns" / "sqlite.db").exists()
    assert "MLflow tracking is off for this Kedro run" in output_of(result)
