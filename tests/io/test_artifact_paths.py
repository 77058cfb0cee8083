"""Each file entry uploads to an artifact path of its own (real ``kedro run``, SQLite).

Found by an adversarial try: entries named ``left/model`` and ``right/model`` (and
a ``dataset_name`` with folders) all uploaded to ``model.json``; two of three
outputs were lost without a word, and all three loaded the last one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from kedro.io import DataCatalog, DatasetError
from kedro.pipeline import Pipeline, node

from pipelinex_mlflow import MLflowDataSet
from pipelinex_mlflow.io.naming import name_mlflow_datasets
from pipelinex_mlflow.tracking import RunRef, set_current_run, start_run
from tests.kedro_project import write_skeleton
from tests.reliability_project import kedro, kedro_env, output_of

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.tracking import MlflowClient

PACKAGE = "folders"
EXPERIMENT = "artifact_paths"

_NODES = """
def make(tag):
    return {"made_by": tag}


def read(*values):
    return [value["made_by"] for value in values]
"""

_REGISTRY = """
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from {package}.nodes import make, read


def register_pipelines():
    outputs = {outputs!r}
    nodes = [
        node(update_wrapper(partial(make, name), make), None, name, name=f"make_{{i}}")
        for i, name in enumerate(outputs)
    ]
    nodes.append(node(read, outputs, "loaded", name="read"))
    return {{"__default__": Pipeline(nodes)}}
"""

_SETTINGS = """
from pipelinex_mlflow import MLflowBasicLoggerHook

