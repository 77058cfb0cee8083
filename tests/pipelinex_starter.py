"""PipelineX's own starter project (Minyus/kedro-starters-sklearn), as a migrating user has it.

The ``sklearn-mlflow-iris`` starter brought to Kedro 1.7 with only the edits Kedro
itself requires, and ``pipelinex.`` replaced by ``pipelinex_mlflow.``, in two
versions of its MLflow configuration:

- ``"2023"``: the recommended hooks tuple of the starter's ``hooks.py``, with
  ``MLflowDataSet`` catalog entries (``pkl``, ``csv``, ``m``) as PipelineX's
  documentation shows them;
- ``"2021"``: the ``mlflow_config.py`` of the 2021 starters: every hook given
  ``enable_mlflow=True``, and an ``mlflow_catalog`` with ``params:`` entries
  beside a catalog that writes the model and predictions to ``data/``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Literal

from tests.kedro_project import write_skeleton

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "iris_starter"
EXPERIMENT = "experiment_001"
Variant = Literal["2021", "2023"]

# The starter's nodes.py, unchanged.
_NODES = """
import logging
from typing import List

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score


logger = logging.getLogger(__name__)


def init_model():
    return LogisticRegression(
        C=1.23456,
        max_iter=987,
        random_state=42,
    )


def train_model(model, df: pd.DataFrame, cols_features: List[str], col_target: str):
    model.fit(df[cols_features], df[col_target])
    return model


def run_inference(model, df: pd.DataFrame, cols_features: List[str]):
    df["pred_proba"] = model.predict_proba(df[cols_features])[:, 1]
    return df


def evaluate_model(model, df: pd.DataFrame, cols_features: List[str], col_target: str):
    y_pred = model.predict(df[cols_features])
    score = float(f1_score(df[col_target], y_pred))
    logger.info("F1 score: {:.3f}".format(score))
    return score
"""

# The starter's pipeline.py and pipeline_registry.py, in one module.
_REGISTRY = """
from kedro.pipeline import Pipeline, node, pipeline

from {package}.nodes import init_model, train_model, evaluate_model, run_inference


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(func=init_model, inputs=None, outputs="init_model"),
            node(
                func=train_model,
                inputs=["init_model", "train_df", "params:features", "params:target"],
                outputs="model",
            ),
            node(
                func=evaluate_model,
                inputs=["model", "train_df", "params:features", "params:target"],
                outputs="score",
            ),
            node(
                func=run_inference,
                inputs=["model", "test_df", "params:features"],
                outputs="pred_df",
            ),
        ]
    )


def register_pipelines():
    return {{"__default__": create_pipeline()}}
"""

# hooks.py of the starter (2023), pipelinex. -> pipelinex_mlflow.
_HOOKS_2023 = """
import pipelinex_mlflow

hooks = (
    pipelinex_mlflow.MLflowBasicLoggerHook(
        uri="sqlite:///mlruns/sqlite.db",
        experiment_name="experiment_001",
        artifact_location="./mlruns/experiment_001",
        offset_hours=0,
    ),
    pipelinex_mlflow.MLflowCatalogLoggerHook(
        auto=True,
    ),
    pipelinex_mlflow.MLflowArtifactsLoggerHook(
        filepaths_before_pipeline_run=["conf/base/parameters.yml"],
        filepaths_after_pipeline_run=[
            "info.log",
            "errors.log",
        ],
    ),
    pipelinex_mlflow.MLflowEnvVarsLoggerHook(
        param_env_vars=["HOSTNAME"],
        metric_env_vars=[],
    ),
    pipelinex_mlflow.MLflowTimeLoggerHook(),
)
"""

# mlflow_config.py of the 2021 starters, pipelinex. -> pipelinex_mlflow.; its
# AddTransformersHook is gone with Kedro 0.17's transformers.
_HOOKS_2021 = """
import pipelinex_mlflow

