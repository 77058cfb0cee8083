"""A three-node Kedro project to interrupt at chosen moments, and a way to run it.

``first`` -> ``a`` -> ``slow`` -> ``b`` -> ``last`` -> ``c``, each node adding one to
its input. ``a`` is a file the project's ``Pausing`` dataset writes; ``b`` and
``c`` stay in memory. ``INTERRUPTION_ACTIONS`` makes the run pause where a test
wants to interrupt it, each pause first logging ``Pausing at <place>``:

- ``slow``: in the node ``slow``'s function;
- ``save:a``: while ``a`` is saved;
- ``after:first``: in the project's own ``after_node_run`` hook for ``first``,
  which runs before MLflowTimeLoggerHook's (pluggy calls the hooks registered
  last first);
- ``after:pipeline``: in the project's own ``after_pipeline_run`` hook, once
  every node ran, before MLflowTimeLoggerHook's.

``INTERRUPTION_ACTIONS="slow=30;save:a=30"`` pauses 30 s at each of those places.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.kedro_project import write_skeleton

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "interrupted"
EXPERIMENT = "interruptions"
NODES = ("first", "slow", "last")
_OUTPUTS = {"first": "a", "slow": "b", "last": "c"}

_PAUSES = """
import logging
import os
import time

logger = logging.getLogger(__name__)


def pause(place):
    actions = dict(
        part.split("=", 1)
        for part in os.environ.get("INTERRUPTION_ACTIONS", "").split(";")
        if part
    )
    if place in actions:
        logger.warning("Pausing at %s", place)
        time.sleep(float(actions[place]))
"""

_NODES = """
from {package}.pauses import pause


def first(start):
    pause("first")
    return start + 1


def slow(a):
    pause("slow")
    return a + 1


def last(b):
    pause("last")
    return b + 1
"""

_DATASET = """
from pathlib import Path

from kedro.io import AbstractDataset

from {package}.pauses import pause


class Pausing(AbstractDataset):
    def __init__(self, filepath, name):
        self._path = Path(filepath)
        self._name = name

    def load(self):
        return float(self._path.read_text())

    def save(self, data):
        pause(f"save:{{self._name}}")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(str(data))

    def _exists(self):
        return self._path.exists()

    def _describe(self):
        return {{"filepath": str(self._path)}}
"""

_REGISTRY = """
from kedro.pipeline import Pipeline, node

from {package}.nodes import first, last, slow


def register_pipelines():
    return {{
        "__default__": Pipeline(
            [
                node(first, "params:start", "a", name="first"),
                node(slow, "a", "b", name="slow"),
                node(last, "b", "c", name="last"),
            ]
        )
    }}
"""

_SETTINGS = """
from kedro.framework.hooks import hook_impl

from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowTimeLoggerHook
from {package}.pauses import pause


class ProjectHooks:
    @hook_impl
    def after_node_run(self, node):
        pause(f"after:{{node.name}}")

    @hook_impl
    def after_pipeline_run(self):
        pause("after:pipeline")


HOOKS = (
    MLflowBasicLoggerHook(experiment_name="{experiment}"),
    MLflowTimeLoggerHook(),
    ProjectHooks(),
)
"""


def generate(folder: Path) -> Path:
    """Write the project into ``folder`` (created) and return it."""
    package = write_skeleton(folder, PACKAGE)
    (package / "pauses.py").write_text(_PAUSES)
    for name, text in (
        ("nodes.py", _NODES),
        ("datasets.py", _DATASET),
        ("pipeline_registry.py", _REGISTRY),
        ("settings.py", _SETTINGS),
    ):
        (package / name).write_text(text.format(package=PACKAGE, experiment=EXPERIMENT))
    (folder / "conf" / "base" / "parameters.yml").write_text("start: 1.0\n")
    (folder / "conf" / "base" / "catalog.yml").write_text(
        f"a:\n  type: {PACKAGE}.datasets.Pausing\n  filepath: data/a.txt\n  name: a\n"
    )
    return folder


def task_name(node: str) -> str:
    """The timing name of ``node``: PipelineX's ``<function> -- <outputs>``."""
    return f"{node} -- {_OUTPUTS[node]}"
