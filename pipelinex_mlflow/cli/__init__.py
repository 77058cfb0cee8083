"""``kedro mlflow``: set up mlflow.yml, list runs, open the UI, replay, end, log a model.

The commands find the tracking store and experiment the way the project's
``MLflowBasicLoggerHook`` (registered in ``settings.py``) does, so they need no
options in a project set up as the README shows. Each command is one module
here (:mod:`~pipelinex_mlflow.cli.project` finds the project for all of them);
a new command is one module and one ``add_command`` line below.

Examples:
    .. code-block:: console

        $ kedro mlflow init                    # a commented conf/local/mlflow.yml
        $ kedro mlflow replay                  # every spool file of the project
        $ kedro mlflow runs                    # recent runs; dead ones marked FAILED
        $ kedro mlflow ui                      # the MLflow UI on the project's runs
        $ PIPELINEX_MLFLOW_RUN_KEY=nightly-42 kedro mlflow end-run --status FINISHED
        $ kedro mlflow modelify --pipeline training --run-id 0123abcd...
        $ kedro pipelinex-mlflow runs          # the same, with kedro-mlflow installed
"""

from __future__ import annotations

import click

from pipelinex_mlflow.cli.end_run import end_run_command
from pipelinex_mlflow.cli.init import init_command
from pipelinex_mlflow.cli.modelify import modelify_command
from pipelinex_mlflow.cli.replay import replay_command
from pipelinex_mlflow.cli.runs import runs_command
from pipelinex_mlflow.cli.ui import ui_command
from pipelinex_mlflow.core.other_plugins import (
    COMMANDS_ENTRY_POINT_GROUP,
    active_plugins,
    plugins_declaring,
)

__all__ = ["ALIAS", "commands"]

#: The second name of ``kedro mlflow``: kedro-mlflow's commands are ``kedro mlflow``
#: too, and Kedro gives the name to whichever plugin it finds first.
ALIAS = "pipelinex-mlflow"


@click.group(name="pipelinex_mlflow")
def commands() -> None:
    """Commands of pipelinex_mlflow (Kedro loads them into ``kedro``)."""


@commands.group(name="mlflow")
def mlflow_commands() -> None:
    """Work with this project's MLflow runs (pipelinex_mlflow)."""


mlflow_commands.add_command(init_command)
mlflow_commands.add_command(replay_command)
mlflow_commands.add_command(runs_command)
mlflow_commands.add_command(ui_command)
mlflow_commands.add_command(end_run_command)
mlflow_commands.add_command(modelify_command)

# Listed in ``kedro --help`` only when kedro-mlflow may shadow ``kedro mlflow``.
commands.add_command(
    click.Group(
        name=ALIAS,
        commands=dict(mlflow_commands.commands),
        help=(
            "pipelinex_mlflow's `kedro mlflow` commands, under a name kedro-mlflow's "
            "`kedro mlflow` cannot shadow (`pip uninstall kedro-mlflow` gives "
            "`kedro mlflow` back)."
        ),
        hidden=not active_plugins(
            plugins_declaring(COMMANDS_ENTRY_POINT_GROUP), disabled=()
        ),
    )
)
