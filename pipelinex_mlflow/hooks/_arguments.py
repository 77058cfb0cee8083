"""Checks of hook constructor arguments: a bad one is a ``ValueError`` naming it.

Hooks are built when ``settings.py`` is imported, so a wrong type fails there, with
the hook, the argument, what it must be and what it was (URL credentials masked),
instead of as a traceback
from inside MLflow in the middle of a run.

Examples:
    >>> check_bool("MLflowTimeLoggerHook", "enable_plotly", "yes")
    Traceback (most recent call last):
    ...
    ValueError: MLflowTimeLoggerHook(enable_plotly='yes'): enable_plotly must be True or False.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from pipelinex_mlflow.masking import mask_url_passwords


def short_repr_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(hook: str, name: str, value: Any, expected: str) -> None:
    # Mask before cutting: a cut URL loses the "@" that marks its password.
    shown = short_repr_text(mask_url_passwords(repr(value)), 60)
    raise ValueError(f"{hook}({name}={shown}): {name} must be {expected}.")


def check_bool(hook: str, name: str, value: Any) -> None:
    """Require ``True`` or ``False``."""
    if not isinstance(value, bool):
        _fail(hook, name, value, "True or False")


def check_optional_str(hook: str, name: str, value: Any) -> None:
    """Require a string or ``None``."""
    if value is not None and not isinstance(value, str):
        _fail(hook, name, value, "a string or None")


def check_text(hook: str, name: str, value: Any, *, allow_empty: bool = True) -> None:
    """Require a string (a non-empty one unless ``allow_empty``)."""
    if not isinstance(value, str) or not (allow_empty or value):
        _fail(hook, name, value, "a string" if allow_empty else "a non-empty string")


def check_number(hook: str, name: str, value: Any) -> None:
    """Require an int or a float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(hook, name, value, "a number, for example 9 or -5.5")


def check_seconds(hook: str, name: str, value: Any) -> None:
    """Require a positive number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        _fail(hook, name, value, "a positive number of seconds, for example 10")


def check_optional_mapping(hook: str, name: str, value: Any) -> None:
    """Require a dict or ``None``."""
    if value is not None and not isinstance(value, Mapping):
        _fail(hook, name, value, "a dict or None")


def check_choice(hook: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Require one of ``choices``."""
    if value not in choices:
        _fail(hook, name, value, f"one of: {', '.join(sorted(choices))}")


def check_callable(hook: str, name: str, value: Any) -> None:
    """Require a function."""
    if not callable(value):
        _fail(hook, name, value, "a function")


def _is_collection(value: Any) -> bool:
    # A list, tuple or set; not a string (one name) and not a dict.
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))


def check_names(hook: str, name: str, value: Any) -> None:
    """Require a string, a list (or set) of strings, or ``None``."""
    if value is None or isinstance(value, str):
        return
    if not _is_collection(value) or not all(isinstance(v, str) for v in value):
        _fail(hook, name, value, "a string, a list of strings, or None")


def check_path(hook: str, name: str, value: Any) -> None:
    """Require one path or ``None``."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        _fail(hook, name, value, "a path (a string or pathlib.Path) or None")


def check_paths(hook: str, name: str, value: Any) -> None:
    """Require a path or glob, a list of them, or ``None``."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return
    if not _is_collection(value) or not all(
        isinstance(v, (str, os.PathLike)) for v in value
    ):
        _fail(hook, name, value, "a path or glob pattern, a list of them, or None")


def check_basic_logger_arguments(arguments: dict[str, Any]) -> None:
    """Check the arguments of ``MLflowBasicLoggerHook`` (its ``locals()``)."""
    hook = "MLflowBasicLoggerHook"
    for name in ("uri", "experiment_name", "artifact_location", "run_name", "run_id"):
        check_optional_str(hook, name, arguments[name])
    for name in (
        "nested",
        "enable_logging_time_begin",
        "enable_logging_time_end",
        "enable_logging_time",
        "enable_mlflow",
        "log_parameters",
        "log_datasets",
        "log_system_metrics",
        "log_pipeline_structure",
    ):
        check_bool(hook, name, arguments[name])
    check_optional_mapping(hook, "tags", arguments["tags"])
    check_names(hook, "secret_names", arguments["secret_names"])
    check_names(hook, "disabled_pipelines", arguments["disabled_pipelines"])
    check_optional_mapping(hook, "experiment_tags", arguments["experiment_tags"])
    check_number(hook, "offset_hours", arguments["offset_hours"])
    for name in ("server_timeout", "flush_timeout", "system_metrics_interval"):
        check_seconds(hook, name, arguments[name])
    check_names(hook, "logging_kedro_run_params", arguments["logging_kedro_run_params"])
    check_text(
        hook, "flatten_separator", arguments["flatten_separator"], allow_empty=False
    )
