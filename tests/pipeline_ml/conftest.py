"""Each test starts with no pipeline_ml_factory declaration from an earlier test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.pipeline_ml import spec

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def fresh_spec_registry() -> Iterator[None]:
    with spec._registry_lock:
        spec._registry.clear()
    yield
    with spec._registry_lock:
        spec._registry.clear()
