"""``kedro mlflow init`` writes the file; the other commands read it as ``kedro run`` does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from click.testing import CliRunner
from pydantic import BaseModel

from pipelinex_mlflow.cli import commands
from pipelinex_mlflow.config import LoadedConfig, MlflowConfig, template_text
from pipelinex_mlflow.config.schema import HOOK_KEYS, set_keys
from tests._kedro import kedro_run

if TYPE_CHECKING:
    from collections.abc import Callable

    from click.testing import Result
    from kedro.framework.startup import ProjectMetadata
    from mlflow.tracking import MlflowClient

#: kedro-mlflow's keys, accepted so its files work; the template shows ours.
KEDRO_MLFLOW_ONLY = {
    ("server", "request_header_provider"),
    ("tracking", "experiment", "create_experiment_kwargs"),
    ("tracking", "experiment", "restore_if_deleted"),
    ("tracking", "disable_tracking", "disable_autologging"),
}


def _kedro_mlflow(metadata: ProjectMetadata, *args: str) -> Result:
    return CliRunner().invoke(commands, ["mlflow", *args], obj=metadata)


def _uncommented(text: str) -> str:
    """The template with every commented-out key switched on."""
    return "\n".join(
        re.sub(r"^(\s*)# (\s*[a-z_]+:(\s.*)?)$", r"\1\2", line)
        for line in text.splitlines()
    )


def _leaf_paths(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> set[tuple[str, ...]]:
    paths = set()
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        if path in KEDRO_MLFLOW_ONLY:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths |= _leaf_paths(annotation, path)
        else:
            paths.add(path)
    return paths


def test_the_template_is_valid_and_shows_every_key_with_its_default() -> None:
    text = template_text("my_project")
    assert LoadedConfig.from_raw(yaml.safe_load(text)).config is not None
    everything = MlflowConfig.model_validate(yaml.safe_load(_uncommented(text)))
    assert set(set_keys(everything)) == _leaf_paths(MlflowConfig)
    defaults = MlflowConfig()
    for path, value in set_keys(everything).items():
        expected = defaults
        for part in path:
            expected = getattr(expected, part)
        if path != ("tracking", "experiment", "name"):
            assert value == expected, f"{'.'.join(path)}: template {value!r}"


def test_every_key_that_sets_a_hook_argument_names_a_real_argument() -> None:
    import inspect

    import pipelinex_mlflow

    for hook, keys in HOOK_KEYS.items():
        accepted = inspect.signature(getattr(pipelinex_mlflow, hook)).parameters
        for key in keys:
            assert key.option in accepted, (
                f"{'.'.join(key.path)} -> {hook}({key.option})"
            )
    mapped = {key.path for keys in HOOK_KEYS.values() for key in keys}
    unmapped = _leaf_paths(MlflowConfig) - mapped
    # Read by the commands and the loader, not by a hook.
    assert unmapped == {
        ("server", "mlflow_registry_uri"),
        ("server", "credentials"),
        ("tracking", "params", "dict_params", "flatten"),
        ("tracking", "params", "dict_params", "recursive"),
        ("ui", "host"),
        ("ui", "port"),
    }


def test_init_writes_a_commented_file_and_ignores_the_local_store_in_git(
    make_project: Callable[..., ProjectMetadata], client: MlflowClient
) -> None:
    project = make_project()
    root = Path(project.project_path)
    (root / ".gitignore").write_text("mlruns/\nmlflow.db\n")
    result = _kedro_mlflow(project, "init")
    assert result.exit_code == 0, result.output
    target = root / "conf" / "local" / "mlflow.yml"
    assert "Wrote conf/local/mlflow.yml." in result.output
    assert "Added mlartifacts/, mlflow_spool/ to .gitignore." in result.output
    assert f"    name: {project.package_name}\n" in target.read_text()
    ignored = (root / ".gitignore").read_text().splitlines()
    assert ignored.count("mlflow.db") == 1
    assert {"mlartifacts/", "mlflow_spool/"} <= set(ignored)

    again = _kedro_mlflow(project, "init")
    assert again.exit_code == 1
    assert "conf/local/mlflow.yml exists; pass --force to overwrite it." in again.output
    target.write_text("edited: true\n")
    forced = _kedro_mlflow(project, "init", "--force")
    assert forced.exit_code == 0, forced.output
    assert "to .gitignore" not in forced.output, "nothing left to add"
    assert target.read_text() == template_text(project.package_name)

    # The file init wrote runs as it is.
    kedro_run(project)
    experiment = client.get_experiment_by_name(project.package_name)
    assert experiment is not None
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_init_for_another_environment_creates_its_folder_and_a_gitignore(
    make_project: Callable[..., ProjectMetadata],
) -> None:
    project = make_project()
    root = Path(project.project_path)
    result = _kedro_mlflow(project, "init", "--env", "prod")
    assert result.exit_code == 0, result.output
    assert (root / "conf" / "prod" / "mlflow.yml").is_file()
    assert set((root / ".gitignore").read_text().splitlines()) >= {
        "mlflow.db",
        "mlartifacts/",
        "mlflow_spool/",
    }


def test_runs_and_ui_read_the_environments_file(
    make_project: Callable[..., ProjectMetadata], client: MlflowClient
) -> None:
    project = make_project(
        files={
            "conf/base/mlflow.yml": "tracking:\n  experiment:\n    name: base_exp\n",
            "conf/prod/mlflow.yml": "tracking:\n  experiment:\n    name: prod_exp\n",
            "conf/staging/mlflow.yml": "server:\n  mlflow_tracking_uri: http://127.0.0.1:9\n",
        }
    )
    kedro_run(project, env="prod")
    listed = _kedro_mlflow(project, "runs", "--env", "prod")
    assert listed.exit_code == 0, listed.output
    experiment = client.get_experiment_by_name("prod_exp")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id in listed.output
    local = _kedro_mlflow(project, "runs")
    assert local.exit_code == 1
    assert "Experiment 'base_exp' does not exist" in local.output

    ui = _kedro_mlflow(project, "ui", "--env", "staging", "--no-browser")
    assert ui.exit_code == 0, ui.output
    assert "http://127.0.0.1:9/" in ui.output


def test_commands_report_a_bad_file_in_one_line(
    make_project: Callable[..., ProjectMetadata],
) -> None:
    project = make_project(files={"conf/base/mlflow.yml": "ui:\n  port: many\n"})
    result = _kedro_mlflow(project, "runs")
    assert result.exit_code == 1
    assert (
        "Error: conf/base/mlflow.yml is not a valid pipelinex_mlflow" in result.output
    )
    assert "ui.port: Input should be a valid integer" in result.output
    assert "Traceback" not in result.output
