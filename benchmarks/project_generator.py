"""Generates the benchmark's Kedro project at a size, tracked by one tool or none.

At size 1: 20 nodes reading 100 parameters (10 groups of 10), 20 metric saves
(one per node), one metric history of 500 points (node 0) and 5 small JSON
artifacts (nodes 0-4). Size N multiplies every count by N. The same project is
written for each tool, with that tool's catalog entries and configuration:

- ``untracked``: metrics stay in memory, reports are plain JSON files;
- ``pipelinex_mlflow``: ``MLflowDataset`` codes ``m`` and ``json`` and
  ``MLflowBasicLoggerHook`` (which logs the parameters);
- ``kedro_mlflow``: ``MlflowMetricDataset``, ``MlflowMetricHistoryDataset`` and
  ``MlflowArtifactDataset``, with kedro-mlflow's own hook (entry point) and an
  ``mlflow.yml`` naming the store;
- ``pipelinex``: PipelineX 0.8.0's ``MLflowDataSet`` and ``MLflowBasicLoggerHook``.

Run it with ``kedro run`` from the generated folder (Kedro puts ``src`` on the path).

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = generate(Path(tempfile.mkdtemp()) / "p", "untracked", size=1)
    >>> sorted(p.name for p in (folder / "conf" / "base").iterdir())
    ['catalog.yml', 'parameters.yml']
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

TOOLS = ("untracked", "pipelinex_mlflow", "kedro_mlflow", "pipelinex")
PACKAGE = "benchproj"
EXPERIMENT = "bench"


@dataclass(frozen=True)
class Size:
    """How big the project is."""

    nodes: int
    params: int
    metric_saves: int
    history_points: int
    artifacts: int

    @classmethod
    def times(cls, factor: int) -> Size:
        """The default size times ``factor``."""
        return cls(20 * factor, 100 * factor, 20 * factor, 500 * factor, 5 * factor)


_NODES = '''
"""Node functions of the generated benchmark project."""

import time


def work(params, index):
    # A little real work, the same for every tool.
    total = sum(float(v) for v in params.values()) + index
    time.sleep(0.01)
    return total / (len(params) + 1)


def history(points):
    return [float(i % 97) / 97 for i in range(points)]


def report(score, index):
    return {"node": index, "score": score, "notes": ["ok"] * 10}
'''


def _pipeline_registry(size: Size) -> str:
    groups = size.params // 10
    return textwrap.dedent(
        f'''
        """The benchmark pipeline."""

        from functools import partial, update_wrapper

        from kedro.pipeline import Pipeline, node

        from {PACKAGE}.nodes import history, report, work


        def _named(func, **kwargs):
            return update_wrapper(partial(func, **kwargs), func)


        def register_pipelines():
            nodes = []
            for i in range({size.nodes}):
                nodes.append(
                    node(
                        _named(work, index=i),
                        f"params:group_{{i % {groups}}}",
                        f"metric_{{i}}",
                        name=f"work_{{i}}",
                    )
                )
            nodes.append(
                node(_named(history, points={size.history_points}), None,
                     "loss_history", name="history")
            )
            for j in range({size.artifacts}):
                nodes.append(
                    node(_named(report, index=j), f"metric_{{j % {size.nodes}}}",
                         f"report_{{j}}", name=f"report_{{j}}")
                )
            return {{"__default__": Pipeline(nodes)}}
        '''
    )


def _catalog(tool: str, size: Size) -> dict[str, object]:
    catalog: dict[str, object] = {}
    for i in range(size.metric_saves):
        catalog[f"metric_{i}"] = _metric(tool)
    catalog["loss_history"] = _metric(tool, history=True)
    for j in range(size.artifacts):
        catalog[f"report_{j}"] = _artifact(tool, f"data/report_{j}.json")
    return {k: v for k, v in catalog.items() if v is not None}


def _metric(tool: str, *, history: bool = False) -> dict[str, object] | None:
    if tool in ("pipelinex_mlflow", "pipelinex"):
        module = (
            "pipelinex_mlflow.MLflowDataset"
            if tool != "pipelinex"
            else ("pipelinex.MLflowDataSet")
        )
        return {"type": module, "dataset": "m"}
    if tool == "kedro_mlflow":
        kind = "MlflowMetricHistoryDataset" if history else "MlflowMetricDataset"
        return {"type": f"kedro_mlflow.io.metrics.{kind}"}
    return None


def _artifact(tool: str, filepath: str) -> dict[str, object]:
    if tool == "pipelinex_mlflow":
        return {"type": "pipelinex_mlflow.MLflowDataset", "dataset": "json"}
    if tool == "pipelinex":
        return {"type": "pipelinex.MLflowDataSet", "dataset": "json"}
    json_dataset = {"type": "json.JSONDataset", "filepath": filepath}
    if tool == "kedro_mlflow":
        return {
            "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
            "dataset": json_dataset,
        }
    return json_dataset


def _settings(tool: str) -> str:
    if tool == "pipelinex_mlflow":
        return (
            "from pipelinex_mlflow import MLflowBasicLoggerHook\n\n"
            f'HOOKS = (MLflowBasicLoggerHook(experiment_name="{EXPERIMENT}"),)\n'
        )
    if tool == "pipelinex":
        return (
            "import os\n\nfrom pipelinex import MLflowBasicLoggerHook\n\n"
            "# Its benchmark venv has kedro-mlflow too, whose hook registers itself.\n"
            'DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")\n'
            "HOOKS = (MLflowBasicLoggerHook(\n"
            '    uri=os.environ["MLFLOW_TRACKING_URI"],\n'
            f'    experiment_name="{EXPERIMENT}",\n'
            "),)\n"
        )
    # untracked, and kedro-mlflow, whose hook registers itself (entry point).
    return "HOOKS = ()\n"


def _kedro_mlflow_yml(tracking_uri: str) -> str:
    return textwrap.dedent(
        f"""
        server:
          mlflow_tracking_uri: {tracking_uri}
        tracking:
          experiment:
            name: {EXPERIMENT}
          params:
            dict_params:
              flatten: true
              recursive: true
              sep: "."
        """
    )


def _parameters(size: Size) -> dict[str, dict[str, float]]:
    groups = size.params // 10
    return {
        f"group_{g}": {f"p{k}": round(0.1 * (g + k), 3) for k in range(10)}
        for g in range(groups)
    }


def generate(
    folder: Path, tool: str, size: int = 1, tracking_uri: str | None = None
) -> Path:
    """Write the project for ``tool`` at ``size`` into ``folder`` and return it.

    Args:
        folder: Where to write it (created).
        tool: One of :data:`TOOLS`.
        size: The factor over the default size.
        tracking_uri: The store, for kedro-mlflow's ``mlflow.yml`` (the others
            read ``MLFLOW_TRACKING_URI``).

    Raises:
        ValueError: For an unknown tool or a size below 1.
    """
    if tool not in TOOLS:
        raise ValueError(f"Unknown tool {tool!r}. Must be one of: {', '.join(TOOLS)}.")
    if size < 1:
        raise ValueError(f"size must be 1 or more, not {size!r}.")
    counts = Size.times(size)
    package = folder / "src" / PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    (folder / "conf" / "base").mkdir(parents=True, exist_ok=True)
    (folder / "conf" / "local").mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [tool.kedro]
            package_name = "{PACKAGE}"
            project_name = "{PACKAGE}"
            kedro_init_version = "1.7.0"
            source_dir = "src"
            """
        )
    )
    (package / "__init__.py").write_text('"""The benchmark project."""\n')
    (package / "nodes.py").write_text(_NODES)
    (package / "pipeline_registry.py").write_text(_pipeline_registry(counts))
    (package / "settings.py").write_text(_settings(tool))
    # JSON is YAML: no YAML writer needed to write Kedro's config.
    (folder / "conf" / "base" / "catalog.yml").write_text(
        json.dumps(_catalog(tool, counts), indent=1)
    )
    (folder / "conf" / "base" / "parameters.yml").write_text(
        json.dumps(_parameters(counts), indent=1)
    )
    if tool == "kedro_mlflow":
        if tracking_uri is None:
            raise ValueError("kedro_mlflow needs the tracking_uri for its mlflow.yml.")
        (folder / "conf" / "local" / "mlflow.yml").write_text(
            _kedro_mlflow_yml(tracking_uri)
        )
    return folder
