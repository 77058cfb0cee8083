"""A hook argument of the wrong type fails at construction, naming the argument."""

from __future__ import annotations

from typing import Any

import pytest

from pipelinex_mlflow import (
    MLflowArtifactsLoggerHook,
    MLflowBasicLoggerHook,
    MLflowCatalogLoggerHook,
    MLflowEnvVarsLoggerHook,
    MLflowTimeLoggerHook,
)

BAD_ARGUMENTS: list[tuple[type[Any], dict[str, Any], str]] = [
    (MLflowBasicLoggerHook, {"uri": 5000}, r"uri=5000\): uri must be a string or None"),
    (MLflowBasicLoggerHook, {"nested": "yes"}, "nested must be True or False"),
    (MLflowBasicLoggerHook, {"tags": ["a"]}, "tags must be a dict or None"),
    (MLflowBasicLoggerHook, {"offset_hours": "9"}, "offset_hours must be a number"),
    (MLflowBasicLoggerHook, {"enable_mlflow": "False"}, "enable_mlflow must be True"),
    (
        MLflowBasicLoggerHook,
        {"logging_kedro_run_params": [1]},
        "logging_kedro_run_params must be a string, a list of strings",
    ),
    (
        MLflowBasicLoggerHook,
        {"flatten_separator": ""},
        "flatten_separator must be a non-empty string",
    ),
    (
        MLflowBasicLoggerHook,
        {"long_param_policy": "drop"},
        "long_param_policy must be one of: fail, tag, truncate",
    ),
    (
        MLflowTimeLoggerHook,
        {"task_name_func": "name"},
        "task_name_func must be a function",
    ),
    (
        MLflowTimeLoggerHook,
        {"metric_name_prefix": None},
        "metric_name_prefix must be a string",
    ),
    (MLflowTimeLoggerHook, {"gantt_filepath": 3}, "gantt_filepath must be a path"),
    (
        MLflowTimeLoggerHook,
        {"time_log_filepath": ["a.json"]},
        "time_log_filepath must be a path",
    ),
    (MLflowTimeLoggerHook, {"gantt_params": {"nope": 1}}, "Unknown gantt_params key"),
    (MLflowCatalogLoggerHook, {"auto": 1}, "auto must be True or False"),
    (
        MLflowCatalogLoggerHook,
        {"mlflow_catalog": ["m"]},
        "mlflow_catalog must be a dict",
    ),
    (MLflowEnvVarsLoggerHook, {"param_env_vars": 7}, "param_env_vars must be a string"),
    (MLflowEnvVarsLoggerHook, {"prefix": 1}, "prefix must be a string or None"),
    (
        MLflowArtifactsLoggerHook,
        {"filepaths_before_pipeline_run": [1]},
        "filepaths_before_pipeline_run must be a path or glob pattern",
    ),
    (
        MLflowArtifactsLoggerHook,
        {"datasets_after_node_run": {"a": 1}},
        "datasets_after_node_run must be a string, a list of strings",
    ),
]


@pytest.mark.parametrize(
    ("hook", "arguments", "match"),
    BAD_ARGUMENTS,
    ids=[f"{h.__name__}-{next(iter(a))}" for h, a, _ in BAD_ARGUMENTS],
)
def test_bad_argument_is_a_value_error_naming_it(
    hook: type[Any], arguments: dict[str, Any], match: str
) -> None:
    argument = next(iter(arguments))
    with pytest.raises(ValueError, match=match) as error:
        hook(**arguments)
    assert argument in str(error.value)


@pytest.mark.parametrize(
    "url",
    ["http://alice:hunter2@host", "https://alice:hunter2@" + "h" * 100 + ".example"],
)
def test_a_password_in_a_bad_argument_is_not_echoed(url: str) -> None:
    with pytest.raises(ValueError, match=r"\*\*\*\*\*") as error:
        MLflowBasicLoggerHook(tags=url)  # type: ignore[arg-type]
    assert "hunter2" not in str(error.value)
    assert "hunt" not in str(error.value)


@pytest.mark.parametrize(
    ("hook", "arguments"),
    [
        (MLflowBasicLoggerHook, {"logging_kedro_run_params": "__ALL__"}),
        (MLflowBasicLoggerHook, {"offset_hours": 9.5, "tags": {"a": 1}}),
        (MLflowEnvVarsLoggerHook, {"param_env_vars": "__ALL__", "prefix": ""}),
        (MLflowArtifactsLoggerHook, {"filepaths_before_pipeline_run": "conf"}),
        (MLflowTimeLoggerHook, {"gantt_filepath": "reports/gantt.html"}),
        # Sets of names are collections too.
        (MLflowBasicLoggerHook, {"logging_kedro_run_params": {"env", "tags"}}),
        (MLflowEnvVarsLoggerHook, {"param_env_vars": {"HOME"}}),
        (MLflowArtifactsLoggerHook, {"datasets_after_node_run": {"model"}}),
    ],
)
def test_good_arguments_pass(hook: type[Any], arguments: dict[str, Any]) -> None:
    hook(**arguments)
