"""A small real Kedro project configured by ``mlflow.yml``, and a way to run it in-process.

One pipeline, ``__default__`` (also registered as ``train``): ``train`` reads
``params:model`` and returns ``score`` (an ``MLflowDataset`` metric), ``note``
(a number kept in memory, which ``MLflowCatalogLoggerHook`` auto-logs) and
``token_seen`` (1.0 when ``MLFLOW_TRACKING_TOKEN`` is set in the node's process,
kept in memory too). ``settings.py`` registers the hooks given to
:func:`generate`, as Python source.
"""

from __future__ import annotations

import textwrap
import uuid
from typing import TYPE_CHECKING

from tests.kedro_project import write_skeleton

if TYPE_CHECKING:
    from pathlib import Path


ALL_HOOKS = (
    "MLflowBasicLoggerHook(), MLflowTimeLoggerHook(), MLflowCatalogLoggerHook(), "
    "MLflowEnvVarsLoggerHook(), MLflowArtifactsLoggerHook()"
)

_NODES = '''
"""Nodes: no MLflow."""

import os


def train(model):
    return model["depth"] * 0.25, 7.0, float(os.environ.get("MLFLOW_TRACKING_TOKEN") == "{token}")
'''

_REGISTRY = """
from kedro.pipeline import Pipeline, node

from {package}.nodes import train


def register_pipelines():
    pipeline = Pipeline(
        [node(train, "params:model", ["score", "note", "token_seen"], name="train")]
    )
    return {{"__default__": pipeline, "train": pipeline}}
"""

_SETTINGS = """
from pipelinex_mlflow import (
    MLflowArtifactsLoggerHook,
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowTimeLoggerHook,
)

HOOKS = ({hooks},)
"""

#: What the node compares MLFLOW_TRACKING_TOKEN with.
TOKEN = "tok-3f9a1c-never-logged"  # noqa: S105 - a planted test secret


def generate(
    folder: Path,
    *,
    hooks: str = "MLflowBasicLoggerHook()",
    files: dict[str, str] | None = None,
) -> tuple[Path, str]:
    """Write the project into ``folder``; return it and its (unique) package name.

    Args:
        folder: Created.
        hooks: The ``HOOKS`` tuple's items, as Python source.
        files: More files, by path relative to the project (``conf/base/mlflow.yml``),
            dedented.
    """
    package = f"configured_{uuid.uuid4().hex[:8]}"
    source = write_skeleton(folder, package)
    (source / "nodes.py").write_text(_NODES.replace("{token}", TOKEN))
    (source / "pipeline_registry.py").write_text(_REGISTRY.format(package=package))
    (source / "settings.py").write_text(_SETTINGS.format(hooks=hooks))
    (folder / "conf" / "base" / "parameters.yml").write_text("model:\n  depth: 3\n")
    (folder / "conf" / "base" / "catalog.yml").write_text(
        "score:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: m\n"
    )
    for relative, text in (files or {}).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder, package
