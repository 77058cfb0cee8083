"""A ridge regression on generated data: no downloads, no MLflow code in any node."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from kedro.pipeline import Pipeline, node
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline as SklearnPipeline
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def make_data(data: dict[str, Any]) -> pd.DataFrame:
    rng = np.random.default_rng(data["seed"])
    x = rng.normal(size=(data["n_rows"], data["n_features"]))
    weights = np.arange(1, data["n_features"] + 1, dtype=float)
    y = x @ weights + rng.normal(scale=data["noise"], size=data["n_rows"])
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(data["n_features"])])
    frame["y"] = y
    return frame


def split(
    frame: pd.DataFrame, split: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_test = int(len(frame) * split["test_fraction"])
    return frame.iloc[n_test:], frame.iloc[:n_test]


def train(
    train_df: pd.DataFrame, model: dict[str, Any]
) -> tuple[dict[str, Any], str, list[float]]:
    x = train_df[model["features"]].to_numpy()
    y = train_df["y"].to_numpy()
    # Gradient descent, so there is a loss history to log.
    weights = np.zeros(x.shape[1])
    losses = []
    for _ in range(50):
        residual = x @ weights - y
        losses.append(float(np.mean(residual**2)))
        weights -= 0.1 * (x.T @ residual / len(y) + model["ridge_alpha"] * weights)
    fitted = {"features": model["features"], "weights": weights.tolist()}
    return fitted, f"ridge(alpha={model['ridge_alpha']})", losses


def predict(fitted: dict[str, Any], test_df: pd.DataFrame) -> pd.DataFrame:
    x = test_df[fitted["features"]].to_numpy()
    return pd.DataFrame({"y": test_df["y"], "y_pred": x @ np.array(fitted["weights"])})


def evaluate(pred_df: pd.DataFrame) -> tuple[float, float, float, dict[str, Any]]:
    error = pred_df["y_pred"] - pred_df["y"]
    rmse = float(np.sqrt(np.mean(error**2)))
    mae = float(np.mean(np.abs(error)))
    r2 = float(1 - np.sum(error**2) / np.sum((pred_df["y"] - pred_df["y"].mean()) ** 2))
    report = {"n_test": len(pred_df), "r2": r2, "target": "y", "columns": list(pred_df)}
    return r2, rmse, mae, report


def describe(
    fitted: dict[str, Any], pred_df: pd.DataFrame
) -> tuple[dict[str, float], go.Figure]:
    coefficients = dict(zip(fitted["features"], fitted["weights"], strict=True))
    figure = go.Figure(go.Scatter(x=pred_df["y"], y=pred_df["y_pred"], mode="markers"))
    figure.update_layout(
        title="Predicted vs actual", xaxis_title="y", yaxis_title="y_pred"
    )
    return coefficients, figure


def train_regressor(train_df: pd.DataFrame, model: dict[str, Any]) -> SklearnPipeline:
    """The same model in scikit-learn: logged, registered and aliased as an MLflow model."""
    regressor = make_pipeline(StandardScaler(), Ridge(alpha=model["ridge_alpha"]))
    return regressor.fit(train_df[model["features"]], train_df["y"])


def evaluate_regressor(
    regressor: SklearnPipeline, test_features: pd.DataFrame, model: dict[str, Any]
) -> dict[str, float]:
    """Metrics of the registered model; MLflow shows them on the model's page."""
    x, y = test_features[model["features"]], test_features["y"]
    error = regressor.predict(x) - y
    return {
        "r2": float(regressor.score(x, y)),
        "rmse": float(np.sqrt(np.mean(error**2))),
    }


def create_data_pipeline() -> Pipeline:
    """Generated data, split in two: the start of the regression and the training."""
    return Pipeline(
        [
            node(make_data, "params:data", "frame", name="make_data"),
            node(
                split,
                ["frame", "params:split"],
                ["train_df", "test_features"],
                name="split",
            ),
        ]
    )


def create_pipeline() -> Pipeline:
    return create_data_pipeline() + Pipeline(
        [
            node(
                train,
                ["train_df", "params:model"],
                ["model", "model_name", "loss_history"],
                name="train",
            ),
            node(predict, ["model", "test_features"], "pred_df", name="predict"),
            node(
                evaluate,
                "pred_df",
                ["score", "rmse_error", "mae_error", "report"],
                name="evaluate",
            ),
            node(
                describe,
                ["model", "pred_df"],
                ["coefficients", "residual_plot"],
                name="describe",
            ),
            node(
                train_regressor,
                ["train_df", "params:model"],
                "regressor",
                name="train_regressor",
            ),
            node(
                evaluate_regressor,
                ["regressor", "test_features", "params:model"],
                "regressor_metrics",
                name="evaluate_regressor",
            ),
        ]
    )
