"""A small pipeline and the plumbing to run it under every Kedro runner.

Node functions live at module level so that ParallelRunner can pickle them.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kedro.framework.project import settings
from kedro.io import DataCatalog, MemoryDataset, SharedMemoryDataCatalog
from kedro.pipeline import Pipeline, node
from kedro.runner import ParallelRunner, SequentialRunner, ThreadRunner

from tests._kedro import run_with_hooks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kedro.io import AbstractDataset
    from kedro.runner import AbstractRunner
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

EXPERIMENT = "hooks"
NODE_NAMES = ("make", "double", "square", "combine")
#: PipelineX's task names of the nodes, the timing hook's default: "<function> -- <outputs>".
TASK_NAMES = {
    "make": "make -- stats",
    "double": "double -- doubled",
    "square": "square -- squared",
    "combine": "combine -- combined",
    "boom": "boom -- never",
}
RUNNERS = ("sequential", "thread", "parallel")
PAUSE_S = 0.05


def make(x: int, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "n": x + 1,
        "kind": model["kind"],
        "ids": [1, 2, 3],
        "big": list(range(500)),
    }


def double(stats: dict[str, Any], factor: int) -> int:
    time.sleep(PAUSE_S)
    return int(stats["n"]) * factor


def square(stats: dict[str, Any]) -> int:
    time.sleep(PAUSE_S)
    return int(stats["n"]) ** 2


def combine(doubled: int, squared: int) -> float:
    return (doubled + squared) / 2


def boom(doubled: int) -> int:
    raise ValueError("node exploded")


def pipeline() -> Pipeline:
    """make -> (double || square) -> combine; double and square can run in parallel."""
    return Pipeline(
        [
            node(make, ["x", "params:model"], "stats", name="make"),
            node(double, ["stats", "params:factor"], "doubled", name="double"),
            node(square, "stats", "squared", name="square"),
            node(combine, ["doubled", "squared"], "combined", name="combine"),
        ]
    )


def failing_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(make, ["x", "params:model"], "stats", name="make"),
            node(double, ["stats", "params:factor"], "doubled", name="double"),
            node(boom, "doubled", "never", name="boom"),
        ]
    )


def inputs(**extra: AbstractDataset[Any, Any]) -> dict[str, AbstractDataset[Any, Any]]:
    return {
        "x": MemoryDataset(2),
        "params:model": MemoryDataset({"kind": "rf", "depth": 3}),
        "params:factor": MemoryDataset(10),
        **extra,
    }


def make_runner(name: str) -> AbstractRunner:
    if name == "thread":
        return ThreadRunner(max_workers=2)
    if name == "parallel":
        return ParallelRunner(max_workers=2)
    return SequentialRunner()


@contextmanager
def project_hooks(hooks: tuple[Any, ...]) -> Iterator[None]:
    """Make ``hooks`` the project's ``settings.HOOKS``, as ParallelRunner workers read them."""
    previous = settings.HOOKS
    settings.set("HOOKS", hooks)
    try:
        yield
    finally:
        settings.set("HOOKS", previous)


def run(
    hooks: tuple[Any, ...],
    runner: str = "sequential",
    datasets: dict[str, AbstractDataset[Any, Any]] | None = None,
    pipe: Pipeline | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Run the pipeline with ``hooks`` as a KedroSession would, under ``runner``."""
    catalog_class = SharedMemoryDataCatalog if runner == "parallel" else DataCatalog
    catalog = catalog_class(datasets if datasets is not None else inputs())
    with project_hooks(hooks):
        return run_with_hooks(
            pipe or pipeline(), catalog, hooks, make_runner(runner), **params
        )


def only_run(client: MlflowClient) -> Run:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None, "MLflowBasicLoggerHook created no experiment"
    (found,) = client.search_runs([experiment.experiment_id])
    return client.get_run(found.info.run_id)


def emit(x: int) -> tuple[Any, ...]:
    """Values of every kind, for the auto-logging rules."""
    import numpy as np
    import pandas as pd

    return (
        pd.DataFrame({"a": [x] * 3}),
        np.arange(5),
        np.float64(2.5),
        np.bool_(True),
        {"b", "a"},
        "t" * 2000,
        ("x", 1),
        {
            "maybe": None,
            "on": True,
            "lr": 0.1,
            "empty": {},
            "rows": list(range(101)),
            "mask": np.array([True, False]),
        },
        {"kept": "on disk"},
    )


EMITTED = [
    "frame",
    "array",
    "np_number",
    "flag",
    "labels",
    "long_text",
    "pair",
    "config",
    "saved",
]


def values_pipeline() -> Pipeline:
    return Pipeline([node(emit, "x", EMITTED, name="emit")])


def relabel(label: str) -> str:
    return f"new-{label}"


def relabel_pipeline() -> Pipeline:
    return Pipeline([node(relabel, "params:label", "label", name="relabel")])


def labels_pipeline() -> Pipeline:
    return Pipeline([node(relabel, "x", "label", name="relabel")])
