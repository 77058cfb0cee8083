"""Every dataset code has one backend, chosen once, and is documented."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from kedro.io import DatasetError

from pipelinex_mlflow import MLflowDataSet
from pipelinex_mlflow.io.backends.base import DatasetBackend
from pipelinex_mlflow.io.registry import (
    BACKENDS_BY_CODE,
    DATASET_CODES,
    NESTED_DATASET_BACKEND,
    NO_CODE_BACKEND,
    backend_class,
    parse_dataset,
)


@pytest.mark.parametrize("code", DATASET_CODES)
def test_every_code_is_documented_on_the_dataset(code: str) -> None:
    """A new code shows up in the docstring users read: quoted, or in the file codes."""
    doc = " ".join((MLflowDataSet.__doc__ or "").split())
    file_codes = re.search(r"a file code \(``([^`]+)``\)", doc)
    assert file_codes is not None
    assert f'``"{code}"``' in doc or code in file_codes.group(1).split()


@pytest.mark.parametrize(
    "backend", sorted({*BACKENDS_BY_CODE.values()}, key=lambda b: b.__name__)
)
def test_every_backend_implements_the_interface(backend: type[DatasetBackend]) -> None:
    """No backend leaves an abstract method of ``DatasetBackend`` out."""
    assert issubclass(backend, DatasetBackend)
    assert not inspect.isabstract(backend)


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        (None, NO_CODE_BACKEND),
        ({"type": "json.JSONDataset", "filepath": "x.json"}, NESTED_DATASET_BACKEND),
        (" .JSON", BACKENDS_BY_CODE["json"]),
    ],
)
def test_the_dataset_argument_picks_its_backend(
    dataset: Any, expected: type[DatasetBackend]
) -> None:
    """Codes are folded to lower case without a leading dot; nested datasets and None have theirs."""
    assert backend_class(parse_dataset(dataset)) is expected


def test_an_unknown_code_lists_every_registered_code() -> None:
    """The message lists the registry's codes, sorted."""
    with pytest.raises(DatasetError, match=", ".join(DATASET_CODES)):
        MLflowDataSet(dataset="nope")


def test_the_dataset_delegates_to_the_backend_chosen_in_its_constructor() -> None:
    """The backend is chosen once; ``repr`` shows its label and description."""
    dataset = MLflowDataSet(dataset="model", model_uri="models:/reg@champion")
    assert type(dataset._backend) is BACKENDS_BY_CODE["model"]
    assert "model_uri='models:/reg@champion'" in repr(dataset)
