"""The first rule: tracking never breaks a valid pipeline, whatever step fails.

A small real project (every hook, every kind of ``MLflowDataset`` value) runs
with ``kedro run`` while one tracking step raises: the step is replaced by a
function that raises, through a ``sitecustomize`` module on ``PYTHONPATH``, so the
real code around it runs. Whatever the step, the pipeline's own result and exit
code are those of an untracked run, a warning names what was not recorded, the
run ends (it never stays RUNNING, but where ending it is the step that fails),
and what the other steps record still lands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, NamedTuple

import pytest

from tests.kedro_project import write_skeleton

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.entities import Run

PACKAGE = "first_rule"
FINAL = {"score": 1.3, "alpha": 0.5, "rows": 3}

_NODES = """
import pandas as pd


def train(model, lr):
    score = model["depth"] * lr + 1.0
    table = pd.DataFrame({"x": [1, 2, 3]})
    return score, {"kind": "ridge", "depth": model["depth"]}, {"ok": True}, table, 7


def evaluate(score, report, table, note, alpha):
    assert report == {"ok": True} and note == 7
    return {"score": round(score, 6), "alpha": alpha, "rows": len(table)}
"""

_REGISTRY = """
from kedro.pipeline import Pipeline, node

from first_rule.nodes import evaluate, train


def register_pipelines():
    return {
        "__default__": Pipeline(
            [
                node(
                    train,
                    ["params:model", "params:lr"],
                    ["score", "config", "report", "table", "note"],
                    name="train",
                ),
                node(
                    evaluate,
                    ["score", "report", "table", "note", "params:model.alpha"],
                    "final",
                    name="evaluate",
                ),
            ]
        )
    }
"""

_SETTINGS = """
from pipelinex_mlflow import (
    MLflowArtifactsLoggerHook,
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowTimeLoggerHook,
)

HOOKS = (
    MLflowBasicLoggerHook(experiment_name="first_rule"),
    MLflowTimeLoggerHook(),
    MLflowCatalogLoggerHook(auto=True),
    MLflowEnvVarsLoggerHook(param_env_vars=["FIRST_RULE_ENV"]),
    MLflowArtifactsLoggerHook(filepaths_before_pipeline_run=["conf/base"]),
)
"""

_CATALOG = """
score:
  type: pipelinex_mlflow.MLflowDataset
  dataset: m
config:
  type: pipelinex_mlflow.MLflowDataset
  dataset: p
report:
  type: pipelinex_mlflow.MLflowDataset
  dataset: json
table:
  type: pipelinex_mlflow.MLflowDataset
  dataset:
    type: pandas.CSVDataset
    filepath: data/table.csv
final:
  type: json.JSONDataset
  filepath: data/final.json
"""

# Replaces one attribute with a function that raises, before the run starts.
_SITECUSTOMIZE = """
import importlib
import os

target = os.environ.get("FIRST_RULE_FAULT")
if target:
    module_name, _, attribute = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = attribute.split(".")
    for parent in parents:
        owner = getattr(owner, parent)

    def _fault(*args, **kwargs):
        raise RuntimeError(f"injected fault in {target}")

    setattr(owner, name, _fault)
