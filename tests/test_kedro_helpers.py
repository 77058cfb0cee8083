"""Contract tests: the private Kedro dataset attributes the package relies on.

``pipelinex_mlflow.kedro_helpers`` reads ``_filepath``/``_path``, ``_protocol``,
``_version``, ``_get_versioned_path`` and ``_get_load_path`` (through
``pipelinex_mlflow.compat.kedro_private``) to find the file a dataset wrote. One test per supported dataset type, so a kedro-datasets release
that changes them fails a test that names the type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kedro.io import AbstractDataset, DataCatalog, MemoryDataset, Version
from kedro.pipeline import Pipeline, node

from pipelinex_mlflow.io.artifact_formats import ARTIFACT_FORMATS, MATPLOTLIB_TYPE
from pipelinex_mlflow.kedro_helpers import (
    dataset_base_path,
    dataset_config,
    dataset_local_path,
    is_parameter,
    parameter_key,
    project_root,
    relocated_dataset,
    used_parameters,
)

#: Every dataset type a file code of MLflowDataSet writes or reads with.
SUPPORTED_TYPES = sorted(
    {fmt.dataset_type for fmt in ARTIFACT_FORMATS.values()}
    | {fmt.load_type for fmt in ARTIFACT_FORMATS.values() if fmt.load_type}
    | {MATPLOTLIB_TYPE, "partitions.PartitionedDataset"}
)


def _build(dataset_type: str, path: Path, **extra: Any) -> AbstractDataset[Any, Any]:
    config: dict[str, Any] = {"type": dataset_type, **extra}
    if dataset_type == "partitions.PartitionedDataset":
        config.update(path=str(path), dataset="json.JSONDataset")
    else:
        config["filepath"] = str(path)
    return AbstractDataset.from_config("contract", config)


@pytest.mark.parametrize("dataset_type", SUPPORTED_TYPES)
def test_the_local_path_of_each_supported_type(
    dataset_type: str, tmp_path: Path
) -> None:
    path = tmp_path / "data" / "file.bin"
    dataset = _build(dataset_type, path)
    assert dataset_base_path(dataset) == path
    assert dataset_local_path(dataset) == path


@pytest.mark.parametrize(
    "dataset_type", [t for t in SUPPORTED_TYPES if t != "partitions.PartitionedDataset"]
)
def test_the_config_of_each_supported_type_rebuilds_it_elsewhere(
    dataset_type: str, tmp_path: Path
) -> None:
    dataset = _build(dataset_type, tmp_path / "a" / "file.bin")
    config = dataset_config(dataset)
    moved = relocated_dataset(config, str(tmp_path / "b" / "file.bin"), "moved")
    assert type(moved) is type(dataset)
    assert dataset_base_path(moved) == tmp_path / "b" / "file.bin"


def test_a_versioned_dataset_points_at_the_version_just_saved(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    dataset = _build("json.JSONDataset", path, versioned=True)
    assert dataset_local_path(dataset) is None  # nothing saved yet
    dataset.save({"a": 1})
    saved = dataset_local_path(dataset)
    assert saved is not None
    assert saved.name == "model.json"
    assert saved.parent.parent == path
    assert saved.exists()
    assert dataset_base_path(dataset) == path


def test_a_relocated_versioned_dataset_reads_one_plain_file(tmp_path: Path) -> None:
    dataset = _build("json.JSONDataset", tmp_path / "x.json", versioned=True)
    plain = tmp_path / "download" / "x.json"
    plain.parent.mkdir()
    plain.write_text('{"b": 2}')
    moved = relocated_dataset(dataset_config(dataset), str(plain), "moved")
    assert moved.load() == {"b": 2}


def test_credentials_are_carried_into_the_config(tmp_path: Path) -> None:
    from kedro_datasets.json import JSONDataset

    dataset = JSONDataset(
        filepath=str(tmp_path / "x.json"),
        version=Version(None, None),
        credentials={"token": "t0k"},
    )
    # Kedro's to_config swaps credentials for a reference; they come back resolved.
    assert dataset_config(dataset)["credentials"] == {"token": "t0k"}


def test_remote_and_memory_datasets_have_no_local_path() -> None:
    assert dataset_base_path(MemoryDataset(1)) is None
    remote = AbstractDataset.from_config(
        "remote", {"type": "json.JSONDataset", "filepath": "memory://bucket/x.json"}
    )
    assert dataset_base_path(remote) is None


def test_nested_credentials_are_carried_into_the_config(tmp_path: Path) -> None:
    dataset = AbstractDataset.from_config(
        "parts",
        {
            "type": "partitions.PartitionedDataset",
            "path": str(tmp_path / "parts"),
            "dataset": {"type": "text.TextDataset", "credentials": {"token": "t"}},
        },
    )
    config = dataset_config(dataset)
    assert config["dataset"]["credentials"] == {"token": "t"}
    moved = relocated_dataset(config, str(tmp_path / "elsewhere"), "moved")
    assert dataset_base_path(moved) == tmp_path / "elsewhere"


def test_a_versioned_dataset_falls_back_to_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    _build("json.JSONDataset", path, versioned=True).save({"a": 1})
    later = _build("json.JSONDataset", path, versioned=True)  # a new save version
    found = dataset_local_path(later)
    assert found is not None
    assert found.exists()
    assert found.parent.parent == path


class TestParameters:
    @pytest.mark.parametrize(
        ("name", "is_param", "key"),
        [
            ("params:model.depth", True, "model.depth"),
            ("parameters", True, ""),
            ("parameters_x", False, "parameters_x"),
            ("model", False, "model"),
        ],
    )
    def test_the_parameter_rule(self, name: str, is_param: bool, key: str) -> None:
        assert is_parameter(name) is is_param
        assert parameter_key(name) == key

    def test_used_parameters_are_keyed_by_path(self) -> None:
        pipeline = Pipeline(
            [node(lambda a, b, c: a, ["params:lr", "parameters", "x"], "y")]
        )
        catalog = DataCatalog(
            {
                "params:lr": MemoryDataset(0.1),
                "parameters": MemoryDataset({"lr": 0.1, "depth": 3}),
                "x": MemoryDataset(1),
            }
        )
        assert used_parameters(pipeline, catalog) == {"lr": 0.1, "depth": 3}


def test_project_root_is_the_project_else_the_current_folder(tmp_path: Path) -> None:
    assert project_root(str(tmp_path)) == tmp_path
    assert project_root(None) == Path.cwd()
