"""``kedro mlflow``: set up mlflow.yml, list runs, open the UI, replay, end, log a model.

The commands find the tracking store and experiment the way the project's
``MLflowBasicLoggerHook`` (registered in ``settings.py``) does, so they need no
options in a project set up as the README shows.

Examples:
    .. code-block:: console

        $ kedro mlflow init                    # a commented conf/local/mlflow.yml
        $ kedro mlflow replay                  # every spool file of the project
        $ kedro mlflow runs                    # recent runs; dead ones marked FAILED
        $ kedro mlflow ui                      # the MLflow UI on the project's runs
        $ PIPELINEX_MLFLOW_RUN_KEY=nightly-42 kedro mlflow end-run --status FINISHED
        $ kedro mlflow modelify --pipeline training --run-id 0123abcd...
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import webbrowser
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from kedro.framework.cli.utils import _split_params

from pipelinex_mlflow.config import (
    MlflowConfigError,
    load_project_config,
    template_text,
)
from pipelinex_mlflow.hooks._configurable import apply_config
from pipelinex_mlflow.hooks.node_timing import MLflowTimeLoggerHook
from pipelinex_mlflow.hooks.run_lifecycle import MLflowBasicLoggerHook
from pipelinex_mlflow.io import MLflowDataSet
from pipelinex_mlflow.io.naming import name_mlflow_datasets
from pipelinex_mlflow.masking import mask_secrets, mask_url_passwords, scrubbed
from pipelinex_mlflow.pipeline_ml import (
    PipelineModelError,
    combined,
    log_prepared_model,
    prepare_pipeline_model,
    select_spec,
)
from pipelinex_mlflow.tracking import (
    RUN_KEY_ENV_VAR,
    SHARED_RUN_KEY_TAG,
    RunEnd,
    RunLogger,
    RunRef,
    RunStatus,
    TrackingError,
    check_reachable,
    close_all,
    end_dead_runs,
    find_shared_run,
    get_client,
    open_run,
    pending_spools,
    replay,
    set_current_run,
    set_spool_dir,
)
from pipelinex_mlflow.tracking.spool import DEFAULT_SPOOL_DIR_NAME
from pipelinex_mlflow.tracking.stores import local_artifacts_uri

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader
    from kedro.framework.startup import ProjectMetadata

STATUSES = ("FINISHED", "FAILED", "KILLED")


@click.group(name="pipelinex_mlflow")
def commands() -> None:
    """Commands of pipelinex_mlflow (Kedro loads them into ``kedro``)."""


@commands.group(name="mlflow")
def mlflow_commands() -> None:
    """Work with this project's MLflow runs (pipelinex_mlflow)."""


def _in_project(metadata: ProjectMetadata | None) -> ProjectMetadata:
    if metadata is None:
        raise click.UsageError(
            "Run `kedro mlflow` inside a Kedro project (the folder with "
            "pyproject.toml)."
        )
    return metadata


class _Project:
    """The store, experiment and spool folder of the project's tracked runs.

    Found as ``kedro run`` finds them: the ``settings.py`` hook, over the
    environment's ``mlflow.yml``.
    """

    def __init__(
        self, metadata: ProjectMetadata | None, env: str | None = None
    ) -> None:
        self.root = Path(_in_project(metadata).project_path)
        self.hook = _registered(MLflowBasicLoggerHook) or MLflowBasicLoggerHook()
        try:
            self.config = load_project_config(_config_loader(self.root, env))
            apply_config(self.hook, self.config)
            self.tracking_uri = self.hook.tracking_uri(self.root)
        except (TrackingError, MlflowConfigError) as exc:
            raise click.ClickException(str(exc)) from None
        self.experiment_name = self.hook.resolved_experiment_name()
        self.spool_dir = self.root / DEFAULT_SPOOL_DIR_NAME
        set_spool_dir(self.spool_dir)

    def experiment_id(self) -> str | None:
        experiment = get_client(self.tracking_uri).get_experiment_by_name(
            self.experiment_name
        )
        return None if experiment is None else str(experiment.experiment_id)


def _config_loader(root: Path, env: str | None) -> AbstractConfigLoader:
    """The project's config loader for ``env``, made as Kedro's context makes it."""
    from kedro.framework.project import settings

    loader: AbstractConfigLoader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(root / settings.CONF_SOURCE),
        env=env,
        **settings.CONFIG_LOADER_ARGS,
    )
    return loader


HookType = TypeVar("HookType")


def _registered(kind: type[HookType]) -> HookType | None:
    """The project's hook of ``kind`` in ``settings.HOOKS``, if registered."""
    from kedro.framework.project import settings

    for hook in settings.HOOKS:
        if isinstance(hook, kind):
            return hook
    return None


