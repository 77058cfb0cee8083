"""A model the flavor can save, refused for its arguments, is not blamed on its type."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.tracking import TrackingError
from pipelinex_mlflow.tracking.flavors import PYFUNC, get_flavor
from pipelinex_mlflow.tracking.model_saving import save_with_flavor

if TYPE_CHECKING:
    from pathlib import Path


def test_clashing_requirements_are_named_as_the_arguments_they_are(
    tmp_path: Path,
) -> None:
    code = tmp_path / "model.py"
    code.write_text("import mlflow\nmlflow.models.set_model(lambda x: x)\n")
    with pytest.raises(TrackingError, match="refused its arguments") as caught:
        save_with_flavor(
            get_flavor(PYFUNC),
            str(code),
            path=str(tmp_path / "saved"),
            metadata=None,
            kwargs={"conda_env": {"dependencies": []}, "pip_requirements": ["x"]},
            workflow="python_model",
        )
    message = str(caught.value)
    assert "save_model refused its arguments" in message
    assert "Only one of `conda_env`, `pip_requirements`" in message
    assert "conda_env, pip_requirements" in message
    assert "The flavor wants" not in message
