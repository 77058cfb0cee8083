"""The one interface every ``MLflowDataSet`` backend implements, and what it is given.

``MLflowDataSet`` keeps what every code shares (its name, the in-memory copy, the
"tracking never fails a node" rule) and hands the rest to the backend that
:mod:`pipelinex_mlflow.io.registry` chose for its ``dataset`` code, once, when
the catalog is built.

Examples:
    >>> require_name("score")
    'score'
    >>> require_name(None)
    Traceback (most recent call last):
    ...
    kedro.io.core.DatasetError: This MLflowDataSet has no name to log under. ...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

from kedro.io import DatasetError

if TYPE_CHECKING:
    from pathlib import Path

    from kedro.io import AbstractDataset, Version

    from pipelinex_mlflow.io.run_target import RunTarget
    from pipelinex_mlflow.tracking.models import PyfuncWorkflow

CopyMode = Literal["deepcopy", "copy", "assign"]


@dataclass(frozen=True)
class ModelOptions:
    """The arguments only ``dataset="model"`` takes; see ``MLflowDataSet``."""

    flavor: str | None = None
    registered_model_name: str | None = None
    alias: str | None = None
    tags: dict[str, Any] | None = None
    model_uri: str | None = None
    save_args: dict[str, Any] | None = None
    load_args: dict[str, Any] | None = None
    pyfunc_workflow: PyfuncWorkflow | None = None


@dataclass(frozen=True)
class BackendSettings:
    """What ``MLflowDataSet``'s constructor gives the backend of its code.

    Attributes:
        code: The dataset code (``"m"``, ``"csv"``, ``"model"``...), ``None`` for a
            nested Kedro dataset or for ``dataset=None``.
        target: The runs saves go to and loads come from.
        inner: The nested Kedro dataset, if any.
        inner_config: Its config, when it was given as one.
        version: The versions Kedro passed for ``versioned: true`` on the entry.
        filepath: The user's local file for a file code.
        artifact_path: The folder in the run's artifacts to upload files to.
        flatten_separator: Joins nested dict keys of codes ``p``, ``m``, ``a``.
        file_caching: Load from the local file, if there is one, before MLflow.
        model: The model arguments, for ``dataset="model"``.
    """

    code: str | None
    target: RunTarget
    inner: AbstractDataset[Any, Any] | None = None
    inner_config: dict[str, Any] | None = None
    version: Version | None = None
    filepath: str | None = None
    artifact_path: str | None = None
    flatten_separator: str = "."
    file_caching: bool = True
    model: ModelOptions = field(default_factory=ModelOptions)


class LocalFile(NamedTuple):
    """A file (or folder) a save wrote locally, and the artifact folder it goes to."""

    path: Path
    artifact_dir: str | None


class ArtifactDestination(NamedTuple):
    """Where an entry's saves upload its file.

    ``store`` and ``run`` are ``""`` for the current run's.
    """

    store: str
    run: str
    artifact: str

    @property
    def in_current_run(self) -> bool:
        """Whether the upload goes to the run ``MLflowBasicLoggerHook`` started."""
        return not (self.store or self.run)


def require_name(name: str | None) -> str:
    """Return ``name``, the MLflow key, or fail saying how to give the entry one.

    Raises:
        DatasetError: When the entry was never named.
    """
    if name is None:
        raise DatasetError(
            "This MLflowDataSet has no name to log under. Register one of the "
            "pipelinex_mlflow hooks (for example MLflowBasicLoggerHook) in "
            "settings.py HOOKS, which names each dataset after its catalog entry, "
            "or pass dataset_name."
        )
    return name


class DatasetBackend(ABC):
    """How one kind of ``dataset`` code saves, loads and checks for its data.

    Every method takes the entry's current name (``None`` until the package's
    hooks or ``dataset_name`` give it one); the backend fails with
    :func:`require_name` where it needs one. The defaults suit a backend that
    writes no local file, logs no values and saves no models.

    Args:
        settings: The entry's configuration.
    """

    #: Whether the code writes a local file, so ``filepath`` applies.
    takes_filepath: ClassVar[bool] = False
    #: How the in-memory copy is returned when the user did not say.
    default_copy_mode: ClassVar[CopyMode | None] = None

    def __init__(self, settings: BackendSettings) -> None:
        self.code = settings.code
        self._target = settings.target

    @classmethod
    def check_available(cls, code: str) -> None:
        """Fail when the catalog is built if ``code`` cannot work here.

        Raises:
            DatasetError: Naming what is missing and how to install it.
        """
        return  # nothing to do, unless a backend says otherwise

    @property
    def label(self) -> str | None:
        """What ``repr`` shows as the entry's ``dataset``: its code by default."""
        return self.code

    @property
    def logs_values(self) -> bool:
        """Whether saves log params or metrics keyed by the entry's name."""
        return False

    @property
    def logs_metrics(self) -> bool:
        """Whether saves may log metrics, which can be linked to models."""
        return False

    @property
    def saves_models(self) -> bool:
        """Whether saves log an MLflow model."""
        return False

    def link_to_models(self, model_names: tuple[str, ...]) -> None:
        """Link the metrics saves log to the models saved as ``model_names``."""
        return  # nothing to do, unless a backend says otherwise

    def bind_versions(self, save_version: str, load_version: str | None) -> None:
        """Version a nested dataset as Kedro versions the run's catalog entries."""
        return  # nothing to do, unless a backend says otherwise

    def artifact_destination(self, name: str | None) -> ArtifactDestination | None:
        """Where saves upload a file; ``None`` for a backend that uploads none."""
        return None

    def write_local(
        self, data: Any, name: str | None, *, tracked: bool
    ) -> LocalFile | None:
        """Write the entry's own local file, if it has one (the pipeline's job).

        Args:
            data: What is saved.
            name: The entry's name.
            tracked: Whether MLflow is told afterwards; a backend then refuses
                before writing anything when there is no run to upload to.
        """
        return None

    @abstractmethod
    def record(self, data: Any, local: LocalFile | None, name: str | None) -> None:
        """Log ``data`` (or ``local``, written by :meth:`write_local`) to MLflow."""

    def local_reader(self, name: str | None) -> AbstractDataset[Any, Any] | None:
        """The dataset reading the entry's own local file, if one is there to load."""
        return None

    @abstractmethod
    def load(self, name: str | None) -> Any:
        """Load what MLflow holds for the entry (nothing in memory served it)."""

    @abstractmethod
    def exists(self, name: str | None) -> bool:
        """Whether there is something to load, with tracking on."""

    def describe(self) -> dict[str, Any]:
        """What ``repr`` shows of the backend, after the entry's own settings."""
        return {}

    def release(self) -> None:
        """Let go of what the backend holds in memory."""
        return  # nothing to do, unless a backend says otherwise