#: What a project's git repository should not hold: the local store, its
#: artifacts, and values spooled for `kedro mlflow replay` (Kedro's template
#: ignores only mlruns/).
GITIGNORE_LINES = ("mlflow.db", "mlartifacts/", "mlflow_spool/")


@mlflow_commands.command(name="init")
@click.option(
    "--env",
    "-e",
    default="local",
    show_default=True,
    help="Write conf/<env>/mlflow.yml.",
)
@click.option("--force", "-f", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def init_command(metadata: ProjectMetadata | None, env: str, force: bool) -> None:
    """Write a commented mlflow.yml for ENV and ignore the local store in git.

    The experiment is named after the project's package. Every other key is
    written commented out, with its default; uncomment what you change. Adds
    mlflow.db, mlartifacts/ and mlflow_spool/ to the project's .gitignore.
    """
    from kedro.framework.project import settings

    project = _in_project(metadata)
    root = Path(project.project_path)
    target = root / settings.CONF_SOURCE / env / "mlflow.yml"
    if target.exists() and not force:
        raise click.ClickException(
            f"{target.relative_to(root)} exists; pass --force to overwrite it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(template_text(project.package_name), encoding="utf-8")
    click.echo(f"Wrote {target.relative_to(root)}.")
    added = _ignore_in_git(root / ".gitignore", GITIGNORE_LINES)
    if added:
        click.echo(f"Added {', '.join(added)} to .gitignore.")


def _ignore_in_git(gitignore: Path, lines: tuple[str, ...]) -> list[str]:
    """Append the ``lines`` that ``gitignore`` lacks; return them."""
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in lines if line not in present]
    if missing:
        prefix = "" if not text or text.endswith("\n") else "\n"
        block = "\n# pipelinex_mlflow: the local MLflow store and its spool\n"
        gitignore.write_text(
            text + prefix + block + "".join(f"{line}\n" for line in missing),
            encoding="utf-8",
        )
    return missing


@mlflow_commands.command(name="replay")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--uri",
    default=None,
    help="Send to this tracking URI instead of the one each spool file names "
    "(which must be the project's otherwise).",
)
@click.option(
    "--env", "-e", default=None, help="The Kedro environment whose mlflow.yml to read."
)
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
    project = _Project(metadata, env) if uri is None or not paths else None
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


@mlflow_commands.command(name="runs")
@click.option(
    "--running", is_flag=True, help="Only RUNNING runs (after marking dead ones)."
)
@click.option("--all", "show_all", is_flag=True, hidden=True)  # the old default's flip
@click.option("--limit", default=20, show_default=True, help="The most runs to list.")
@click.option(
    "--env", "-e", default=None, help="The Kedro environment whose mlflow.yml to read."
)
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
    project = _Project(metadata, env)
    experiment_id = _experiment_or_exit(project)
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


@mlflow_commands.command(name="ui")
@click.option(
    "--host", default=None, help="Listen here. [default: ui.host, else 127.0.0.1]"
)
@click.option(
    "--port", type=int, default=None, help="Listen here. [default: ui.port, else 5000]"
)
@click.option("--no-browser", is_flag=True, help="Print the URL; open no browser.")
@click.option(
    "--env", "-e", default=None, help="The Kedro environment whose mlflow.yml to read."
)
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
    project = _Project(metadata, env)
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
    experiment_id = _experiment_or_exit(project)
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


@mlflow_commands.command(name="end-run")
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
@click.option(
    "--env", "-e", default=None, help="The Kedro environment whose mlflow.yml to read."
)
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
    project = _Project(metadata, env)
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
        time_hook = _registered(MLflowTimeLoggerHook)
        if time_hook is not None and time_hook.enable_mlflow:
            # Steps that ran at the same time each drew the chart without the other.
            time_hook.rebuild_timeline(run)
        report = project.hook.end_shared_run(run, status)
    except TrackingError as exc:
        raise click.ClickException(str(exc)) from exc
    if report:
        click.echo(f"Warning: {report.summary()}", err=True)
    click.echo(f"MLflow run {run.run_id} ended {status}.")


