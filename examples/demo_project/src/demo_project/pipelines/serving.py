"""Training and inference pipelines; the inference one is logged as one MLflow model.

Training fits a feature scaler and a scikit-learn ridge model on the training
split; inference scales new rows with that scaler and predicts. With
``pipeline_ml_factory`` (in ``pipeline_registry.py``), each training run logs the
inference pipeline, with the fitted scaler, the fitted model and the
``params:serving`` values, as the MLflow model ``demo-inference``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.pipeline import Pipeline, node
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from demo_project.pipelines.regression import create_data_pipeline


def fit_scaler(train_df: pd.DataFrame, model: dict[str, Any]) -> StandardScaler:
    return StandardScaler().fit(train_df[model["features"]])


def fit_estimator(
    train_df: pd.DataFrame, feature_scaler: StandardScaler, model: dict[str, Any]
) -> Ridge:
    features = feature_scaler.transform(train_df[model["features"]])
    return Ridge(alpha=model["ridge_alpha"]).fit(features, train_df["y"])


def scale_features(
    instances: pd.DataFrame, feature_scaler: StandardScaler, model: dict[str, Any]
) -> pd.DataFrame:
    scaled = feature_scaler.transform(instances[model["features"]])
    return pd.DataFrame(scaled, columns=model["features"], index=instances.index)


def predict_target(
    estimator: Ridge, scaled_instances: pd.DataFrame, serving: dict[str, Any]
) -> pd.DataFrame:
    """``serving.round_to`` can be changed per request: ``params={"serving.round_to": 1}``."""
    predicted = estimator.predict(scaled_instances.to_numpy())
    return pd.DataFrame({"y_pred": predicted.round(serving["round_to"])})


def evaluate_pipeline_model(
    estimator: Ridge,
    feature_scaler: StandardScaler,
    test_features: pd.DataFrame,
    model: dict[str, Any],
) -> dict[str, float]:
    """Metrics downstream of the model's inputs: linked to the model's MLflow page."""
    x = feature_scaler.transform(test_features[model["features"]])
    return {"r2": float(estimator.score(x, test_features["y"]))}


def create_training_pipeline() -> Pipeline:
    # The regression pipeline's first two nodes: in a sum they run once.
    return create_data_pipeline() + Pipeline(
        [
            node(fit_scaler, ["train_df", "params:model"], "feature_scaler"),
            node(
                fit_estimator,
                ["train_df", "feature_scaler", "params:model"],
                "estimator",
            ),
            node(
                evaluate_pipeline_model,
                ["estimator", "feature_scaler", "test_features", "params:model"],
                "pipeline_model_metrics",
            ),
        ]
    )


def create_inference_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                scale_features,
                ["instances", "feature_scaler", "params:model"],
                "scaled_instances",
            ),
            node(
                predict_target,
                ["estimator", "scaled_instances", "params:serving"],
                "predictions",
            ),
        ]
    )
