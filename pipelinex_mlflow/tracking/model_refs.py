"""What a model is called and where it is: logged models, registered versions, sources.

Examples:
    >>> logged_model_name("namespace.regressor")
    'namespace_regressor'
    >>> logged_model_name("regressor@pyfunc")
    'regressor'
    >>> ModelVersionRef("spaceflights", "3", "champion").uri
    'models:/spaceflights@champion'
    >>> LoggedModelRef("sqlite:///mlflow.db", "m-0123", "regressor", "file:///m").uri
    'models:/m-0123'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# MLflow's rule for logged model names (mlflow.utils.validation).
_BAD_NAME_CHARS = re.compile(r"[/:.%\"']")


@dataclass(frozen=True)
class LoggedModelRef:
    """A logged model: where it is and which run logged it.

    Attributes:
        tracking_uri: The store that holds it.
        model_id: MLflow's id, ``m-...``.
        name: Its name in the run.
        artifact_location: Where its files are (the registry's ``source``).
        source_run_id: The run that logged it, if any.
    """

    tracking_uri: str
    model_id: str
    name: str
    artifact_location: str
    source_run_id: str | None = None

    @property
    def uri(self) -> str:
        """Its URI, ``models:/<model id>``."""
        return f"models:/{self.model_id}"


@dataclass(frozen=True)
class ModelVersionRef:
    """A registered model version, and the alias that was moved to it."""

    name: str
    version: str
    alias: str | None = None

    @property
    def uri(self) -> str:
        """``models:/<name>@<alias>`` when aliased, else ``models:/<name>/<version>``."""
        if self.alias:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class ModelSource:
    """Where a model to load is.

    Attributes:
        location: The artifact URI of its folder.
        model_id: The logged model's id, when it is one.
        description: What it is, for messages, such as ``models:/reg@champion
            (version 3)``.
    """

    location: str
    model_id: str | None
    description: str


def logged_model_name(name: str) -> str:
    """The logged model name of a dataset.

    Kedro's transcoding suffix is dropped (``model@sklearn`` and ``model@pyfunc``
    are one model), and ``/ : . % " '``, which MLflow refuses, become ``_``.
    """
    return _BAD_NAME_CHARS.sub("_", name.partition("@")[0])
