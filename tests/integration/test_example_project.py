"""The README's first command: `kedro run` on the example project, from a shell.

The run happens once per module; the model it registers is then served with
`mlflow models serve`, as the README's "Models" section says.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import (
    _EXAMPLE_LEFTOVERS,
    EXAMPLE_PROJECT,
    ServerProcess,
    _free_port,
    _stop_group,
)

if TYPE_CHECKING:
    from mlflow.entities import Experiment, Run

#: `mlflow models serve` answers /ping after 6 to 15 s on this machine.
SERVE_START_TIMEOUT_S = 120


@dataclass(frozen=True)
class ExampleRun:
    """The example project after `kedro run`, and what the command printed."""

    project: Path
    output: str

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.project / 'mlflow.db'}"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    project = tmp_path_factory.mktemp("example") / "demo_project"
    shutil.copytree(
        EXAMPLE_PROJECT, project, ignore=shutil.ignore_patterns(*_EXAMPLE_LEFTOVERS)
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["COLUMNS"] = "400"  # so rich does not wrap the log lines we look for
    kedro = Path(sys.executable).with_name("kedro")
    done = subprocess.run(
        [str(kedro), "run", "--params", "model.ridge_alpha=0.02"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return ExampleRun(project, output)


def test_kedro_run_logs_params_metrics_artifacts_and_tags(
    example_run: ExampleRun,
) -> None:
    example_project, output = example_run.project, example_run.output
    assert "spelled with a lowercase" not in output

    client = MlflowClient(tracking_uri=example_run.tracking_uri)
    experiment = client.get_experiment_by_name("demo_project")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert f"Tracking this Kedro run as MLflow run {run.info.run_id}" in output

    params = run.data.params
    assert params["model.ridge_alpha"] == "0.02"
    assert params["data.n_rows"] == "200"
    assert params["model_name"] == "ridge(alpha=0.02)"
    assert params["report.target"] == "y"
    assert {"__time_begin", "__time_end"} <= set(params)

    metrics = run.data.metrics
    assert {"score", "rmse_error", "mae_error", "report.r2", "report.n_test"} <= set(
        metrics
    )
    assert {"__time_begin", "__time_end", "__time"} <= set(metrics)
    # PipelineX's task names: "<function> -- <outputs>", cut to 50 characters.
    tasks = [
        "make_data -- frame",
        "split -- train_df - test_features",
        "train -- model - model_name - loss_history",
        "predict -- pred_df",
        "evaluate -- score - rmse_error - mae_error - report",
        "describe -- coefficients - residual_plot",
        "train_regressor -- regressor",
        "evaluate_regressor -- regressor_metrics",
    ]
    assert {f"_time_to_run {task[:50]}" for task in tasks} <= set(metrics)
    assert metrics["score"] > 0.9
    losses = client.get_metric_history(run.info.run_id, "loss_history")
    assert len(losses) == 50

    tags = run.data.tags
    assert tags["kedro.command"] == "kedro run --params model.ridge_alpha=0.02"
    assert tags["purpose"] == "pipelinex_mlflow example"

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "model.pkl",
        "pred_df.csv",
        "coefficients.json",
        "residual_plot.html",
        "tables",
        "gantt.html",
        "time_log.json",
        "conf",
        "data",
    } <= artifacts
    conf = {a.path for a in client.list_artifacts(run.info.run_id, "conf/base")}
    assert conf == {"conf/base/catalog.yml", "conf/base/parameters.yml"}
    assert params["env..KEDRO_DISABLE_TELEMETRY"] == "1"
    # Kedro's own deprecation warnings aside, a clean run warns about nothing.
    warnings = [
        line
        for line in output.splitlines()
        if "WARNING" in line and "Warning:" not in line
    ]
    assert warnings == []
    assert (example_project / "mlartifacts").is_dir()


def test_how_to_view_the_run_is_printed_whole(example_run: ExampleRun) -> None:
    """Kedro's log handler wraps long lines; the command and URL are printed apart."""
    client = MlflowClient(tracking_uri=example_run.tracking_uri)
    experiment = client.get_experiment_by_name("demo_project")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert (
        "View the MLflow run:\n"
        f"    mlflow ui --backend-store-uri {example_run.tracking_uri}\n"
        f"    http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}"
        f"/runs/{run.info.run_id}\n"
    ) in example_run.output
    # An experiment the package created opens on its runs, not in the GenAI view.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_the_model_is_logged_registered_aliased_and_linked(
    example_run: ExampleRun,
) -> None:
    client = MlflowClient(tracking_uri=example_run.tracking_uri)
    experiment = client.get_experiment_by_name("demo_project")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    (model,) = client.search_logged_models(
        [experiment.experiment_id], filter_string="name = 'regressor'"
    )
    assert model.status.name == "READY"
    assert model.source_run_id == run.info.run_id
    assert model.params["model.ridge_alpha"] == "0.02"
    # The metrics of the node downstream of the model are on its page.
    assert sorted(m.key for m in model.metrics) == [
        "regressor_metrics.r2",
        "regressor_metrics.rmse",
    ]
    assert model.metrics[0].run_id == run.info.run_id
    version = client.get_model_version_by_alias("demo-regressor", "champion")
    assert str(version.version) == "1"
    assert version.tags == {"trained_by": "demo_project"}
    assert run.data.tags["pipelinex_mlflow.model.regressor"] == (
        f"models:/{model.model_id} in run {run.info.run_id}, registered as "
        "'demo-regressor' version 1 (alias @champion)"
    )
    assert f"Logged model 'regressor': models:/{model.model_id}" in example_run.output


