"""Parameters read in every way Kedro allows, side by side in one pipeline.

The project ``gauges`` has two pipelines:

- ``parts``: one node reads ``params:model``, another ``params:model.alpha``
  (and ``params:model.limits.low``): the same values reached two ways, to be
  logged once each;
- ``whole``: a node reads all of ``parameters``, where a nested key and a key
  holding a dot hold *different* values under one flattened name
  (``window: {size: 4}`` and ``"window.size": 5``): both must be kept, under
  distinct keys, with a warning naming them; a node reads
  ``params:model.alpha`` next to it; and keys YAML allows that are no plain
  identifiers (numbers, non-ASCII, ``/``, ``%``) and empty or null values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.conformance.projects import (
    copy_store,
    pipeline_package,
    track,
    warnings_in,
    write_project,
)

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "gauges"

SETTINGS = """
    from pipelinex_mlflow import MLflowBasicLoggerHook

    HOOKS = (MLflowBasicLoggerHook(),)
"""

REGISTRY = """
    from kedro.pipeline import Pipeline

    from gauges.pipelines.readings.pipeline import create_pipelines


    def register_pipelines() -> dict[str, Pipeline]:
        parts, whole = create_pipelines()
        return {"parts": parts, "whole": whole, "__default__": parts + whole}
"""

READINGS = pipeline_package(
    "readings",
    """
    def describe(model: dict) -> str:
        return f"alpha={model['alpha']} low={model['limits']['low']}"


    def double(alpha: float, low: int) -> float:
        return alpha * 2 + low


    def count(parameters: dict) -> int:
        return len(parameters)
    """,
    """
    from kedro.pipeline import Pipeline, node

    from .nodes import count, describe, double


    def create_pipelines() -> tuple[Pipeline, Pipeline]:
        parts = Pipeline(
            [
                node(describe, "params:model", "description", name="describe"),
                node(
                    double,
                    ["params:model.alpha", "params:model.limits.low"],
                    "doubled",
                    name="double",
                ),
            ]
        )
        whole = Pipeline(
            [
                node(count, "parameters", "n_parameters", name="count"),
                node(
                    double,
                    ["params:model.alpha", "params:model.limits.low"],
                    "doubled_again",
                    name="double_again",
                ),
            ]
        )
        return parts, whole


    def create_pipeline(**kwargs) -> Pipeline:
        parts, whole = create_pipelines()
        return parts + whole
    """,
)

CATALOG = """
    description:
      type: pipelinex_mlflow.MLflowDataset
      dataset: p
    doubled:
      type: pipelinex_mlflow.MLflowDataset
      dataset: m
    doubled_again:
      type: pipelinex_mlflow.MLflowDataset
      dataset: m
    n_parameters:
      type: pipelinex_mlflow.MLflowDataset
      dataset: m
"""

PARAMETERS = """
    model:
      alpha: 0.5
      limits:
        low: 1
        high: 9
    window:
      size: 4
    "window.size": 5
    thresholds:
      1: 0.5
      2: 0.7
    empty: {}
    nothing: null
    items: []
    "température": 21.5
    "a/b": x
    "ratio (%)": 12
"""


def write_gauges(folder: Path, migrated_db: Path) -> Path:
    project = write_project(
        folder,
        PACKAGE,
        {
            "src/{package}/settings.py": SETTINGS,
            "src/{package}/pipeline_registry.py": REGISTRY,
            "src/{package}/pipelines/__init__.py": "",
            **READINGS,
            "conf/base/catalog.yml": CATALOG,
            "conf/base/parameters.yml": PARAMETERS,
        },
    )
    copy_store(migrated_db, project)
    return project


def test_params_x_and_params_x_y_log_each_value_once(
    tmp_path: Path, migrated_db: Path
) -> None:
    project = write_gauges(tmp_path / "gauges", migrated_db)
    tracked = track(project, "--pipelines", "parts")
    # The parameters as the nodes read them: the whole params:model dict, which
    # holds params:model.alpha and params:model.limits.low.
    assert tracked.params == {
        "model.alpha": "0.5",
        "model.limits.low": "1",
        "model.limits.high": "9",
        "description": "alpha=0.5 low=1",
    }, tracked.output
    assert tracked.metrics == {"doubled": 2.0}
    tracked.metric_once("doubled")
    assert warnings_in(tracked.result) == [], tracked.output


def test_different_values_under_one_flat_key_are_both_kept(
    tmp_path: Path, migrated_db: Path
) -> None:
    project = write_gauges(tmp_path / "gauges", migrated_db)
    tracked = track(project, "--pipelines", "whole")
    params = tracked.params
    window = {key: value for key, value in params.items() if key.startswith("window")}
    # Both values, one under the plain key, the other under a distinct one.
    assert sorted(window.values()) == ["4", "5"], tracked.output
    assert "window.size" in window, tracked.output
    # A key MLflow refuses ("%", parentheses) is logged under a key it takes.
    (ratio,) = (k for k, v in params.items() if v == "12")
    assert ratio.startswith("ratio"), tracked.output
    assert {k: v for k, v in params.items() if k not in {*window, ratio}} == {
        "model.alpha": "0.5",
        "model.limits.low": "1",
        "model.limits.high": "9",
        "thresholds.1": "0.5",
        "thresholds.2": "0.7",
        "empty": "{}",
        "nothing": "None",
        "items": "[]",
        "température": "21.5",
        "a/b": "x",
    }, tracked.output
    assert tracked.metrics == {"n_parameters": 10.0, "doubled_again": 2.0}
    warnings = warnings_in(tracked.result)
    assert len(warnings) == 1, tracked.output
    assert "window.size" in warnings[0], tracked.output
