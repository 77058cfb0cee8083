"""A real project's training runs log its inference pipeline as one MLflow model.

Every run goes through ``KedroSession`` (the hooks of the project's settings.py,
its catalog.yml) into a real SQLite store; models are read back with
``MlflowClient`` and loaded with ``mlflow.pyfunc.load_model``, in this process
and in a fresh one outside the project.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipelinex_mlflow.cli import commands
from tests._kedro import kedro_run
from tests.pipeline_ml_project import (
    CATALOG,
    EXPERIMENT,
    PACKAGE,
    REGISTERED,
    REGISTRY,
    generate,
)

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata
    from mlflow.entities import LoggedModel, Run
    from mlflow.tracking import MlflowClient


def bootstrap(folder: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectMetadata:
    """Bootstrap the project in ``folder``; its package imported afresh from there."""
    from kedro.framework.startup import bootstrap_project

    for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
        monkeypatch.delitem(sys.modules, name)
    return bootstrap_project(folder)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectMetadata:
    """The project, bootstrapped."""
    return bootstrap(generate(tmp_path / "pml"), monkeypatch)


def runs(client: MlflowClient) -> list[Run]:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    return client.search_runs([experiment.experiment_id], order_by=["start_time"])


def run_models(client: MlflowClient, run: Run) -> dict[str, list[LoggedModel]]:
    found: dict[str, list[LoggedModel]] = {}
    for model in client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    ):
        found.setdefault(model.name, []).append(model)
    return found


def instances(metadata: ProjectMetadata) -> pd.DataFrame:
    return pd.read_csv(metadata.project_path / "data" / "instances.csv")


def expected(frame: pd.DataFrame, scale: float = 1.0, offset: float = 0.0) -> Any:
    # The data are y = 3a - 2b + 1 exactly: a least-squares fit recovers it.
    return (3 * frame["a"] - 2 * frame["b"] + 1) * scale + offset


@pytest.mark.parametrize(
    "runner", ["SequentialRunner", "ThreadRunner", "ParallelRunner"]
)
def test_each_training_run_logs_the_inference_pipeline_once(
    project: ProjectMetadata, client: MlflowClient, runner: str
) -> None:
    import kedro.runner
    import mlflow

    kedro_run(project, runner=getattr(kedro.runner, runner)())
    (run,) = runs(client)
    assert run.info.status == "FINISHED"
    models = run_models(client, run)
    # Both declarations train on the same nodes, so the run logs both, once each.
    assert {name: len(found) for name, found in models.items()} == {
        "model": 1,
        "explained": 1,
    }
    (logged,) = models["model"]
    assert logged.status.name == "READY"
    assert logged.params["data.seed"] == "7"
    version = client.get_model_version_by_alias(REGISTERED, "champion")
    assert version.run_id == run.info.run_id
    assert logged.model_id in version.source
    assert version.tags == {"made_by": "pml_project"}
    model = mlflow.pyfunc.load_model(f"models:/{logged.model_id}")
    frame = instances(project)
    predicted = model.predict(frame)
    np.testing.assert_allclose(predicted["y_pred"], expected(frame), atol=1e-9)
    signature = model.metadata.signature
    assert signature.inputs.input_names() == ["a", "b"]
    assert {p.name: p.default for p in signature.params.params} == {
        "runner": "SequentialRunner",
        "serving.scale": 1.0,
        "serving.offset": 0.0,
    }


def test_a_second_run_logs_a_second_model_and_moves_the_alias(
    project: ProjectMetadata, client: MlflowClient
) -> None:
    kedro_run(project)
    kedro_run(project, runtime_params={"data": {"seed": 8, "rows": 64}})
    first, second = runs(client)
    assert [len(run_models(client, r)["model"]) for r in (first, second)] == [1, 1]
    version = client.get_model_version_by_alias(REGISTERED, "champion")
    assert (str(version.version), version.run_id) == ("2", second.info.run_id)


_OUTSIDE = """
import json, sys
import pandas as pd
import mlflow