def test_the_registered_model_is_served_over_http(example_run: ExampleRun) -> None:
    """`mlflow models serve -m models:/demo-regressor@champion`, as the README says."""
    rows = [[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]]
    served = _served(example_run, "models:/demo-regressor@champion", rows)

    import pandas as pd

    from pipelinex_mlflow import MLflowDataSet

    champion = MLflowDataSet(
        dataset="model",
        flavor="sklearn",
        model_uri="models:/demo-regressor@champion",
        loading_tracking_uri=example_run.tracking_uri,
    ).load()
    expected = champion.predict(pd.DataFrame(rows, columns=["x0", "x1", "x2"]))
    assert served == pytest.approx(list(expected))


def test_the_inference_pipeline_is_one_model_served_over_http(
    example_run: ExampleRun,
) -> None:
    """`mlflow models serve -m models:/demo-inference@champion`: scaler, model, params."""
    import pandas as pd

    client = MlflowClient(tracking_uri=example_run.tracking_uri)
    experiment = client.get_experiment_by_name("demo_project")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    (model,) = client.search_logged_models(
        [experiment.experiment_id], filter_string="name = 'inference_pipeline'"
    )
    assert (model.status.name, model.source_run_id) == ("READY", run.info.run_id)
    assert [m.key for m in model.metrics] == ["pipeline_model_metrics.r2"]
    version = client.get_model_version_by_alias("demo-inference", "champion")
    assert version.run_id == run.info.run_id
    assert "Logged model 'inference_pipeline'" in example_run.output

    rows = [[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]]
    served = _served(example_run, "models:/demo-inference@champion", rows)
    rounded = _served(
        example_run,
        "models:/demo-inference@champion",
        rows,
        params={"serving.round_to": 0},
    )
    # The same rows through the pipeline's own parts, as training left them.
    scaler = pd.read_pickle(example_run.project / "data/06_models/feature_scaler.pkl")
    estimator = pd.read_pickle(example_run.project / "data/06_models/estimator.pkl")
    frame = pd.DataFrame(rows, columns=["x0", "x1", "x2"])
    expected = estimator.predict(scaler.transform(frame))
    assert [p["y_pred"] for p in served] == pytest.approx(expected.round(3).tolist())
    assert [p["y_pred"] for p in rounded] == pytest.approx(expected.round(0).tolist())


def _served(
    example_run: ExampleRun,
    model_uri: str,
    rows: list[list[float]],
    params: dict[str, object] | None = None,
) -> list[object]:
    """What `mlflow models serve -m model_uri` answers for ``rows`` over HTTP."""
    port = _free_port()
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": example_run.tracking_uri,
        # The scoring server starts `python` and `uvicorn` from PATH.
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log_path = example_run.project / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                str(Path(venv_bin, "mlflow")),
                "models",
                "serve",
                "-m",
                model_uri,
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=example_run.project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_ping(f"http://127.0.0.1:{port}", server, log_path)
        body: dict[str, object] = {
            "dataframe_split": {"columns": ["x0", "x1", "x2"], "data": rows}
        }
        if params is not None:
            body["params"] = params
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            served: list[object] = json.load(response)["predictions"]
    finally:
        _stop_group(server)
    assert server.poll() is not None  # the whole process group is gone
    return served


def _wait_for_ping(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited:\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/ping", timeout=2) as response,  # noqa: S310
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    _stop_group(server)
    pytest.fail(
        f"mlflow models serve did not answer in {SERVE_START_TIMEOUT_S}s:\n"
        f"{log.read_text()[-3000:]}"
    )


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed (apt-get install chromium)",
)


@needs_chromium
def test_the_mlflow_ui_shows_the_model_on_the_run_and_its_metrics_on_its_page(
    example_run: ExampleRun, tmp_path: Path
) -> None:
    """What the README's "What lands where in the MLflow UI" says, in a real browser."""
    client, experiment, run = _the_run(example_run)
    (model,) = client.search_logged_models(
        [experiment.experiment_id], filter_string="name = 'regressor'"
    )
    (pipeline_model,) = client.search_logged_models(
        [experiment.experiment_id], filter_string="name = 'inference_pipeline'"
    )
    run_page, model_page, pipeline_page = _rendered_pages(
        example_run,
        tmp_path,
        experiment.experiment_id,
        [
            f"runs/{run.info.run_id}",
            f"models/{model.model_id}",
            f"models/{pipeline_model.model_id}",
        ],
    )
    assert "Logged models (2)" in run_page
    assert ">regressor<" in run_page
    assert ">inference_pipeline<" in run_page
    # Registered versions are linked (the page shows the newest: the pipeline's).
    assert 'href="#/models/demo-inference/versions/1"' in run_page
    assert "pipeline_model_metrics.r2" in pipeline_page
    assert "demo-inference/versions/1" in pipeline_page
    for linked in ("regressor_metrics.r2", "regressor_metrics.rmse"):
        assert linked in model_page
    assert "demo-regressor/versions/1" in model_page
    assert "model.ridge_alpha" in model_page  # the run's params on the model


