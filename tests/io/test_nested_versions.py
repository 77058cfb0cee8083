"""Versioned datasets nested in MLflowDataset save under the Kedro run's save version.

A real project, run with ``kedro run``: two nested versioned entries, one entry
versioned on the ``MLflowDataset`` itself (as Kedro's ``CachedDataset`` takes
it), and a plain versioned entry. Kedro saves the plain one under the session id;
the nested ones must share that folder, under every runner, and
``--load-versions`` must pin what they load.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest
from kedro.io import DataCatalog, DatasetError, Version
from kedro.pipeline import Pipeline, node
from mlflow.tracking import MlflowClient

from pipelinex_mlflow import MLflowDataset
from pipelinex_mlflow.io.naming import name_mlflow_datasets
from tests.kedro_project import write_skeleton
from tests.reliability_project import kedro, kedro_env, output_of

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.entities import Run

EXPERIMENT = "versions"
#: entry -> its file under data/, and its artifact in the run.
NESTED = {
    "nested_a": ("a.csv", "a.csv"),
    "nested_b": ("b.json", "reports/b.json"),
    "wrapped": ("w.csv", "w.csv"),
}
TOP = ("top", "top.csv")

_NODES = """
import pandas as pd


def frame(value):
    return pd.DataFrame({"v": [value]})


def record(value):
    return {"v": value}


def read(a, b, w, top):
    return float(a["v"][0]), float(b["v"]), float(w["v"][0]), float(top["v"][0])
"""

_REGISTRY = """
from kedro.pipeline import Pipeline, node

from versions.nodes import frame, read, record


def register_pipelines():
    # One node per output: ParallelRunner saves them from several workers.
    produce = Pipeline(
        [
            node(frame, "params:value", "nested_a", name="make_a"),
            node(record, "params:value", "nested_b", name="make_b"),
            node(frame, "params:value", "wrapped", name="make_w"),
            node(frame, "params:value", "top", name="make_top"),
        ]
    )
    consume = Pipeline(
        [
            node(
                read,
                ["nested_a", "nested_b", "wrapped", "top"],
                ["seen_a", "seen_b", "seen_w", "seen_top"],
                name="read",
            )
        ]
    )
    return {"__default__": produce, "consume": consume}
"""

_SETTINGS = """
from pipelinex_mlflow import MLflowBasicLoggerHook

HOOKS = (
    MLflowBasicLoggerHook(
        experiment_name="versions",
        log_pipeline_structure=False,
        log_system_metrics=False,
    ),
)
"""

_CATALOG = """
nested_a:
  type: pipelinex_mlflow.MLflowDataset
  dataset:
    type: pandas.CSVDataset
    filepath: data/a.csv
    versioned: true
nested_b:
  type: pipelinex_mlflow.MLflowDataset
  artifact_path: reports
  dataset:
    type: json.JSONDataset
    filepath: data/b.json
    versioned: true
wrapped:
  type: pipelinex_mlflow.MLflowDataset
  versioned: true
  dataset:
    type: pandas.CSVDataset
    filepath: data/w.csv
top:
  type: pandas.CSVDataset
  filepath: data/top.csv
  versioned: true
"seen_{name}":
  type: pipelinex_mlflow.MLflowDataset
  dataset: m
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "versions"
    package = write_skeleton(folder, "versions")
    (package / "nodes.py").write_text(_NODES)
    (package / "pipeline_registry.py").write_text(_REGISTRY)
    (package / "settings.py").write_text(_SETTINGS)
    (folder / "conf" / "base" / "parameters.yml").write_text("value: 1.0\n")
    (folder / "conf" / "base" / "catalog.yml").write_text(textwrap.dedent(_CATALOG))
    return folder


