"""``conf/<env>/mlflow.yml`` configures the hooks: real projects, real runs, real stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from omegaconf import OmegaConf

from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowEnvVarsLoggerHook
from pipelinex_mlflow.config import LoadedConfig, MlflowConfigError
from tests._kedro import kedro_run
from tests.config_project import ALL_HOOKS, TOKEN
from tests.secret_scan import leaks, run_texts

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro.framework.startup import ProjectMetadata
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient


def _runs(client: MlflowClient, experiment: str) -> list[Run]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    return client.search_runs([found.experiment_id], order_by=["start_time"])


def _only_run(client: MlflowClient, experiment: str) -> Run:
    (run,) = _runs(client, experiment)
    return run


def test_the_file_configures_every_hook(
    make_project: Callable[..., ProjectMetadata], client: MlflowClient
) -> None:
    project = make_project(
        hooks=ALL_HOOKS,
        files={
            "conf/base/mlflow.yml": """
                tracking:
                  experiment:
                    name: from_file
                    tags: {team: vision}
                  run:
                    name: nightly
                    tags: {stage: dev}
                  params:
                    dict_params: {sep: "__"}
                  time: {log_begin: false}
                  nodes: {metric_name_prefix: "t_"}
                  env_vars: {params: [CONFIG_TEST_VAR]}
                  catalog: {auto: false}
                  artifacts: {before_pipeline_run: [conf/base/parameters.yml]}
            """
        },
    )
    os.environ["CONFIG_TEST_VAR"] = "hello"
    try:
        kedro_run(project)
    finally:
        del os.environ["CONFIG_TEST_VAR"]
    experiment = client.get_experiment_by_name("from_file")
    assert experiment is not None
    assert experiment.tags["team"] == "vision"
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    run = _only_run(client, "from_file")
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "nightly"
    assert run.data.tags["stage"] == "dev"
    assert run.data.params["model__depth"] == "3"
    assert "__time_begin" not in run.data.params
    assert "__time_end" in run.data.params
    assert run.data.params["env..CONFIG_TEST_VAR"] == "hello"
    assert "t_train -- score - note - token_seen" in run.data.metrics
    assert run.data.metrics["score"] == 0.75
    assert "note" not in run.data.metrics, "catalog.auto: false"
    files = [a.path for a in client.list_artifacts(run.info.run_id, "conf/base")]
    assert files == ["conf/base/parameters.yml"]


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ((), "package"),
        (("environment",), "from_env"),
        (("environment", "file"), "from_file"),
        (("environment", "file", "constructor"), "from_settings"),
    ],
)
def test_precedence_constructor_then_file_then_environment_then_defaults(
    make_project: Callable[..., ProjectMetadata],
    client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
    layers: tuple[str, ...],
    expected: str,
) -> None:
    files = {}
    if "file" in layers:
        files["conf/base/mlflow.yml"] = (
            "tracking:\n  experiment:\n    name: from_file\n"
        )
    hooks = (
        "MLflowBasicLoggerHook(experiment_name='from_settings')"
        if "constructor" in layers
        else "MLflowBasicLoggerHook()"
    )
    if "environment" in layers:
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from_env")
    project = make_project(hooks=hooks, files=files)
    kedro_run(project)
    name = project.package_name if expected == "package" else expected
    assert _only_run(client, name).info.status == "FINISHED"


def test_the_files_uri_wins_over_mlflow_tracking_uri_and_the_constructors_over_both(
    make_project: Callable[..., ProjectMetadata],
    client: MlflowClient,
    tmp_path: Path,
    migrated_db: Path,
) -> None:
    import shutil

    from mlflow.tracking import MlflowClient

    for name in ("file.db", "ctor.db"):
        shutil.copy(migrated_db, tmp_path / name)
    files = {
        "conf/base/mlflow.yml": f"server:\n  mlflow_tracking_uri: sqlite:///{tmp_path / 'file.db'}\n"
    }
    project = make_project(files=files)
    kedro_run(project)
    file_store = MlflowClient(f"sqlite:///{tmp_path / 'file.db'}")
    assert _only_run(file_store, project.package_name).info.status == "FINISHED"
    assert client.get_experiment_by_name(project.package_name) is None

    ctor_uri = f"sqlite:///{tmp_path / 'ctor.db'}"
    project = make_project(
        hooks=f"MLflowBasicLoggerHook(uri={ctor_uri!r})", files=files
    )
    kedro_run(project)
    ctor_store = MlflowClient(ctor_uri)
    assert _only_run(ctor_store, project.package_name).info.status == "FINISHED"
    assert file_store.get_experiment_by_name(project.package_name) is None


def test_each_environment_overrides_base_and_a_later_session_gets_its_own(
    make_project: Callable[..., ProjectMetadata], client: MlflowClient
) -> None:
    project = make_project(
        files={
            "conf/base/mlflow.yml": """
                tracking:
                  experiment: {name: envs}
                  run: {name: base-run, tags: {where: base}}
            """,
            "conf/prod/mlflow.yml": "tracking:\n  run:\n    name: prod-run\n",
        }
    )
    kedro_run(project, env="prod")
    kedro_run(project)
    prod, local = _runs(client, "envs")
    assert prod.info.run_name == "prod-run"
    assert local.info.run_name == "base-run"
    # Kedro merges environments key by key: prod keeps base's tags.
    assert prod.data.tags["where"] == "base"
    assert prod.data.tags["kedro.env"] == "prod"


def test_globals_runtime_params_and_environment_variables_resolve(
    make_project: Callable[..., ProjectMetadata],
    client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXPERIMENT_FROM_ENV", "resolved")
    project = make_project(
        files={
            "conf/base/globals.yml": "team: vision\n",
            "conf/base/mlflow.yml": """
                tracking:
                  experiment: {name: "${oc.env:EXPERIMENT_FROM_ENV}"}
                  run:
                    name: "${runtime_params:run_name,default-name}"
                    tags: {team: "${globals:team}"}
            """,
        }
    )
    kedro_run(project, runtime_params={"run_name": "given"})
    kedro_run(project)
    given, default = _runs(client, "resolved")
    assert (given.info.run_name, default.info.run_name) == ("given", "default-name")
    assert given.data.tags["team"] == "vision"
    # Kedro allows oc.env in credentials only; reading mlflow.yml leaves it so.
    assert not OmegaConf.has_resolver("oc.env")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "tracking:\n  run:\n    nmae: x\n",
            "tracking.run.nmae: unknown key; the keys here are: id, name, nested, tags",
        ),
        (
            "server:\n  timeout: ten\n",
            "server.timeout: must be a positive number of seconds, for example 10 "
            "(it is str 'ten')",
        ),
        (
            "tracking:\n  params:\n    long_params_strategy: cut\n",
            "tracking.params.long_params_strategy: must be one of: fail, tag, truncate",
        ),
        (
            "tracking:\n  run:\n    nested: 'yes'\n",
            "tracking.run.nested: must be True or False (it is str 'yes')",
        ),
        (
            "trakcing: {}\n",
            "trakcing: unknown key; the keys here are: server, tracking, ui",
        ),
        (
            "server:\n  mlflow_registry_uri: sqlite:///other.db\n",
            "mlflow_registry_uri must be null or the tracking URI",
        ),
        (
            "tracking:\n  params:\n    dict_params: {flatten: false}\n",
            "tracking.params.dict_params.flatten: Input should be True",
        ),
    ],
)
def test_a_bad_file_fails_before_any_run_naming_the_file_and_the_key(
    make_project: Callable[..., ProjectMetadata],
    client: MlflowClient,
    text: str,
    expected: str,
) -> None:
    project = make_project(files={"conf/local/mlflow.yml": text})
    with pytest.raises(MlflowConfigError, match="is not a valid") as caught:
        kedro_run(project)
    message = str(caught.value)
    assert message.startswith(
        "conf/local/mlflow.yml is not a valid pipelinex_mlflow configuration:"
    )
    assert expected in message
    assert client.get_experiment_by_name(project.package_name) is None, "no run"


def test_a_value_the_hook_refuses_names_the_key_that_set_it(
    make_project: Callable[..., ProjectMetadata],
) -> None:
    project = make_project(
        hooks="MLflowBasicLoggerHook(), MLflowTimeLoggerHook()",
        files={
            "conf/base/mlflow.yml": """
                tracking:
                  nodes:
                    metric_name_prefix: "t_"
                    gantt: {params: {colour: red}}
            """
        },
    )
    with pytest.raises(MlflowConfigError, match="colour") as caught:
        kedro_run(project)
    message = str(caught.value)
    assert message.startswith("conf/base/mlflow.yml: ")
    assert "colour" in message
    assert message.endswith(
        "(set through tracking.nodes.gantt.params, tracking.nodes.metric_name_prefix)"
    )


def test_kedro_run_with_a_bad_file_prints_one_clear_error(tmp_path: Path) -> None:
    from tests.config_project import generate

    folder, _ = generate(
        tmp_path / "cli", files={"conf/base/mlflow.yml": "ui:\n  prot: 5000\n"}
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "run"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "300"},
        timeout=180,
    )
    assert done.returncode != 0
    assert "conf/base/mlflow.yml is not a valid pipelinex_mlflow configuration" in (
        done.stderr + done.stdout
    )
    assert (
        "ui.prot: unknown key; the keys here are: host, port"
        in done.stderr + done.stdout
    )


def test_credentials_reach_mlflow_through_the_environment_and_are_never_logged(
    make_project: Callable[..., ProjectMetadata],
    client: MlflowClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    project = make_project(
        hooks="MLflowBasicLoggerHook(), MLflowEnvVarsLoggerHook(), "
        "MLflowCatalogLoggerHook(), MLflowArtifactsLoggerHook()",
        files={
            "conf/local/credentials.yml": f"""
                mlflow_server:
                  MLFLOW_TRACKING_TOKEN: {TOKEN}
                  SERVICE_LOGIN: {TOKEN}-login
            """,
            "conf/base/mlflow.yml": """
                server: {credentials: mlflow_server}
                tracking:
                  env_vars: {params: __ALL__}
                  artifacts: {after_pipeline_run: [conf/base]}
            """,
        },
    )
    try:
        kedro_run(project)
        run = _only_run(client, project.package_name)
        assert run.data.metrics["token_seen"] == 1.0, "the node's process has it"
        assert run.data.params["env..MLFLOW_TRACKING_TOKEN"] == "*****"  # noqa: S105
        assert run.data.params["env..SERVICE_LOGIN"] == "*****"
        output = capfd.readouterr()
        texts = {
            **run_texts(client, run.info.run_id),
            "stdout": output.out,
            "stderr": output.err,
            "repr": repr(LoadedConfig.of(None, "x")) + repr(project),
        }
        assert leaks(texts, [TOKEN]) == []
    finally:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        os.environ.pop("SERVICE_LOGIN", None)


def test_a_missing_credentials_entry_is_named_without_any_value(
    make_project: Callable[..., ProjectMetadata],
) -> None:
    project = make_project(
        files={
            "conf/local/credentials.yml": f"other:\n  token: {TOKEN}\n",
            "conf/base/mlflow.yml": "server:\n  credentials: mlflow_server\n",
        }
    )
    with pytest.raises(MlflowConfigError, match="mlflow_server") as caught:
        kedro_run(project)
    assert (
        "server.credentials names 'mlflow_server', but credentials.yml has no such entry"
        in str(caught.value)
    )
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "pipeline"),
    [
        ("tracking:\n  disable_tracking:\n    pipelines: [__default__]\n", None),
        ("tracking:\n  disable_tracking:\n    pipelines: [train]\n", "train"),
        ("tracking:\n  disable_tracking:\n    all: true\n", None),
    ],
)
def test_disabled_tracking_starts_no_run(
    make_project: Callable[..., ProjectMetadata],
    client: MlflowClient,
    text: str,
    pipeline: str | None,
) -> None:
    project = make_project(files={"conf/base/mlflow.yml": text})
    kedro_run(project, pipeline_names=[pipeline] if pipeline else None)
    assert client.get_experiment_by_name(project.package_name) is None


def test_a_pipeline_not_listed_as_disabled_is_tracked(
    make_project: Callable[..., ProjectMetadata], client: MlflowClient
) -> None:
    project = make_project(
        files={
            "conf/base/mlflow.yml": "tracking:\n  disable_tracking:\n    pipelines: [train]\n"
        }
    )
    kedro_run(project)
    assert _only_run(client, project.package_name).info.status == "FINISHED"


def test_a_kedro_mlflow_file_works_as_it_is(
    make_project: Callable[..., ProjectMetadata], client: MlflowClient
) -> None:
    """The file `kedro mlflow init` of kedro-mlflow writes, with flatten switched on."""
    project = make_project(
        files={
            "conf/local/mlflow.yml": """
                server:
                  mlflow_tracking_uri: null
                  mlflow_registry_uri: null
                  credentials: null
                  request_header_provider:
                    type: null
                    pass_context: False
                    init_kwargs: {}
                tracking:
                  disable_tracking:
                    pipelines: []
                    disable_autologging: True
                  experiment:
                    name: km_style
                    create_experiment_kwargs:
                      artifact_location: null
                      tags: {origin: kedro-mlflow}
                    restore_if_deleted: True
                  run:
                    id: null
                    name: null
                    nested: True
                  params:
                    dict_params:
                      flatten: True
                      recursive: True
                      sep: "."
                    long_params_strategy: fail
                ui:
                  port: "5000"
                  host: "127.0.0.1"
            """
        }
    )
    kedro_run(project)
    run = _only_run(client, "km_style")
    assert run.info.status == "FINISHED"
    assert run.data.params["model.depth"] == "3"
    experiment = client.get_experiment_by_name("km_style")
    assert experiment is not None
    assert experiment.tags["origin"] == "kedro-mlflow"


def test_hooks_keep_their_constructor_arguments_without_a_file() -> None:
    hook = MLflowBasicLoggerHook(run_name="mine")
    loaded = LoadedConfig.from_raw(
        {"tracking": {"run": {"name": "theirs", "tags": {"a": 1}}}}
    )
    from pipelinex_mlflow.core.configurable import apply_config

    apply_config(hook, loaded)
    assert (hook.run_name, hook.tags) == ("mine", {"a": 1})
    apply_config(hook, LoadedConfig())
    assert (hook.run_name, hook.tags) == ("mine", {})
    env_hook = MLflowEnvVarsLoggerHook()
    apply_config(
        env_hook, LoadedConfig.from_raw({"tracking": {"env_vars": {"prefix": "e."}}})
    )
    assert env_hook.prefix == "e."


def test_spawned_parallel_workers_get_the_files_settings(
    make_project: Callable[..., ProjectMetadata],
    client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A spawned worker builds its hooks from settings.py alone; the file reaches it."""
    from kedro.runner import ParallelRunner

    monkeypatch.setenv("KEDRO_MP_CONTEXT", "spawn")
    project = make_project(
        hooks="MLflowBasicLoggerHook(), MLflowCatalogLoggerHook()",
        files={
            "conf/base/mlflow.yml": "tracking:\n  catalog:\n    datasets: {note: p}\n"
        },
    )
    kedro_run(project, runner=ParallelRunner(max_workers=1))
    run = _only_run(client, project.package_name)
    assert run.info.status == "FINISHED"
    # Logged by the worker's catalog hook as the file says: a param, not a metric.
    assert run.data.params["note"] == "7.0"
    assert "note" not in run.data.metrics


def test_a_wrongly_typed_credentials_value_is_not_echoed(
    make_project: Callable[..., ProjectMetadata],
) -> None:
    project = make_project(
        files={
            "conf/base/mlflow.yml": f"""
                server:
                  credentials: {{MLFLOW_TRACKING_TOKEN: {TOKEN}}}
                  mlflow_tracking_uri: [{TOKEN}]
            """
        }
    )
    with pytest.raises(MlflowConfigError, match=r"server\.credentials") as caught:
        kedro_run(project)
    message = str(caught.value)
    assert "server.credentials: Input should be a valid string (it is dict)" in message
    assert "server.mlflow_tracking_uri: must be a string or None (it is list)" in (
        message
    )
    assert TOKEN not in message
