"""The project a ``kedro mlflow`` command works on: its store, experiment and spool.

Every command finds them as ``kedro run`` does: the ``MLflowBasicLoggerHook``
registered in ``settings.py``, over the environment's ``mlflow.yml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from pipelinex_mlflow.config import MlflowConfigError, load_project_config
from pipelinex_mlflow.core.configurable import apply_config
from pipelinex_mlflow.hooks.run_lifecycle import MLflowBasicLoggerHook
from pipelinex_mlflow.masking import mask_secrets, mask_url_passwords, scrubbed
from pipelinex_mlflow.tracking import TrackingError, get_client, set_spool_dir
from pipelinex_mlflow.tracking.spool import DEFAULT_SPOOL_DIR_NAME

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader
    from kedro.framework.startup import ProjectMetadata

#: The ``--env`` option of the commands that read the project's mlflow.yml.
env_option = click.option(
    "--env", "-e", default=None, help="The Kedro environment whose mlflow.yml to read."
)


def in_project(metadata: ProjectMetadata | None) -> ProjectMetadata:
    """The project's metadata; a usage error outside a Kedro project.

    Args:
        metadata: What Kedro passes a project command (``None`` outside one).

    Raises:
        click.UsageError: Outside a Kedro project.
    """
    if metadata is None:
        raise click.UsageError(
            "Run `kedro mlflow` inside a Kedro project (the folder with "
            "pyproject.toml)."
        )
    return metadata


class Project:
    """The store, experiment and spool folder of the project's tracked runs.

    Found as ``kedro run`` finds them: the ``settings.py`` hook, over the
    environment's ``mlflow.yml``.
    """

    def __init__(
        self, metadata: ProjectMetadata | None, env: str | None = None
    ) -> None:
        self.root = Path(in_project(metadata).project_path)
        self.hook = registered(MLflowBasicLoggerHook) or MLflowBasicLoggerHook()
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
        """The id of the project's experiment in its store; ``None`` if absent."""
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


def registered(kind: type[HookType]) -> HookType | None:
    """The project's hook of ``kind`` in ``settings.HOOKS``, if registered."""
    from kedro.framework.project import settings

    for hook in settings.HOOKS:
        if isinstance(hook, kind):
            return hook
    return None


def experiment_or_exit(project: Project) -> str:
    """The id of the project's experiment; a one-line error when there is none.

    Raises:
        click.ClickException: The store cannot be read, or holds no such
            experiment yet.
    """
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
