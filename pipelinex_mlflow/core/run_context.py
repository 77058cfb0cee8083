"""Describes a Kedro run for MLflow tags: command line, runner, git state, host."""

from __future__ import annotations

import getpass
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipelinex_mlflow.kedro_helpers import project_root
from pipelinex_mlflow.masking import mask_secrets, mask_value
from pipelinex_mlflow.tracking import flatten_dict

_GIT_TIMEOUT_S = 5
_RUNNER_NAME = re.compile(r"(\w*Runner)\b")
# kedro run option for each run_params key whose value is a list of names.
_LIST_OPTIONS = {
    "pipeline_names": "--pipelines",
    "tags": "--tags",
    "node_names": "--nodes",
    "from_nodes": "--from-nodes",
    "to_nodes": "--to-nodes",
    "from_inputs": "--from-inputs",
    "to_outputs": "--to-outputs",
    "namespaces": "--namespaces",
}


def runner_name(run_params: dict[str, Any]) -> str:
    """Return the runner's class name from Kedro's ``run_params["runner"]`` string.

    Kedro records ``str(runner)`` (``"<kedro.runner...ThreadRunner object at 0x…>"``),
    or ``"None"`` when the default ``SequentialRunner`` was used.

    Examples:
        >>> runner_name({"runner": "<kedro.runner.ThreadRunner object at 0x7f>"})
        'ThreadRunner'
        >>> runner_name({"runner": "None"})
        'SequentialRunner'
    """
    match = _RUNNER_NAME.search(str(run_params.get("runner") or ""))
    return match.group(1) if match else "SequentialRunner"


def kedro_command(run_params: dict[str, Any], argv: list[str] | None = None) -> str:
    """Return the ``kedro run`` command that reproduces this run.

    The real command line when the run came from the ``kedro`` CLI, else one
    rebuilt from ``run_params`` (for runs started through ``KedroSession.run``).
    Secrets are masked: ``--params`` values whose key looks secret, and secrets
    inside any argument (:mod:`pipelinex_mlflow.masking`).

    Examples:
        >>> kedro_command(
        ...     {"pipeline_names": ["train"], "runtime_params": {"a": {"b": 1}}},
        ...     argv=["python"],
        ... )
        'kedro run --pipelines=train --params=a.b=1'
        >>> kedro_command({}, argv=["kedro", "run", "--params", "db_password=hunter2"])
        "kedro run --params 'db_password=*****'"
    """
    argv = sys.argv if argv is None else argv
    if argv and Path(argv[0]).name == "kedro" and "run" in argv[1:]:
        return shlex.join(["kedro", *(mask_secrets(arg) for arg in argv[1:])])
    parts = ["kedro", "run"]
    for key, option in _LIST_OPTIONS.items():
        values = run_params.get(key) or ()
        if values:
            parts.append(f"{option}={','.join(map(str, values))}")
    if run_params.get("env"):
        parts.append(f"--env={run_params['env']}")
    runner = runner_name(run_params)
    if runner != "SequentialRunner":
        parts.append(f"--runner={runner}")
    load_versions = run_params.get("load_versions") or {}
    if load_versions:
        pairs = ",".join(f"{k}:{v}" for k, v in load_versions.items())
        parts.append(f"--load-versions={pairs}")
    runtime_params = flatten_dict(run_params.get("runtime_params") or {})
    if runtime_params:
        pairs = ",".join(
            f"{k}={mask_value(k, str(v))}" for k, v in runtime_params.items()
        )
        parts.append(f"--params={pairs}")
    if run_params.get("only_missing_outputs"):
        parts.append("--only-missing-outputs")
    return shlex.join(parts)


def effective_run_params(run_params: dict[str, Any]) -> dict[str, Any]:
    """``run_params`` with what Kedro used where it records "not given".

    ``env=None`` ran in ``local``, ``pipeline_names=[]`` ran ``__default__`` and
    ``runner="None"`` ran the ``SequentialRunner``: logged as such, so the params
    agree with the ``kedro.*`` tags.

    Examples:
        >>> effective_run_params({"env": None, "pipeline_names": [], "runner": "None"})
        {'env': 'local', 'pipeline_names': ['__default__'], 'runner': 'SequentialRunner'}
    """
    effective = dict(run_params)
    if "env" in effective:
        effective["env"] = run_params["env"] or "local"
    if "pipeline_names" in effective:
        effective["pipeline_names"] = list(run_params["pipeline_names"] or ()) or [
            "__default__"
        ]
    if "runner" in effective:
        effective["runner"] = runner_name(run_params)
    return effective


def run_tags(run_params: dict[str, Any]) -> dict[str, Any]:
    """The tags that describe a Kedro run: command, env, pipelines, runner, git, host.

    Examples:
        >>> tags = run_tags({"env": "prod", "pipeline_names": ["train"]})
        >>> tags["kedro.env"], tags["kedro.pipelines"], tags["kedro.runner"]
        ('prod', 'train', 'SequentialRunner')
    """
    project_path = run_params.get("project_path")
    tags: dict[str, Any] = {
        "kedro.command": kedro_command(run_params),
        "kedro.env": run_params.get("env") or "local",
        "kedro.pipelines": ",".join(run_params.get("pipeline_names") or ())
        or "__default__",
        "kedro.runner": runner_name(run_params),
        "kedro.session_id": run_params.get("run_id", ""),
        "kedro.version": run_params.get("kedro_version", ""),
        "mlflow.user": user_name(),
        "mlflow.source.name": Path(project_path).name if project_path else "kedro",
        "mlflow.source.type": "LOCAL",
        "host": host_name(),
    }
    for key in ("tags", "namespaces", "node_names"):
        if run_params.get(key):
            tags[f"kedro.{key}"] = ",".join(map(str, run_params[key]))
    return {**tags, **git_tags(project_path)}


def git_tags(project_path: Path | str | None) -> dict[str, str]:
    """Return the git commit, branch and dirty flag of the project, if it is a checkout.

    The keys are MLflow's own (``mlflow.source.git.*``) where MLflow has one, so the
    MLflow UI shows them in the run's source column.
    """
    cwd = str(project_root(project_path))
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return {}
    tags = {"mlflow.source.git.commit": commit}
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch != "HEAD":
        tags["mlflow.source.git.branch"] = branch
    status = _git(cwd, "status", "--porcelain")
    if status is not None:
        tags["git.dirty"] = str(bool(status)).lower()
    return tags


def _git(cwd: str, *args: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed git arguments, no shell
            ["git", *args],  # noqa: S607 - git from PATH, like a developer's shell
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def user_name() -> str:
    """Return the login name, or ``"unknown"`` where the OS cannot tell."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def host_name() -> str:
    """Return this machine's host name."""
    return socket.gethostname()
