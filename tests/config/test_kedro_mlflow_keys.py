"""Every key of kedro-mlflow 2.x's ``mlflow.yml`` template means what it meant there.

A key a kedro-mlflow user writes either sets the same behaviour here, or stops
``kedro run`` with the reason; never a silent change. One case per key of its
template (``kedro_mlflow/template/project/mlflow.yml``), with the template's
value, and the other values of the keys that are refused.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

import pipelinex_mlflow.tracking
from pipelinex_mlflow.config import LoadedConfig, MlflowConfigError
from pipelinex_mlflow.options import RunNaming
from tests._kedro import kedro_run

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro.framework.startup import ProjectMetadata
    from mlflow.tracking import MlflowClient

_HOOK = "MLflowBasicLoggerHook"


@dataclass(frozen=True)
class Sets:
    """The key sets these arguments of ``MLflowBasicLoggerHook``, with the same meaning."""

    arguments: dict[str, Any]
    meaning: str


@dataclass(frozen=True)
class Kept:
    """The key sets no hook argument: the loader or a command reads its value."""

    value: Any
    meaning: str


@dataclass(frozen=True)
class Refused:
    """The key, with this value, stops the run; the message gives the reason."""

    reason: str


CASES: list[tuple[str, Any, Sets | Kept | Refused]] = [
    # server
    (
        "server.mlflow_tracking_uri",
        None,
        Sets({"uri": None}, "MLFLOW_TRACKING_URI, else the default store"),
    ),
    ("server.mlflow_registry_uri", None, Kept(None, "the tracking store")),
    (
        "server.mlflow_registry_uri",
        "http://registry:5000",
        Refused("registers models in the tracking store"),
    ),
    ("server.credentials", None, Kept(None, "no variables exported")),
    (
        "server.request_header_provider.type",
        None,
        Kept(None, "no header provider"),
    ),
    (
        "server.request_header_provider.type",
        "my_project.auth.TokenProvider",
        Refused("request header providers are not supported"),
    ),
    (
        "server.request_header_provider.pass_context",
        False,
        Kept(False, "read only with a provider type"),
    ),
    (
        "server.request_header_provider.init_kwargs",
        {},
        Kept({}, "read only with a provider type"),
    ),
    # tracking.disable_tracking
    (
        "tracking.disable_tracking.disable_autologging",
        True,
        Kept(True, "MLflow's autologging turned off before the run"),
    ),
    (
        "tracking.disable_tracking.pipelines",
        [],
        Sets({"disabled_pipelines": []}, "a run of only these pipelines is untracked"),
    ),
    # tracking.experiment
    (
        "tracking.experiment.name",
        "my_project",
        Sets({"experiment_name": "my_project"}, "created if missing"),
    ),
    (
        "tracking.experiment.create_experiment_kwargs.artifact_location",
        None,
        Sets({"artifact_location": None}, "a new experiment's artifact location"),
    ),
    (
        "tracking.experiment.create_experiment_kwargs.tags",
        None,
        Sets({"experiment_tags": {}}, "tags of a new experiment"),
    ),
    (
        "tracking.experiment.restore_if_deleted",
        True,
        Kept(True, "a deleted experiment is restored"),
    ),
    (
        "tracking.experiment.restore_if_deleted",
        False,
        Refused("always restores a deleted experiment"),
    ),
    # tracking.run
    ("tracking.run.id", None, Sets({"run_id": None}, "a new run")),
    (
        "tracking.run.name",
        None,
        Sets({"run_name": RunNaming.PIPELINES}, "the pipelines joined with +"),
    ),
    (
        "tracking.run.nested",
        True,
        Sets({"nested": True}, "top-level without an open run, child with one"),
    ),
    # tracking.params
    (
        "tracking.params.dict_params.flatten",
        False,
        Refused("dict parameters are always flattened"),
    ),
    (
        "tracking.params.dict_params.recursive",
        True,
        Kept(True, "flattened down to the leaves"),
    ),
    (
        "tracking.params.dict_params.recursive",
        False,
        Refused("flattened down to their leaves"),
    ),
    (
        "tracking.params.dict_params.sep",
        ".",
        Sets({"flatten_separator": "."}, "joins the keys"),
    ),
    (
        "tracking.params.long_params_strategy",
        "fail",
        Sets({"long_param_policy": "fail"}, "a param over 6000 characters fails"),
    ),
    # ui
    ("ui.port", "5000", Kept(5000, "kedro mlflow ui's port")),
    ("ui.host", "127.0.0.1", Kept("127.0.0.1", "kedro mlflow ui's host")),
]


def _raw(key: str, value: Any) -> dict[str, Any]:
    *sections, leaf = key.split(".")
    raw: dict[str, Any] = {leaf: value}
    for section in reversed(sections):
        raw = {section: raw}
    return raw


def _value_at(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    CASES,
    ids=[f"{key}={value!r}" for key, value, _ in CASES],
)
def test_each_kedro_mlflow_key_means_the_same_or_is_refused_with_the_reason(
    key: str, value: Any, expected: Sets | Kept | Refused
) -> None:
    raw = _raw(key, value)
    if isinstance(expected, Refused):
        with pytest.raises(MlflowConfigError, match=re.escape(expected.reason)) as no:
            LoadedConfig.from_raw(raw)
        # The key (or, for a check across keys, its section) is named.
        assert key.rsplit(".", 1)[0] in str(no.value)
        return
    loaded = LoadedConfig.from_raw(raw)
    arguments = loaded.arguments_for_name(_HOOK)
    if isinstance(expected, Sets):
        assert arguments == expected.arguments
    else:
        assert arguments == {}
        assert _value_at(loaded.config, key) == expected.value


def test_every_key_of_kedro_mlflows_template_has_a_case() -> None:
    template_keys = {
        "server.mlflow_tracking_uri",
        "server.mlflow_registry_uri",
        "server.credentials",
        "server.request_header_provider.type",
        "server.request_header_provider.pass_context",
        "server.request_header_provider.init_kwargs",
        "tracking.disable_tracking.disable_autologging",
        "tracking.disable_tracking.pipelines",
        "tracking.experiment.name",
        "tracking.experiment.create_experiment_kwargs.artifact_location",
        "tracking.experiment.create_experiment_kwargs.tags",
        "tracking.experiment.restore_if_deleted",
        "tracking.run.id",
        "tracking.run.name",
        "tracking.run.nested",
        "tracking.params.dict_params.flatten",
        "tracking.params.dict_params.recursive",
        "tracking.params.dict_params.sep",
        "tracking.params.long_params_strategy",
        "ui.port",
        "ui.host",
    }
    assert {key for key, _, _ in CASES} == template_keys


# --------------------------------------------------------------------------------------
# The keys whose meaning shows only in a run
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pipelines", "name"),
    [
        (None, "__default__"),
        (["train"], "train"),
        (["train", "__default__"], "train+__default__"),
    ],
)
def test_run_name_null_names_the_run_after_its_pipelines(
    make_project: Callable[..., ProjectMetadata],
    client: MlflowClient,
    pipelines: list[str] | None,
    name: str,
) -> None:
    project = make_project(
        files={"conf/base/mlflow.yml": "tracking:\n  run:\n    name: null\n"}
    )
    kedro_run(project, pipeline_names=pipelines)
    experiment = client.get_experiment_by_name(project.package_name)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == name


def test_without_run_name_mlflow_picks_the_name(
    make_project: Callable[..., ProjectMetadata], client: MlflowClient
) -> None:
    project = make_project(
        files={"conf/base/mlflow.yml": "tracking:\n  run:\n    id: null\n"}
    )
    kedro_run(project)
    experiment = client.get_experiment_by_name(project.package_name)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name
    assert run.info.run_name != "__default__"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_nested_true_on_a_plain_kedro_run_is_a_top_level_run_without_a_warning(
    make_project: Callable[..., ProjectMetadata], client: MlflowClient
) -> None:
    """kedro-mlflow's template writes nested: True; its run is top-level there too."""
    project = make_project(
        files={"conf/base/mlflow.yml": "tracking:\n  run:\n    nested: True\n"}
    )
    # On the package's logger: the session's logging setup replaces root's handlers.
    package_logger = logging.getLogger("pipelinex_mlflow")
    handler = _Records()
    package_logger.addHandler(handler)
    try:
        kedro_run(project)
    finally:
        package_logger.removeHandler(handler)
    experiment = client.get_experiment_by_name(project.package_name)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert "mlflow.parentRunId" not in run.data.tags
    about_nested = [r for r in handler.records if "nested=True" in r.getMessage()]
    assert [r.levelno for r in about_nested] == [logging.INFO]
    assert "top-level run" in about_nested[0].getMessage()


@pytest.mark.parametrize(("value", "calls"), [("true", 1), ("false", 0)])
def test_disable_autologging_true_turns_mlflows_autologging_off(
    make_project: Callable[..., ProjectMetadata],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    calls: int,
) -> None:
    called: list[None] = []
    monkeypatch.setattr(
        pipelinex_mlflow.tracking, "disable_autologging", lambda: called.append(None)
    )
    project = make_project(
        files={
            "conf/base/mlflow.yml": "tracking:\n  disable_tracking:\n"
            f"    disable_autologging: {value}\n"
        }
    )
    kedro_run(project)
    assert len(called) == calls