def _kedro_run(project: Path, tracking_uri: str, *args: str) -> Run:
    """``kedro run <args>``; return the MLflow run it made."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    before = (
        {r.info.run_id for r in client.search_runs([experiment.experiment_id])}
        if experiment
        else set()
    )
    done = kedro(project, "run", *args, env=kedro_env(tracking_uri))
    assert done.returncode == 0, output_of(done)[-4000:]
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (run,) = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if r.info.run_id not in before
    ]
    assert run.info.status == "FINISHED"
    return run


def _assert_one_version_folder(project: Path, run: Run, tracking_uri: str) -> str:
    """Every versioned file of ``run`` is under its session id; return that id."""
    session = run.data.tags["kedro.session_id"]
    data = project / "data"
    for file, _ in (*NESTED.values(), (TOP[1], None)):
        versions = sorted(p.name for p in (data / file).iterdir())
        assert session in versions, (file, versions, session)
        assert (data / file / session / file).is_file()
    client = MlflowClient(tracking_uri=tracking_uri)
    uploaded = {a.path for a in client.list_artifacts(run.info.run_id)} | {
        a.path for a in client.list_artifacts(run.info.run_id, "reports")
    }
    assert {artifact for _, artifact in NESTED.values()} <= uploaded, uploaded
    return str(session)


def test_nested_versions_are_the_sessions_and_load_versions_pins_them(
    project: Path, tracking_uri: str
) -> None:
    first = _kedro_run(project, tracking_uri, "--params", "value=1.0")
    first_version = _assert_one_version_folder(project, first, tracking_uri)
    second = _kedro_run(project, tracking_uri, "--params", "value=2.0")
    second_version = _assert_one_version_folder(project, second, tracking_uri)
    assert second_version != first_version
    # Each folder holds exactly the two runs' versions: one per run, not per entry.
    for file, _ in (*NESTED.values(), (TOP[1], None)):
        folders = sorted(p.name for p in (project / "data" / file).iterdir())
        assert folders == sorted([first_version, second_version]), file

    pins = ",".join(f"{name}:{first_version}" for name in [*NESTED, TOP[0]])
    pinned = _kedro_run(
        project, tracking_uri, "--pipeline", "consume", "--load-versions", pins
    )
    # The first run's values (1.0), not the latest (2.0).
    assert _seen(pinned) == dict.fromkeys(
        ["seen_a", "seen_b", "seen_w", "seen_top"], 1.0
    )
    latest = _kedro_run(project, tracking_uri, "--pipeline", "consume")
    assert _seen(latest) == dict.fromkeys(
        ["seen_a", "seen_b", "seen_w", "seen_top"], 2.0
    )


def _seen(run: Run) -> dict[str, float]:
    return {k: v for k, v in run.data.metrics.items() if k.startswith("seen_")}


def test_parallel_runner_workers_save_under_the_sessions_version(
    project: Path, tracking_uri: str
) -> None:
    run = _kedro_run(project, tracking_uri, "--runner", "ParallelRunner")
    session = _assert_one_version_folder(project, run, tracking_uri)
    for file, _ in (*NESTED.values(), (TOP[1], None)):
        assert [p.name for p in (project / "data" / file).iterdir()] == [session]


# --------------------------------------------------------------------------------------
# The versions themselves, without a run
# --------------------------------------------------------------------------------------
SESSION = "2026-12-06T10.00.00.000Z"
PINNED = "2026-12-05T09.00.00.000Z"


def _inner_version(catalog: DataCatalog, name: str) -> Version:
    dataset = catalog.get(name)
    assert isinstance(dataset, MLflowDataset)
    version: Version = dataset._describe()["inner"]["version"]
    return version


def _catalog(tmp_path: Path, **entry: object) -> DataCatalog:
    """Entry ``x`` (``entry`` on top of a nested JSON file) and ``plain``, unversioned."""

    def nested(name: str) -> dict[str, object]:
        return {"type": "json.JSONDataset", "filepath": str(tmp_path / name)}

    mlflow_dataset = "pipelinex_mlflow.MLflowDataset"
    return DataCatalog.from_config(
        {
            "x": {"type": mlflow_dataset, "dataset": nested("x.json"), **entry},
            "plain": {"type": mlflow_dataset, "dataset": nested("plain.json")},
        }
    )


@pytest.mark.parametrize(
    "entry",
    [
        {"versioned": True},
        {"dataset": {"type": "json.JSONDataset", "filepath": "x", "versioned": True}},
    ],
    ids=["on the entry", "nested"],
)
def test_a_runs_start_gives_the_session_and_the_pin(
    tmp_path: Path, entry: dict[str, object]
) -> None:
    catalog = _catalog(tmp_path, **entry)
    pipeline = Pipeline([node(len, "x", "n"), node(len, "plain", "m")])
    name_mlflow_datasets(
        pipeline,
        catalog,
        save_version=SESSION,
        load_versions={"x": PINNED, "plain": PINNED},
    )
    assert _inner_version(catalog, "x") == Version(PINNED, SESSION)
    assert _inner_version(catalog, "plain") is None  # not versioned: left so
    # MLflowCatalogLoggerHook names the datasets again, without versions.
    name_mlflow_datasets(pipeline, catalog)
    assert _inner_version(catalog, "x") == Version(PINNED, SESSION)
    # The next run's start: its own session; no pin, so the latest is loaded.
    name_mlflow_datasets(pipeline, catalog, save_version="later", load_versions={})
    assert _inner_version(catalog, "x") == Version(None, "later")


@pytest.mark.parametrize("code", ["csv", "m", "model"])
def test_versioned_on_an_entry_without_a_nested_config_names_the_fix(
    code: str,
) -> None:
    catalog = DataCatalog.from_config(
        {
            "x": {
                "type": "pipelinex_mlflow.MLflowDataset",
                "dataset": code,
                "versioned": True,
            }
        }
    )
    with pytest.raises(
        DatasetError,
        match=rf"MLflowDataSet versioned: true versions a nested Kedro dataset given "
        rf"as a config, not dataset: '{code}'\. Nest the dataset \(dataset: "
        r"\{type: pandas\.CSVDataset, filepath: data/x\.csv\}\), or remove versioned",
    ):
        catalog.get("x")
