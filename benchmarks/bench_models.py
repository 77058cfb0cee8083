"""Benchmark, run by hand: logging a scikit-learn model, ours against MLflow's own call.

``MLflowDataSet(dataset="model")`` writes the flavor's pinned requirements;
``mlflow.sklearn.log_model`` (what kedro-mlflow's ``MlflowModelTrackingDataset``
calls) infers them by loading the model in a subprocess. Both log the same fitted
``StandardScaler + Ridge`` pipeline into a fresh run of the same store, registered
as a new version; then each loads it back by ``models:/<name>@champion``.

Usage (from the repository root, in the project's virtualenv):

    python benchmarks/bench_models.py [--server http://127.0.0.1:5000] [--repeat 3]

Prints a Markdown table of median seconds; the README quotes its results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _median_s(action: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _model() -> Any:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=["x0", "x1", "x2"])
    return make_pipeline(StandardScaler(), Ridge()).fit(x, x.sum(axis=1))


def _rows(label: str, uri: str, repeat: int) -> list[tuple[str, str, float]]:
    import mlflow
    import mlflow.sklearn
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowDataSet
    from pipelinex_mlflow.tracking import RunRef, set_current_run

    model = _model()
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(f"bench-models-{time.time()}")

    def ours() -> None:
        run = RunRef(uri, client.create_run(experiment_id).info.run_id)
        set_current_run(run)
        MLflowDataSet(
            dataset="model",
            flavor="sklearn",
            dataset_name="regressor",
            registered_model_name="bench-ours",
            alias="champion",
        ).save(model)
        set_current_run(None)
        client.set_terminated(run.run_id)

    def mlflows_own() -> None:
        # kedro-mlflow sets the process-wide URI once and logs in the active run.
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run(experiment_id=experiment_id):
            info = mlflow.sklearn.log_model(
                model, name="regressor", registered_model_name="bench-mlflow"
            )
        client.set_registered_model_alias(
            "bench-mlflow", "champion", str(info.registered_model_version)
        )

    def load_ours() -> None:
        MLflowDataSet(
            dataset="model",
            flavor="sklearn",
            model_uri="models:/bench-ours@champion",
            loading_tracking_uri=uri,
        ).load()

    def load_mlflows_own() -> None:
        mlflow.set_tracking_uri(uri)
        mlflow.sklearn.load_model("models:/bench-mlflow@champion")

    ours()  # warm up both: imports and the first client
    mlflows_own()
    return [
        (
            label,
            "log + register + alias: `MLflowDataSet(dataset='model')`",
            _median_s(ours, repeat),
        ),
        (
            label,
            "the same: `mlflow.sklearn.log_model` (kedro-mlflow)",
            _median_s(mlflows_own, repeat),
        ),
        (
            label,
            "load `models:/<name>@champion`: `MLflowDataSet`",
            _median_s(load_ours, repeat),
        ),
        (
            label,
            "the same: `mlflow.sklearn.load_model`",
            _median_s(load_mlflows_own, repeat),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="also measure over this tracking server")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # MLflow's default artifact root of SQLite runs: ./mlruns
        rows = _rows("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args.repeat)
        if args.server:
            rows += _rows("HTTP", args.server, args.repeat)
    print("| store | operation | median s |")
    print("|---|---|---|")
    for label, operation, seconds in rows:
        print(f"| {label} | {operation} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
