"""Values saved by one node and loaded by the next, under every runner.

The project ``relay`` has two nodes that save ``MLflowDataset`` entries of codes
m (a number and a history), p, a, csv and json, and a node downstream that loads
them all and writes what it got (values and Python types) to a JSON artifact.
Under ``ParallelRunner`` the two producers wait for each other, so they run at
once in the two worker processes, and the consumer, in one of them, reads what
the other saved from the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conformance.projects import (
    FIND_PIPELINES_REGISTRY,
    RUNNERS,
    copy_store,
    pipeline_package,
    runner_args,
    track,
    warnings_in,
    write_project,
)

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "relay"

SETTINGS = """
    from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowTimeLoggerHook

    HOOKS = (MLflowBasicLoggerHook(), MLflowTimeLoggerHook())
"""

LEGS = pipeline_package(
    "legs",
    """
    import os
    import time
    from pathlib import Path

    import pandas as pd


    def _meet(name: str) -> None:
        # Under a parallel runner, wait until the other producer runs too.
        barrier = os.environ.get("RELAY_BARRIER")
        if not barrier:
            return
        Path(barrier, name).touch()
        deadline = time.monotonic() + 60
        while len(os.listdir(barrier)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)


    def produce_values(seed: int):
        _meet("values")
        return seed * 1.5, [0.5, 0.25, 0.125], f"seed-{seed}"


    def produce_files(seed: int):
        _meet("files")
        return (
            {"count": seed, "name": "relay", "flags": [True, False]},
            pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}),
            {"seed": seed, "items": [1, 2, 3]},
        )


    def consume(number, history, text, mixed, table, doc) -> dict:
        return {
            "number": [number, type(number).__name__],
            "history": history,
            "text": [text, type(text).__name__],
            "mixed": mixed,
            "table": table.to_dict("list"),
            "doc": doc,
        }
    """,
    """
    from kedro.pipeline import Pipeline, node

    from .nodes import consume, produce_files, produce_values

    VALUES = ["number", "history", "text"]
    FILES = ["mixed", "table", "doc"]


    def create_pipeline(**kwargs) -> Pipeline:
        return Pipeline(
            [
                node(produce_values, "params:seed", VALUES, name="produce_values"),
                node(produce_files, "params:seed", FILES, name="produce_files"),
                node(consume, VALUES + FILES, "receipt", name="consume"),
            ]
        )
    """,
)

CATALOG = """
    number:
      type: pipelinex_mlflow.MLflowDataset
      dataset: m
    history:
      type: pipelinex_mlflow.MLflowDataset
      dataset: m
    text:
      type: pipelinex_mlflow.MLflowDataset
      dataset: p
    mixed:
      type: pipelinex_mlflow.MLflowDataset
      dataset: a
    table:
      type: pipelinex_mlflow.MLflowDataset
      dataset: csv
    doc:
      type: pipelinex_mlflow.MLflowDataset
      dataset: json
    receipt:
      type: pipelinex_mlflow.MLflowDataset
      dataset: json
"""


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_node_loads_what_the_node_before_saved(
    tmp_path: Path, migrated_db: Path, runner: str
) -> None:
    project = write_project(
        tmp_path / "relay",
        PACKAGE,
        {
            "src/{package}/settings.py": SETTINGS,
            "src/{package}/pipeline_registry.py": FIND_PIPELINES_REGISTRY,
            "src/{package}/pipelines/__init__.py": "",
            **LEGS,
            "conf/base/catalog.yml": CATALOG,
            "conf/base/parameters.yml": "seed: 3\n",
        },
    )
    copy_store(migrated_db, project)
    args, env = runner_args(runner)
    if runner != "SequentialRunner":
        (tmp_path / "barrier").mkdir()
        env["RELAY_BARRIER"] = str(tmp_path / "barrier")
    tracked = track(project, *args, env=env)

    assert tracked.artifact_json("receipt.json") == {
        "number": [4.5, "float"],
        "history": [0.5, 0.25, 0.125],
        "text": ["seed-3", "str"],
        # Code a: numbers come back as floats, the rest as saved.
        "mixed": {"count": 3.0, "name": "relay", "flags": [True, False]},
        "table": {"x": [1, 2], "y": ["a", "b"]},
        "doc": {"seed": 3, "items": [1, 2, 3]},
    }, tracked.output
    assert tracked.params == {
        "seed": "3",
        "text": "seed-3",
        "mixed.name": "relay",
        "mixed.flags": "[True, False]",
    }
    assert set(tracked.metrics) == {"number", "history", "mixed.count"}
    assert tracked.metric_once("number") == 4.5
    assert tracked.history("history") == [0.5, 0.25, 0.125]
    assert tracked.metric_once("mixed.count") == 3
    files = tracked.artifact_files() - {"pipeline.json", "pipeline.svg"}
    assert files == {
        "table.csv",
        "doc.json",
        "receipt.json",
        "time_log.json",
        "gantt.html",
    }
    assert tracked.artifact_text("table.csv") == "x,y\n1,a\n2,b\n"
    assert warnings_in(tracked.result) == [], tracked.output
