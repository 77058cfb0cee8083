"""``MLflowDataSet`` saves data to MLflow as a param, a metric or an artifact file."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from kedro.io import AbstractDataset, DatasetError, MemoryDataset, Version

from pipelinex_mlflow.io.artifact_formats import ARTIFACT_FORMATS
from pipelinex_mlflow.io.dataset_arguments import (
    METRIC_CODES,
    MODEL_CODE,
    VALUE_CODES,
    CopyMode,
    check_arguments,
    check_contained_name,
    nested_dataset,
    parse_dataset,
)
from pipelinex_mlflow.io.file_backend import FileBackend
from pipelinex_mlflow.io.model_backend import ModelBackend
from pipelinex_mlflow.io.run_target import RunTarget
from pipelinex_mlflow.io.shared_values import share, shared_copy
from pipelinex_mlflow.io.value_codec import (
    ValueCode,
    encode,
    read_values,
    values_exist,
)
from pipelinex_mlflow.kedro_helpers import dataset_version
from pipelinex_mlflow.masking import get_logger, mask_url_passwords
from pipelinex_mlflow.tracking import (
    MLFLOW_MAX_PARAM_LENGTH,
    LongParamPolicy,
    RunRef,
    artifact_exists,
    current_run,
    has_whole_name_artifacts,
    tracking_is_off,
)
from pipelinex_mlflow.tracking.first_rule import succeeds, warn_on_failure
from pipelinex_mlflow.tracking.models import PyfuncWorkflow, linked_model_ids
from pipelinex_mlflow.tracking.run_ref import in_kedro_run, in_worker_of_kedro_run

if TYPE_CHECKING:
    from pathlib import Path

logger = get_logger(__name__)


class MLflowDataSet(AbstractDataset[Any, Any]):
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
            load_args: For models: arguments of ``mlflow.<flavor>.load_model``.
            pyfunc_workflow: For ``flavor="pyfunc"``: ``python_model`` or
                ``loader_module``; inferred from the saved object when ``None``.

        Raises:
            DatasetError: For an unknown code, a missing optional dependency, an
                argument of the wrong type, or arguments that contradict each other.
        """
        check_arguments(locals())
        filepath = os.fspath(filepath) if filepath is not None else None
        self._code, self._inner, inner_config = parse_dataset(dataset, version)
        self._inner_config = inner_config
        self._version = version
        if filepath is not None and self._code not in ARTIFACT_FORMATS:
            raise DatasetError(
                f"MLflowDataSet(dataset={dataset!r}) does not write a local file, so "
                "'filepath' does not apply. Remove it, or set it on the nested "
                "dataset's own config."
            )
        self._target = RunTarget(
            saving_tracking_uri=saving_tracking_uri,
            saving_experiment_name=saving_experiment_name,
            saving_run_id=saving_run_id,
            loading_tracking_uri=loading_tracking_uri,
            loading_run_id=loading_run_id,
            max_param_length=max_param_length,
            long_param_policy=long_param_policy,
        )
        self._artifact_path = artifact_path.strip("/") if artifact_path else None
        self._model = (
            ModelBackend(
                flavor,
                registered_model_name=registered_model_name,
                alias=alias,
                tags=tags,
                model_uri=model_uri,
                save_args=save_args,
                load_args=load_args,
                pyfunc_workflow=pyfunc_workflow,
            )
            if self._code == MODEL_CODE
            else None
        )
        # The names of the models saved upstream, which this entry's metrics link to.
        self._linked_models: tuple[str, ...] = ()
        self._files = (
            FileBackend(
                self._code, self._inner, inner_config, filepath, self._artifact_path
            )
            if self._code in ARTIFACT_FORMATS or self._inner is not None
            else None
        )
        self._filepath = filepath
        self._dataset_name = dataset_name
        self._catalog_name: str | None = None
        self._caching = caching
        # A model is handed back as it was saved: copying one can cost a lot.
        self._copy_mode = copy_mode or ("assign" if self._model else None)
        self._file_caching = file_caching
        self._sep = flatten_separator
        self.metadata = metadata
        self._init_process_state()

    def _init_process_state(self) -> None:
        # (run id, copy) of the last save; a copy from another run is never served.
        self._cache: tuple[str, MemoryDataset] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes get the configuration, not this process's data.
        state = self.__dict__.copy()
        state.pop("_cache", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    # ----------------------------------------------------------------------------------
    # Naming
    # ----------------------------------------------------------------------------------
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
        if self._inner is None or self._files is None or self._inner_config is None:
            return
        if dataset_version(self._inner, saved=True) is None:
            return  # not versioned
        if load_version is None and self._version is not None:
            load_version = self._version.load
        inner = nested_dataset(self._inner_config, Version(load_version, save_version))
        self._inner = inner
        self._files.replace_inner(inner)

    @property
    def logs_values(self) -> bool:
        """Whether saves log params or metrics (codes ``p``, ``m``, ``a``), keyed by name."""
        return self._code in VALUE_CODES

    @property
    def logs_metrics(self) -> bool:
        """Whether saves may log metrics (codes ``m`` and ``a``)."""
        return self._code in METRIC_CODES

    @property
    def saves_models(self) -> bool:
        """Whether saves log an MLflow model (``dataset="model"`` without ``model_uri``)."""
        return self._model is not None and not self._model.read_only

    @property
    def artifact_destination(self) -> tuple[str, str, str] | None:
        """Where saves upload the file: (store, run, artifact path); ``None`` if nowhere.

        The store and run are ``""`` for the current run's. ``None`` for entries
        that upload no file, and for ``saving_experiment_name`` (a new run each
        save). The package's hooks refuse two entries with one destination.
        """
        target = self._target
        if self._files is None or (
            target.saving_experiment_name and not target.saving_run_id
        ):
            return None
        try:
            artifact = self._files.artifact_file(self._file_name(self._files))
        except DatasetError:
            return None  # never named: it cannot be saved either
        if artifact is None:
            return None
        return (target.saving_tracking_uri or "", target.saving_run_id or "", artifact)

    def link_to_models(self, model_names: tuple[str, ...]) -> None:
        """Link the metrics this entry logs to the models saved as ``model_names``.

        The package's hooks call this with the models that nodes upstream of this
        entry's node save; MLflow then shows the metrics on each model's page.
        """
        self._linked_models = model_names

    @property
    def name(self) -> str | None:
        """The MLflow key: ``dataset_name``, else the catalog entry's name."""
        return self._dataset_name or self._catalog_name

    def _require_name(self) -> str:
        if self.name is None:
            raise DatasetError(
                "This MLflowDataSet has no name to log under. Register one of the "
                "pipelinex_mlflow hooks (for example MLflowBasicLoggerHook) in "
                "settings.py HOOKS, which names each dataset after its catalog entry, "
                "or pass dataset_name."
            )
        return self.name

    # ----------------------------------------------------------------------------------
    # Save
    # ----------------------------------------------------------------------------------
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
        if tracking_is_off():
            if self._files is not None:
                self._files.write(data, self._file_name(self._files))
            self._remember(data, always=True)
            return
        local = None
        if self._code not in VALUE_CODES and self._model is None and self._files:
            # Refuse before writing anything when there is no run to upload to.
            self._target.check_can_save(self.name)
            local = self._files.write(data, self._file_name(self._files))
        recorded = self._record(data, local)
        self._remember(data, always=not recorded)

    def _record(self, data: Any, local: tuple[Path, str | None] | None) -> bool:
        """Log ``data`` (or the file written at ``local``) to MLflow; whether it was.

        In a Kedro run a failure is a warning; elsewhere it raises.
        """
        if not in_kedro_run():
            self._record_now(data, local)
            return True
        run = current_run()
        where = f"MLflow run {run.run_id}" if run else "MLflow"
        return succeeds(
            self,
            f"record {self.name!r} in {where}; this run's loads of it get the value "
            "from memory",
            lambda: self._record_now(data, local),
        )

    def _record_now(self, data: Any, local: tuple[Path, str | None] | None) -> None:
        if self._code in VALUE_CODES:
            self._save_values(data)
        elif self._model is not None:
            self._save_model(data, self._model)
        elif local is not None and self._files is not None:
            path, artifact_dir = local
            self._target.log_file(
                self.name, path, artifact_dir, keep_alive=self._files.scratch
            )

    def _save_values(self, data: Any) -> None:
        name = self._require_name()
        encoded = encode(self._code, name, data, self._sep)  # type: ignore[arg-type]
        with self._target.logger(name) as run_logger:
            model_ids = (
                linked_model_ids(run_logger.run, self._linked_models)
                if self._linked_models and encoded.metrics_count
                else []
            )
            encoded.queue(run_logger, name, model_ids=model_ids)

    def _save_model(self, data: Any, model: ModelBackend) -> None:
        name = self._require_name()
        model.check_can_save(name)
        self._target.check_can_save(name)
        with self._target.logger(name) as run_logger:
            model.save(data, name, run_logger)

    def _file_name(self, files: FileBackend) -> str:
        # A nested dataset or a user's filepath names the file itself.
        return self._require_name() if files.needs_name else self.name or "mlflow_inner"

    def _remember(self, data: Any, *, always: bool = False) -> None:
        run = current_run()
        if run is not None and self.name and in_worker_of_kedro_run():
            # The next node may run in another worker, before (or without) the
            # value reaching MLflow.
            with warn_on_failure(
                self, f"leave {self.name!r} for the other ParallelRunner workers"
            ):
                share(run, self.name, data)
        # With tracking off, memory is the only place a value is kept.
        if not (self._caching or always):
            return
        copy = MemoryDataset(copy_mode=self._copy_mode)
        copy.save(data)
        self._cache = (run.run_id if run else "", copy)

    # ----------------------------------------------------------------------------------
    # Load
    # ----------------------------------------------------------------------------------
    def load(self) -> Any:
        """Load from memory, the local file, or MLflow; see the class docstring."""
        cached = self._cached()
        if cached is not None:
            return cached.load()
        if tracking_is_off():
            return self._load_untracked()
        if self._code in VALUE_CODES:
            return self._load_values()
        if self._model is not None:
            return self._load_model(self._model)
        if self._files is None:
            raise DatasetError(
                "MLflowDataSet(dataset=None) holds nothing yet: it keeps data in "
                "memory only, and nothing was saved to it in this run."
            )
        name = self._file_name(self._files)
        if self._local_file(self._files):
            return self._files.reader(name).load()
        return self._files.download_and_load(self._target.loading_run(name), name)

    def _load_untracked(self) -> Any:
        if self._files is not None and self._local_file(self._files):
            return self._files.reader(self._file_name(self._files)).load()
        raise DatasetError(
            f"MLflowDataSet {self.name!r} holds nothing to load: MLflow tracking is "
            "off for this run (enable_mlflow=False or PIPELINEX_MLFLOW_DISABLE), so "
            "only what this run saved can be loaded, and nothing was saved yet."
        )

    def _cached(self) -> MemoryDataset | None:
        """This run's copy: in this process's memory, or left by another worker."""
        run = current_run()
        if self._cache is not None:
            run_id, copy = self._cache
            if (run.run_id if run else "") == run_id:
                return copy
        if run is not None and self.name and in_kedro_run():
            return shared_copy(run, self.name)
        return None

    def _local_file(self, files: FileBackend) -> bool:
        if not self._file_caching:
            return False
        other_run = bool(self._target.loading_run_id)
        local = files.usable_local_file(self._file_name(files), other_run=other_run)
        return local is not None

    def _load_model(self, model: ModelBackend) -> Any:
        if model.read_only:
            return model.load_from_uri(self._target.loading_store())
        name = self._require_name()
        return model.load_from_run(self._target.loading_run(name), name)

    def _load_values(self) -> Any:
        run = self._target.loading_run(self.name)
        code: ValueCode = self._code  # type: ignore[assignment]
        return read_values(run, code, self._require_name(), self._sep)

    # ----------------------------------------------------------------------------------
    # Kedro's other hooks into a dataset
    # ----------------------------------------------------------------------------------
    def _exists(self) -> bool:
        if self._cached() is not None:
            return True
        if tracking_is_off():
            return self._files is not None and self._local_file(self._files)
        if self._model is not None:
            return self._model_exists(self._model)
        return self._exists_tracked()

    def _exists_tracked(self) -> bool:
        if self._code not in VALUE_CODES and self._files is None:
            return False
        if self.name is None and (self._files is None or self._files.needs_name):
            return False  # never named, so never saved
        if self._files is not None and self._local_file(self._files):
            return True
        return self._target.can_load() and self._exists_in_run(
            self._target.loading_run(self.name)
        )

    def _model_exists(self, model: ModelBackend) -> bool:
        if model.read_only:
            return model.exists_at_uri(self._target.loading_store())
        if self.name is None or not self._target.can_load():
            return False
        return model.exists_in_run(self._target.loading_run(self.name), self.name)

    def _exists_in_run(self, run: RunRef) -> bool:
        if self._files is not None:
            name = self._file_name(self._files)
            # A run of an earlier version holds the file under its name alone.
            artifact = self._files.artifact_file(name)
            if artifact is not None and artifact_exists(run, artifact):
                return True
            earlier = self._files.earlier_artifact_file(name)
            return (
                earlier is not None
                and not has_whole_name_artifacts(run)
                and artifact_exists(run, earlier)
            )
        return values_exist(run, self._require_name(), self._sep)

    def _release(self) -> None:
        self._cache = None
        if self._inner is not None:
            self._inner.release()

    def _describe(self) -> dict[str, Any]:
        target = self._target
        description: dict[str, Any] = {
            "dataset": self._code
            if self._inner is None
            else type(self._inner).__name__,
            "name": self.name,
        }
        optional = {
            "filepath": self._filepath,
            "artifact_path": self._artifact_path,
            "saving_tracking_uri": _masked(target.saving_tracking_uri),
            "saving_experiment_name": target.saving_experiment_name,
            "saving_run_id": target.saving_run_id,
            "loading_tracking_uri": _masked(target.loading_tracking_uri),
            "loading_run_id": target.loading_run_id,
        }
        description.update({k: v for k, v in optional.items() if v is not None})
        if self._model is not None:
            description.update(self._model.describe())
        if self._inner is not None:
            inner = self._inner._describe()
            inner.pop("credentials", None)
            description["inner"] = inner
        return description


def _masked(uri: str | None) -> str | None:
    return None if uri is None else mask_url_passwords(uri)


#: Kedro 1.x spells it "Dataset"; both names work in ``catalog.yml``.
MLflowDataset = MLflowDataSet
