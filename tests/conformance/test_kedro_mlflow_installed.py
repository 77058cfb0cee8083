"""kedro-mlflow left installed beside us: one warning with both fixes, the run still tracked.

kedro-mlflow registers its hook through a ``kedro.hooks`` entry point, so each
``kedro run`` of a project that moved to this package but kept kedro-mlflow
installed makes two MLflow runs. Without installing it, a fake one stands in:
a ``kedro_mlflow-2.0.3.dist-info`` folder declaring that entry point, and the
module it names, on the ``PYTHONPATH`` of a real ``kedro run``; Kedro finds and
registers it as it would the real one. Its hook only records that it ran; its
commands are a ``kedro mlflow`` group of its own, as kedro-mlflow's are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.conformance.projects import (
    FIND_PIPELINES_REGISTRY,
    KEDRO_TIMEOUT_S,
    copy_store,
    kedro_env,
    output_of,
    pipeline_package,
    track,
    warnings_in,
    write_files,
    write_project,
)

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = "wharf"

FAKE_KEDRO_MLFLOW = {
    "kedro_mlflow-2.0.3.dist-info/METADATA": """
        Metadata-Version: 2.1
        Name: kedro-mlflow
        Version: 2.0.3
    """,
    "kedro_mlflow-2.0.3.dist-info/entry_points.txt": """
        [kedro.hooks]
        mlflow_hook = fake_kedro_mlflow:hooks

        [kedro.project_commands]
        kedro_mlflow = fake_kedro_mlflow:commands
    """,
    "fake_kedro_mlflow.py": """
        from pathlib import Path

        import click
        from kedro.framework.hooks import hook_impl


        class FakeMlflowHook:
            \"\"\"kedro-mlflow's hook, as far as Kedro can tell: it says it ran.\"\"\"

            @hook_impl
            def before_pipeline_run(self, run_params):
                Path(run_params["project_path"], "kedro_mlflow_ran").write_text("yes")


        hooks = FakeMlflowHook()


        @click.group(name="Mlflow")
        def commands():
            \"\"\"kedro-mlflow's commands: its group is `kedro mlflow` too.\"\"\"


        @commands.group(name="mlflow")
        def mlflow_commands():
            \"\"\"kedro-mlflow's mlflow group.\"\"\"


        @mlflow_commands.command()
        def init():
            \"\"\"The fake kedro-mlflow's init.\"\"\"
    """,
}

SETTINGS = """
    from pipelinex_mlflow import MLflowBasicLoggerHook

    HOOKS = (MLflowBasicLoggerHook(),)
"""

DISABLED = '    DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow",)\n'

QUAY = pipeline_package(
    "quay",
    """
    def load(crates: int) -> int:
        return crates * 2
    """,
    """
    from kedro.pipeline import Pipeline, node

    from .nodes import load


    def create_pipeline(**kwargs) -> Pipeline:
        return Pipeline([node(load, "params:crates", "loaded", name="load")])
    """,
)


def write_wharf(folder: Path, migrated_db: Path, settings: str) -> Path:
    project = write_project(
        folder,
        PACKAGE,
        {
            "src/{package}/settings.py": settings,
            "src/{package}/pipeline_registry.py": FIND_PIPELINES_REGISTRY,
            "src/{package}/pipelines/__init__.py": "",
            **QUAY,
            "conf/base/catalog.yml": "{}\n",
            "conf/base/parameters.yml": "crates: 3\n",
        },
    )
    copy_store(migrated_db, project)
    return project


def with_fake_kedro_mlflow(folder: Path) -> dict[str, str]:
    """The environment of a ``kedro run`` that finds the fake kedro-mlflow installed."""
    write_files(folder, FAKE_KEDRO_MLFLOW)
    paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}


@pytest.mark.parametrize("disabled", [False, True], ids=["installed", "disabled"])
def test_kedro_mlflow_installed_is_warned_of_once_and_the_run_is_tracked(
    tmp_path: Path, migrated_db: Path, disabled: bool
) -> None:
    settings = SETTINGS + (DISABLED if disabled else "")
    project = write_wharf(tmp_path / "wharf", migrated_db, settings)
    env = with_fake_kedro_mlflow(tmp_path / "site")

    tracked = track(project, env=env)

    assert tracked.params == {"crates": "3"}, tracked.output
    ran = (project / "kedro_mlflow_ran").exists()
    warned = [line for line in warnings_in(tracked.result) if "kedro-mlflow" in line]
    if disabled:
        assert not ran, "DISABLE_HOOKS_FOR_PLUGINS left the hook on\n" + tracked.output
        assert warnings_in(tracked.result) == [], tracked.output
        return
    # Kedro registered the fake hook, as it does the real one.
    assert ran, output_of(tracked.result)
    assert len(warned) == 1, tracked.output
    assert "two MLflow runs" in warned[0], tracked.output
    assert "`pip uninstall kedro-mlflow`" in warned[0], tracked.output
    assert 'DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow",)' in warned[0], tracked.output


def test_our_commands_stay_reachable_when_kedro_mlflows_shadow_kedro_mlflow(
    tmp_path: Path, migrated_db: Path
) -> None:
    """Kedro gives ``kedro mlflow`` to the first plugin it finds: here, kedro-mlflow."""
    project = write_wharf(tmp_path / "wharf", migrated_db, SETTINGS)
    env = kedro_env(**with_fake_kedro_mlflow(tmp_path / "site"))

    def kedro(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "kedro", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=KEDRO_TIMEOUT_S,
            check=False,
        )
        assert result.returncode == 0, output_of(result)
        return result.stdout

    assert "The fake kedro-mlflow's init." in kedro("mlflow", "--help")
    ours = kedro("pipelinex-mlflow", "--help")
    for command in ("end-run", "init", "modelify", "replay", "runs", "ui"):
        assert f"  {command} " in ours, ours
    assert "pipelinex-mlflow" in kedro("--help")