hooks = (
    pipelinex_mlflow.MLflowBasicLoggerHook(
        enable_mlflow=True,  # Enable configuring and logging to MLflow
        uri="sqlite:///mlruns/sqlite.db",
        experiment_name="experiment_001",
        artifact_location="./mlruns/experiment_001",
        offset_hours=0,  # Specify the offset hour (e.g. 0 for UTC/GMT +00:00) to log in MLflow
    ),  # Configure and log duration time for the pipeline
    pipelinex_mlflow.MLflowCatalogLoggerHook(
        enable_mlflow=True,  # Enable logging to MLflow
        mlflow_catalog={
            "params:features": "p",
            "params:target": "p",
            "model": "pkl",
            "score": "m",
            "pred_df": "csv",
        },
    ),
    pipelinex_mlflow.MLflowArtifactsLoggerHook(
        enable_mlflow=True,  # Enable logging to MLflow
        filepaths_before_pipeline_run=[
            "conf/base/parameters.yml"
        ],  # Optionally specify the file paths to log before the pipeline runs
        filepaths_after_pipeline_run=[],  # Optionally specify the file paths to log after the pipeline runs
    ),
    pipelinex_mlflow.MLflowEnvVarsLoggerHook(
        enable_mlflow=True,  # Enable logging to MLflow
        param_env_vars=[
            "HOSTNAME"
        ],  # Environment variables to log to MLflow as parameters
        metric_env_vars=[],  # Environment variables to log to MLflow as metrics
    ),
    pipelinex_mlflow.MLflowTimeLoggerHook(
        enable_mlflow=True,  # Enable logging to MLflow
    ),  # Log duration time to run each node (task)
)
"""

_SETTINGS = """
from {package}.hooks import hooks

HOOKS = hooks
"""

_PARAMETERS = """
features:
  - sepal_length
target: species
"""

_CATALOG_COMMON = """
train_df:
  type: pandas.CSVDataset
  filepath: data/01_raw/train.csv

test_df:
  type: pandas.CSVDataset
  filepath: data/01_raw/test.csv
"""

# PipelineX's documented MLflowDataSet entries.
_CATALOG_2023 = """
model:
  type: pipelinex_mlflow.MLflowDataSet
  dataset: pkl

pred_df:
  type: pipelinex_mlflow.MLflowDataSet
  dataset: csv

score:
  type: pipelinex_mlflow.MLflowDataSet
  dataset: m
"""

# The 2021 starter's catalog: mlflow_catalog logs beside it.
_CATALOG_2021 = """
model:
  type: pickle.PickleDataset
  filepath: data/06_models/model.pkl

pred_df:
  type: pandas.CSVDataset
  filepath: data/07_model_output/pred.csv
  save_args: {"float_format": "%.16e"}
"""


def generate(folder: Path, variant: Variant) -> Path:
    """Write the starter project into ``folder`` (created) and return it."""
    package = write_skeleton(folder, PACKAGE)
    (package / "nodes.py").write_text(_NODES)
    (package / "pipeline_registry.py").write_text(_REGISTRY.format(package=PACKAGE))
    (package / "hooks.py").write_text(_HOOKS_2023 if variant == "2023" else _HOOKS_2021)
    (package / "settings.py").write_text(_SETTINGS.format(package=PACKAGE))
    conf = folder / "conf" / "base"
    (conf / "parameters.yml").write_text(_PARAMETERS)
    (conf / "catalog.yml").write_text(
        _CATALOG_COMMON + (_CATALOG_2023 if variant == "2023" else _CATALOG_2021)
    )
    raw = folder / "data" / "01_raw"
    raw.mkdir(parents=True)
    (raw / "train.csv").write_text(_iris_like(seed=1))
    (raw / "test.csv").write_text(_iris_like(seed=2))
    return folder


def _iris_like(seed: int, rows: int = 50) -> str:
    """Iris-shaped rows, setosa (0) and versicolor (1), as the starter's data is."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    for i in range(rows):
        species = i % 2
        base = (5.0, 3.4, 1.5, 0.2) if species == 0 else (5.9, 2.8, 4.3, 1.3)
        values = [round(b + rng.uniform(-0.4, 0.4), 1) for b in base]
        lines.append(",".join(map(str, [*values, species])))
    return "\n".join(lines) + "\n"