@needs_chromium
def test_the_mlflow_ui_shows_the_trace_timeline_datasets_and_system_metrics(
    example_run: ExampleRun, tmp_path: Path
) -> None:
    """The run's trace opens as MLflow's own span tree; its datasets are on the run."""
    client, experiment, run = _the_run(example_run)
    (trace,) = client.search_traces(
        locations=[experiment.experiment_id], run_id=run.info.run_id
    )
    run_page, trace_page = map(
        _text,
        _rendered_pages(
            example_run,
            tmp_path,
            experiment.experiment_id,
            [
                f"runs/{run.info.run_id}",
                f"traces?selectedEvaluationId={trace.info.trace_id}",
            ],
        ),
    )
    digests = {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs}
    first = sorted(digests)[0]
    assert f"Datasets | {first} ({digests[first]}) | intermediate" in run_page
    assert "System metrics (" in run_page
    assert "system/cpu_utilization_percentage" in run_page
    # The span tree: the run, its nodes, their loads and saves, each with a time.
    assert "Spans | kedro run __default__ | " in trace_page
    for span in ("make_data", "load params:data", "save feature_scaler"):
        assert re.search(rf"\| {re.escape(span)}\w* \| [0-9.]+m?s \|", trace_page), span


def _the_run(example_run: ExampleRun) -> tuple[MlflowClient, Experiment, Run]:
    """The example's client, experiment and its one run."""
    assert CHROMIUM is not None, "Chromium is missing: apt-get install chromium"
    client = MlflowClient(tracking_uri=example_run.tracking_uri)
    experiment = client.get_experiment_by_name("demo_project")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    return client, experiment, run


def _rendered_pages(
    example_run: ExampleRun, tmp_path: Path, experiment_id: str, paths: list[str]
) -> list[str]:
    """Each experiment page ``paths`` names, rendered by the MLflow UI on the example."""
    server = ServerProcess(tmp_path, store_uri=example_run.tracking_uri)
    server.start()
    try:
        base = f"{server.url}/#/experiments/{experiment_id}"
        return [_rendered(f"{base}/{path}", tmp_path / "profile") for path in paths]
    finally:
        server.stop()


def _text(dom: str) -> str:
    """The page's visible text, one ``|`` between elements."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>", "", dom, flags=re.S)
    text = re.sub(r"<[^>]+>", " | ", text)
    return html.unescape(re.sub(r"(\s*\|\s*)+", " | ", text))


def _rendered(url: str, profile: Path) -> str:
    """The page's DOM after MLflow's React app has rendered it."""
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


_OTHER_COMMAND = """
import sys, time
from kedro.framework.cli import main

sys.argv = ["kedro", *sys.argv[1:]]
try:
    main()
except SystemExit as done:
    code = done.code
time.sleep(3)  # time for a background import to begin, had one started
print("MLFLOW_IMPORTED" if "mlflow" in sys.modules else "NO_MLFLOW", code)
"""


@pytest.mark.parametrize(
    "command", [["registry", "list"], ["catalog", "describe-datasets"]]
)
def test_other_kedro_commands_neither_import_mlflow_nor_touch_the_store(
    tmp_path: Path, command: list[str]
) -> None:
    """Only `kedro run` imports MLflow; a server that is down is not even tried."""
    project = tmp_path / "demo_project"
    shutil.copytree(
        EXAMPLE_PROJECT, project, ignore=shutil.ignore_patterns(*_EXAMPLE_LEFTOVERS)
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    output = _other_command(project, env, command)
    assert "127.0.0.1:9" not in output
    default_store = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    _other_command(project, default_store, command)
    assert not (project / "mlflow.db").exists()  # no store created either
    # A server named in mlflow.yml is not tried either, nor is the file read.
    (project / "conf" / "local" / "mlflow.yml").write_text(
        "server:\n  mlflow_tracking_uri: http://127.0.0.1:9\nui: {prot: 1}\n"
    )
    output = _other_command(project, default_store, command)
    assert "127.0.0.1:9" not in output
    assert "mlflow.yml" not in output


def _other_command(project: Path, env: dict[str, str], command: list[str]) -> str:
    """Run ``kedro <command>``; check it succeeded without importing MLflow."""
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_COMMAND, *command],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.stdout.strip().endswith("NO_MLFLOW 0"), output
    return output