@mlflow_commands.command(name="modelify")
@click.option(
    "--pipeline",
    "-p",
    "pipeline_names",
    required=True,
    help="A registered pipeline (comma-separated: their sum): one made by "
    "pipeline_ml_factory, one holding its training, or an inference pipeline.",
)
@click.option(
    "--input-name",
    "-i",
    default=None,
    help="The inference input predict gets (required for an inference pipeline).",
)
@click.option(
    "--run-id",
    default=None,
    help="Log into this run; its MLflowDataSet values are the model's inputs. "
    "Default: a new run of the project's experiment.",
)
@click.option("--env", "-e", default=None, help="The Kedro environment to load.")
@click.option("--model-name", default=None, help="The logged model's name.")
@click.option(
    "--registered-model-name", default=None, help="Register the model under it."
)
@click.option("--alias", default=None, help="Move this alias to the new version.")
@click.option(
    "--no-code",
    is_flag=True,
    help="Leave the project's package out of the model (it must then be installed "
    "where the model loads; pipelinex_mlflow always travels with it).",
)
@click.option(
    "--params",
    "runtime_params",
    type=click.UNPROCESSED,
    default="",
    callback=_split_params,
    help="Runtime parameters, as for `kedro run --params` (key=value,a.b=value).",
)
@click.pass_obj
def modelify_command(
    metadata: ProjectMetadata | None,
    *,
    pipeline_names: str,
    input_name: str | None,
    run_id: str | None,
    env: str | None,
    model_name: str | None,
    registered_model_name: str | None,
    alias: str | None,
    no_code: bool,
    runtime_params: dict[str, Any],
) -> None:
    """Log an inference pipeline as one MLflow model, with what it reads.

    Every input besides the model input is loaded from the catalog (with
    --run-id, MLflowDataSet entries from that run) and travels inside the model,
    as at the end of a pipeline_ml_factory run. With several pipeline_ml_factory
    models in the pipeline, --model-name picks one.
    """
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession

    project = _Project(metadata, env)
    try:
        spec = select_spec(
            combined(pipelines, pipeline_names),
            input_name,
            model_name,
            registered_model_name=registered_model_name,
            alias=alias,
            include_code=False if no_code else None,
        )
    except PipelineModelError as exc:
        raise click.ClickException(str(exc)) from None
    existing = _existing_run(project, run_id) if run_id else None
    session = KedroSession.create(
        project_path=project.root, env=env, runtime_params=runtime_params or None
    )
    set_current_run(existing)  # MLflowDataSet inputs load from it
    try:
        catalog = session.load_context().catalog
        # As the hooks do at a run's start: each entry logs under its name.
        name_mlflow_datasets(spec.inference, catalog)
        in_runs = [
            n for n in spec.artifacts if isinstance(catalog.get(n), MLflowDataSet)
        ]
        if in_runs and existing is None:
            raise click.ClickException(
                f"{', '.join(in_runs)}: an MLflowDataSet's value lives in the run "
                "that produced it. Pass that run with --run-id (`kedro mlflow runs "
                "--all` lists the runs)."
            )
        # Everything is read before a new run exists: a bad input leaves none.
        prepared = prepare_pipeline_model(spec, catalog)
        run = existing or _new_run(project, pipeline_names)
        status: RunStatus = "FAILED"
        try:
            logged = log_prepared_model(prepared, RunLogger(run))
            status = "FINISHED"
        finally:
            if existing is None:
                close_all({run: RunEnd.now(status)})
    except (PipelineModelError, TrackingError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        set_current_run(None)
        session.close()
    click.echo(f"Logged model {logged.uri} into MLflow run {run.run_id}.")


def _existing_run(project: _Project, run_id: str) -> RunRef:
    try:
        get_client(project.tracking_uri).get_run(run_id)
    except Exception as exc:  # the store's own errors: one line
        raise click.ClickException(
            f"No MLflow run {run_id} at {mask_url_passwords(project.tracking_uri)}: "
            f"{type(exc).__name__}: {mask_secrets(str(exc))}"
        ) from scrubbed(exc)
    return RunRef(project.tracking_uri, run_id)


def _new_run(project: _Project, pipeline_names: str) -> RunRef:
    try:
        run, _ = open_run(
            project.tracking_uri,
            experiment_name=project.experiment_name,
            run_name=f"modelify {pipeline_names}",
        )
    except TrackingError as exc:
        raise click.ClickException(str(exc)) from exc
    return run


def _experiment_or_exit(project: _Project) -> str:
    try:
        experiment_id = project.experiment_id()
    except Exception as exc:  # the store's own errors: one line, not a traceback
        raise click.ClickException(
            f"Cannot read the tracking store at "
            f"{mask_url_passwords(project.tracking_uri)}: {type(exc).__name__}: "
            f"{mask_secrets(str(exc))}"
        ) from scrubbed(exc)
    if experiment_id is None:
        raise click.ClickException(
            f"Experiment {project.experiment_name!r} does not exist at "
            f"{mask_url_passwords(project.tracking_uri)} yet: `kedro run` creates it."
        )
    return experiment_id
