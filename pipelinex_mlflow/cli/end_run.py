"""``kedro mlflow end-run``: end the run that orchestrated steps shared."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pipelinex_mlflow.cli.project import Project, env_option, registered
from pipelinex_mlflow.hooks.node_timing import MLflowTimeLoggerHook
from pipelinex_mlflow.masking import mask_url_passwords
from pipelinex_mlflow.tracking import (
    RUN_KEY_ENV_VAR,
    RunRef,
    RunStatus,
    TrackingError,
    find_shared_run,
)

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

STATUSES = ("FINISHED", "FAILED", "KILLED")


@click.command(name="end-run")
@click.option(
    "--status", type=click.Choice(STATUSES), required=True, help="How the run ended."
)
@click.option(
    "--run-key",
    envvar=RUN_KEY_ENV_VAR,
    default=None,
    help=f"The key the steps shared (default: ${RUN_KEY_ENV_VAR}).",
)
@click.option("--run-id", default=None, help="End this run instead.")
@env_option
@click.pass_obj
def end_run_command(
    metadata: ProjectMetadata | None,
    status: RunStatus,
    run_key: str | None,
    run_id: str | None,
    env: str | None,
) -> None:
    """End the run that orchestrated `kedro run` steps shared, with STATUS.

    Logs __time_end and __time, rebuilds the node timeline of all steps, and
    marks the run ended. For a DAG's last step, or its failure callback.
    """
    project = Project(metadata, env)
    if not run_key and not run_id:
        raise click.UsageError(
            f"Say which run to end: --run-key (or ${RUN_KEY_ENV_VAR}) or --run-id."
        )
    try:
        run = (
            RunRef(project.tracking_uri, run_id)
            if run_id
            else find_shared_run(
                project.tracking_uri, project.experiment_name, str(run_key)
            )
        )
        if run is None:
            raise click.ClickException(
                f"No MLflow run is shared by the steps of {run_key!r} in experiment "
                f"{project.experiment_name!r} at "
                f"{mask_url_passwords(project.tracking_uri)}."
            )
        time_hook = registered(MLflowTimeLoggerHook)
        if time_hook is not None and time_hook.enable_mlflow:
            # Steps that ran at the same time each drew the chart without the other.
            time_hook.rebuild_timeline(run)
        report = project.hook.end_shared_run(run, status)
    except TrackingError as exc:
        raise click.ClickException(str(exc)) from exc
    if report:
        click.echo(f"Warning: {report.summary()}", err=True)
    click.echo(f"MLflow run {run.run_id} ended {status}.")
