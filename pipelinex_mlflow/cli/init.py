"""``kedro mlflow init``: write a commented mlflow.yml and ignore the local store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipelinex_mlflow.cli.project import in_project
from pipelinex_mlflow.config import template_text

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

#: What a project's git repository should not hold: the local store, its
#: artifacts, and values spooled for `kedro mlflow replay` (Kedro's template
#: ignores only mlruns/).
GITIGNORE_LINES = ("mlflow.db", "mlartifacts/", "mlflow_spool/")


@click.command(name="init")
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

    project = in_project(metadata)
    root = Path(project.project_path)
    target = root / settings.CONF_SOURCE / env / "mlflow.yml"
    if target.exists() and not force:
        raise click.ClickException(
            f"{target.relative_to(root)} exists; pass --force to overwrite it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(template_text(project.package_name), encoding="utf-8")
    click.echo(f"Wrote {target.relative_to(root)}.")
    added = ignore_in_git(root / ".gitignore", GITIGNORE_LINES)
    if added:
        click.echo(f"Added {', '.join(added)} to .gitignore.")


def ignore_in_git(gitignore: Path, lines: tuple[str, ...]) -> list[str]:
    r"""Append the ``lines`` that ``gitignore`` lacks; return them.

    Args:
        gitignore: The project's ``.gitignore`` (created if absent).
        lines: The patterns it must hold.

    Returns:
        The patterns that were missing and are now appended.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     gitignore = Path(folder) / ".gitignore"
        ...     _ = gitignore.write_text("mlflow.db\n", encoding="utf-8")
        ...     print(ignore_in_git(gitignore, ("mlflow.db", "mlartifacts/")))
        ...     print(ignore_in_git(gitignore, ("mlflow.db", "mlartifacts/")))
        ['mlartifacts/']
        []
    """
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
