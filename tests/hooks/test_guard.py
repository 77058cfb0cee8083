"""The first rule is enforced in one place: every hook implementation is guarded.

Kedro aborts a run when a hook raises. Each hook implementation of the package
goes through ``pipelinex_mlflow.core.guard``, so a new one cannot forget it;
``tests/integration/test_first_rule.py`` makes each tracking step fail in a real
run.
"""

from __future__ import annotations

import inspect

import pytest

import pipelinex_mlflow
from pipelinex_mlflow.core.guard import guarded, is_guarded, warn_on_failure

HOOK_CLASSES = [
    getattr(pipelinex_mlflow, name)
    for name in pipelinex_mlflow.__all__
    if name.endswith("Hook") and inspect.isclass(getattr(pipelinex_mlflow, name))
]


def _hook_implementations(cls: type) -> list[str]:
    return [
        name
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if getattr(member, "kedro_impl", None) is not None
    ]


@pytest.mark.parametrize("cls", HOOK_CLASSES, ids=lambda cls: cls.__name__)
def test_every_hook_implementation_is_guarded(cls: type) -> None:
    implementations = _hook_implementations(cls)
    assert implementations, f"{cls.__name__} implements no hook"
    unguarded = [n for n in implementations if not is_guarded(getattr(cls, n))]
    assert not unguarded, f"{cls.__name__}: {unguarded} can raise into Kedro"


def test_a_guarded_failure_is_one_warning_naming_the_hook_and_the_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class AHook:
        @guarded("log the answer")
        def after_pipeline_run(self) -> None:
            raise RuntimeError("store away")

    assert AHook().after_pipeline_run() is None
    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert record.getMessage() == (
        "AHook could not log the answer (RuntimeError: store away); the pipeline "
        "goes on without it."
    )


def test_only_the_named_configuration_errors_stop_a_run() -> None:
    class ConfigError(ValueError):
        pass

    with (
        pytest.raises(ConfigError, match="bad URI"),
        warn_on_failure(object(), "start", stops_for=(ConfigError,)),
    ):
        raise ConfigError("bad URI")
    with warn_on_failure(object(), "start", stops_for=(ConfigError,)):
        raise ValueError("a bug of ours")
    with (
        pytest.raises(KeyboardInterrupt, match="Ctrl-C"),
        warn_on_failure(object(), "start"),
    ):
        raise KeyboardInterrupt("Ctrl-C")
