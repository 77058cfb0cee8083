"""Runs a pipeline the way ``KedroSession.run`` does, with real hooks and runners."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro.framework.hooks.manager import _create_hook_manager
from kedro.runner import SequentialRunner

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline
    from kedro.runner import AbstractRunner
    from mlflow.tracking import MlflowClient


def run_params(**overrides: Any) -> dict[str, Any]:
    """Kedro 1.7's run_params, as ``kedro run`` with no options records them."""
    params: dict[str, Any] = {
        "run_id": "2026-11-25T10.00.00.000Z",
        "project_path": None,
        "env": None,
        "kedro_version": "1.7.0",
        "tags": (),
        "from_nodes": [],
        "to_nodes": [],
        "node_names": (),
        "from_inputs": [],
        "to_outputs": [],
        "load_versions": {},
        "runtime_params": {},
        "pipeline_names": [],
        "namespaces": [],
        "runner": "None",
        "only_missing_outputs": False,
    }
    params.update(overrides)
    return params


def run_with_hooks(
    pipeline: Pipeline,
    catalog: DataCatalog,
    hooks: tuple[Any, ...],
    runner: AbstractRunner | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Fire the pipeline hooks around ``runner.run`` exactly as KedroSession does."""
    manager = _create_hook_manager()
    for hook in hooks:
        manager.register(hook)
    runner = runner or SequentialRunner()
    record = run_params(runner=str(runner), **params)
    manager.hook.before_pipeline_run(
        run_params=record, pipeline=pipeline, catalog=catalog
    )
    try:
        result = runner.run(pipeline, catalog, manager, run_id=record["run_id"])
    except Exception as error:
        manager.hook.on_pipeline_error(
            error=error, run_params=record, pipeline=pipeline, catalog=catalog
        )
        raise
    manager.hook.after_pipeline_run(
        run_params=record, run_result=result, pipeline=pipeline, catalog=catalog
    )
    return result


def artifact_paths(
    client: MlflowClient, run_id: str, path: str | None = None
) -> set[str]:
    """Every artifact path of a run, folders included, recursively."""
    found = set()
    for info in client.list_artifacts(run_id, path):
        found.add(info.path)
        if info.is_dir:
            found |= artifact_paths(client, run_id, info.path)
    return found


def kedro_run(
    metadata: ProjectMetadata,
    env: str | None = None,
    runtime_params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """``kedro run`` in this process, through a real ``KedroSession``."""
    from kedro.framework.session import KedroSession

    with KedroSession.create(
        project_path=metadata.project_path, env=env, runtime_params=runtime_params
    ) as session:
        session.run(**kwargs)
