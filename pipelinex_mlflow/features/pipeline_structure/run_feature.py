"""The run's pipeline as data: ``pipeline.json``, and the layers of its DAG picture.

The fields are those of Kedro's inspection API (``kedro.inspection``:
``NodeSnapshot`` and ``DatasetSnapshot``), read from the pipeline and catalog of
this run rather than from a second load of the project: a filtered run
(``--tags``, ``--from-nodes``) shows the nodes it ran. Credentials never appear:
a dataset is its type, its data's location and the factory pattern it came from,
and the whole structure, like the names the DAG picture shows, passes the masking
rule (URL passwords, a signed URL's signature: :mod:`pipelinex_mlflow.masking`).

Examples:
    >>> from kedro.io import DataCatalog
    >>> from kedro.pipeline import Pipeline, node
    >>> structure = pipeline_structure(
    ...     Pipeline([node(len, "raw", "n", name="count")]), DataCatalog(), None
    ... )
    >>> structure["nodes"][0]["name"], structure["nodes"][0]["inputs"]
    ('count', ['raw'])
"""

from __future__ import annotations

import contextlib
import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.core.run_features import RunFeature, RunScope
from pipelinex_mlflow.features.pipeline_structure.dag_picture import dag_svg
from pipelinex_mlflow.io.naming import artifacts_of_outputs, path_beside_entries
from pipelinex_mlflow.kedro_helpers import (
    dataset_type_name,
    dataset_uri,
    is_parameter,
)
from pipelinex_mlflow.masking import mask_json, mask_secrets
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

#: Bump when a field changes meaning.
SCHEMA_VERSION = 1
PIPELINE_JSON = "pipeline.json"
PIPELINE_SVG = "pipeline.svg"


class PipelineStructure(RunFeature):
    """Upload ``pipeline.json`` and, where matplotlib draws it, ``pipeline.svg``."""

    def start(self, scope: RunScope) -> None:
        """Queue both files, beside any catalog entry that takes their names."""
        with warn_on_failure(scope.owner, "describe the pipeline"):
            root = scope.run_params.get("project_path")
            structure = pipeline_structure(
                scope.pipeline, scope.catalog, Path(root) if root else None
            )
            saved = artifacts_of_outputs(scope.pipeline, scope.catalog)
            writer = type(scope.owner).__name__
            scope.logger.log_text(
                json.dumps(structure, indent=2),
                path_beside_entries(PIPELINE_JSON, saved, writer),
            )
            svg = dag_svg(*dag_layers(scope.pipeline))
            if svg is not None:
                scope.logger.log_text(
                    svg, path_beside_entries(PIPELINE_SVG, saved, writer)
                )


def pipeline_structure(
    pipeline: Pipeline, catalog: CatalogProtocol[Any, Any], project_path: Path | None
) -> dict[str, Any]:
    """``pipeline.json``: nodes in run order, datasets, the pipeline's inputs and outputs."""
    nodes = [_node(node, project_path) for node in pipeline.nodes]
    datasets = {
        name: _dataset(name, catalog)
        for name in sorted(pipeline.datasets())
        if not is_parameter(name)
    }
    structure = {
        "schema_version": SCHEMA_VERSION,
        "nodes": nodes,
        "datasets": datasets,
        "parameters": sorted(n for n in pipeline.datasets() if is_parameter(n)),
        "inputs": sorted(pipeline.inputs()),
        "outputs": sorted(pipeline.outputs()),
    }
    masked: dict[str, Any] = mask_json(structure)
    return masked


def _node(node: Node, project_path: Path | None) -> dict[str, Any]:
    func = inspect.unwrap(node.func)
    return {
        "name": node.name,
        "func_name": getattr(func, "__qualname__", type(func).__name__),
        "module": getattr(func, "__module__", None),
        "namespace": node.namespace,
        "tags": sorted(node.tags),
        "inputs": list(node.inputs),
        "outputs": list(node.outputs),
        "source": _source(func, project_path),
    }


def _source(func: Any, project_path: Path | None) -> dict[str, Any] | None:
    try:
        filepath = Path(inspect.getsourcefile(func) or "")
        lines, line_start = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return None
    if project_path is not None:
        # A function of an installed package keeps its absolute path.
        with contextlib.suppress(ValueError):
            filepath = filepath.resolve().relative_to(project_path.resolve())
    return {
        "filepath": filepath.as_posix(),
        "line_start": line_start,
        "line_end": line_start + len(lines) - 1,
    }


def _dataset(name: str, catalog: CatalogProtocol[Any, Any]) -> dict[str, Any]:
    resolver = getattr(catalog, "config_resolver", None)
    pattern = None
    if resolver is not None:
        try:
            pattern = resolver.match_dataset_pattern(name)
        except Exception:  # a resolver without patterns
            pattern = None
    try:
        dataset = catalog.get(name)
    except Exception:  # an entry that no longer resolves
        dataset = None
    if dataset is None:
        return {
            "type": "MemoryDataset (made by Kedro)",
            "filepath": None,
            "factory": None,
        }
    uri = dataset_uri(dataset)
    return {
        "type": dataset_type_name(dataset),
        "filepath": uri or None,
        "factory": pattern,
    }


def dag_layers(pipeline: Pipeline) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """The nodes by topological layer, and the edges producer -> consumer.

    Examples:
        >>> from kedro.pipeline import Pipeline, node
        >>> def f(x):
        ...     return x
        >>> dag_layers(
        ...     Pipeline([node(f, "a", "b", name="one"), node(f, "b", "c", name="two")])
        ... )
        ([['one'], ['two']], [('one', 'two')])
    """
    # The picture's labels are node names, masked as every text we upload.
    layers = [
        sorted(mask_secrets(n.name) for n in group) for group in pipeline.grouped_nodes
    ]
    producers = {out: mask_secrets(n.name) for n in pipeline.nodes for out in n.outputs}
    edges = sorted(
        {
            (producers[name], mask_secrets(node.name))
            for node in pipeline.nodes
            for name in node.inputs
            if name in producers
        }
    )
    return layers, edges
