"""Each hook option is declared once: the constructor, mlflow.yml and the README agree.

The options model (``pipelinex_mlflow.options``) is the declaration; these
tests fail, naming what to change, when a hook's signature, its docstring or the
README's table drifts from it.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import pipelinex_mlflow
from pipelinex_mlflow.config import LoadedConfig, MlflowConfigError
from pipelinex_mlflow.options import ALL_OPTIONS, HookOptions
from pipelinex_mlflow.options.table import options_table

README = Path(__file__).resolve().parents[1] / "README.md"
OPTIONS = pytest.mark.parametrize("options", ALL_OPTIONS, ids=lambda o: o.hook)


def _hook(options: type[HookOptions]) -> Any:
    return getattr(pipelinex_mlflow, options.hook)


@OPTIONS
def test_the_constructor_takes_exactly_the_options_in_their_order(
    options: type[HookOptions],
) -> None:
    parameters = list(inspect.signature(_hook(options)).parameters)
    assert parameters == list(options.model_fields), (
        f"{options.hook}'s signature and {options.__name__} must list the same "
        "options in the same order"
    )


@OPTIONS
def test_each_signature_default_means_the_options_default(
    options: type[HookOptions],
) -> None:
    defaults = options()
    for name, parameter in inspect.signature(_hook(options)).parameters.items():
        given = options.from_arguments({name: parameter.default})
        assert getattr(given, name) == getattr(defaults, name), name


@OPTIONS
def test_each_option_is_documented_in_the_constructors_docstring(
    options: type[HookOptions],
) -> None:
    doc = inspect.getdoc(_hook(options).__init__) or ""
    missing = [n for n in options.model_fields if not re.search(rf"\b{n}:", doc)]
    assert not missing, f"{options.hook}.__init__ documents no {missing}"


@OPTIONS
def test_the_hook_holds_its_options_and_reads_them_as_attributes(
    options: type[HookOptions],
) -> None:
    hook = _hook(options)()
    assert hook.options == options()
    assert hook.enable_mlflow is True


def test_the_readme_table_is_the_options_table() -> None:
    text = README.read_text(encoding="utf-8")
    table = re.search(
        r"<!-- options table:.*?-->\n(.*?)<!-- end of options table -->", text, re.S
    )
    assert table, "README.md lost its options table markers"
    assert table.group(1) == options_table(), (
        "README's options table is stale: paste "
        "`python -m pipelinex_mlflow.options.table` between its markers"
    )


@pytest.mark.parametrize(
    ("argument", "value", "yml", "must_be"),
    [
        ("server_timeout", "ten", "server: {timeout: ten}", "a positive number"),
        ("nested", "yes", "tracking: {run: {nested: 'yes'}}", "True or False"),
        ("tags", ["a"], "tracking: {run: {tags: [a]}}", "a dict or None"),
        ("secret_names", 7, "tracking: {params: {secret_names: 7}}", "a string, a"),
    ],
)
def test_the_constructor_and_mlflow_yml_say_the_same_about_a_bad_value(
    argument: str, value: object, yml: str, must_be: str
) -> None:
    import yaml

    with pytest.raises(ValueError, match=f"{argument} must be {must_be}"):
        pipelinex_mlflow.MLflowBasicLoggerHook(**{argument: value})
    with pytest.raises(MlflowConfigError, match=f": must be {must_be}"):
        LoadedConfig.from_raw(yaml.safe_load(yml))


def test_mlflow_yml_sets_options_without_constructing_the_hook_again() -> None:
    from pipelinex_mlflow.core.configurable import apply_config

    hook = pipelinex_mlflow.MLflowBasicLoggerHook(run_name="given")
    tracking = hook._tracking
    apply_config(
        hook,
        LoadedConfig.from_raw({"tracking": {"run": {"name": "file", "nested": True}}}),
    )
    assert (hook.options.run_name, hook.options.nested) == ("given", True)
    assert hook._tracking is tracking


def test_a_subclass_keeps_what_it_passes_its_base_under_mlflow_yml() -> None:
    from pipelinex_mlflow.core.configurable import (
        apply_config,
        remembers_given_arguments,
    )

    class QuietCatalogHook(pipelinex_mlflow.MLflowCatalogLoggerHook):
        @remembers_given_arguments
        def __init__(self, enable_mlflow: bool = True) -> None:
            super().__init__(
                auto=False, mlflow_catalog={"score": "m"}, enable_mlflow=enable_mlflow
            )

    hook = QuietCatalogHook()
    apply_config(
        hook, LoadedConfig.from_raw({"tracking": {"catalog": {"enabled": False}}})
    )
    assert (hook.options.auto, hook.options.enable_mlflow) == (False, False)
    assert list(hook.mlflow_datasets) == ["score"]


def test_setting_an_option_as_an_attribute_changes_the_options_checked() -> None:
    hook = pipelinex_mlflow.MLflowBasicLoggerHook()
    hook.enable_mlflow = False
    assert hook.options.enable_mlflow is False
    with pytest.raises(ValueError, match="nested must be True or False"):
        hook.nested = "yes"
    timing = pipelinex_mlflow.MLflowTimeLoggerHook()
    timing.enable_plotly = False
    assert timing.options.enable_plotly is False


def test_mlflow_yml_tables_need_string_keys() -> None:
    with pytest.raises(MlflowConfigError, match=r"tracking\.run\.tags: must be a dict"):
        LoadedConfig.from_raw({"tracking": {"run": {"tags": {2024: "q1"}}}})


def test_an_empty_experiment_name_falls_back_to_the_default() -> None:
    hook = pipelinex_mlflow.MLflowBasicLoggerHook(experiment_name="")
    assert hook.resolved_experiment_name()


def test_a_null_key_does_not_hide_kedro_mlflows_spelling_of_it() -> None:
    loaded = LoadedConfig.from_raw(
        {
            "tracking": {
                "experiment": {
                    "tags": None,
                    "create_experiment_kwargs": {"tags": {"team": "a"}},
                }
            }
        }
    )
    arguments = loaded.arguments_for_name("MLflowBasicLoggerHook")
    assert arguments["experiment_tags"] == {"team": "a"}


def test_names_given_as_a_generator_are_read_once_and_kept() -> None:
    from pipelinex_mlflow.core.configurable import apply_config

    hook = pipelinex_mlflow.MLflowEnvVarsLoggerHook(
        param_env_vars=(name for name in ["HOSTNAME", "USER"])
    )
    assert hook.options.param_env_vars == ["HOSTNAME", "USER"]
    apply_config(
        hook, LoadedConfig.from_raw({"tracking": {"env_vars": {"prefix": "e."}}})
    )
    assert hook.options.param_env_vars == ["HOSTNAME", "USER"]
    assert hook.prefix == "e."