"""


class Fault(NamedTuple):
    """A tracking step made to fail, and what the run then lacks."""

    target: str
    warning: str
    missing: frozenset[str] = frozenset()


def _lacks(*recorded: str) -> frozenset[str]:
    return frozenset(recorded)


EVERYTHING = {
    "tag:kedro.runner",
    "param:model.depth",
    "param:model.alpha",
    "param:config.kind",
    "param:env..FIRST_RULE_ENV",
    "metric:score",
    "metric:note",
    "artifact:pipeline.json",
    "artifact:report.json",
    "artifact:table.csv",
    "artifact:gantt.html",
    "artifact:conf",
}


FAULTS = {
    "run tags": Fault(
        "pipelinex_mlflow.features.run_records.run_feature:run_tags",
        "could not log the run's tags",
        _lacks("tag:kedro.runner"),
    ),
    "parameters": Fault(
        "pipelinex_mlflow.features.run_records.run_feature:used_parameters",
        "could not log the run's parameters",
        _lacks("param:model.depth", "param:model.alpha"),
    ),
    "pipeline structure": Fault(
        "pipelinex_mlflow.features.pipeline_structure.run_feature:pipeline_structure",
        "could not describe the pipeline",
        _lacks("artifact:pipeline.json"),
    ),
    "lineage plan": Fault(
        "pipelinex_mlflow.features.lineage.run_feature:RunLineage.plan",
        "could not digest the run's input datasets",
    ),
    "system metrics": Fault(
        "pipelinex_mlflow.features.system_metrics.mlflow_side:SystemMetricsSampler.start_for",
        "could not start sampling system metrics",
    ),
    "runs of dead processes": Fault(
        "pipelinex_mlflow.features.liveness.run_feature:end_dead_runs",
        "could not end the runs left RUNNING",
    ),
    "node values": Fault(
        "pipelinex_mlflow.hooks.catalog_logger:split_by_kind",
        "could not log the values of node",
        _lacks("metric:note"),
    ),
    "environment variables": Fault(
        "pipelinex_mlflow.hooks.env_vars:collect_env_vars",
        "could not log environment variables",
        _lacks("param:env..FIRST_RULE_ENV"),
    ),
    "files before the run": Fault(
        "pipelinex_mlflow.hooks.artifacts:resolve_paths",
        "could not upload files before the pipeline",
        _lacks("artifact:conf"),
    ),
    "node timings": Fault(
        "pipelinex_mlflow.hooks._timed_run:unique_task_names",
        "could not collect the node timings",
        _lacks("artifact:gantt.html"),
    ),
    "trace": Fault(
        "pipelinex_mlflow.features.trace.run_feature:log_trace",
        "could not log the run's trace",
    ),
    "dataset values": Fault(
        "pipelinex_mlflow.io.backends.values:encode",
        "could not record 'score'",
        _lacks("metric:score", "param:config.kind"),
    ),
    "dataset files": Fault(
        "pipelinex_mlflow.tracking.run_logger:RunLogger.log_artifact",
        "could not record 'report'",
        _lacks("artifact:report.json", "artifact:table.csv", "artifact:conf"),
    ),
    "MLflow refuses a batch": Fault(
        "mlflow.tracking.client:MlflowClient.log_batch",
        "could not be logged",
        frozenset(e for e in EVERYTHING if not e.startswith("artifact:")),
    ),
    "MLflow refuses an upload": Fault(
        "mlflow.tracking.client:MlflowClient.log_artifact",
        "could not be logged",
        # MLflow's log_text uploads through log_artifact too; folders do not.
        frozenset(e for e in EVERYTHING if e.startswith("artifact:"))
        - {"artifact:conf"},
    ),
    "ending the run": Fault(
        "pipelinex_mlflow.core.run_ending:close_all",
        "could not end MLflow run",
    ),
    "a bug before the run exists": Fault(
        "pipelinex_mlflow.pipeline_ml.run_models:RunModels.plan",
        "the pipeline runs untracked",
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("first_rule") / "project"
    package = write_skeleton(folder, PACKAGE)
    (package / "nodes.py").write_text(textwrap.dedent(_NODES))
    (package / "pipeline_registry.py").write_text(textwrap.dedent(_REGISTRY))
    (package / "settings.py").write_text(textwrap.dedent(_SETTINGS))
    (folder / "conf" / "base" / "catalog.yml").write_text(_CATALOG)
    (folder / "conf" / "base" / "parameters.yml").write_text(
        "model:\n  depth: 3\n  alpha: 0.5\nlr: 0.1\n"
    )
    (folder / "injector").mkdir()
    (folder / "injector" / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    return folder


def _kedro_run(project: Path, tracking_uri: str, fault: str | None) -> str:
    for leftover in ("data/final.json", "data/table.csv"):
        (project / leftover).unlink(missing_ok=True)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONPATH": os.pathsep.join(
            [str(project / "injector"), os.environ.get("PYTHONPATH", "")]
        ),
        "FIRST_RULE_ENV": "on",
        # Rich wraps log lines at the terminal width; the test reads whole lines.
        "COLUMNS": "400",
        # A refused upload is retried a few times; the run need not wait long.
        "PIPELINEX_MLFLOW_FLUSH_TIMEOUT": "20",
    }
    env.pop("FIRST_RULE_FAULT", None)
    if fault is not None:
        env["FIRST_RULE_FAULT"] = fault
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, output[-5000:]
    final = json.loads((project / "data" / "final.json").read_text())
    assert final == FINAL, output[-3000:]
    return output


def _recorded(run: Run, artifacts: set[str]) -> set[str]:
    return {
        *(f"param:{k}" for k in run.data.params),
        *(f"metric:{k}" for k in run.data.metrics),
        *(f"tag:{k}" for k in run.data.tags),
        *(f"artifact:{a}" for a in artifacts),
    }


def _only_run(tracking_uri: str) -> tuple[Run, set[str]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("first_rule")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, [r.info.status for r in runs]
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    return runs[0], artifacts


def test_without_a_fault_everything_lands(project: Path, tracking_uri: str) -> None:
    _kedro_run(project, tracking_uri, None)
    run, artifacts = _only_run(tracking_uri)
    assert run.info.status == "FINISHED"
    assert _recorded(run, artifacts) >= EVERYTHING


@pytest.mark.parametrize("step", list(FAULTS))
def test_a_failing_step_is_a_warning_and_the_rest_lands(
    project: Path, tracking_uri: str, step: str
) -> None:
    fault = FAULTS[step]
    output = _kedro_run(project, tracking_uri, fault.target)
    warnings = [line for line in output.splitlines() if fault.warning in line]
    assert warnings, output[-5000:]
    if step == "a bug before the run exists":
        from mlflow.tracking import MlflowClient

        # Nothing was started, so nothing is left RUNNING either.
        experiment = MlflowClient(tracking_uri).get_experiment_by_name("first_rule")
        assert experiment is None or not MlflowClient(tracking_uri).search_runs(
            [experiment.experiment_id]
        )
        return
    run, artifacts = _only_run(tracking_uri)
    # Ending the run is the one step whose failure leaves it RUNNING; the
    # warning says so, and the next run of the project marks it FAILED.
    assert run.info.status == ("RUNNING" if step == "ending the run" else "FINISHED")
    recorded = _recorded(run, artifacts)
    assert recorded >= EVERYTHING - fault.missing, sorted(
        EVERYTHING - fault.missing - recorded
    )
    assert not recorded & fault.missing, sorted(recorded & fault.missing)
