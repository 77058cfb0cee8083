"""``kedro mlflow modelify``: log an inference pipeline as one MLflow model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pipelinex_mlflow.cli.project import Project
from pipelinex_mlflow.compat.kedro_private import split_runtime_params
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
    RunEnd,
    RunLogger,
    RunRef,
    RunStatus,
    TrackingError,
    close_all,
    get_client,
    open_run,
    set_current_run,
)

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata


@click.command(name="modelify")
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
    callback=split_runtime_params,
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

    project = Project(metadata, env)
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


def _existing_run(project: Project, run_id: str) -> RunRef:
    try:
        get_client(project.tracking_uri).get_run(run_id)
    except Exception as exc:  # the store's own errors: one line
        raise click.ClickException(
            f"No MLflow run {run_id} at {mask_url_passwords(project.tracking_uri)}: "
            f"{type(exc).__name__}: {mask_secrets(str(exc))}"
        ) from scrubbed(exc)
    return RunRef(project.tracking_uri, run_id)


def _new_run(project: Project, pipeline_names: str) -> RunRef:
    try:
        run, _ = open_run(
            project.tracking_uri,
            experiment_name=project.experiment_name,
            run_name=f"modelify {pipeline_names}",
        )
    except TrackingError as exc:
        raise click.ClickException(str(exc)) from exc
    return run