HOOKS = (MLflowBasicLoggerHook(experiment_name="{experiment}"),)
"""

# Entry -> its catalog config; "loaded" is what the last node read back.
ENTRIES = {
    "left/model": "  dataset: json\n",
    "right/model": "  dataset: json\n",
    "model": "  dataset: json\n",
    "third": "  dataset: json\n  dataset_name: deep/er/model\n",
    # Namespaced entries (a modular pipeline's): their names differ, and so do
    # their files.
    "a.model": "  dataset: json\n",
    "b.model": "  dataset: json\n",
}
EXPECTED_ARTIFACTS = {
    "a.model": "a.model.json",
    "b.model": "b.model.json",
    "left/model": "left/model.json",
    "right/model": "right/model.json",
    "model": "model.json",
    "third": "deep/er/model.json",
}


def _project(folder: Path, entries: dict[str, str]) -> Path:
    package = write_skeleton(folder, PACKAGE)
    (package / "nodes.py").write_text(_NODES)
    (package / "pipeline_registry.py").write_text(
        _REGISTRY.format(package=PACKAGE, outputs=list(entries))
    )
    (package / "settings.py").write_text(_SETTINGS.format(experiment=EXPERIMENT))
    (folder / "conf" / "base" / "catalog.yml").write_text(
        "".join(
            f"{name}:\n  type: pipelinex_mlflow.MLflowDataset\n{config}"
            for name, config in entries.items()
        )
        + "loaded:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: json\n"
    )
    return folder


def _artifacts(
    client: MlflowClient, run_id: str, folder: str | None = None
) -> set[str]:
    found: set[str] = set()
    for info in client.list_artifacts(run_id, folder):
        found |= _artifacts(client, run_id, info.path) if info.is_dir else {info.path}
    return found


def _only_run(client: MlflowClient) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    return str(run.info.run_id)


@pytest.mark.filterwarnings("ignore:One or more dataset names contain")
def test_entries_differing_only_in_their_folder_keep_their_own_artifacts(
    tmp_path: Path, tracking_uri: str, client: MlflowClient
) -> None:
    project = _project(tmp_path / "project", ENTRIES)
    result = kedro(project, "run", env=kedro_env(tracking_uri))
    assert result.returncode == 0, output_of(result)

    run_id = _only_run(client)
    artifacts = _artifacts(client, run_id)
    assert set(EXPECTED_ARTIFACTS.values()) <= artifacts, artifacts
    for entry, artifact in EXPECTED_ARTIFACTS.items():
        local = client.download_artifacts(run_id, artifact, str(tmp_path / entry))
        with open(local, encoding="utf-8") as file:
            assert json.load(file) == {"made_by": entry}, artifact
        name = "deep/er/model" if entry == "third" else entry
        reader = MLflowDataSet(
            dataset="json",
            dataset_name=name,
            loading_run_id=run_id,
            loading_tracking_uri=tracking_uri,
            file_caching=False,
        )
        assert reader.load() == {"made_by": entry}
    loaded = client.download_artifacts(run_id, "loaded.json", str(tmp_path / "out"))
    with open(loaded, encoding="utf-8") as file:
        assert json.load(file) == list(ENTRIES)


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        (
            {
                "first": "  dataset: json\n  dataset_name: shared/report\n",
                "second": "  dataset: json\n  dataset_name: shared/report\n",
            },
            ("first", "second"),
        ),
        (
            {
                "a/report": (
                    "  dataset:\n    type: json.JSONDataset\n"
                    "    filepath: data/a/report.json\n"
                ),
                "b/report": (
                    "  dataset:\n    type: json.JSONDataset\n"
                    "    filepath: data/b/report.json\n"
                ),
                "c": "  dataset: json\n",
            },
            ("a/report", "b/report"),
        ),
    ],
    ids=["same dataset_name", "nested files with one name"],
)
@pytest.mark.filterwarnings("ignore:One or more dataset names contain")
def test_two_entries_that_would_share_an_artifact_are_refused_before_the_run(
    tmp_path: Path,
    tracking_uri: str,
    client: MlflowClient,
    entries: dict[str, str],
    named: tuple[str, str],
) -> None:
    project = _project(tmp_path / "project", entries)
    result = kedro(project, "run", env=kedro_env(tracking_uri))
    output = output_of(result)
    assert result.returncode != 0, output
    first, second = named
    assert f"{first!r} and {second!r}" in output, output
    assert "artifact_path" in output
    # Refused before any node ran: nothing was written or uploaded.
    assert "Running node" not in output
    assert not (project / "data").exists()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    assert all(not _artifacts(client, run.info.run_id) for run in runs)


def test_a_run_of_an_earlier_version_still_loads_from_the_file_name_alone(
    tmp_path: Path,
    tracking_uri: str,
    client: MlflowClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Earlier versions uploaded ``left/model`` as ``model.json``: that still loads."""
    run_id = client.create_run(client.create_experiment("old")).info.run_id
    old = tmp_path / "model.json"
    old.write_text(json.dumps({"made_by": "an earlier version"}))
    client.log_artifact(run_id, str(old))
    set_current_run(RunRef(tracking_uri, run_id))
    reader = MLflowDataSet(
        dataset="json",
        dataset_name="left/model",
        loading_run_id=run_id,
        loading_tracking_uri=tracking_uri,
    )
    assert reader.exists()
    assert reader.load() == {"made_by": "an earlier version"}
    assert any(
        "no artifact 'left/model.json'" in r.getMessage()
        and "'model.json'" in r.getMessage()
        for r in caplog.records
    )


def test_a_run_of_this_version_never_loads_another_entrys_bare_name(
    tmp_path: Path, tracking_uri: str, client: MlflowClient
) -> None:
    """``left/model`` missing from a run of this version is not ``model``'s file."""
    experiment_id = client.create_experiment("new")
    run = start_run(tracking_uri, experiment_id)
    other = tmp_path / "model.json"
    other.write_text(json.dumps({"made_by": "the entry named model"}))
    client.log_artifact(run.run_id, str(other))
    set_current_run(run)
    reader = MLflowDataSet(
        dataset="json",
        dataset_name="left/model",
        loading_run_id=run.run_id,
        loading_tracking_uri=tracking_uri,
    )
    assert not reader.exists()
    with pytest.raises(DatasetError, match=r"left/model\.json"):
        reader.load()


