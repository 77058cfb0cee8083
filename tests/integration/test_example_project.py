"""The README's first command: `kedro run` on the example project, from a shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient


def test_kedro_run_logs_params_metrics_artifacts_and_tags(
    example_project: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["COLUMNS"] = "400"  # so rich does not wrap the log lines we look for
    kedro = Path(sys.executable).with_name("kedro")
    done = subprocess.run(
        [str(kedro), "run", "--params", "model.ridge_alpha=0.02"],
        cwd=example_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "spelled with a lowercase" not in output

    client = MlflowClient(tracking_uri=f"sqlite:///{example_project / 'mlflow.db'}")
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
