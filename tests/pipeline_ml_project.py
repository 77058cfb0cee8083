"""A small real Kedro project whose training run logs its inference pipeline as a model.

Training (``make_data`` -> ``split`` -> ``fit_scaler`` -> ``scale_train`` ->
``fit``) persists ``scaler`` (a pickle file) and ``weights`` (an
``MLflowDataset`` pickle artifact). Inference scales ``instances`` with the
scaler and predicts ``y_pred = (scaled @ weights) * serving.scale +
serving.offset``. A second model, ``explained``, has two outputs.

Pipelines: ``training`` (``pipeline_ml_factory`` of model ``model``, registered
as ``pml-model`` with alias ``champion``), ``explained`` (the two-output model),
``inference`` (the plain inference pipeline, which saves ``predictions`` to a
CSV file), and ``__default__`` (training).
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from tests.kedro_project import write_skeleton

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "pml_project"
EXPERIMENT = "pml"
REGISTERED = "pml-model"
FEATURES = ["a", "b"]

_NODES = '''
"""Nodes: plain pandas and numpy, no MLflow."""

import numpy as np
import pandas as pd


def make_data(data):
    rng = np.random.default_rng(data["seed"])
    frame = pd.DataFrame(rng.normal(size=(data["rows"], 2)), columns=["a", "b"])
    frame["y"] = 3 * frame["a"] - 2 * frame["b"] + 1
    return frame, frame[["a", "b"]].head(8)


def fit_scaler(frame):
    features = frame[["a", "b"]]
    return {"mean": features.mean().to_dict(), "std": features.std().to_dict()}


def scale(frame, scaler):
    scaled = frame[["a", "b"]].copy()
    for column in scaled:
        scaled[column] = (scaled[column] - scaler["mean"][column]) / scaler["std"][column]
    return scaled


def fit(scaled, frame):
    x = np.column_stack([scaled.to_numpy(), np.ones(len(scaled))])
    weights, *_ = np.linalg.lstsq(x, frame["y"].to_numpy(), rcond=None)
    return weights.tolist()


def predict(weights, scaled, serving):
    x = np.column_stack([scaled.to_numpy(), np.ones(len(scaled))])
    y = x @ np.array(weights)
    return pd.DataFrame({"y_pred": y * serving["scale"] + serving["offset"]})


def explain(weights, scaled):
    return pd.DataFrame(
        {"a_part": scaled["a"] * weights[0], "b_part": scaled["b"] * weights[1]}
    )
'''

_REGISTRY = """
from kedro.pipeline import Pipeline, node

from pipelinex_mlflow import pipeline_ml_factory
from {package}.nodes import explain, fit, fit_scaler, make_data, predict, scale


def training_pipeline():
    return Pipeline(
        [
            node(make_data, "params:data", ["frame", "sample"], name="make_data"),
            node(fit_scaler, "frame", "scaler", name="fit_scaler"),
            node(scale, ["frame", "scaler"], "scaled_train", name="scale_train"),
            node(fit, ["scaled_train", "frame"], "weights", name="fit"),
        ]
    )


def inference_pipeline(output="predictions"):
    return Pipeline(
        [
            node(scale, ["instances", "scaler"], "scaled", name="scale"),
            node(predict, ["weights", "scaled", "params:serving"], output, name="predict"),
        ]
    )


def register_pipelines():
    training = pipeline_ml_factory(
        training=training_pipeline(),
        inference=inference_pipeline(),
        input_name="instances",
        registered_model_name="{registered}",
        alias="champion",
        tags={{"made_by": "pml_project"}},
    )
    explained = pipeline_ml_factory(
        training=training_pipeline(),
        inference=inference_pipeline("y")
        + Pipeline([node(explain, ["weights", "scaled"], "parts", name="explain")]),
        input_name="instances",
        model_name="explained",
    )
    return {{
        "__default__": training,
        "training": training,
        "explained": explained,
        "inference": inference_pipeline(),
    }}
"""

_SETTINGS = """
from pipelinex_mlflow import MLflowBasicLoggerHook

HOOKS = (MLflowBasicLoggerHook(experiment_name="{experiment}"),)
"""

_CATALOG = """
scaler:
  type: pickle.PickleDataset
  filepath: data/scaler.pkl
weights:
  type: pipelinex_mlflow.MLflowDataset
  dataset: pkl
instances:
  type: pandas.CSVDataset
  filepath: data/instances.csv
sample:
  type: pandas.CSVDataset
  filepath: data/instances.csv
predictions:
  type: pandas.CSVDataset
  filepath: data/predictions.csv
"""


def generate(
    folder: Path,
    catalog: str = _CATALOG,
    registry: str = _REGISTRY,
    settings: str = _SETTINGS,
) -> Path:
    """Write the project into ``folder`` (created) and return it."""
    package = write_skeleton(folder, PACKAGE)
    (package / "nodes.py").write_text(_NODES)
    (package / "pipeline_registry.py").write_text(
        registry.format(package=PACKAGE, registered=REGISTERED)
    )
    (package / "settings.py").write_text(settings.format(experiment=EXPERIMENT))
    (folder / "conf" / "base" / "parameters.yml").write_text(
        textwrap.dedent(
            """
            data:
              seed: 7
              rows: 64
            serving:
              scale: 1.0
              offset: 0.0
            """
        )
    )
    (folder / "conf" / "base" / "catalog.yml").write_text(catalog)
    return folder


CATALOG = _CATALOG
REGISTRY = _REGISTRY
