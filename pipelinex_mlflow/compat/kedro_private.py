"""The private Kedro and kedro-datasets names the package relies on, each behind one wrapper.

Kedro has no public API for where a file dataset keeps its data, nor for its own
``--params`` parser. Each wrapper says what it reaches into;
``tests/test_compat.py`` has a test named after each private name, run on real
datasets, that fails when a Kedro or kedro-datasets release moves or renames it.

Known to work with Kedro 1.7.0 and kedro-datasets 9.6.0 (the versions the test
suite runs). Imports no MLflow.

Examples:
    >>> from kedro.io import MemoryDataset
    >>> dataset_path(MemoryDataset()) is None, is_versioned(MemoryDataset())
    (True, False)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import PurePosixPath

    import click
    from kedro.io import AbstractDataset

#: Where file datasets keep their configured path, in the order looked at:
#: ``_filepath`` (most file datasets) and ``_path`` (``PartitionedDataset``).
DATASET_PATH_ATTRIBUTES = ("_filepath", "_path")


def split_runtime_params(ctx: click.Context, param: Any, value: Any) -> Any:
    """Parse ``--params key=value,a.b=value`` as ``kedro run --params`` does.

    A click callback, so ``kedro mlflow modelify --params`` reads values exactly as
    ``kedro run`` does (types, nesting, errors).

    Reaches into: ``kedro.framework.cli.utils._split_params`` (imported here, so a
    Kedro without it fails only this option).
    """
    from kedro.framework.cli.utils import _split_params

    return _split_params(ctx, param, value)


def dataset_path(dataset: AbstractDataset[Any, Any]) -> str | None:
    """The path a file dataset was configured with, without its protocol.

    ``None`` for a dataset with no file or folder (memory, databases, APIs).

    Reaches into: the ``_filepath`` or ``_path`` attribute
    (:data:`DATASET_PATH_ATTRIBUTES`), the first one set.
    """
    for attribute in DATASET_PATH_ATTRIBUTES:
        value = getattr(dataset, attribute, None)
        if value is not None:
            text: str = os.fspath(value)
            return text
    return None


def dataset_protocol(dataset: AbstractDataset[Any, Any]) -> str | None:
    """The fsspec protocol of a file dataset (``file``, ``s3``...), else ``None``.

    Reaches into: the ``_protocol`` attribute.
    """
    protocol: str | None = getattr(dataset, "_protocol", None)
    return protocol


def is_versioned(dataset: AbstractDataset[Any, Any]) -> bool:
    """Whether the dataset was configured as versioned.

    Reaches into: the ``_version`` attribute (a ``kedro.io.Version``, ``None``
    when unversioned).
    """
    return getattr(dataset, "_version", None) is not None


def versioned_path(dataset: AbstractDataset[Any, Any], version: str) -> PurePosixPath:
    """Where a versioned dataset keeps ``version``: ``<path>/<version>/<name>``.

    Raises:
        AttributeError: For a dataset that is not versioned.

    Reaches into: ``AbstractVersionedDataset._get_versioned_path(version)``.
    """
    path: PurePosixPath = dataset._get_versioned_path(version)  # type: ignore[attr-defined]
    return path


def load_path(dataset: AbstractDataset[Any, Any]) -> PurePosixPath:
    """The file a versioned dataset loads: its load version's, else the latest.

    Raises:
        DatasetError: When there is no version to load.
        AttributeError: For a dataset that is not versioned.

    Reaches into: ``AbstractVersionedDataset._get_load_path()``.
    """
    path: PurePosixPath = dataset._get_load_path()  # type: ignore[attr-defined]
    return path


def describe_dataset(dataset: AbstractDataset[Any, Any]) -> dict[str, Any]:
    """The settings a dataset shows in its ``repr``, as a dict.

    Reaches into: ``AbstractDataset._describe()`` (abstract in Kedro, written by
    every dataset).
    """
    return dataset._describe()
