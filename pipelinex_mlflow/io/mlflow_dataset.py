"""``MLflowDataSet`` saves data to MLflow as a param, a metric or an artifact file."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from kedro.io import AbstractDataset, DatasetError, MemoryDataset, Version

from pipelinex_mlflow.io.backends.base import BackendSettings, CopyMode, ModelOptions
from pipelinex_mlflow.io.catalog_entry import CatalogEntry
from pipelinex_mlflow.io.dataset_arguments import MODEL_ARGUMENTS, check_arguments
from pipelinex_mlflow.io.registry import backend_class, check_filepath, parse_dataset
from pipelinex_mlflow.io.run_copy import RunCopy, keep_copy, served_copy
from pipelinex_mlflow.io.run_target import RunTarget
from pipelinex_mlflow.tracking import (
    MLFLOW_MAX_PARAM_LENGTH,
    LongParamPolicy,
    current_run,
    tracking_is_off,
)
from pipelinex_mlflow.tracking.first_rule import succeeds
from pipelinex_mlflow.tracking.run_ref import in_kedro_run

if TYPE_CHECKING:
    from collections.abc import Callable

    from pipelinex_mlflow.tracking.models import PyfuncWorkflow


class MLflowDataSet(CatalogEntry, AbstractDataset[Any, Any]):
    """``MLflowDataSet`` saves data to MLflow as a param, a metric or an artifact file.

    The ``dataset`` code picks how:

    - ``"p"``: an MLflow param (dicts flattened into one param per leaf);
    - ``"m"``: a metric: a number, a sequence of numbers (a history at steps
      0..n-1) or a dict of them (one metric per key, ``<name>.<key>``);
    - ``"a"``: by type: numbers as metrics; str, bool, None and lists, tuples
      and sets of them as params; dicts flattened, each leaf by its own type
      (:func:`pipelinex_mlflow.tracking.classify`); anything else is an error;
    - a file code (``json csv xls xlsx parquet feather png jpg jpeg img svg pdf
      pkl pickle txt md yml yaml html``): the matching kedro-datasets dataset
      writes the file, which is uploaded as an artifact;
    - ``"model"``: an MLflow model of ``flavor`` (``sklearn``, ``pyfunc``, ...),
      logged into the run as an MLflow 3 logged model, registered as a new
      version of ``registered_model_name`` and given ``alias`` if set; loaded
      back with the flavor's loader, from this run, ``loading_run_id`` or
      ``model_uri`` (:class:`~pipelinex_mlflow.io.model_backend.ModelBackend`);
    - a Kedro dataset (config dict or instance): saved through it, and its file
      or folder uploaded (versioned and partitioned datasets included). A
      versioned one (``versioned: true`` in its config, or on this entry, as
      for Kedro's ``CachedDataset``) saves under the Kedro run's save version,
      as every versioned catalog entry does, and ``kedro run --load-versions
      <entry>:<version>`` pins the version it loads;
    - ``None``: kept in memory only; MLflow is never called.

    Each code is served by one backend, chosen when the catalog is built
    (:mod:`pipelinex_mlflow.io.registry`, which says how to add a code).

    The MLflow key is the catalog entry's name, set by the package's hooks, or
    ``dataset_name``. Values go to the run that ``MLflowBasicLoggerHook`` started,
    from any thread or worker process, unless ``saving_run_id`` or
    ``saving_experiment_name`` say otherwise; with no run, saving fails rather
    than creating a stray run.

    Loading returns this run's in-memory copy, else the local file, else what
    MLflow holds in ``loading_run_id`` (or the current run): params as strings,
    metrics as floats, histories as lists, ``a`` values as the dict that was
    saved, and artifacts downloaded to a temporary folder and read back.

    Warning:
        Codes ``pkl``/``pickle`` unpickle on load: load only from runs you trust.

    Examples:
        In ``catalog.yml`` (spell the type ``MLflowDataSet``, PipelineX's name, or
        ``MLflowDataset``; both are the same class):

        .. code-block:: yaml

            model:
              type: pipelinex_mlflow.MLflowDataSet
              dataset: pkl
            score:
              type: pipelinex_mlflow.MLflowDataSet
              dataset: m
            predictions:  # data/predictions.csv/<session id>/predictions.csv
              type: pipelinex_mlflow.MLflowDataSet
              versioned: true
              dataset:
                type: pandas.CSVDataset
                filepath: data/predictions.csv

        >>> ds = MLflowDataSet(dataset="m", dataset_name="score")
        >>> ds
        pipelinex_mlflow.io.mlflow_dataset.MLflowDataSet(dataset='m', name='score')
        >>> MLflowDataSet(dataset="nope")
        Traceback (most recent call last):
        ...
        kedro.io.core.DatasetError: Unknown MLflowDataSet dataset code 'nope'. ...
    """

    # The in-memory copy and temporary files are per process; nothing here needs a
    # single process, because every write names its run explicitly.
    _EPHEMERAL = False
    _SINGLE_PROCESS: ClassVar[bool] = False

    def __init__(
        self,
        dataset: str | dict[str, Any] | AbstractDataset[Any, Any] | None = None,
        filepath: str | os.PathLike[str] | None = None,
        dataset_name: str | None = None,
        saving_tracking_uri: str | None = None,
        saving_experiment_name: str | None = None,
        saving_run_id: str | None = None,
        loading_tracking_uri: str | None = None,
        loading_run_id: str | None = None,
        caching: bool = True,
        copy_mode: CopyMode | None = None,
        file_caching: bool = True,
        *,
        artifact_path: str | None = None,
        flatten_separator: str = ".",
        max_param_length: int = MLFLOW_MAX_PARAM_LENGTH,
        long_param_policy: LongParamPolicy = "truncate",
        metadata: dict[str, Any] | None = None,
        version: Version | None = None,
        flavor: str | None = None,
        registered_model_name: str | None = None,
        alias: str | None = None,
        tags: dict[str, Any] | None = None,
        model_uri: str | None = None,
        save_args: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        pyfunc_workflow: PyfuncWorkflow | None = None,
    ) -> None:
        """Validate the configuration, so a bad catalog entry fails when it is built.

        Args:
            dataset: The code, a Kedro dataset config dict, a Kedro dataset, or
                ``None``; see the class docstring.
            filepath: The local file for a file code. Defaults to
                ``<per-run temporary folder>/<name>.<extension>``.
            dataset_name: The MLflow key (and default file name); defaults to the
                catalog entry's name.
            saving_tracking_uri: The store of ``saving_run_id`` or
                ``saving_experiment_name``; defaults to the current run's store.
            saving_experiment_name: Save into a new run of this experiment
                (created if missing), ended right after the save.
            saving_run_id: Save into this existing run instead of the current one.
            loading_tracking_uri: The store of ``loading_run_id``; defaults to the
                current run's store. The process-wide tracking URI never changes.
            loading_run_id: Load from this run (for example an earlier training
                run) instead of the current one.
            caching: Keep the saved data in memory for loads in the same run.
            copy_mode: How the in-memory copy is returned: ``deepcopy``, ``copy``
                or ``assign``; inferred from the data when ``None``.
            file_caching: Load from the local file, if there is one, before
                downloading from MLflow.
            artifact_path: A folder in the run's artifacts to upload files to.
            flatten_separator: Joins nested dict keys for codes ``p``, ``m``, ``a``.
            max_param_length: The longest param value sent to MLflow.
            long_param_policy: ``truncate``, ``tag`` or ``fail`` for longer values.
            metadata: Free-form information, kept for plugins such as kedro-viz.
            version: The load and save versions of the nested dataset, which Kedro
                passes for ``versioned: true`` on the catalog entry. Only a nested
                dataset given as a config dict takes them.
            flavor: For ``dataset="model"``: the MLflow flavor (``sklearn``,
                ``pyfunc``, ``xgboost``, ...; ``mlflow.sklearn`` works too).
            registered_model_name: For models: register each save as a new
                version of this registered model.
            alias: For models: move this alias (``champion``) to the new version.
            tags: For models: tags of the new version.
            model_uri: For models: load this model (``models:/<name>@<alias>``,
                ``models:/<name>/<version>``, ``models:/<model id>``,
                ``runs:/<run id>/<name>``); the entry is then read-only.
            save_args: For models: arguments of ``mlflow.<flavor>.save_model``
                (``signature``, ``input_example``, ``pip_requirements``, ...).
            load_args: For models: arguments of ``mlflow.<flavor>.load_model``; a
                ``model_uri`` there (kedro-mlflow's spelling) is the entry's
                ``model_uri``, refused beside another argument naming the model.
            pyfunc_workflow: For ``flavor="pyfunc"``: ``python_model`` or
                ``loader_module``; inferred from the saved object when ``None``.

        Raises:
            DatasetError: For an unknown code, a missing optional dependency, an
                argument of the wrong type, or arguments that contradict each other.
        """
        arguments = locals()
        check_arguments(arguments)
        parsed = parse_dataset(dataset, version)
        backend = backend_class(parsed)
        self._filepath = os.fspath(filepath) if filepath is not None else None
        check_filepath(backend, dataset, self._filepath)
        self._artifact_path = artifact_path.strip("/") if artifact_path else None
        self._target = RunTarget.from_arguments(arguments)
        # Chosen once: every save, load and check below goes to this backend.
        self._backend = backend(
            BackendSettings(
                code=parsed.code,
                target=self._target,
                inner=parsed.inner,
                inner_config=parsed.inner_config,
                version=version,
                filepath=self._filepath,
                artifact_path=self._artifact_path,
                flatten_separator=flatten_separator,
                file_caching=file_caching,
                model=ModelOptions(**{k: arguments[k] for k in MODEL_ARGUMENTS}),
            )
        )
        self._dataset_name = dataset_name
        self._catalog_name: str | None = None
        self._caching = caching
        self._copy_mode = copy_mode or backend.default_copy_mode
        self.metadata = metadata
        self._init_process_state()

    def _init_process_state(self) -> None:
        # The copy of the last save; a copy from another run is never served.
        self._cache: RunCopy | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes get the configuration, not this process's data.
        state = self.__dict__.copy()
        state.pop("_cache", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    def save(self, data: Any) -> None:
        """Save ``data`` as the dataset code says; see the class docstring.

        With tracking off (``MLflowBasicLoggerHook(enable_mlflow=False)`` or
        ``PIPELINEX_MLFLOW_DISABLE=1``), MLflow is not called: files are written
        locally and everything is kept in memory for this run's loads.

        In a Kedro run, what fails in MLflow (a value it cannot take, a refused
        upload, a model its flavor cannot save) is a warning naming the entry,
        and the value stays in memory for the run's loads: tracking never fails
        a node (:mod:`pipelinex_mlflow.tracking.first_rule`). Writing the
        entry's own local file is the pipeline's, and fails as it would
        untracked. Outside a Kedro run (a notebook, a script) a failure raises.

        Raises:
            DatasetError: Outside a Kedro run, when the save did not land; in
                one, only when the local file cannot be written.
        """
        tracked = not tracking_is_off()
        local = self._backend.write_local(data, self.name, tracked=tracked)
        recorded = tracked and self._record(
            lambda: self._backend.record(data, local, self.name)
        )
        # With tracking off, or a save that did not land, memory is the only
        # place the value is kept.
        kept = keep_copy(
            self,
            self.name,
            data,
            copy_mode=self._copy_mode,
            keep=self._caching or not recorded,
        )
        if kept is not None:
            self._cache = kept

    def _record(self, record: Callable[[], None]) -> bool:
        """Run ``record``, which logs to MLflow; whether it landed.

        In a Kedro run a failure is a warning; elsewhere it raises.
        """
        if not in_kedro_run():
            record()
            return True
        run = current_run()
        where = f"MLflow run {run.run_id}" if run else "MLflow"
        return succeeds(
            self,
            f"record {self.name!r} in {where}; this run's loads of it get the value "
            "from memory",
            record,
        )

    def load(self) -> Any:
        """Load from memory, the local file, or MLflow; see the class docstring."""
        cached = self._cached()
        if cached is not None:
            return cached.load()
        if not tracking_is_off():
            return self._backend.load(self.name)
        reader = self._backend.local_reader(self.name)
        if reader is not None:
            return reader.load()
        raise DatasetError(
            f"MLflowDataSet {self.name!r} holds nothing to load: MLflow tracking is "
            "off for this run (enable_mlflow=False or PIPELINEX_MLFLOW_DISABLE), so "
            "only what this run saved can be loaded, and nothing was saved yet."
        )

    def _cached(self) -> MemoryDataset | None:
        return served_copy(self._cache, self.name)

    def _exists(self) -> bool:
        if self._cached() is not None:
            return True
        if tracking_is_off():
            return self._backend.local_reader(self.name) is not None
        return self._backend.exists(self.name)

    def _release(self) -> None:
        self._cache = None
        self._backend.release()

    def _describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {
            "dataset": self._backend.label,
            "name": self.name,
        }
        local = {"filepath": self._filepath, "artifact_path": self._artifact_path}
        description.update({k: v for k, v in local.items() if v is not None})
        description.update(self._target.describe())
        description.update(self._backend.describe())
        return description


#: Kedro 1.x spells it "Dataset"; both names work in ``catalog.yml``.
MLflowDataset = MLflowDataSet
