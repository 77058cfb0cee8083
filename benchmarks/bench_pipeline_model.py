"""Benchmark, run by hand: an inference pipeline logged as one model, and its predictions.

The inference pipeline scales rows with a fitted ``StandardScaler`` and predicts
with a fitted ``Ridge``; both travel inside the model. Measured:

- ours: what the end of a ``pipeline_ml_factory`` run does (``log_pipeline_model``:
  the example run through the pipeline, signature, code, pinned requirements),
  registered and aliased;
- MLflow's own ``mlflow.pyfunc.log_model`` of the same pickled model with its
  default requirement inference: what kedro-mlflow's hook calls;
- ``predict`` on 5 rows of the loaded model, against the fitted parts called by
  hand: the cost of running a Kedro pipeline per call.

Usage (from the repository root, in the project's virtualenv):

    python benchmarks/bench_pipeline_model.py [--server http://127.0.0.1:5000] [--repeat 3]

Prints a Markdown table of median seconds; the README quotes its results.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from bench_models import _median_s  # run as a script: benchmarks/ is on sys.path

FEATURES = ["x0", "x1", "x2"]


def scale(instances: Any, scaler: Any) -> Any:
    import pandas as pd

    return pd.DataFrame(scaler.transform(instances[FEATURES]), columns=FEATURES)


def predict(estimator: Any, scaled: Any) -> Any:
    import pandas as pd

    return pd.DataFrame({"y_pred": estimator.predict(scaled.to_numpy())})


def _fitted(folder: Path) -> tuple[Any, Any, Any]:
    import numpy as np
    import pandas as pd
    from kedro.io import DataCatalog
    from kedro_datasets.pickle import PickleDataset
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=FEATURES)
    scaler = StandardScaler().fit(x)
    estimator = Ridge().fit(scaler.transform(x), x.sum(axis=1))
    catalog = DataCatalog(
        {
            "scaler": PickleDataset(filepath=str(folder / "scaler.pkl")),
            "estimator": PickleDataset(filepath=str(folder / "estimator.pkl")),
        }
    )
    catalog.save("scaler", scaler)
    catalog.save("estimator", estimator)
    return catalog, scaler, estimator


def _rows(
    label: str, uri: str, folder: Path, repeat: int
) -> list[tuple[str, str, float]]:
    import mlflow
    import pandas as pd
    from kedro.pipeline import Pipeline, node
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow.pipeline_ml import InferenceSpec, ModelOptions
    from pipelinex_mlflow.pipeline_ml.packaging import log_pipeline_model
    from pipelinex_mlflow.pipeline_ml.predictor import InferencePredictor
    from pipelinex_mlflow.tracking import RunLogger, RunRef
    from pipelinex_mlflow.tracking.pyfunc_adapter import KedroPipelineModel

    catalog, scaler, estimator = _fitted(folder)
    example = pd.DataFrame([[0.5, -1.0, 2.0]] * 5, columns=FEATURES)
    inference = Pipeline(
        [
            node(scale, ["instances", "scaler"], "scaled"),
            node(predict, ["estimator", "scaled"], "predictions"),
        ]
    )
    spec = InferenceSpec(
        None,
        inference,
        "instances",
        ModelOptions(
            name="pipeline",
            registered_model_name="bench-pipeline-ours",
            alias="champion",
            input_example=example,
        ),
    )
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(f"bench-pipeline-{time.time()}")

    def ours() -> None:
        run = RunRef(uri, client.create_run(experiment_id).info.run_id)
        log_pipeline_model(spec, catalog, RunLogger(run))
        client.set_terminated(run.run_id)

    def mlflows_own() -> None:
        # kedro-mlflow: a pickled PythonModel, MLflow's requirement inference.
        predictor = InferencePredictor(
            inference,
            input_name="instances",
            artifacts={"scaler": scaler, "estimator": estimator},
            parameters={},
        )
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run(experiment_id=experiment_id):
            info = mlflow.pyfunc.log_model(
                name="pipeline",
                python_model=KedroPipelineModel(predictor),
                input_example=example,
                registered_model_name="bench-pipeline-mlflow",
            )
        client.set_registered_model_alias(
            "bench-pipeline-mlflow", "champion", str(info.registered_model_version)
        )

    ours()  # warm up both: imports and the first client
    mlflows_own()
    rows = [
        (label, "log + register + alias: ours (end of a run)", _median_s(ours, repeat)),
        (
            label,
            "the same: `mlflow.pyfunc.log_model` (kedro-mlflow)",
            _median_s(mlflows_own, repeat),
        ),
    ]
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model("models:/bench-pipeline-ours@champion")
    rows.append(
        (
            label,
            "`predict` on 5 rows, loaded model (median of 20)",
            _median_s(lambda: loaded.predict(example), 20),
        )
    )
    rows.append(
        (
            label,
            "the same, fitted parts called by hand",
            _median_s(lambda: predict(estimator, scale(example, scaler)), 20),
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="also measure over this tracking server")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)  # MLflow's default artifact root of SQLite runs: ./mlruns
        rows = _rows("sqlite", f"sqlite:///{folder / 'bench.db'}", folder, args.repeat)
        if args.server:
            rows += _rows("HTTP", args.server, folder, args.repeat)
    print("| store | operation | median s |")
    print("|---|---|---|")
    for label, operation, seconds in rows:
        print(f"| {label} | {operation} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
