"""Checks of ``MLflowDataSet``'s constructor arguments: each bad one a ``DatasetError``.

A message names the argument and what it must be, never the value of one that may
hold a secret (a tracking URI with a password, say).

Examples:
    >>> check_arguments({**DEFAULTS, "dataset": "m", "caching": "yes"})
    Traceback (most recent call last):
    ...
    kedro.io.core.DatasetError: MLflowDataSet caching must be True or False, not str.
"""

from __future__ import annotations

import os
from typing import Any

from kedro.io import DatasetError, Version

from pipelinex_mlflow.io.model_backend import MODEL_CODE
from pipelinex_mlflow.tracking import (
    MLFLOW_MAX_PARAM_LENGTH,
    validate_long_param_policy,
)
from pipelinex_mlflow.tracking.paths import containment_problem

#: The arguments that only ``dataset="model"`` takes, with their defaults.
MODEL_ARGUMENTS: dict[str, Any] = {
    "flavor": None,
    "registered_model_name": None,
    "alias": None,
    "tags": None,
    "model_uri": None,
    "save_args": None,
    "load_args": None,
    "pyfunc_workflow": None,
}
COPY_MODES: tuple[str, ...] = ("assign", "copy", "deepcopy")

_OPTIONAL_STRINGS = (
    "dataset_name",
    "saving_tracking_uri",
    "saving_experiment_name",
    "saving_run_id",
    "loading_tracking_uri",
    "loading_run_id",
    "artifact_path",
)
#: The constructor's defaults, for the examples and tests.
DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(_OPTIONAL_STRINGS),
    "filepath": None,
    "caching": True,
    "file_caching": True,
    "copy_mode": None,
    "flatten_separator": ".",
    "max_param_length": MLFLOW_MAX_PARAM_LENGTH,
    "long_param_policy": "truncate",
    "metadata": None,
    "version": None,
    **MODEL_ARGUMENTS,
}


def check_arguments(arguments: dict[str, Any]) -> None:
    """Check the types and values of every argument but ``dataset``.

    Raises:
        DatasetError: Naming the first bad argument and what it must be.
    """
    filepath = arguments["filepath"]
    if filepath is not None and not isinstance(filepath, (str, os.PathLike)):
        _fail("filepath", "a path (a string or pathlib.Path) or None", filepath)
    for name in _OPTIONAL_STRINGS:
        if arguments[name] is not None and not isinstance(arguments[name], str):
            _fail(name, "a string or None", arguments[name])
    for name in ("dataset_name", "artifact_path"):
        if arguments[name] is not None:
            check_contained_name(name, arguments[name])
    for name in ("caching", "file_caching"):
        if not isinstance(arguments[name], bool):
            _fail(name, "True or False", arguments[name])
    separator = arguments["flatten_separator"]
    if not isinstance(separator, str) or not separator:
        _fail("flatten_separator", "a non-empty string such as '.'", separator)
    if arguments["metadata"] is not None and not isinstance(
        arguments["metadata"], dict
    ):
        _fail("metadata", "a dict or None", arguments["metadata"])
    if arguments["version"] is not None and not isinstance(
        arguments["version"], Version
    ):
        _fail(
            "version",
            "a kedro.io.Version or None (set versioned: true on the catalog entry)",
            arguments["version"],
        )
    if arguments["copy_mode"] not in (None, *COPY_MODES):
        raise DatasetError(
            f"Invalid copy_mode {arguments['copy_mode']!r}. Must be one of: "
            f"{', '.join(COPY_MODES)}."
        )
    _check_model_arguments(arguments)
    try:
        validate_long_param_policy(
            arguments["long_param_policy"], arguments["max_param_length"]
        )
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc


def _check_model_arguments(arguments: dict[str, Any]) -> None:
    for name in ("save_args", "load_args"):
        if arguments[name] is not None and not isinstance(arguments[name], dict):
            _fail(name, "a dict or None", arguments[name])
    given = [k for k, v in MODEL_ARGUMENTS.items() if arguments[k] is not v]
    code = arguments["dataset"]
    if given and not (isinstance(code, str) and code.strip().lower() == MODEL_CODE):
        raise DatasetError(
            f"MLflowDataSet {', '.join(given)} apply to dataset: model only, not "
            f"dataset: {code!r}. Set dataset: model to log an MLflow model, or "
            "remove them."
        )


def check_contained_name(what: str, value: str) -> None:
    """Refuse a name or folder that would leave the folder it is put in.

    A dataset's name becomes a file name in its temporary folder and an MLflow
    key; ``artifact_path`` becomes a folder of the run's artifacts. Neither may be
    absolute, hold a ``..`` part or a backslash.

    Args:
        what: How the message names it, for example ``"dataset_name"``.
        value: The name.

    Raises:
        DatasetError: Saying what is wrong and what to use instead.

    Examples:
        >>> check_contained_name("dataset_name", "reports/summary")
        >>> check_contained_name("dataset_name", "../../tmp/x")
        Traceback (most recent call last):
        ...
        kedro.io.core.DatasetError: MLflowDataSet dataset_name '../../tmp/x' ...
    """
    problem = containment_problem(value)
    if problem:
        raise DatasetError(
            f"MLflowDataSet {what} {value!r} would leave its folder: {problem}. Use "
            "a relative name of letters, digits, '_', '-', '.' and '/' between "
            "folders, such as 'reports/summary'."
        )


def _fail(name: str, expected: str, value: Any) -> None:
    raise DatasetError(
        f"MLflowDataSet {name} must be {expected}, not {type(value).__name__}."
    )
