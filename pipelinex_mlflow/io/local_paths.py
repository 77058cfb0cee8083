"""Where a Kedro dataset keeps its data on the local disk, for uploading it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

if TYPE_CHECKING:
    from kedro.io import AbstractDataset

_PATH_ATTRIBUTES = ("_filepath", "_path")


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
    if getattr(dataset, "_protocol", "file") not in ("file", None):
        return None
    for attribute in _PATH_ATTRIBUTES:
        value = getattr(dataset, attribute, None)
        if value is not None:
            return Path(os.fspath(value))
    return None


def dataset_local_path(dataset: AbstractDataset[Any, Any]) -> Path | None:
    """Return the local file or folder the dataset last wrote.

    For a versioned dataset it is the file of the version just saved (the save
    version), else the latest one.
    """
    if getattr(dataset, "_version", None) is None:
        return dataset_base_path(dataset)
    if dataset_base_path(dataset) is None:
        return None
    try:
        saved = Path(dataset._get_versioned_path(dataset.resolve_save_version()))  # type: ignore[attr-defined]
        return saved if saved.exists() else Path(dataset._get_load_path())  # type: ignore[attr-defined]
    except (DatasetError, AttributeError, TypeError):
        return None
