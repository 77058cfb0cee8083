"""Which backend serves each ``MLflowDataSet`` ``dataset`` code.

``MLflowDataSet`` asks this module once, when the catalog is built, for the
backend of its ``dataset`` argument, and hands it every save, load and check
from then on: a code string is looked up in :data:`BACKENDS_BY_CODE`, a nested
Kedro dataset (a config dict or an instance) gets
:data:`NESTED_DATASET_BACKEND`, and ``None`` gets :data:`NO_CODE_BACKEND`.

How to add a dataset code:

1. Write one module in ``pipelinex_mlflow/io/backends/`` with a subclass of
   :class:`~pipelinex_mlflow.io.backends.base.DatasetBackend`. Implement
   ``record`` (log a save to MLflow), ``load`` and ``exists``; override the
   defaults that differ (``write_local`` for a local file, ``check_available``
   for an optional dependency, ``describe``, ``release``...). Read the entry's
   settings from the :class:`~pipelinex_mlflow.io.backends.base.BackendSettings`
   its constructor gets, and call MLflow only through
   :mod:`pipelinex_mlflow.tracking` (import-linter enforces it).
2. Add one line to :data:`BACKENDS_BY_CODE` below: ``"<code>": YourBackend``.

Codes are lower case; the constructor folds ``"CSV"`` and ``".csv"`` to
``"csv"``. Then document the code in ``MLflowDataSet``'s docstring and the README,
and test it in ``tests/io/``.

Examples:
    >>> parse_dataset("CSV")
    ParsedDataset(code='csv', inner=None, inner_config=None)
    >>> backend_class(parse_dataset("m")).__name__
    'ValueBackend'
    >>> backend_class(parse_dataset(None)).__name__
    'MemoryBackend'
"""

from __future__ import annotations

from copy import deepcopy
from typing import TYPE_CHECKING, Any, NamedTuple

from kedro.io import AbstractDataset, DatasetError, Version

from pipelinex_mlflow.io.artifact_formats import ARTIFACT_FORMATS
from pipelinex_mlflow.io.backends.artifacts import ArtifactBackend, nested_dataset
from pipelinex_mlflow.io.backends.memory import MemoryBackend
from pipelinex_mlflow.io.backends.model import LoggedModelBackend
from pipelinex_mlflow.io.backends.values import ValueBackend
from pipelinex_mlflow.io.model_backend import MODEL_CODE

if TYPE_CHECKING:
    from pipelinex_mlflow.io.backends.base import DatasetBackend

#: Dataset code -> the backend that serves it.
BACKENDS_BY_CODE: dict[str, type[DatasetBackend]] = {
    "p": ValueBackend,
    "m": ValueBackend,
    "a": ValueBackend,
    MODEL_CODE: LoggedModelBackend,
    **dict.fromkeys(ARTIFACT_FORMATS, ArtifactBackend),
}
#: The backend of a nested Kedro dataset, given as a config dict or an instance.
NESTED_DATASET_BACKEND: type[DatasetBackend] = ArtifactBackend
#: The backend of ``dataset=None``: memory only.
NO_CODE_BACKEND: type[DatasetBackend] = MemoryBackend
#: Every code, sorted, as error messages list them.
DATASET_CODES = tuple(sorted(BACKENDS_BY_CODE))


class ParsedDataset(NamedTuple):
    """The ``dataset`` argument, read: a code, or a nested dataset and its config."""

    code: str | None
    inner: AbstractDataset[Any, Any] | None
    inner_config: dict[str, Any] | None


def backend_class(parsed: ParsedDataset) -> type[DatasetBackend]:
    """The backend of a parsed ``dataset`` argument."""
    if parsed.inner is not None:
        return NESTED_DATASET_BACKEND
    if parsed.code is None:
        return NO_CODE_BACKEND
    return BACKENDS_BY_CODE[parsed.code]


def check_filepath(
    backend: type[DatasetBackend], dataset: object, filepath: str | None
) -> None:
    """Refuse ``filepath`` for a code that writes no local file of its own.

    Raises:
        DatasetError: Saying to remove it, or set it on the nested dataset.
    """
    if filepath is not None and not backend.takes_filepath:
        raise DatasetError(
            f"MLflowDataSet(dataset={dataset!r}) does not write a local file, so "
            "'filepath' does not apply. Remove it, or set it on the nested "
            "dataset's own config."
        )


def parse_dataset(
    dataset: str | dict[str, Any] | AbstractDataset[Any, Any] | None,
    version: Version | None = None,
) -> ParsedDataset:
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
        return ParsedDataset(None, None, None)
    if isinstance(dataset, str):
        code = dataset.strip().lower().lstrip(".")
        if code not in BACKENDS_BY_CODE:
            raise DatasetError(
                f"Unknown MLflowDataSet dataset code {dataset!r}. Must be one of: "
                f"{', '.join(DATASET_CODES)}; or a Kedro dataset config dict, a "
                "Kedro dataset, or None to skip MLflow."
            )
        BACKENDS_BY_CODE[code].check_available(code)
        return ParsedDataset(code, None, None)
    if isinstance(dataset, dict):
        config = deepcopy(dataset)
        return ParsedDataset(None, nested_dataset(config, version), config)
    if isinstance(dataset, AbstractDataset):
        return ParsedDataset(None, dataset, None)
    raise DatasetError(
        f"MLflowDataSet dataset must be a code string, a dict or a Kedro "
        f"dataset, not {type(dataset).__name__}."
    )


def _shown(dataset: object) -> str:
    # A dataset instance's repr may be long; its type says enough.
    if isinstance(dataset, AbstractDataset):
        return f"a {type(dataset).__name__} instance (version it with its own version=)"
    return repr(dataset)