frame = pd.read_csv(sys.argv[1])
model = mlflow.pyfunc.load_model("models:/{registered}@champion")
explained = mlflow.pyfunc.load_model("runs:/" + sys.argv[2] + "/explained")
both = explained.predict(frame)
print(json.dumps({{
    "plain": model.predict(frame)["y_pred"].tolist(),
    "override": model.predict(
        frame, params={{"serving.scale": 2.0, "serving.offset": 1.0}}
    )["y_pred"].tolist(),
    "threads": model.predict(frame, params={{"runner": "ThreadRunner"}})["y_pred"].tolist(),
    "outputs": sorted(both),
    "parts": both["parts"].to_dict(orient="list"),
    "project_from": sys.modules["{package}"].__file__,
    "ours_from": sys.modules["pipelinex_mlflow"].__file__,
}}))
"""


def test_outside_the_project_the_model_predicts_what_the_inference_pipeline_does(
    project: ProjectMetadata, client: MlflowClient, tmp_path: Path, tracking_uri: str
) -> None:
    kedro_run(project)
    (run,) = runs(client)
    # The same input through `kedro run --pipeline inference --env serving`, with
    # the weights read from the training run, as a project serving in Kedro would.
    serving = project.project_path / "conf" / "serving"
    serving.mkdir()
    (serving / "catalog.yml").write_text(
        "weights:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: pkl\n"
        f"  loading_run_id: {run.info.run_id}\n"
    )
    kedro_run(project, env="serving", pipeline_names=["inference"])
    through_kedro = pd.read_csv(project.project_path / "data" / "predictions.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = elsewhere / "load.py"
    script.write_text(_OUTSIDE.format(registered=REGISTERED, package=PACKAGE))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(project.project_path / "data" / "instances.csv"),
            run.info.run_id,
        ],
        cwd=elsewhere,
        env={**env, "MLFLOW_TRACKING_URI": tracking_uri},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(result["plain"], through_kedro["y_pred"], atol=1e-12)
    np.testing.assert_allclose(
        result["override"], 2 * through_kedro["y_pred"] + 1, atol=1e-12
    )
    np.testing.assert_allclose(result["threads"], through_kedro["y_pred"], atol=1e-12)
    assert result["outputs"] == ["parts", "y"]
    assert sorted(result["parts"]) == ["a_part", "b_part"]
    # The project's package and ours came with the model, not from the project.
    for module_file in (result["project_from"], result["ours_from"]):
        assert "/artifacts/code/" in module_file
        assert str(project.project_path) not in module_file


def test_the_model_carries_pinned_requirements_and_no_bytecode(
    project: ProjectMetadata, client: MlflowClient
) -> None:
    import mlflow

    kedro_run(project)
    (run,) = runs(client)
    (logged,) = run_models(client, run)["model"]
    folder = mlflow.artifacts.download_artifacts(f"models:/{logged.model_id}")
    requirements = Path(folder, "requirements.txt").read_text().split()
    names = {r.split("==")[0].lower() for r in requirements}
    assert {"mlflow", "kedro", "pandas", "numpy", "cloudpickle"} <= names
    assert all("==" in r for r in requirements)
    assert "pipelinex-mlflow" not in names  # it travels as code
    code = os.path.join(folder, "code")
    assert sorted(os.listdir(code)) == ["pipelinex_mlflow", PACKAGE]
    walked = [d for d, _, _ in os.walk(code)]
    assert not [d for d in walked if d.endswith(("__pycache__", "_vendor"))]


def test_kedro_mlflows_conda_env_replaces_the_pinned_requirements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: MlflowClient
) -> None:
    """kedro-mlflow's tutorial passes log_model_kwargs={"conda_env": ...}."""
    import mlflow
    import yaml

    conda_env = {
        "name": "pml",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", {"pip": ["kedro==1.7.0", "pandas"]}],
    }
    # The registry is a str.format template: its own braces are doubled.
    escaped = repr({"conda_env": conda_env}).replace("{", "{{").replace("}", "}}")
    registry = REGISTRY.replace(
        '        tags={{"made_by": "pml_project"}},\n    )',
        '        tags={{"made_by": "pml_project"}},\n'
        f"        log_model_kwargs={escaped},\n    )",
        1,
    )
    assert registry != REGISTRY
    project = bootstrap(generate(tmp_path / "pml", registry=registry), monkeypatch)
    kedro_run(project, pipeline_names=["training"])
    (run,) = runs(client)
    assert run.info.status == "FINISHED"
    (logged,) = run_models(client, run)["model"]
    folder = mlflow.artifacts.download_artifacts(f"models:/{logged.model_id}")
    written = yaml.safe_load(Path(folder, "conda.yaml").read_text())
    assert (written["name"], written["channels"]) == ("pml", ["conda-forge"])
    python, pip = written["dependencies"]
    # MLflow adds its own pin to the environment it is given; nothing else is.
    assert (python, pip["pip"][1:]) == ("python=3.11", ["kedro==1.7.0", "pandas"])
    assert pip["pip"][0].startswith("mlflow==")
    requirements = Path(folder, "requirements.txt").read_text().split()
    assert requirements[1:] == ["kedro==1.7.0", "pandas"]


def test_a_filtered_run_missing_an_mlflow_input_says_what_to_run_instead(
    project: ProjectMetadata, client: MlflowClient, caplog: pytest.LogCaptureFixture
) -> None:
    kedro_run(project)
    with caplog.at_level(logging.WARNING):
        # scaler is produced again, but weights (an MLflowDataSet) lives in the
        # first run: the model is not built from a mix, and the log says why.
        kedro_run(project, node_names=["make_data", "fit_scaler"])
    first, second = runs(client)
    assert second.info.status == "FINISHED"
    assert "model" not in run_models(client, second)
    assert (
        "model 'model' is not logged: this run leaves out the nodes producing "
        "weights, an MLflowDataSet" in caplog.text
    )
    # The command it names logs it into the run that holds the weights.
    done = CliRunner().invoke(
        commands,
        [
            "mlflow",
            "modelify",
            "--pipeline",
            "__default__",
            "--model-name",
            "explained",
            "--run-id",
            first.info.run_id,
        ],
        obj=project,
    )
    assert done.exit_code == 0, done.output
    assert len(run_models(client, first)["explained"]) == 2
    assert len(run_models(client, first)["model"]) == 1


