"""The catalog datasets a run read and wrote are its MLflow dataset inputs, with digests."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Pipeline, node
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.pickle import PickleDataset
from kedro_datasets.text import TextDataset

from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowDataSet
from pipelinex_mlflow.features.lineage import run_feature as lineage_feature
from tests._kedro import run_with_hooks

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient


def summarize(frame: pd.DataFrame, factor: int) -> dict[str, Any]:
    return {"rows": len(frame), "total": float(frame["x"].sum()) * factor}


def report(summary: dict[str, Any]) -> tuple[str, dict[str, Any], float]:
    return f"rows={summary['rows']}", summary, summary["total"]


def fail(summary: dict[str, Any]) -> None:
    raise RuntimeError("late failure")


def _pipeline(failing: bool = False) -> Pipeline:
    nodes = [
        node(summarize, ["companies", "params:factor"], "summary", name="summarize"),
        node(report, "summary", ["report", "model", "score"], name="report"),
    ]
    if failing:
        nodes = [nodes[0], node(fail, "summary", None, name="fail")]
    return Pipeline(nodes)


def _catalog(folder: Path) -> DataCatalog:
    return DataCatalog(
        {
            "companies": CSVDataset(filepath=str(folder / "companies.csv")),
            "summary": JSONDataset(filepath=str(folder / "summary.json")),
            "report": TextDataset(filepath=str(folder / "report.txt")),
            "model": PickleDataset(
                filepath=str(folder / "model.pkl"), version=Version(None, None)
            ),
            "score": MLflowDataSet(dataset="m"),
            "params:factor": MemoryDataset(2),
        }
    )


def _run(folder: Path, hook: MLflowBasicLoggerHook, failing: bool = False) -> None:
    run_with_hooks(
        _pipeline(failing), _catalog(folder), (hook,), project_path=str(folder)
    )


def _runs(client: MlflowClient) -> list[Run]:
    experiment = client.get_experiment_by_name("lineage")
    assert experiment is not None
    return [
        client.get_run(r.info.run_id)
        for r in client.search_runs([experiment.experiment_id], order_by=["start_time"])
    ]


def _inputs(run: Run) -> dict[str, dict[str, Any]]:
    found = {}
    for dataset_input in run.inputs.dataset_inputs:
        dataset = dataset_input.dataset
        tags = {tag.key: tag.value for tag in dataset_input.tags}
        found[dataset.name] = {
            "digest": dataset.digest,
            "source_type": dataset.source_type,
            "source": json.loads(dataset.source)["uri"],
            "context": tags["mlflow.data.context"],
            "type": tags["kedro.dataset_type"],
        }
    return found


def test_every_persisted_dataset_is_an_input_of_the_run_with_its_context(
    client: MlflowClient, tmp_path: Path
) -> None:
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(tmp_path / "companies.csv", index=False)
    hook = MLflowBasicLoggerHook(experiment_name="lineage")
    _run(tmp_path, hook)
    (run,) = _runs(client)
    found = _inputs(run)
    # Memory datasets, params and MLflowDataSet values are not datasets.
    assert set(found) == {"companies", "summary", "report", "model"}
    assert {name: entry["context"] for name, entry in found.items()} == {
        "companies": "input",
        "summary": "intermediate",
        "report": "output",
        "model": "output",
    }
    assert found["companies"]["type"] == "pandas.CSVDataset"
    assert found["companies"]["source_type"] == "local"
    assert found["companies"]["source"] == str((tmp_path / "companies.csv").resolve())
    assert len(found["companies"]["digest"]) == 32
    # A versioned dataset's digest is the version it saved.
    versions = [p.name for p in (tmp_path / "model.pkl").iterdir()]
    assert found["model"]["digest"] == versions[0]


def test_the_same_data_gives_the_same_digest_and_changed_data_a_new_one(
    client: MlflowClient, tmp_path: Path
) -> None:
    csv = tmp_path / "companies.csv"
    hook = MLflowBasicLoggerHook(experiment_name="lineage")
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(csv, index=False)
    _run(tmp_path, hook)
    _run(tmp_path, hook)
    pd.DataFrame({"x": [1, 2, 4]}).to_csv(csv, index=False)
    _run(tmp_path, hook)
    first, second, changed = (_inputs(run) for run in _runs(client))
    assert first["companies"]["digest"] == second["companies"]["digest"]
    assert changed["companies"]["digest"] != first["companies"]["digest"]
    assert first["report"]["digest"] == second["report"]["digest"]
    assert changed["report"]["digest"] == first["report"]["digest"]  # same rows
    assert changed["summary"]["digest"] != first["summary"]["digest"]


def test_big_files_get_a_stamp_and_unreadable_ones_no_digest(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lineage_feature, "CONTENT_DIGEST_MAX_BYTES", 4)
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(tmp_path / "companies.csv", index=False)
    catalog = _catalog(tmp_path)
    catalog["remote"] = CSVDataset(filepath="memory:///remote/data.csv")
    pipe = _pipeline() + Pipeline([node(lambda r: r, "remote", "copied", name="copy")])
    catalog["remote"].save(pd.DataFrame({"y": [1]}))
    run_with_hooks(
        pipe,
        catalog,
        (MLflowBasicLoggerHook(experiment_name="lineage"),),
        project_path=str(tmp_path),
    )
    (run,) = _runs(client)
    found = _inputs(run)
    assert found["companies"]["digest"].startswith("stamp-")
    assert found["remote"]["digest"] == ""
    assert found["remote"]["source_type"] == "memory"
    assert found["remote"]["source"] == "memory:///remote/data.csv"


def test_a_failed_run_records_what_it_read_and_wrote(
    client: MlflowClient, tmp_path: Path
) -> None:
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "companies.csv", index=False)
    with pytest.raises(RuntimeError, match="late failure"):
        _run(tmp_path, MLflowBasicLoggerHook(experiment_name="lineage"), failing=True)
    (run,) = _runs(client)
    assert run.info.status == "FAILED"
    found = _inputs(run)
    assert found["companies"]["context"] == "input"
    assert len(found["summary"]["digest"]) == 32


def test_lineage_can_be_switched_off(client: MlflowClient, tmp_path: Path) -> None:
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "companies.csv", index=False)
    _run(tmp_path, MLflowBasicLoggerHook(experiment_name="lineage", log_datasets=False))
    (run,) = _runs(client)
    assert run.inputs.dataset_inputs == []
