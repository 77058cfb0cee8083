"""What the package's hooks tell and ask each ``MLflowDataSet`` catalog entry.

The hooks name every entry after its catalog entry, version its nested dataset
with the run's versions, link its metrics to upstream models, and ask what it
logs and where, to refuse two entries that would overwrite each other
(:mod:`~pipelinex_mlflow.io.naming`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelinex_mlflow.io.dataset_arguments import check_contained_name

if TYPE_CHECKING:
    from pipelinex_mlflow.io.backends.base import ArtifactDestination, DatasetBackend


class CatalogEntry:
    """The catalog-facing half of ``MLflowDataSet``: its name and what it logs.

    A mixin: the dataset sets ``_backend``, ``_dataset_name`` and
    ``_catalog_name`` in its constructor.
    """

    _backend: DatasetBackend
    _dataset_name: str | None
    _catalog_name: str | None

    @property
    def name(self) -> str | None:
        """The MLflow key: ``dataset_name``, else the catalog entry's name."""
        return self._dataset_name or self._catalog_name

    def bind_catalog_name(self, name: str) -> None:
        """Record the catalog entry's name, the key used unless ``dataset_name`` is set.

        The package's hooks call this for every ``MLflowDataSet`` the pipeline uses.

        Raises:
            DatasetError: For a name that would leave the dataset's folder
                (absolute, or with a ``..`` part).
        """
        check_contained_name("catalog entry", name)
        self._catalog_name = name

    def bind_versions(self, save_version: str, load_version: str | None) -> None:
        """Version the nested dataset as Kedro versions the run's catalog entries.

        The package's hooks call this when a Kedro run starts, with the run's save
        version (the session id, which Kedro gives every versioned entry of the
        run's catalog) and the entry's ``--load-versions`` pin: so the run's files
        sit in one version folder, in every thread and worker process (which get
        the dataset as it is now). A nested dataset that is not versioned, or was
        given as an instance (Kedro leaves the versions of dataset instances as
        they are too), is left as it is.

        Args:
            save_version: The version to save under.
            load_version: The version to load, ``None`` for the latest (or the one
                Kedro passed with ``version``).
        """
        self._backend.bind_versions(save_version, load_version)

    def link_to_models(self, model_names: tuple[str, ...]) -> None:
        """Link the metrics this entry logs to the models saved as ``model_names``.

        The package's hooks call this with the models that nodes upstream of this
        entry's node save; MLflow then shows the metrics on each model's page.
        """
        self._backend.link_to_models(model_names)

    @property
    def logs_values(self) -> bool:
        """Whether saves log params or metrics (codes ``p``, ``m``, ``a``), keyed by name."""
        return self._backend.logs_values

    @property
    def logs_metrics(self) -> bool:
        """Whether saves may log metrics (codes ``m`` and ``a``)."""
        return self._backend.logs_metrics

    @property
    def saves_models(self) -> bool:
        """Whether saves log an MLflow model (``dataset="model"`` without ``model_uri``)."""
        return self._backend.saves_models

    @property
    def artifact_destination(self) -> ArtifactDestination | None:
        """Where saves upload the file: store, run and artifact path; ``None`` if nowhere.

        The store and run are ``""`` for the current run's. ``None`` for entries
        that upload no file, and for ``saving_experiment_name`` (a new run each
        save). The package's hooks refuse two entries with one destination.
        """
        return self._backend.artifact_destination(self.name)
