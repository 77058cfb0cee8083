"""``kedro mlflow ui``: the MLflow UI on the project's experiment."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import webbrowser
from typing import TYPE_CHECKING

import click

from pipelinex_mlflow.cli.project import Project, env_option, experiment_or_exit
from pipelinex_mlflow.masking import mask_secrets, mask_url_passwords
from pipelinex_mlflow.tracking import check_reachable
from pipelinex_mlflow.tracking.stores import local_artifacts_uri

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.command(name="ui")
@click.option(
    "--host", default=None, help="Listen here. [default: ui.host, else 127.0.0.1]"
)
@click.option(
    "--port", type=int, default=None, help="Listen here. [default: ui.port, else 5000]"
)
@click.option("--no-browser", is_flag=True, help="Print the URL; open no browser.")
@env_option
@click.pass_obj
def ui_command(
    metadata: ProjectMetadata | None,
    host: str | None,
    port: int | None,
    no_browser: bool,
    env: str | None,
) -> None:
    """Open the MLflow UI on the project's experiment.

    For a local store (SQLite), start `mlflow ui` on it, with its artifacts
    folder, until Ctrl-C; for a tracking server, print and open its URL.
    """
    project = Project(metadata, env)
    ui = project.config.config.ui if project.config.config else None
    host = host or (ui.host if ui else "127.0.0.1")
    port = port or (ui.port if ui else 5000)
    uri = project.tracking_uri
    if uri.startswith(("http://", "https://")):
        try:
            check_reachable(uri, timeout_s=5)
            experiment_id = project.experiment_id()
        except Exception as exc:  # the server's own errors: open it anyway
            click.echo(f"Warning: {mask_secrets(str(exc))}", err=True)
            experiment_id = None
        _open(_experiment_url(uri, experiment_id), no_browser)
        return
    experiment_id = experiment_or_exit(project)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
    ]
    artifacts = local_artifacts_uri(uri)
    if artifacts:  # new experiments' artifacts go where the package puts them
        command += ["--artifacts-destination", artifacts]
    url = _experiment_url(f"http://{host}:{port}", experiment_id)
    click.echo(
        f"Starting the MLflow UI on {mask_url_passwords(uri)} (Ctrl-C stops it):"
    )
    click.echo(f"    {url}")
    server = subprocess.Popen(command)  # noqa: S603 - our interpreter, our arguments
    try:
        if not no_browser and _wait_healthy(f"http://{host}:{port}", server):
            webbrowser.open(url)
        server.wait()
    except KeyboardInterrupt:
        server.terminate()
        server.wait()


def _experiment_url(base: str, experiment_id: str | None) -> str:
    """The UI's page of ``experiment_id``, or its home page.

    Examples:
        >>> _experiment_url("http://127.0.0.1:5000/", "7")
        'http://127.0.0.1:5000/#/experiments/7'
        >>> _experiment_url("http://127.0.0.1:5000", None)
        'http://127.0.0.1:5000/'
    """
    root = base.rstrip("/")
    return f"{root}/#/experiments/{experiment_id}" if experiment_id else f"{root}/"


def _open(url: str, no_browser: bool) -> None:
    click.echo(f"    {url}")
    if not no_browser:
        webbrowser.open(url)


def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + _UI_START_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):  # noqa: S310
                return True
        except OSError:
            time.sleep(0.5)
    return False


_UI_START_TIMEOUT_S = 60
