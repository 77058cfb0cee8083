"""A bad MLflowDataSet argument is a DatasetError when the catalog is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kedro.io import DataCatalog, DatasetError

from pipelinex_mlflow import MLflowDataSet


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"dataset_name": 3}, "dataset_name must be a string or None, not int"),
        ({"artifact_path": ["a"]}, "artifact_path must be a string or None, not list"),
        ({"caching": "no"}, "caching must be True or False, not str"),
        ({"file_caching": 0}, "file_caching must be True or False, not int"),
        ({"flatten_separator": ""}, "flatten_separator must be a non-empty string"),
        ({"metadata": "x"}, "metadata must be a dict or None"),
        ({"copy_mode": "clone"}, "Invalid copy_mode 'clone'. Must be one of"),
        ({"long_param_policy": "drop"}, "Invalid long_param_policy 'drop'"),
        ({"max_param_length": 0}, "Invalid max_param_length 0"),
        ({"dataset": 3}, "must be a code string, a dict or a Kedro dataset, not int"),
    ],
)
def test_bad_arguments(arguments: dict[str, Any], match: str) -> None:
    with pytest.raises(DatasetError, match=match):
        MLflowDataSet(**{"dataset": "m", **arguments})


def test_a_bad_uri_type_never_echoes_its_value() -> None:
    secret = {"uri": "http://alice:hunter2@host"}
    with pytest.raises(DatasetError, match="saving_tracking_uri must be") as error:
        MLflowDataSet(dataset="m", saving_tracking_uri=secret, saving_run_id="r")  # type: ignore[arg-type]
    assert "hunter2" not in str(error.value)


def test_catalog_yaml_errors_name_the_entry() -> None:
    with pytest.raises(DatasetError, match=r"(?s)caching must be True or False.*'s'"):
        DataCatalog.from_config(
            {
                "s": {
                    "type": "pipelinex_mlflow.MLflowDataSet",
                    "dataset": "m",
                    "caching": "x",
                }
            }
        )["s"]


def test_a_pathlib_filepath_is_taken(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow.tracking import RunRef, drain_run, set_current_run

    ds = MLflowDataSet(dataset="json", filepath=tmp_path / "x.json")
    client = MlflowClient()
    run = RunRef(
        client.tracking_uri,
        client.create_run(client.create_experiment("p")).info.run_id,
    )
    set_current_run(run)
    ds.save({"a": 1})
    drain_run(run)
    assert (tmp_path / "x.json").exists()
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["x.json"]


def test_exists_is_false_for_a_dataset_never_named() -> None:
    assert not MLflowDataSet(dataset="csv").exists()
    assert not MLflowDataSet(dataset="m").exists()
