"""All companion hooks together, under SequentialRunner, ThreadRunner and ParallelRunner."""

from __future__ import annotations

import json
import multiprocessing.util
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kedro_datasets.json import JSONDataset

from pipelinex_mlflow import (
    MLflowArtifactsLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowTimeLoggerHook,
)
from pipelinex_mlflow.masking import MASK
from tests._kedro import artifact_paths
from tests.hooks._pipeline import NODE_NAMES, TASK_NAMES, inputs, only_run, run

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowBasicLoggerHook


@pytest.mark.parametrize(
    ("runner", "companions_first"),
    [("sequential", False), ("thread", True), ("parallel", False)],
)
def test_every_hook_logs_completely(
    runner: str,
    companions_first: bool,
    basic_hook: MLflowBasicLoggerHook,
    client: MlflowClient,
    tmp_path: Path,
    short_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Timings, values, env vars and files all land, whatever the runner and hook order."""
    monkeypatch.setenv("MY_API_TOKEN", "s3cr3t")
    monkeypatch.setenv("RUN_LABEL", "nightly")
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "base" / "parameters.yml").write_text("factor: 10\n")
    (tmp_path / "notes.txt").write_text("hello")
    companions = (
        MLflowTimeLoggerHook(),
        MLflowCatalogLoggerHook(),
        MLflowEnvVarsLoggerHook(param_env_vars=["MY_API_TOKEN", "RUN_LABEL"]),
        MLflowArtifactsLoggerHook(
            filepaths_before_pipeline_run=["conf/base"],
            filepaths_after_pipeline_run=["*.txt"],
            datasets_after_node_run=["squared"],
        ),
    )
    hooks = (*companions, basic_hook) if companions_first else (basic_hook, *companions)

    # multiprocessing's own folder (pymp-*), made first, stays out of the test's
    # folder: ParallelRunner's manager process, forked from this one, puts its
    # socket there instead of making a pymp-* folder of its own in ``scratch``.
    # Its own would be removed by its exit handler only if it exits within the 1 s
    # the standard library's manager shutdown waits before a SIGTERM, which under
    # load it does not always do, leaving a folder that none of our code made.
    multiprocessing.util.get_temp_dir()
    scratch = short_tmp
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    squared = JSONDataset(filepath=str(tmp_path / "data" / "squared.json"))

    run(hooks, runner, inputs(squared=squared), project_path=str(tmp_path))

    logged = only_run(client)
    run_id = logged.info.run_id
    assert logged.info.status == "FINISHED"
    metrics, params = logged.data.metrics, logged.data.params
    # One timing per node, from every process and thread.
    assert {k for k in metrics if k.startswith("_time_to_run ")} == {
        f"_time_to_run {TASK_NAMES[name]}" for name in NODE_NAMES
    }
    assert metrics[f"_time_to_run {TASK_NAMES['double']}"] >= 0.05
    # Values passed between nodes: numbers as metrics, plain values as params.
    assert metrics["stats.n"] == 3.0
    assert metrics["doubled"] == 30.0
    assert metrics["combined"] == 19.5
    # Parameters are the basic hook's (params); auto does not log them again.
    assert (params["factor"], params["model.depth"]) == ("10", "3")
    assert not {"factor", "model.depth"} & set(metrics)
    assert params["stats.kind"] == "rf"
    assert params["stats.ids"] == "[1, 2, 3]"
    assert params["model.kind"] == "rf"
    assert "stats.big" not in params
    assert "squared" not in metrics  # persisted by the catalog
    # "stats" feeds three nodes, possibly in two processes: logged once.
    assert len(client.get_metric_history(run_id, "stats.n")) == 1
    # Environment, secrets masked.
    assert params["env..MY_API_TOKEN"] == MASK
    assert params["env..RUN_LABEL"] == "nightly"
    # Files and a folder, and the timing artifacts.
    paths = artifact_paths(client, run_id)
    assert {
        "conf",
        "conf/base",
        "conf/base/parameters.yml",
        "notes.txt",
        "data/squared.json",
        "gantt.html",
        "time_log.json",
    } <= paths
    time_log = json.loads(
        Path(
            client.download_artifacts(run_id, "time_log.json", str(tmp_path))
        ).read_text()
    )
    assert sorted(entry["node"] for entry in time_log["nodes"]) == sorted(NODE_NAMES)
    assert {entry["status"] for entry in time_log["nodes"]} == {"completed"}
    if runner == "parallel":
        assert len({entry["pid"] for entry in time_log["nodes"]}) >= 2
    # The per-run temporary folders are gone.
    assert list(scratch.iterdir()) == []
