"""``kedro mlflow runs``: the experiment's recent runs, as a table."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from pipelinex_mlflow.cli.project import Project, env_option, experiment_or_exit
from pipelinex_mlflow.masking import mask_secrets, mask_url_passwords, scrubbed
from pipelinex_mlflow.tracking import (
    SHARED_RUN_KEY_TAG,
    end_dead_runs,
    get_client,
    pending_spools,
)

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.command(name="runs")
@click.option(
    "--running", is_flag=True, help="Only RUNNING runs (after marking dead ones)."
)
@click.option("--all", "show_all", is_flag=True, hidden=True)  # the old default's flip
@click.option("--limit", default=20, show_default=True, help="The most runs to list.")
@env_option
@click.pass_obj
def runs_command(
    metadata: ProjectMetadata | None,
    running: bool,
    show_all: bool,
    limit: int,
    env: str | None,
) -> None:
    """List the experiment's recent runs, after marking dead RUNNING ones FAILED.

    A table, newest first: id, status, start, duration, run name, Kedro
    pipeline and the first metrics. A run counts as dead when its process is
    gone (same machine) or sent no heartbeat for 10 minutes (another machine).
    Shared runs of orchestrated steps are left alone.
    """
    del show_all  # listing every status is the default now
    project = Project(metadata, env)
    experiment_id = experiment_or_exit(project)
    try:
        for dead in end_dead_runs(
            project.tracking_uri, [experiment_id], found_by="kedro mlflow runs"
        ):
            click.echo(f"Marked {dead.run_id} FAILED: {dead.reason}.")
        found = get_client(project.tracking_uri).search_runs(
            [experiment_id],
            filter_string="attributes.status = 'RUNNING'" if running else "",
            max_results=limit,
        )
    except Exception as exc:  # the store's own errors: one line, not a traceback
        message = mask_secrets(f"{type(exc).__name__}: {exc}")
        raise click.ClickException(message) from scrubbed(exc)
    if not found:
        click.echo(
            f"No {'RUNNING ' if running else ''}runs in experiment "
            f"{project.experiment_name!r} at {mask_url_passwords(project.tracking_uri)}."
        )
    else:
        click.echo(_RUN_ROW.format(*_RUN_COLUMNS).rstrip())
    for run in found:
        click.echo(_run_row(run))
    spools = pending_spools(project.spool_dir)
    if spools:
        click.echo(
            f"{len(spools)} spool file(s) wait in {project.spool_dir}: "
            "`kedro mlflow replay` sends them."
        )


_RUN_COLUMNS = (
    "RUN ID",
    "STATUS",
    "START (UTC)",
    "DURATION",
    "NAME",
    "PIPELINE",
    "METRICS",
)
_RUN_ROW = "{:<32}  {:<8}  {:<19}  {:>8}  {:<24}  {:<16}  {}"
#: Metrics shown per run, besides the timing ones every run has.
_SHOWN_METRICS = 3


def _run_row(run: Any) -> str:
    info, data = run.info, run.data
    started = datetime.fromtimestamp(
        (info.start_time or 0) / 1000, tz=timezone.utc
    ).strftime("%Y-%m-%d %H:%M:%S")
    duration = (
        f"{(info.end_time - info.start_time) / 1000:.1f}s"
        if info.end_time and info.start_time
        else "-"
    )
    metrics = [
        f"{key}={value:.4g}"
        for key, value in sorted(data.metrics.items())
        if not key.startswith("_")
    ]
    shown = ", ".join(metrics[:_SHOWN_METRICS]) + (
        f", +{len(metrics) - _SHOWN_METRICS}" if len(metrics) > _SHOWN_METRICS else ""
    )
    shared = data.tags.get(SHARED_RUN_KEY_TAG)
    row = _RUN_ROW.format(
        info.run_id,
        info.status,
        started,
        duration,
        info.run_name or "",
        data.tags.get("kedro.pipelines", ""),
        shown,
    ).rstrip()
    return row + (f"  shared by {shared}" if shared else "")
