"""A small real Kedro project for the reliability tests, and a way to run it.

``steps`` nodes in a chain, ``step_0`` ... ``step_<n-1>``. Each waits
``RELIABILITY_PAUSE_S`` seconds (0.3 by default), then returns:

- ``score_<i>``: an ``MLflowDataset`` metric (``m``), which the next step loads
  back (from the run, so steps may run in separate processes);
- ``note_<i>``: a number kept in memory, which ``MLflowCatalogLoggerHook``
  auto-logs;
- ``report_<i>``: a JSON artifact (``MLflowDataset`` ``json``).

``step_0`` reads the parameters ``lr`` and ``model`` (logged by
``MLflowBasicLoggerHook``). All three companion hooks that buffer are registered
(basic, time, catalog). ``RELIABILITY_ACTIONS`` makes nodes do something before
they return: ``step_3=killpg:<pgid>;step_4=await:<url>`` has ``step_3`` SIGKILL
a process group (a server) and ``step_4`` wait until ``<url>`` answers again.
The actions: ``kill:<pid>`` (or ``kill:self``), ``killpg:<pgid>``,
``sleep:<seconds>``, ``await:<url>``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.kedro_project import write_skeleton

PACKAGE = "reliable"
EXPERIMENT = "reliability"

_NODES = """
import json
import os
import signal
import time


def _act(name):
    actions = dict(
        part.split("=", 1)
        for part in os.environ.get("RELIABILITY_ACTIONS", "").split(";")
        if part
    )
    kind, _, arg = actions.get(name, "").partition(":")
    if kind == "kill":
        os.kill(os.getpid() if arg == "self" else int(arg), signal.SIGKILL)
        time.sleep(1)
    elif kind == "killpg":
        os.killpg(int(arg), signal.SIGKILL)
        time.sleep(1)
    elif kind == "sleep":
        time.sleep(float(arg))
    elif kind == "await":
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(arg + "/health", timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)


def step(previous, lr, model, *, index):
    time.sleep(float(os.environ.get("RELIABILITY_PAUSE_S", "0.3")))
    _act(f"step_{index}")
    score = float(previous) + lr * model["depth"] + index
    return score, score / 2, {"step": index, "score": score}
"""

_REGISTRY = """
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from {package}.nodes import step


def register_pipelines():
    nodes = []
    for i in range({steps}):
        func = update_wrapper(partial(step, index=i), step)
        previous = f"score_{{i - 1}}" if i else "params:start"
        nodes.append(
            node(
                func,
                [previous, "params:lr", "params:model"],
                [f"score_{{i}}", f"note_{{i}}", f"report_{{i}}"],
                name=f"step_{{i}}",
            )
        )
    return {{"__default__": Pipeline(nodes)}}
"""

_SETTINGS = """
import os

from pipelinex_mlflow import (
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowTimeLoggerHook,
)

HOOKS = (
    MLflowBasicLoggerHook(
        experiment_name="{experiment}",
        flush_timeout=float(os.environ.get("RELIABILITY_FLUSH_TIMEOUT", "60")),
    ),
    MLflowTimeLoggerHook(),
    MLflowCatalogLoggerHook(auto=True),
)
"""


#: A ``logging.yml`` that prints one plain line per record (Kedro's rich handler
#: wraps lines, which splits the messages tests look for).
PLAIN_LOGGING = """
version: 1
disable_existing_loggers: false
formatters:
  plain:
    format: "%(levelname)s %(name)s: %(message)s"
handlers:
  console:
    class: logging.StreamHandler
    formatter: plain
    stream: ext://sys.stderr
root:
  level: INFO
  handlers: [console]
"""


def generate(folder: Path, steps: int = 6) -> Path:
    """Write the project into ``folder`` (created) and return it."""
    package = write_skeleton(folder, PACKAGE)
    (package / "nodes.py").write_text(_NODES)
    (package / "pipeline_registry.py").write_text(
        _REGISTRY.format(package=PACKAGE, steps=steps)
    )
    (package / "settings.py").write_text(_SETTINGS.format(experiment=EXPERIMENT))
    (folder / "conf" / "base" / "parameters.yml").write_text(
        "start: 1.0\nlr: 0.5\nmodel:\n  depth: 3\n"
    )
    catalog = []
    for i in range(steps):
        catalog.append(
            f"score_{i}:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: m\n"
        )
        catalog.append(
            f"report_{i}:\n  type: pipelinex_mlflow.MLflowDataset\n  dataset: json\n"
        )
    (folder / "conf" / "base" / "catalog.yml").write_text("".join(catalog))
    return folder


def task_name(index: int) -> str:
    """The timing name of ``step_<index>``: PipelineX's ``<function> -- <outputs>``."""
    return f"step -- score_{index} - note_{index} - report_{index}"


def kedro_env(tracking_uri: str, **extra: str) -> dict[str, str]:
    """The environment of a ``kedro`` command against ``tracking_uri``."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",
        # Rich wraps log lines at the terminal width; tests read whole lines.
        "COLUMNS": "400",
    }
    for name in ("PIPELINEX_MLFLOW_RUN_ID", "PIPELINEX_MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    env.update(extra)
    return env


def kedro(
    project: Path, *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``kedro <args>`` in ``project`` and return what it did."""
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_kedro(
    project: Path, *args: str, env: dict[str, str]
) -> subprocess.Popen[str]:
    """Start ``kedro <args>`` in ``project``; its output goes to ``project/out.log``."""
    with (project / "out.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "kedro", *args],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def output_of(result: Any) -> str:
    """Both streams of a finished ``kedro`` command, for assertion messages."""
    return f"{result.stdout}\n{result.stderr}"
