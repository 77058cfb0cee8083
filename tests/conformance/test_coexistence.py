"""Another plugin's hooks beside ours, in either order; ``DISABLE_HOOKS_FOR_PLUGINS``.

The project ``harbour`` registers, in ``settings.py`` ``HOOKS``, a hook class of
its own written the way plugins write them: it times every node itself
(``before_node_run``/``after_node_run``), reads ``context.params`` in
``after_context_created``, counts the pipeline's nodes in
``before_pipeline_run``, and writes what it saw to a JSON file in
``after_pipeline_run``. Ours are registered before it, after it, and with
``DISABLE_HOOKS_FOR_PLUGINS`` naming pipelinex-mlflow and kedro-telemetry:
README says the package has no hook entry point (its hooks are listed in
``HOOKS`` by instance), so that setting, which only unregisters hooks that
plugins auto-register through entry points, leaves tracking on.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.conformance.projects import (
    FIND_PIPELINES_REGISTRY,
    copy_store,
    pipeline_package,
    runner_args,
    track,
    warnings_in,
    write_project,
)

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "harbour"

PLUGIN_HOOKS = """
    import json
    import threading
    import time
    from pathlib import Path

    from kedro.framework.hooks import hook_impl


    class DockTimerHooks:
        \"\"\"Another plugin: times nodes and reports what it saw.\"\"\"

        def __init__(self):
            self._lock = threading.Lock()
            self._started = {}
            self.durations = {}
            self.params = None
            self.pipeline_nodes = None
            self.session_id = None

        @hook_impl
        def after_context_created(self, context):
            self.params = context.params

        @hook_impl
        def before_pipeline_run(self, run_params, pipeline, catalog):
            self.pipeline_nodes = len(pipeline.nodes)
            self.session_id = run_params["run_id"]

        @hook_impl
        def before_node_run(self, node, inputs):
            with self._lock:
                self._started[node.name] = time.perf_counter()

        @hook_impl
        def after_node_run(self, node, outputs):
            with self._lock:
                started = self._started.pop(node.name)
                self.durations[node.name] = time.perf_counter() - started

        @hook_impl
        def after_pipeline_run(self, run_params, run_result, pipeline, catalog):
            report = {
                "params": self.params,
                "pipeline_nodes": self.pipeline_nodes,
                "session_id": self.session_id,
                "timed": sorted(self.durations),
            }
            Path("data/08_reporting").mkdir(parents=True, exist_ok=True)
            Path("data/08_reporting/dock_timer.json").write_text(json.dumps(report))


    class CrewOverride:
        \"\"\"A plugin that changes a node's inputs, as before_node_run may.\"\"\"

        @hook_impl
        def before_node_run(self, node, inputs):
            if "params:boat" in inputs:
                return {"params:boat": {**inputs["params:boat"], "crew": 6}}
            return None
"""


def _settings(hooks: str, extra: str = "") -> str:
    """``settings.py`` registering ``hooks`` (ours are ``*OURS``)."""
    return f"""
from pipelinex_mlflow import (
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowTimeLoggerHook,
)

from harbour.hooks import CrewOverride, DockTimerHooks

OURS = (
    MLflowBasicLoggerHook(),
    MLflowTimeLoggerHook(),
    MLflowCatalogLoggerHook(auto=True),
)

HOOKS = {hooks}
{extra}"""


SETTINGS = {
    "ours_first": _settings("(*OURS, DockTimerHooks())"),
    "ours_last": _settings("(DockTimerHooks(), *OURS)"),
    "disabled_for_plugins": _settings(
        "(*OURS, DockTimerHooks())",
        'DISABLE_HOOKS_FOR_PLUGINS = ("pipelinex-mlflow", "kedro-telemetry")',
    ),
    "input_override": _settings("(*OURS, DockTimerHooks(), CrewOverride())"),
}

DOCKS = pipeline_package(
    "docks",
    """
    def measure(boat: dict):
        length = boat["length"] * boat["scale"]
        return length, f"{boat['crew']} aboard", boat["crew"]


    def report(length: float, note: str, crew: int) -> dict:
        return {"length": length, "note": note, "crew": crew}
    """,
    """
    from kedro.pipeline import Pipeline, node

    from .nodes import measure, report


    def create_pipeline(**kwargs) -> Pipeline:
        return Pipeline(
            [
                node(
                    measure,
                    "params:boat",
                    ["length_m", "crew_note", "crew_size"],
                    name="measure",
                ),
                node(
                    report,
                    ["length_m", "crew_note", "crew_size"],
                    "dock_report",
                    name="report",
                ),
            ]
        )
    """,
)

CATALOG = """
    length_m:
      type: pipelinex_mlflow.MLflowDataset
      dataset: m
    dock_report:
      type: pipelinex_mlflow.MLflowDataset
      dataset: json
