"""``kedro mlflow replay``: send spooled values, files and run ends into their runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipelinex_mlflow.cli.project import Project, env_option
from pipelinex_mlflow.tracking import TrackingError, pending_spools, replay

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.command(name="replay")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--uri",
    default=None,
    help="Send to this tracking URI instead of the one each spool file names "
    "(which must be the project's otherwise).",
)
@env_option
@click.pass_obj
def replay_command(
    metadata: ProjectMetadata | None,
    paths: tuple[Path, ...],
    uri: str | None,
    env: str | None,
) -> None:
    """Send spooled values, files and run ends into their runs, once.

    PATHS are spool files; by default every one in the project's mlflow_spool/
    folder that was not replayed yet. A replayed file is renamed
    <run id>.replayed.zip, also when the store refused some of it for good (named,
    exit 1). A spool naming another store than the project's is not sent (MLflow
    would send it the project's credentials) unless --uri says where to send it.
    """
    if metadata is None and paths and uri is None:
        raise click.UsageError(
            "Run `kedro mlflow replay` inside the Kedro project, whose tracking URI "
            "each spool must name, or pass --uri <uri> to send to a store you choose."
        )
    project = Project(metadata, env) if uri is None or not paths else None
    project_uri = project.tracking_uri if project and uri is None else None
    files = list(paths) or pending_spools(project.spool_dir if project else None)
    if not files:
        click.echo("Nothing to replay: no spool files.")
        return
    failed = 0
    for path in files:
        try:
            result = replay(path, uri, project_uri=project_uri)
        except TrackingError as exc:
            failed += 1
            click.echo(f"Error: {exc}", err=True)
            continue
        ended = f", ended it {result.status}" if result.status else ""
        click.echo(
            f"Replayed {path.name}: {result.values} value(s) and {result.files} "
            f"file(s) into MLflow run {result.run.run_id}{ended}."
        )
        if result.lost:
            failed += 1
            click.echo(f"Error: {path.name}: {result.lost}.", err=True)
    if failed:
        sys.exit(1)
