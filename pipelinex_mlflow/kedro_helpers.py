"""What the package needs to know about Kedro: parameters, the project root, files.

It finds the local file a dataset wrote and where its data lives through the
wrappers of :mod:`pipelinex_mlflow.compat.kedro_private`, the one place that reads
private attributes of Kedro datasets. A contract test per supported dataset type
(``tests/test_kedro_helpers.py``) fails by name when a kedro-datasets release
changes them.

Examples:
    >>> is_parameter("params:model.depth"), parameter_key("params:model.depth")
    (True, 'model.depth')
    >>> is_parameter("model"), parameter_key("parameters")
    (False, '')
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import (
    AbstractDataset,
    DataCatalog,
    DatasetError,
    MemoryDataset,
    SharedMemoryDataset,
)

from pipelinex_mlflow.compat.kedro_private import (
    dataset_path,
    dataset_protocol,
    is_versioned,
    load_path,
    versioned_path,
)

if TYPE_CHECKING:
    import os

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

PARAMS_PREFIX = "params:"
PARAMETERS = "parameters"
_PATH_KEYS = ("filepath", "path")


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------
def is_parameter(dataset_name: str) -> bool:
    """Tell whether a node input is a Kedro parameter (``params:x`` or ``parameters``)."""
    return dataset_name == PARAMETERS or dataset_name.startswith(PARAMS_PREFIX)


def parameter_key(dataset_name: str) -> str:
    """Return the MLflow key of a node input or output.

    A parameter is keyed by its path (``params:model.depth`` -> ``model.depth``),
    the whole ``parameters`` dict has no prefix at all (``""``), and any other
    dataset keeps its name.

    Examples:
        >>> parameter_key("training.score")
        'training.score'
    """
    if dataset_name == PARAMETERS:
        return ""
    return dataset_name.removeprefix(PARAMS_PREFIX)


def used_parameters(
    pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]
) -> dict[str, Any]:
    """Return the parameters the pipeline's nodes read, nested as in ``parameters``.

    ``params:model.depth`` becomes ``{"model": {"depth": value}}``, where Kedro's
    ``parameters`` holds it that way (a top-level key written ``model.depth``
    stays one key); a node reading the whole ``parameters`` dict brings in every
    parameter. The same value reached two ways (``params:model`` in one node,
    ``params:model.alpha`` in another) is there once. Values already hold the
    runtime ``--params`` overrides: Kedro merged them into the catalog.

    Examples:
        >>> from kedro.io import DataCatalog
        >>> from kedro.pipeline import node, pipeline
        >>> catalog = DataCatalog()
        >>> catalog["parameters"] = {"model": {"alpha": 0.5, "depth": 3}}
        >>> catalog["params:model"] = {"alpha": 0.5, "depth": 3}
        >>> catalog["params:model.alpha"] = 0.5
        >>> used_parameters(
        ...     pipeline(
        ...         [
        ...             node(min, "params:model", "a", name="a"),
        ...             node(min, "params:model.alpha", "b", name="b"),
        ...         ]
        ...     ),
        ...     catalog,
        ... )
        {'model': {'alpha': 0.5, 'depth': 3}}
    """
    names = sorted(name for name in pipeline.inputs() if is_parameter(name))
    everything = _parameter_value(catalog, PARAMETERS) if names else None
    used: dict[str, Any] = {}
    for name in names:
        value = _parameter_value(catalog, name)
        if value is _MISSING:
            continue
        if name == PARAMETERS:
            path: tuple[str, ...] = () if isinstance(value, dict) else (name,)
        else:
            path = _parameter_path(parameter_key(name), value, everything)
        _put_parameter(used, path, value)
    return used


_MISSING = object()


def _parameter_value(catalog: CatalogProtocol[Any, Any], name: str) -> Any:
    dataset = catalog.get(name)
    return _MISSING if dataset is None else dataset.load()


def _parameter_path(key: str, value: Any, everything: Any) -> tuple[str, ...]:
    """Where ``params:<key>`` sits in ``parameters``: nested, else one dotted key.

    Kedro makes ``params:a.b`` both for ``{"a": {"b": ...}}`` and for a
    top-level key ``"a.b"``; the one holding this value is the parameter read.
    """
    parts = tuple(key.split("."))
    node = everything
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return (key,)
        node = node[part]
    return parts if node is value or _equal(node, value) else (key,)


def _equal(first: Any, second: Any) -> bool:
    try:
        return bool(first == second)
    except (TypeError, ValueError):  # arrays compare elementwise
        return False


def _put_parameter(used: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Merge ``value`` in at ``path``, copying dicts so the catalog's stay as they are.

    A path that runs into a value that is not a dict keeps its own dotted key.
    """
    if not path:
        for key, item in value.items():
            _put_parameter(used, (str(key),), item)
        return
    target = used
    for part in path[:-1]:
        inner = target.setdefault(part, {})
        if not isinstance(inner, dict):
            used[".".join(path)] = deepcopy(value)
            return
        target = inner
    last = path[-1]
    if isinstance(value, dict) and isinstance(target.get(last), dict):
        for key, item in value.items():
            _put_parameter(target[last], (str(key),), item)
    else:
        target[last] = deepcopy(value)


# --------------------------------------------------------------------------------------
# The project
# --------------------------------------------------------------------------------------
def project_root(project_path: str | os.PathLike[str] | None) -> Path:
    """The Kedro project root from ``run_params["project_path"]``, else the cwd.

    Examples:
        >>> project_root("/srv/proj")
        PosixPath('/srv/proj')
    """
    return Path(project_path) if project_path else Path.cwd()


