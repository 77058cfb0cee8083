"""Checks of ``MLflowDataSet``'s constructor arguments: each bad one a ``DatasetError``.

A message names the argument and what it must be, never the value of one that may
hold a secret (a tracking URI with a password, say).

Examples:
    >>> parse_dataset("CSV")
    ('csv', None, None)
    >>> check_arguments({**DEFAULTS, "dataset": "m", "caching": "yes"})
    Traceback (most recent call last):
    ...
    kedro.io.core.DatasetError: MLflowDataSet caching must be True or False, not str.
"""

from __future__ import annotations

import os
from copy import deepcopy
from typing import Any, Literal

from kedro.io import AbstractDataset, DatasetError, Version

from pipelinex_mlflow.io.artifact_formats import ARTIFACT_FORMATS, check_installed
from pipelinex_mlflow.tracking import (
    MLFLOW_MAX_PARAM_LENGTH,
    validate_long_param_policy,
)
from pipelinex_mlflow.tracking.paths import containment_problem

VALUE_CODES: tuple[Literal["p", "m", "a"], ...] = ("p", "m", "a")
#: Codes whose saves may log metrics, which can be linked to models.
METRIC_CODES = ("m", "a")
#: The code of an MLflow model (``io.model_backend``).
MODEL_CODE = "model"
ALLOWED_CODES = tuple(sorted((*VALUE_CODES, MODEL_CODE, *ARTIFACT_FORMATS)))
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
CopyMode = Literal["deepcopy", "copy", "assign"]
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
#: The name Kedro gives the nested dataset in its messages.
INNER_NAME = "mlflow_inner"


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


def parse_dataset(
    dataset: str | dict[str, Any] | AbstractDataset[Any, Any] | None,
    version: Version | None = None,
) -> tuple[str | None, AbstractDataset[Any, Any] | None, dict[str, Any] | None]:
    """The code, the nested dataset and its config, from the ``dataset`` argument.

    Args:
        dataset: The ``dataset`` argument.
        version: The versions Kedro passes for ``versioned: true`` on the entry;
            only a nested dataset given as a config dict takes them.

    Raises:
        DatasetError: For an unknown code, a missing extra, another type, or a
            version for anything but a nested dataset's config.
    """
    if version is not None and not isinstance(dataset, dict):
        raise DatasetError(
            "MLflowDataSet versioned: true versions a nested Kedro dataset given as "
            f"a config, not dataset: {_shown(dataset)}. Nest the dataset (dataset: "
            "{type: pandas.CSVDataset, filepath: data/x.csv}), or remove versioned."
        )
    if dataset is None:
        return None, None, None
    if isinstance(dataset, str):
        code = dataset.strip().lower().lstrip(".")
        if code not in ALLOWED_CODES:
            raise DatasetError(
                f"Unknown MLflowDataSet dataset code {dataset!r}. Must be one of: "
                f"{', '.join(ALLOWED_CODES)}; or a Kedro dataset config dict, a "
                "Kedro dataset, or None to skip MLflow."
            )
        if code in ARTIFACT_FORMATS:
            check_installed(code)
        return code, None, None
    if isinstance(dataset, dict):
        config = deepcopy(dataset)
        return None, nested_dataset(config, version), config
    if isinstance(dataset, AbstractDataset):
        return None, dataset, None
    raise DatasetError(
        f"MLflowDataSet dataset must be a code string, a dict or a Kedro "
        f"dataset, not {type(dataset).__name__}."
    )


def nested_dataset(
    config: dict[str, Any], version: Version | None = None
) -> AbstractDataset[Any, Any]:
    """Build the nested dataset of ``config``; with ``version``, versioned by it.

    As Kedro's ``CachedDataset`` does for the dataset it wraps: ``version`` (from
    ``versioned: true`` on the ``MLflowDataSet`` entry, or the run's versions,
    see :meth:`~pipelinex_mlflow.io.mlflow_dataset.MLflowDataSet.bind_versions`)
    gives its load and save versions. Without it, a nested ``versioned: true``
    gets what Kedro gives a dataset built alone: the latest version to load, and
    a save version made now.

    Examples:
        >>> config = {"type": "json.JSONDataset", "filepath": "x.json"}
        >>> nested_dataset(config, Version(None, "2026-01-02T03.04.05.678Z"))
        kedro_datasets.json.json_dataset.JSONDataset(..., version=Version(load=None, save='2026-01-02T03.04.05.678Z'))
    """
    if version is None:
        return AbstractDataset.from_config(INNER_NAME, config)
    return AbstractDataset.from_config(
        INNER_NAME, {**config, "versioned": True}, version.load, version.save
    )


def _shown(dataset: object) -> str:
    # A dataset instance's repr may be long; its type says enough.
    if isinstance(dataset, AbstractDataset):
        return f"a {type(dataset).__name__} instance (version it with its own version=)"
    return repr(dataset)
