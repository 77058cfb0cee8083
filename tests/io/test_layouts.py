"""What loading needs to rebuild values sits in one tag per run and process, not one per value."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import ParallelRunner, SequentialRunner, ThreadRunner

from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowDataSet
from pipelinex_mlflow.io.value_codec import encode
from pipelinex_mlflow.io.value_layout import LAYOUTS_TAG
from pipelinex_mlflow.masking import MASK
from pipelinex_mlflow.tracking import MAX_TAG_LENGTH, RunRef, drain_run, set_current_run
from pipelinex_mlflow.tracking.json_tags import JsonTagPages, read_json_tags
from tests._kedro import run_with_hooks

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.tracking import MlflowClient

VALUES: dict[str, tuple[str, Any]] = {
    "accuracy": ("m", 0.9),
    "losses": ("m", [0.5, 0.25, 0.125]),
    "single_loss": ("m", [0.5]),
    "settings": ("a", {"depth": 3, "kinds": ["rf", "gb"], "name": "x"}),
    "flags": ("a", (True, False)),
    "note": ("p", "hello"),
}


def _make(name: str) -> Any:
    return VALUES[name][1]


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            node(_make, f"params:which_{name}", name, name=f"make_{name}")
            for name in VALUES
        ]
    )


def _catalog(parallel: bool) -> DataCatalog:
    from kedro.io import SharedMemoryDataCatalog

    datasets: dict[str, Any] = {
        name: MLflowDataSet(dataset=code) for name, (code, _) in VALUES.items()
    }
    datasets.update({f"params:which_{name}": MemoryDataset(name) for name in VALUES})
    return SharedMemoryDataCatalog(datasets) if parallel else DataCatalog(datasets)


def _layout_tags(client: MlflowClient, run_id: str) -> dict[str, str]:
    tags = client.get_run(run_id).data.tags
    return {k: v for k, v in tags.items() if k.startswith("pipelinex_mlflow.layout")}


@pytest.mark.parametrize(
    "runner",
    [SequentialRunner(), ThreadRunner(max_workers=3), ParallelRunner(max_workers=2)],
    ids=["sequential", "thread", "parallel"],
)
def test_one_layout_tag_per_process_and_every_value_loads_back(
    client: MlflowClient, tracking_uri: str, tmp_path: Path, runner: Any
) -> None:
    hook = MLflowBasicLoggerHook(experiment_name="layouts")
    parallel = isinstance(runner, ParallelRunner)
    run_with_hooks(
        _pipeline(), _catalog(parallel), (hook,), runner, project_path=str(tmp_path)
    )
    experiment = client.get_experiment_by_name("layouts")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    tags = _layout_tags(client, run.info.run_id)
    assert all(key.startswith(LAYOUTS_TAG + ".p") for key in tags), tags
    # One process saves everything, or each worker its share.
    assert len(tags) == 1 if not parallel else 1 <= len(tags) <= 2
    assert set(read_json_tags(tags, LAYOUTS_TAG)) == set(VALUES)
    for name, (code, value) in VALUES.items():
        loaded = MLflowDataSet(
            dataset=code,
            dataset_name=name,
            loading_run_id=run.info.run_id,
            loading_tracking_uri=tracking_uri,
        ).load()
        assert loaded == value, name


def test_a_run_of_an_earlier_version_with_a_tag_per_value_still_loads(
    client: MlflowClient, tracking_uri: str
) -> None:
    experiment_id = client.create_experiment("old")
    run_id = client.create_run(experiment_id).info.run_id
    client.log_metric(run_id, "single_loss", 0.5)
    client.set_tag(
        run_id,
        "pipelinex_mlflow.layout.single_loss",
        json.dumps({"code": "m", "shape": "history", "type": "list"}),
    )
    loaded = MLflowDataSet(
        dataset="m",
        dataset_name="single_loss",
        loading_run_id=run_id,
        loading_tracking_uri=tracking_uri,
    ).load()
    assert loaded == [0.5]


def test_values_saved_to_one_run_by_two_datasets_share_the_tag(
    client: MlflowClient, tracking_uri: str
) -> None:
    experiment_id = client.create_experiment("shared")
    run = RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)
    set_current_run(run)
    try:
        MLflowDataSet(dataset="m", dataset_name="a").save([1.0])
        MLflowDataSet(dataset="a", dataset_name="b").save({"x": [1, 2]})
        drain_run(run)
    finally:
        set_current_run(None)
    tags = _layout_tags(client, run.run_id)
    (text,) = tags.values()
    assert set(json.loads(text)) == {"a", "b"}


def test_a_dataset_with_a_secret_looking_name_keeps_its_layout(
    client: MlflowClient, tracking_uri: str
) -> None:
    """The layout tag stays JSON: its data is masked, not its text."""
    experiment_id = client.create_experiment("secret_name")
    run = RunRef(tracking_uri, client.create_run(experiment_id).info.run_id)
    set_current_run(run)
    try:
        MLflowDataSet(dataset="a", dataset_name="db_password").save({"x": [1, 2]})
        drain_run(run)
    finally:
        set_current_run(None)
    (text,) = _layout_tags(client, run.run_id).values()
    assert set(json.loads(text)) == {"db_password"}
    loaded = MLflowDataSet(
        dataset="a",
        dataset_name="db_password",
        loading_run_id=run.run_id,
        loading_tracking_uri=tracking_uri,
    ).load()
    # The tree loads back; the param under a secret-looking key stays masked.
    assert loaded == {"x": MASK}


def test_layouts_too_many_for_one_tag_go_on_in_numbered_tags() -> None:
    pages = JsonTagPages("base", "p1")
    layout = encode("a", "x", {f"leaf_{i}": i for i in range(40)}, ".").layout
    written: dict[str, str] = {}
    for index in range(12):
        written.update(pages.merge({f"value_{index}": layout}))
    assert set(written) >= {"base.p1", "base.p1.2"}
    assert all(len(text) <= MAX_TAG_LENGTH for text in written.values())
    assert sorted(read_json_tags(written, "base")) == sorted(
        f"value_{i}" for i in range(12)
    )
    # Saved again (a resumed run): replaced where it is, not duplicated.
    again = pages.merge({"value_0": {"code": "m", "shape": "metric"}})
    assert list(again) == ["base.p1"]
    assert read_json_tags({**written, **again}, "base")["value_0"]["shape"] == "metric"