_BAD_EXAMPLE = REGISTRY.replace(
    'alias="champion",',
    'alias="champion", input_example=__import__("pandas").DataFrame({{"c": [1.0]}}),',
)


def test_a_model_failing_after_a_good_training_run_fails_nothing_and_says_what_to_run(
    tmp_path: Path,
    client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    metadata = bootstrap(generate(tmp_path / "bad", registry=_BAD_EXAMPLE), monkeypatch)
    with caplog.at_level(logging.WARNING):
        kedro_run(metadata, runtime_params={"data": {"rows": 32}})
    (run,) = runs(client)
    assert run.info.status == "FINISHED"
    models = run_models(client, run)
    assert "model" not in models  # nothing half-made, nothing FAILED
    assert [m.status.name for m in models["explained"]] == ["READY"]
    assert "logging its pipeline model 'model' failed" in caplog.text
    assert "fails on its input example: KeyError" in caplog.text
    assert (
        f"kedro mlflow modelify --pipeline __default__ --run-id {run.info.run_id} "
        "--params data.rows=32 --model-name model"
    ) in caplog.text


def test_a_run_without_the_producing_nodes_logs_nothing_and_says_so(
    project: ProjectMetadata, client: MlflowClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        kedro_run(project, node_names=["make_data"])
    (run,) = runs(client)
    assert run.info.status == "FINISHED"
    assert run_models(client, run) == {}
    assert "leaves out the training nodes that produce its inputs" in caplog.text


def test_modelify_logs_an_equivalent_model_from_a_training_run(
    project: ProjectMetadata, client: MlflowClient
) -> None:
    import mlflow

    kedro_run(project)
    (run,) = runs(client)

    def modelify(*args: str) -> Any:
        return CliRunner().invoke(commands, ["mlflow", "modelify", *args], obj=project)

    refused = modelify("--pipeline", "inference", "--input-name", "instances")
    assert refused.exit_code == 1
    assert "weights: an MLflowDataSet's value lives in the run that produced it" in (
        refused.output
    )
    assert len(runs(client)) == 1, "a refused modelify creates no run"
    done = modelify(
        "--pipeline",
        "inference",
        "--input-name",
        "instances",
        "--run-id",
        run.info.run_id,
        "--model-name",
        "from_cli",
        "--registered-model-name",
        "pml-cli",
        "--no-code",
    )
    assert done.exit_code == 0, done.output
    assert f"into MLflow run {run.info.run_id}" in done.output
    assert len(runs(client)) == 1
    models = run_models(client, run)
    frame = instances(project)
    by_factory = mlflow.pyfunc.load_model(f"models:/{models['model'][0].model_id}")
    by_cli = mlflow.pyfunc.load_model("models:/pml-cli/1")
    pd.testing.assert_frame_equal(by_cli.predict(frame), by_factory.predict(frame))
    # --no-code leaves the project out; pipelinex_mlflow, which loading needs, stays.
    folder = mlflow.artifacts.download_artifacts("models:/pml-cli/1")
    assert os.listdir(Path(folder, "code")) == ["pipelinex_mlflow"]
    no_input = modelify("--pipeline", "inference")
    assert "say which of its inputs the model gets with --input-name" in (
        no_input.output
    )
    unknown = modelify("--pipeline", "nope", "--input-name", "x")
    assert "No pipeline named 'nope'" in unknown.output


# The project's catalog without its scaler entry: Kedro keeps it in memory.
_IN_MEMORY_CATALOG = CATALOG.replace(
    "scaler:\n  type: pickle.PickleDataset\n  filepath: data/scaler.pkl\n", ""
)


def test_an_input_kept_in_memory_fails_the_run_before_it_exists(
    tmp_path: Path, client: MlflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata = bootstrap(
        generate(tmp_path / "mem", catalog=_IN_MEMORY_CATALOG),
        monkeypatch,
    )
    with pytest.raises(ValueError, match="needs scaler, which the catalog keeps"):
        kedro_run(metadata)
    assert client.get_experiment_by_name(EXPERIMENT) is None or runs(client) == []


def test_a_project_without_the_run_hook_is_told_the_model_is_never_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kedro.framework.project import pipelines

    bootstrap(generate(tmp_path / "nohook", settings="HOOKS = ()\n"), monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert "training" in pipelines
    assert "model 'model' is never logged: settings.py HOOKS has no " in caplog.text
