"""Each Kedro run is one MLflow trace linked to its run, and each node has CPU and memory figures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from kedro.io import AbstractDataset, DatasetError

from pipelinex_mlflow import MLflowDataSet, MLflowTimeLoggerHook
from pipelinex_mlflow.core.node_timings import DatasetEvent, NodeTiming
from pipelinex_mlflow.features.trace.run_feature import MAX_LISTED_NAMES, run_spans
from tests.hooks._pipeline import (
    NODE_NAMES,
    RUNNERS,
    TASK_NAMES,
    failing_pipeline,
    inputs,
    only_run,
    run,
)

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.entities import Trace
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowBasicLoggerHook
    from tests.conftest import MlflowServer


def _trace(client: MlflowClient, run_id: str) -> Trace:
    experiment_id = client.get_run(run_id).info.experiment_id
    (found,) = client.search_traces(locations=[experiment_id], run_id=run_id)
    return client.get_trace(found.info.trace_id)


def _spans_by_name(trace: Trace) -> dict[str, Any]:
    return {span.name: span for span in trace.data.spans}


class _FullDisk(AbstractDataset[Any, Any]):
    """A dataset whose saves fail: the pipeline fails outside its nodes."""

    def load(self) -> Any:
        raise DatasetError("nothing saved")

    def save(self, data: Any) -> None:
        raise DatasetError("disk full")

    def _describe(self) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("runner", RUNNERS)
def test_one_trace_per_run_with_a_span_per_node_and_its_loads_and_saves(
    basic_hook: MLflowBasicLoggerHook, client: MlflowClient, runner: str
) -> None:
    datasets = inputs(combined=MLflowDataSet(dataset="m"))
    run((basic_hook, MLflowTimeLoggerHook()), runner, datasets=datasets)
    logged = only_run(client)
    trace = _trace(client, logged.info.run_id)
    assert trace.info.request_metadata["mlflow.sourceRun"] == logged.info.run_id
    assert trace.info.state == "OK"
    spans = _spans_by_name(trace)
    root = spans["kedro run __default__"]
    assert root.parent_id is None
    assert root.attributes["kedro.nodes"] == len(NODE_NAMES)
    for name in NODE_NAMES:
        span = spans[name]
        assert span.parent_id == root.span_id
        assert root.start_time_ns <= span.start_time_ns <= span.end_time_ns
        assert span.end_time_ns <= root.end_time_ns
    assert spans["combine"].attributes["kedro.inputs"] == ["doubled", "squared"]
    assert spans["combine"].attributes["kedro.outputs"] == ["combined"]
    workers = {spans[name].attributes["kedro.worker"] for name in NODE_NAMES}
    if runner == "parallel":
        assert all(worker.startswith("process ") for worker in workers)
    # Loads and saves are children of the node that did them.
    assert spans["load stats"].parent_id in {
        spans["double"].span_id,
        spans["square"].span_id,
    }
    assert spans["save combined"].parent_id == spans["combine"].span_id
    assert spans["load params:model"].parent_id == spans["make"].span_id

    metrics = logged.data.metrics
    for name in NODE_NAMES:
        assert metrics[f"_cpu_time {TASK_NAMES[name]}"] >= 0
        assert metrics[f"_peak_memory_mb {TASK_NAMES[name]}"] > 10


def test_a_failed_nodes_span_carries_the_error(
    basic_hook: MLflowBasicLoggerHook, client: MlflowClient
) -> None:
    with pytest.raises(ValueError, match="node exploded"):
        run((basic_hook, MLflowTimeLoggerHook()), pipe=failing_pipeline())
    logged = only_run(client)
    trace = _trace(client, logged.info.run_id)
    assert trace.info.state == "ERROR"
    spans = _spans_by_name(trace)
    assert spans["boom"].status.status_code == "ERROR"
    assert spans["boom"].status.description == "ValueError: node exploded"
    assert spans["double"].status.status_code == "OK"


def test_trace_and_resource_metrics_can_be_switched_off(
    basic_hook: MLflowBasicLoggerHook, client: MlflowClient
) -> None:
    hook = MLflowTimeLoggerHook(enable_trace=False, enable_resource_metrics=False)
    run((basic_hook, hook))
    logged = only_run(client)
    experiment_id = logged.info.experiment_id
    assert client.search_traces(locations=[experiment_id]) == []
    assert not [k for k in logged.data.metrics if k.startswith(("_cpu_time", "_peak"))]
    assert f"_time_to_run {TASK_NAMES['make']}" in logged.data.metrics


def test_an_interrupted_run_marks_its_root_and_what_never_finished() -> None:
    """Ctrl-C mid-run: the finished node is OK, the running one and its save are not."""
    done = NodeTiming("first", "first -- a", 1.0, 2.0, 1.0, "completed", 1, "Main")
    cut = NodeTiming(
        "slow", "slow -- b", 2.0, 9.0, 7.0, "interrupted", 1, "Main", error=None
    )
    events = [
        DatasetEvent("first", "a", "save", 2.0, 2.1, 1),
        DatasetEvent("slow", "b", "save", 8.0, 9.0, 1, interrupted=True),
    ]
    spans = run_spans([done, cut], events, {}, 1, succeeded=False, interrupted=True)
    by_name = {span.name: span for span in spans}
    root = by_name["kedro run __default__"]
    assert root.error is not None
    assert root.error.startswith("interrupted: the process exited mid-run")
    assert by_name["first"].error is None
    assert by_name["first"].attributes["kedro.status"] == "completed"
    assert by_name["save a"].error is None
    assert by_name["slow"].error == "interrupted"
    assert by_name["slow"].attributes["kedro.status"] == "interrupted"
    assert by_name["save b"].error == "interrupted: the save never finished"
    assert by_name["save b"].parent == spans.index(by_name["slow"])


def test_huge_nodes_keep_their_attributes_small() -> None:
    names = tuple(f"input_{i}" for i in range(1000))
    timing = NodeTiming(
        "n", "n", 1.0, 2.0, 1.0, "completed", 1, "MainThread", inputs=names
    )
    (_, span) = run_spans([timing], [], {}, 1)
    listed = span.attributes["kedro.inputs"]
    assert len(listed) == MAX_LISTED_NAMES + 1
    assert listed[-1] == f"... {1000 - MAX_LISTED_NAMES} more"


def test_a_run_that_fails_outside_its_nodes_has_a_failed_trace(
    basic_hook: MLflowBasicLoggerHook, client: MlflowClient
) -> None:
    """A run whose save fails still gets its trace, marked failed."""
    bad = _FullDisk()
    with pytest.raises(DatasetError, match="disk full"):
        run(
            (basic_hook, MLflowTimeLoggerHook()),
            datasets=inputs(stats=bad),
        )
    trace = _trace(client, only_run(client).info.run_id)
    assert trace.info.state == "ERROR"
    spans = _spans_by_name(trace)
    assert spans["kedro run __default__"].status.description == "the pipeline failed"
    # The node finished; the save after it failed.
    assert spans["make"].attributes["kedro.status"] == "completed"


@pytest.mark.server
def test_trace_lineage_and_system_metrics_cost_three_requests_over_http(
    mlflow_server_process: MlflowServer, tmp_path: Path
) -> None:
    """The trace (2 requests), the datasets (1); system metrics share the batches."""
    from kedro_datasets.json import JSONDataset
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowBasicLoggerHook

    uri = mlflow_server_process.url
    datasets = inputs(combined=JSONDataset(filepath=str(tmp_path / "combined.json")))
    hooks = (
        MLflowBasicLoggerHook(
            uri=uri, experiment_name="http", log_pipeline_structure=False
        ),
        MLflowTimeLoggerHook(enable_plotly=False),
    )
    offset = mlflow_server_process.log_offset()
    run(hooks, datasets=datasets)
    requests = mlflow_server_process.requests_since(offset)
    traces = [r for r in requests if "traces" in r]
    assert len(traces) == 2, requests
    assert len([r for r in requests if "log-inputs" in r]) == 1, requests
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("http")
    assert experiment is not None
    (logged,) = client.search_runs([experiment.experiment_id])
    trace = _trace(client, logged.info.run_id)
    assert {s.name for s in trace.data.spans} >= set(NODE_NAMES)
    assert "system/cpu_utilization_percentage" in logged.data.metrics
    (dataset,) = client.get_run(logged.info.run_id).inputs.dataset_inputs
    assert dataset.dataset.name == "combined"
