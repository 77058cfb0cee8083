"""Projects configured by ``mlflow.yml``, bootstrapped in this process and forgotten after."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import pytest

from pipelinex_mlflow import config as config_module
from tests.config_project import generate

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from kedro.framework.startup import ProjectMetadata


@pytest.fixture
def make_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., ProjectMetadata]]:
    """``make_project(hooks=..., files={...})``: generate and bootstrap a project."""
    from kedro.framework import project as kedro_project
    from kedro.framework.startup import bootstrap_project

    settings, pipelines = kedro_project.settings, kedro_project.pipelines
    previous = settings._wrapped, vars(pipelines).copy(), kedro_project.PACKAGE_NAME
    packages: list[str] = []

    def make(**kwargs: Any) -> ProjectMetadata:
        folder, package = generate(tmp_path / f"project{len(packages)}", **kwargs)
        packages.append(package)
        monkeypatch.chdir(folder)
        return bootstrap_project(folder)

    monkeypatch.setattr(config_module, "_last_read", None)
    monkeypatch.setattr(config_module, "_current", None)
    yield make
    settings._wrapped = previous[0]
    vars(pipelines).update(previous[1])
    kedro_project.PACKAGE_NAME = previous[2]
    for module in [m for m in sys.modules if m.split(".")[0] in packages]:
        del sys.modules[module]
