"""Thousands of nodes and datasets stay within MLflow's limits (real SQLite store)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelinex_mlflow.features.lineage.mlflow_side import (
    DatasetRecord,
    log_dataset_records,
)
from pipelinex_mlflow.features.trace.mlflow_side import (
    MAX_ATTRIBUTE_LENGTH,
    SpanRecord,
    log_trace,
    run_traces,
)
from pipelinex_mlflow.tracking import RunRef

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def _run(client: MlflowClient, tracking_uri: str) -> RunRef:
    experiment_id = client.create_experiment("big")
    return RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)


def test_a_trace_of_three_thousand_spans_lands_whole(
    client: MlflowClient, tracking_uri: str
) -> None:
    run = _run(client, tracking_uri)
    spans = [SpanRecord("kedro run", 0.0, 3001.0, span_type="WORKFLOW")]
    spans += [
        SpanRecord(f"node_{i}", i, i + 0.5, parent=0, attributes={"big": "x" * 5000})
        for i in range(3000)
    ]
    trace_id = log_trace(run, spans)
    (found,) = run_traces(run)
    assert found.info.trace_id == trace_id
    trace = client.get_trace(trace_id)
    assert len(trace.data.spans) == 3001
    assert len(str(trace.data.spans[1].attributes["big"])) <= MAX_ATTRIBUTE_LENGTH


def test_fifteen_hundred_datasets_go_in_two_requests_and_all_land(
    client: MlflowClient, tracking_uri: str
) -> None:
    run = _run(client, tracking_uri)
    records = [
        DatasetRecord(
            f"ds_{i}",
            f"{i:032x}",
            "local",
            f"/data/{i}.csv",
            "input",
            "pandas.CSVDataset",
        )
        for i in range(1500)
    ]
    assert log_dataset_records(run, records) == 1500
    inputs = client.get_run(run.run_id).inputs.dataset_inputs
    assert len(inputs) == 1500