# --------------------------------------------------------------------------------------
# Where a dataset keeps its data
# --------------------------------------------------------------------------------------
def keeps_in_memory(dataset: AbstractDataset[Any, Any] | None) -> bool:
    """Whether a catalog entry's data is gone after the run.

    A ``MemoryDataset``, ParallelRunner's ``SharedMemoryDataset`` (no subclass of
    it), or no entry at all (Kedro makes a memory dataset then).

    Examples:
        >>> from kedro.io import MemoryDataset
        >>> keeps_in_memory(MemoryDataset(1)), keeps_in_memory(None)
        (True, True)
    """
    return dataset is None or isinstance(dataset, (MemoryDataset, SharedMemoryDataset))


def dataset_base_path(dataset: AbstractDataset[Any, Any]) -> Path | None:
    """Return the dataset's configured local file or folder, ignoring versions.

    Its name is the artifact's name: a versioned file ``<path>/<version>/<name>``
    has the same name as ``<path>``. Remote (``s3://``...) and in-memory datasets
    have none.

    Examples:
        >>> from kedro.io import MemoryDataset
        >>> dataset_base_path(MemoryDataset()) is None
        True
    """
    if dataset_protocol(dataset) not in ("file", None):
        return None
    path = dataset_path(dataset)
    return None if path is None else Path(path)


def dataset_local_path(dataset: AbstractDataset[Any, Any]) -> Path | None:
    """Return the local file or folder the dataset last wrote.

    For a versioned dataset it is the file of the version just saved (the save
    version), else the latest one.
    """
    if not is_versioned(dataset):
        return dataset_base_path(dataset)
    if dataset_base_path(dataset) is None:
        return None
    try:
        saved = Path(versioned_path(dataset, dataset.resolve_save_version()))  # type: ignore[attr-defined]
        return saved if saved.exists() else Path(load_path(dataset))
    except (DatasetError, AttributeError, TypeError):
        return None


def dataset_uri(dataset: AbstractDataset[Any, Any]) -> str | None:
    """Where a file dataset keeps its data: a local path or a remote URI.

    ``None`` for datasets with no file or folder (databases, APIs, memory).

    Examples:
        >>> from kedro_datasets.pandas import CSVDataset
        >>> dataset_uri(CSVDataset(filepath="memory:///data/x.csv"))
        'memory:///data/x.csv'
    """
    local = dataset_base_path(dataset)
    if local is not None:
        return str(local.resolve())
    protocol = dataset_protocol(dataset)
    text = dataset_path(dataset)
    if text is None or not protocol:
        return None
    return text if "://" in text else f"{protocol}://{text}"


def dataset_version(dataset: AbstractDataset[Any, Any], *, saved: bool) -> str | None:
    """The Kedro version a versioned dataset loaded (or, ``saved``, wrote) in this run.

    ``None`` for an unversioned dataset, or one with no version yet.
    """
    if not is_versioned(dataset):
        return None
    resolve = "resolve_save_version" if saved else "resolve_load_version"
    try:
        version = getattr(dataset, resolve)()
    except (DatasetError, AttributeError, TypeError):
        return None
    return str(version) if version else None


def dataset_config(dataset: AbstractDataset[Any, Any]) -> dict[str, Any]:
    """Return the config that builds ``dataset`` again, credentials resolved.

    Uses Kedro's public ``DataCatalog.to_config``.

    Raises:
        DatasetError: For a dataset Kedro cannot describe as config.
    """
    configs, credentials, _, _ = DataCatalog({"dataset": dataset}).to_config()
    if "dataset" not in configs:
        raise DatasetError(
            f"{type(dataset).__name__} cannot be described as a config, so it cannot "
            "be rebuilt to read a downloaded copy. Nest it as a config dict instead."
        )
    config: dict[str, Any] = _with_credentials(
        deepcopy(configs["dataset"]), credentials
    )
    return config


def _with_credentials(config: Any, credentials: dict[str, Any]) -> Any:
    """Put back the credentials ``to_config`` replaced by references, at any depth."""
    if not isinstance(config, dict):
        return config
    resolved = {
        key: _with_credentials(value, credentials) for key, value in config.items()
    }
    reference = resolved.get("credentials")
    if isinstance(reference, str) and reference in credentials:
        resolved["credentials"] = credentials[reference]
    return resolved


def relocated_dataset(
    config: dict[str, Any], local: str, name: str
) -> AbstractDataset[Any, Any]:
    """Build the dataset of ``config`` reading ``local`` instead, unversioned.

    Args:
        config: The dataset's config, as in ``catalog.yml``.
        local: The local file or folder to read (for example a download).
        name: The name Kedro gives the dataset in messages.
    """
    relocated = deepcopy(config)
    relocated.pop("versioned", None)
    relocated.pop("version", None)
    path_key = next((k for k in _PATH_KEYS if k in relocated), "filepath")
    relocated[path_key] = local
    return AbstractDataset.from_config(name, relocated)


def dataset_type_name(dataset: AbstractDataset[Any, Any]) -> str:
    """``pandas.CSVDataset`` for kedro-datasets' classes, else ``<module>.<class>``.

    Examples:
        >>> from kedro.io import MemoryDataset
        >>> dataset_type_name(MemoryDataset())
        'kedro.io.memory_dataset.MemoryDataset'
    """
    kind = type(dataset)
    module = kind.__module__
    if module.startswith("kedro_datasets."):
        # kedro_datasets.pandas.csv_dataset -> pandas, as the catalog spells it
        module = module.split(".")[1]
    return f"{module}.{kind.__qualname__}"
