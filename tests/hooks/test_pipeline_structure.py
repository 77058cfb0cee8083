"""pipeline.json matches the pipeline that ran; pipeline.svg pictures its DAG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from kedro.io import DataCatalog
from kedro_datasets.json import JSONDataset

from pipelinex_mlflow import MLflowBasicLoggerHook
from pipelinex_mlflow.features.pipeline_structure.dag_picture import MAX_NODES, dag_svg
from tests.hooks._pipeline import EXPERIMENT, inputs, only_run, pipeline, run

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def _artifact(client: MlflowClient, run_id: str, path: str, folder: Path) -> str:
    return Path(client.download_artifacts(run_id, path, str(folder))).read_text("utf-8")


def test_pipeline_json_lists_the_nodes_and_datasets_that_ran(
    client: MlflowClient, tmp_path: Path
) -> None:
    datasets = inputs(
        combined=JSONDataset(filepath=str(tmp_path / "out" / "combined.json"))
    )
    run((MLflowBasicLoggerHook(experiment_name=EXPERIMENT),), datasets=datasets)
    logged = only_run(client)
    structure = json.loads(
        _artifact(client, logged.info.run_id, "pipeline.json", tmp_path)
    )
    expected = pipeline()
    assert [n["name"] for n in structure["nodes"]] == [n.name for n in expected.nodes]
    combine = next(n for n in structure["nodes"] if n["name"] == "combine")
    assert combine["inputs"] == ["doubled", "squared"]
    assert combine["outputs"] == ["combined"]
    assert combine["func_name"] == "combine"
    assert combine["module"] == "tests.hooks._pipeline"
    source = combine["source"]
    assert source["filepath"].endswith("tests/hooks/_pipeline.py")
    defined = (Path(__file__).parent / "_pipeline.py").read_text().splitlines()
    assert defined[source["line_start"] - 1].startswith("def combine(")
    assert source["line_end"] == source["line_start"] + 1
    assert structure["datasets"]["combined"]["type"] == "json.JSONDataset"
    assert structure["datasets"]["combined"]["filepath"].endswith("out/combined.json")
    assert structure["parameters"] == ["params:factor", "params:model"]
    assert structure["inputs"] == ["params:factor", "params:model", "x"]
    assert structure["outputs"] == ["combined"]


def test_the_dag_picture_is_an_svg_with_a_box_per_node(
    client: MlflowClient, tmp_path: Path
) -> None:
    run((MLflowBasicLoggerHook(experiment_name=EXPERIMENT),))
    svg = _artifact(client, only_run(client).info.run_id, "pipeline.svg", tmp_path)
    root = ET.fromstring(svg.encode())  # noqa: S314 - our own file
    assert root.tag.endswith("svg")
    for name in ("make", "double", "square", "combine"):
        assert f"<!-- {name} -->" in svg


def test_factory_patterns_are_named(client: MlflowClient, tmp_path: Path) -> None:
    catalog = DataCatalog.from_config(
        {
            "{name}_json": {
                "type": "json.JSONDataset",
                "filepath": str(tmp_path / "{name}.json"),
            }
        }
    )
    from kedro.pipeline import Pipeline, node

    from pipelinex_mlflow.features.pipeline_structure.run_feature import (
        pipeline_structure,
    )

    def same(x: int) -> int:
        return x

    structure = pipeline_structure(
        Pipeline([node(same, "a_json", "b_json", name="copy")]), catalog, tmp_path
    )
    assert structure["datasets"]["a_json"]["factory"] == "{name}_json"
    assert structure["datasets"]["a_json"]["filepath"] == str(tmp_path / "a.json")


def test_no_picture_for_a_huge_pipeline() -> None:
    layers = [[f"n{i}" for i in range(MAX_NODES + 1)]]
    assert dag_svg(layers, []) is None


def test_structure_can_be_switched_off(client: MlflowClient) -> None:
    run(
        (
            MLflowBasicLoggerHook(
                experiment_name=EXPERIMENT, log_pipeline_structure=False
            ),
        )
    )
    paths = [a.path for a in client.list_artifacts(only_run(client).info.run_id)]
    assert "pipeline.json" not in paths
    assert "pipeline.svg" not in paths