def _nested(path: Path) -> MLflowDataSet:
    return MLflowDataSet(dataset={"type": "json.JSONDataset", "filepath": str(path)})


def test_an_entry_that_only_reads_another_ones_artifact_is_no_clash(
    tmp_path: Path,
) -> None:
    """Only outputs upload; an input may read the artifact another entry writes."""
    catalog = DataCatalog(
        {
            "written": _nested(tmp_path / "x" / "report.json"),
            "read": _nested(tmp_path / "y" / "report.json"),
        }
    )
    pipeline = Pipeline(
        [
            node(lambda: {"a": 1}, None, "written", name="write"),
            node(lambda r, w: None, ["read", "written"], None, name="read"),
        ]
    )
    assert name_mlflow_datasets(pipeline, catalog) == ["read", "written"]
    both_written = Pipeline(
        [
            node(lambda: {"a": 1}, None, "written", name="write"),
            node(lambda: {"b": 2}, None, "read", name="write_too"),
        ]
    )
    with pytest.raises(
        DatasetError,
        match=r"entries 'read' and 'written' would both upload to artifact "
        r"'report.json'",
    ):
        name_mlflow_datasets(both_written, catalog)


_TIMED_SETTINGS = """
from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowTimeLoggerHook

HOOKS = (
    MLflowBasicLoggerHook(experiment_name="{experiment}"),
    MLflowTimeLoggerHook(),
)
"""


def test_an_entry_named_like_a_hooks_file_keeps_it_and_the_hook_steps_aside(
    tmp_path: Path, tracking_uri: str, client: MlflowClient
) -> None:
    """Entries ``time_log`` and ``pipeline`` (json) upload where the hooks write."""
    entries = {"time_log": "  dataset: json\n", "pipeline": "  dataset: json\n"}
    project = _project(tmp_path / "project", entries)
    (project / "src" / PACKAGE / "settings.py").write_text(
        _TIMED_SETTINGS.format(experiment=EXPERIMENT)
    )
    result = kedro(project, "run", env=kedro_env(tracking_uri))
    output = output_of(result)
    assert result.returncode == 0, output
    assert "which MLflowTimeLoggerHook writes too" in output
    assert "which MLflowBasicLoggerHook writes too" in output

    run_id = _only_run(client)
    assert {
        "time_log.json",
        "pipeline.json",
        "gantt.html",
        "pipelinex_mlflow/time_log.json",
        "pipelinex_mlflow/pipeline.json",
    } <= _artifacts(client, run_id)

    def read(artifact: str) -> object:
        local = client.download_artifacts(run_id, artifact, str(tmp_path / "out"))
        with open(local, encoding="utf-8") as file:
            return json.load(file)

    assert read("time_log.json") == {"made_by": "time_log"}
    assert read("pipeline.json") == {"made_by": "pipeline"}
    time_log = read("pipelinex_mlflow/time_log.json")
    assert isinstance(time_log, dict)
    nodes = {entry["node"] for entry in time_log["nodes"]}
    assert {"make_0", "make_1", "read"} <= nodes
    structure = read("pipelinex_mlflow/pipeline.json")
    assert isinstance(structure, dict)
    assert "nodes" in structure


def test_names_differing_only_in_case_are_one_artifact_and_refused() -> None:
    """``Left/model`` and ``left/model`` are one file on macOS and Windows disks."""
    catalog = DataCatalog(
        {
            "Left/model": MLflowDataSet(dataset="json"),
            "left/model": MLflowDataSet(dataset="json"),
        }
    )
    pipeline = Pipeline(
        [
            node(lambda: {"a": 1}, None, "Left/model", name="upper"),
            node(lambda: {"b": 2}, None, "left/model", name="lower"),
        ]
    )
    with pytest.raises(DatasetError, match="'Left/model' and 'left/model'"):
        name_mlflow_datasets(pipeline, catalog)