"""

PARAMETERS = """
    boat:
      length: 12.5
      scale: 2
      crew: 4
"""


def write_harbour(folder: Path, migrated_db: Path, variant: str) -> Path:
    project = write_project(
        folder,
        PACKAGE,
        {
            "src/{package}/hooks.py": PLUGIN_HOOKS,
            "src/{package}/settings.py": SETTINGS[variant],
            "src/{package}/pipeline_registry.py": FIND_PIPELINES_REGISTRY,
            "src/{package}/pipelines/__init__.py": "",
            **DOCKS,
            "conf/base/catalog.yml": CATALOG,
            "conf/base/parameters.yml": PARAMETERS,
        },
    )
    copy_store(migrated_db, project)
    return project


@pytest.mark.parametrize(
    ("variant", "runner"),
    [
        ("ours_first", "SequentialRunner"),
        ("ours_last", "ThreadRunner"),
        ("ours_last", "ParallelRunner"),
        ("disabled_for_plugins", "SequentialRunner"),
    ],
)
def test_another_plugins_hooks_and_ours_both_work(
    tmp_path: Path, migrated_db: Path, variant: str, runner: str
) -> None:
    project = write_harbour(tmp_path / "harbour", migrated_db, variant)
    args, env = runner_args(runner)
    tracked = track(project, *args, env=env)

    # Ours: params once, the m entry and auto-logged memory values, each node
    # timed once, the JSON artifact.
    assert tracked.params == {
        "boat.length": "12.5",
        "boat.scale": "2",
        "boat.crew": "4",
        "crew_note": "4 aboard",
    }, tracked.output
    assert set(tracked.metrics) == {"length_m", "crew_size"}, tracked.output
    assert tracked.metric_once("length_m") == 25.0
    assert tracked.metric_once("crew_size") == 4
    assert tracked.timed_nodes == {
        "measure -- length_m - crew_note - crew_size",
        "report -- dock_report",
    }
    for task in tracked.timed_nodes:
        tracked.metric_once(f"_time_to_run {task}")
    assert tracked.artifact_json("dock_report.json") == {
        "length": 25.0,
        "note": "4 aboard",
        "crew": 4,
    }
    # Theirs: it saw the params, the pipeline, the session and every node.
    report = json.loads(
        (project / "data" / "08_reporting" / "dock_timer.json").read_text()
    )
    assert report == {
        "params": {"boat": {"length": 12.5, "scale": 2, "crew": 4}},
        "pipeline_nodes": 2,
        "session_id": tracked.tags["kedro.session_id"],
        # ParallelRunner runs node hooks in its workers, on their copies of the
        # plugin's object: the one in the main process times nothing (Kedro's way).
        "timed": [] if runner == "ParallelRunner" else ["measure", "report"],
    }
    assert warnings_in(tracked.result) == [], tracked.output


def test_a_plugin_hook_changing_node_inputs_is_tracked_as_the_node_saw_it(
    tmp_path: Path, migrated_db: Path
) -> None:
    """``before_node_run`` may return new inputs; what nodes save is logged."""
    project = write_harbour(tmp_path / "harbour", migrated_db, "input_override")
    tracked = track(project)
    # The parameter as configured; the values the node computed from its inputs.
    assert tracked.params["boat.crew"] == "4"
    assert tracked.params["crew_note"] == "6 aboard"
    assert tracked.metric_once("crew_size") == 6
    assert tracked.artifact_json("dock_report.json")["crew"] == 6
