"""``MLflowDataSet`` saves data to MLflow as a param, a metric or an artifact file."""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from kedro.io import AbstractDataset, DatasetError
from kedro.io.memory_dataset import _copy_with_mode, _infer_copy_mode

from pipelinex_mlflow.io._artifact_formats import (
    ARTIFACT_FORMATS,
    MATPLOTLIB_TYPE,
    check_installed,
    is_matplotlib_figure,
    is_plotly_figure,
)
from pipelinex_mlflow.io._values import ValueCode, decode, encode, layout_tag_key
from pipelinex_mlflow.io.local_paths import dataset_base_path, dataset_local_path
from pipelinex_mlflow.tracking import (
    MLFLOW_MAX_PARAM_LENGTH,
    LongParamPolicy,
    RunLogger,
    RunRef,
    TrackingError,
    artifact_exists,
    current_run,
    default_tracking_uri,
    download_artifact,
    end_run,
    ensure_experiment,
    get_metric_history,
    get_run_data,
    start_run,
    validate_long_param_policy,
)

if TYPE_CHECKING:
    from collections.abc import Callable

VALUE_CODES: tuple[ValueCode, ...] = ("p", "m", "a")
ALLOWED_CODES = tuple(sorted((*VALUE_CODES, *ARTIFACT_FORMATS)))
CopyMode = Literal["deepcopy", "copy", "assign"]
_PATH_KEYS = ("filepath", "path")

logger = logging.getLogger(__name__)


def _redact_uri(uri: str | None) -> str | None:
    """Hide a password in a tracking URI (``http://user:pw@host``)."""
    if uri is None or "@" not in uri:
        return uri
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


class MLflowDataSet(AbstractDataset[Any, Any]):
    """``MLflowDataSet`` saves data to MLflow as a param, a metric or an artifact file.

    The ``dataset`` code picks how:

    - ``"p"``: an MLflow param (dicts flattened into one param per leaf);
    - ``"m"``: a metric: a number, a sequence of numbers (a history at steps
      0..n-1) or a dict of them (one metric per key, ``<name>.<key>``);
    - ``"a"``: by type: numbers as metrics; str, list, tuple, set, bool and None
      as params; dicts flattened, each leaf by its own type;
    - a file code (``json csv xls xlsx parquet feather png jpg jpeg img svg pdf
      pkl pickle txt md yml yaml html``): the matching kedro-datasets dataset
      writes the file, which is uploaded as an artifact;
    - a Kedro dataset (config dict or instance): saved through it, and its file
      or folder uploaded (versioned and partitioned datasets included);
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
        filepath: str | None = None,
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

        Raises:
            DatasetError: For an unknown code, a missing optional dependency, or
                arguments that contradict each other.
        """
        self._code: str | None = None
        self._inner: AbstractDataset[Any, Any] | None = None
        self._inner_config: dict[str, Any] | None = None
        if isinstance(dataset, str):
            self._code = dataset.strip().lower().lstrip(".")
            if self._code not in ALLOWED_CODES:
                raise DatasetError(
                    f"Unknown MLflowDataSet dataset code {dataset!r}. Must be one of: "
                    f"{', '.join(ALLOWED_CODES)}; or a Kedro dataset config dict, a "
                    "Kedro dataset, or None to skip MLflow."
                )
            if self._code in ARTIFACT_FORMATS:
                check_installed(self._code)
        elif isinstance(dataset, dict):
            self._inner_config = deepcopy(dataset)
            self._inner = AbstractDataset.from_config("mlflow_inner", dataset)
        elif isinstance(dataset, AbstractDataset):
            self._inner = dataset
        elif dataset is not None:
            raise DatasetError(
                f"MLflowDataSet dataset must be a code string, a dict or a Kedro "
                f"dataset, not {type(dataset).__name__}."
            )
        if filepath is not None and self._code not in ARTIFACT_FORMATS:
            raise DatasetError(
                f"MLflowDataSet(dataset={dataset!r}) does not write a local file, so "
                "'filepath' does not apply. Remove it, or set it on the nested "
                "dataset's own config."
            )
        if saving_tracking_uri and not (saving_run_id or saving_experiment_name):
            raise DatasetError(
                "MLflowDataSet 'saving_tracking_uri' needs 'saving_run_id' or "
                "'saving_experiment_name': without them data goes to the current run, "
                "which lives in the hook's store."
            )
        if copy_mode not in (None, "deepcopy", "copy", "assign"):
            raise DatasetError(
                f"Invalid copy_mode {copy_mode!r}. Must be one of: assign, copy, "
                "deepcopy."
            )
        try:
            validate_long_param_policy(long_param_policy, max_param_length)
        except ValueError as exc:
            raise DatasetError(str(exc)) from exc
        self._filepath = filepath
        self._dataset_name = dataset_name
        self._catalog_name: str | None = None
        self._saving_tracking_uri = saving_tracking_uri
        self._saving_experiment_name = saving_experiment_name
        self._saving_run_id = saving_run_id
        self._loading_tracking_uri = loading_tracking_uri
        self._loading_run_id = loading_run_id
        self._caching = caching
        self._copy_mode = copy_mode
        self._file_caching = file_caching
        self._artifact_path = artifact_path.strip("/") if artifact_path else None
        self._sep = flatten_separator
        self._max_param_length = max_param_length
        self._long_param_policy: LongParamPolicy = long_param_policy
        self.metadata = metadata
        self._init_process_state()

    def _init_process_state(self) -> None:
        # (run id, data) of the last save; a copy from another run is never served.
        self._cache: tuple[str, Any] | None = None
        self._saved_files: set[str] = set()
        self._tmp_root: str | None = None
        self._file_inners: dict[tuple[str, str], AbstractDataset[Any, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes get the configuration, not this process's data or files.
        state = self.__dict__.copy()
        for key in ("_cache", "_saved_files", "_tmp_root", "_file_inners"):
            state.pop(key, None)
        state.pop("_finalizer", None)
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
        """
        self._catalog_name = name

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
    # Runs
    # ----------------------------------------------------------------------------------
    def _current_run(self, purpose: str) -> RunRef:
        run = current_run()
        if run is None:
            raise DatasetError(
                f"MLflowDataSet {self.name!r} has no MLflow run to {purpose}. Register "
                "MLflowBasicLoggerHook in settings.py HOOKS (it starts a run for each "
                "kedro run), set saving_run_id / saving_experiment_name (or "
                "loading_run_id to load), or use dataset=None to skip MLflow."
            )
        return run

    def _store_uri(self, uri: str | None) -> str:
        if uri:
            return uri
        run = current_run()
        return run.tracking_uri if run else default_tracking_uri(None)

    def _save_to_run(self, send: Callable[[RunLogger], None]) -> None:
        """Call ``send(run_logger)`` for the run to save to, then flush it."""
        if self._saving_run_id:
            run = RunRef(
                self._store_uri(self._saving_tracking_uri), self._saving_run_id
            )
            self._send(run, send, check_existing=True)
            return
        if not self._saving_experiment_name:
            self._send(self._current_run("save to"), send, check_existing=False)
            return
        uri = self._store_uri(self._saving_tracking_uri)
        experiment_id = ensure_experiment(uri, self._saving_experiment_name)
        parent = current_run()
        tags = {"pipelinex_mlflow.source_run_id": parent.run_id} if parent else {}
        run = start_run(uri, experiment_id, run_name=self.name, tags=tags)
        status: Literal["FINISHED", "FAILED"] = "FAILED"
        try:
            self._send(run, send, check_existing=False)
            status = "FINISHED"
        finally:
            end_run(run, status)

    def _send(
        self, run: RunRef, send: Callable[[RunLogger], None], *, check_existing: bool
    ) -> None:
        run_logger = RunLogger(
            run,
            max_param_length=self._max_param_length,
            long_param_policy=self._long_param_policy,
            check_existing_params=check_existing,
        )
        try:
            send(run_logger)
            run_logger.flush()
        except TrackingError as exc:
            raise DatasetError(str(exc)) from exc

    def _loading_run(self) -> RunRef:
        if self._loading_run_id:
            return RunRef(
                self._store_uri(self._loading_tracking_uri), self._loading_run_id
            )
        return self._current_run("load from")

    # ----------------------------------------------------------------------------------
    # Save
    # ----------------------------------------------------------------------------------
    def save(self, data: Any) -> None:
        """Save ``data`` as the dataset code says; see the class docstring."""
        if self._code is None and self._inner is None:
            self._remember(data)
            return
        if self._code in VALUE_CODES:
            name = self._require_name()
            encoded = encode(self._code, name, data, self._sep)

            def send(run_logger: RunLogger) -> None:
                run_logger.log_params(encoded.params)
                run_logger.log_metrics(encoded.metrics)
                for key, values in encoded.histories.items():
                    run_logger.log_metric_history(key, values)
                run_logger.set_tags(encoded.layout_tag(name))

            self._save_to_run(send)
        else:
            self._save_artifact(data)
        self._remember(data)

    def _remember(self, data: Any) -> None:
        if not self._caching:
            return
        run = current_run()
        copy_mode = self._copy_mode or _infer_copy_mode(data)
        self._cache = (
            run.run_id if run else "",
            _copy_with_mode(data, copy_mode=copy_mode),
        )

    def _save_artifact(self, data: Any) -> None:
        # Refuse before writing anything when there is no run to upload to.
        if not (self._saving_run_id or self._saving_experiment_name):
            self._current_run("save to")
        inner = self._writer_for(data)
        inner.save(data)
        local = self._written_path(inner)
        self._saved_files.add(str(local))

        def send(run_logger: RunLogger) -> None:
            target = self._artifact_dir_for(local)
            run_logger.log_artifact(local, target)

        self._save_to_run(send)

    def _artifact_dir_for(self, local: Path) -> str | None:
        """Upload files under ``artifact_path``; folders keep their own name in it."""
        if local.is_dir():
            return str(PurePosixPath(self._artifact_path or "", local.name))
        return self._artifact_path

    def _artifact_file(self, local: Path) -> str:
        return str(PurePosixPath(self._artifact_path or "", local.name))

    # ----------------------------------------------------------------------------------
    # The inner file dataset
    # ----------------------------------------------------------------------------------
    def _scratch_dir(self) -> Path:
        """This dataset's temporary folder, removed with the dataset or at exit."""
        if self._tmp_root is None:
            self._tmp_root = tempfile.mkdtemp(prefix="pipelinex_mlflow-")
            self._finalizer = weakref.finalize(
                self, shutil.rmtree, self._tmp_root, ignore_errors=True
            )
        return Path(self._tmp_root)

    def _default_filepath(self) -> Path:
        run = current_run()
        code = self._code or ""
        folder = self._scratch_dir() / (run.run_id if run else "no-run")
        return folder / f"{self._require_name()}.{ARTIFACT_FORMATS[code].suffix}"

    def _code_filepath(self) -> str:
        return self._filepath or str(self._default_filepath())

    def _file_dataset(
        self,
        dataset_type: str,
        filepath: str,
        extra_config: dict[str, Any] | None = None,
    ) -> AbstractDataset[Any, Any]:
        key = (dataset_type, filepath)
        if key not in self._file_inners:
            fmt = ARTIFACT_FORMATS[self._code or ""]
            config: dict[str, Any] = {"type": dataset_type, "filepath": filepath}
            if dataset_type == fmt.dataset_type:
                config.update(deepcopy(fmt.config))
            config.update(extra_config or {})
            self._file_inners[key] = AbstractDataset.from_config(
                self.name or "mlflow_inner", config
            )
        return self._file_inners[key]

    def _writer_for(self, data: Any) -> AbstractDataset[Any, Any]:
        if self._inner is not None:
            return self._inner
        fmt = ARTIFACT_FORMATS[self._code or ""]
        filepath = self._code_filepath()
        dataset_type = fmt.dataset_type
        if is_matplotlib_figure(data):
            return self._file_dataset(
                MATPLOTLIB_TYPE, filepath, {"save_args": {"format": fmt.suffix}}
            )
        if fmt.load_type and isinstance(data, str) and not is_plotly_figure(data):
            # An html/svg page given as text is written as it is.
            dataset_type = fmt.load_type
        return self._file_dataset(dataset_type, filepath)

    def _reader_for(self, filepath: str | None = None) -> AbstractDataset[Any, Any]:
        if self._inner is not None and filepath is None:
            return self._inner
        if self._inner is not None:
            return self._relocated_inner(filepath or "")
        fmt = ARTIFACT_FORMATS[self._code or ""]
        return self._file_dataset(
            fmt.load_type or fmt.dataset_type, filepath or self._code_filepath()
        )

    def _relocated_inner(self, local: str) -> AbstractDataset[Any, Any]:
        """A copy of the nested dataset reading ``local`` (a download), unversioned."""
        assert self._inner is not None  # noqa: S101 - callers check
        config = deepcopy(self._inner_config) or self._inner._init_config()
        config.pop("versioned", None)
        config.pop("version", None)
        path_key = next((k for k in _PATH_KEYS if k in config), "filepath")
        config[path_key] = local
        return AbstractDataset.from_config(self.name or "mlflow_inner", config)

    def _written_path(self, inner: AbstractDataset[Any, Any]) -> Path:
        """The local file or folder that the nested dataset just wrote."""
        local = dataset_local_path(inner)
        if local is None:
            raise DatasetError(
                f"MLflowDataSet cannot upload what {type(inner).__name__} saved: it "
                "has no local 'filepath' or 'path'. Nest a dataset that writes local "
                "files, or log remote data with its own tools."
            )
        return local

    # ----------------------------------------------------------------------------------
    # Load
    # ----------------------------------------------------------------------------------
    def load(self) -> Any:
        """Load from memory, the local file, or MLflow; see the class docstring."""
        cached = self._cached()
        if cached is not None:
            return cached[0]
        if self._code is None and self._inner is None:
            raise DatasetError(
                "MLflowDataSet(dataset=None) holds nothing yet: it keeps data in "
                "memory only, and nothing was saved to it in this run."
            )
        if self._code in VALUE_CODES:
            return self._load_values()
        local = self._usable_local_file()
        if local is not None:
            return self._reader_for().load()
        return self._load_artifact()

    def _cached(self) -> tuple[Any] | None:
        if self._cache is None:
            return None
        run = current_run()
        run_id, data = self._cache
        if (run.run_id if run else "") != run_id:
            return None
        copy_mode = self._copy_mode or _infer_copy_mode(data)
        return (_copy_with_mode(data, copy_mode=copy_mode),)

    def _load_values(self) -> Any:
        run = self._loading_run()
        name = self._require_name()
        try:
            run_data = get_run_data(run)
        except Exception as exc:
            raise DatasetError(
                f"Cannot read MLflow run {run.run_id!r} from {_redact_uri(run.tracking_uri)!r}: {exc}"
            ) from exc
        return decode(
            self._code,  # type: ignore[arg-type]
            name,
            run_data,
            lambda key: get_metric_history(run, key),
            self._sep,
        )

    def _usable_local_file(self) -> Path | None:
        """The local file to load, if it is this run's or the user's own.

        A default temporary file is only ever this run's (the folder is per run). A
        user's file is used unless ``loading_run_id`` asks for another run's data.
        """
        if not self._file_caching:
            return None
        try:
            local = dataset_local_path(self._reader_for())
        except DatasetError:
            return None
        if local is None or not local.exists():
            return None
        if str(local) in self._saved_files:
            return local
        return None if self._loading_run_id else local

    def _load_artifact(self) -> Any:
        run = self._loading_run()
        local = dataset_base_path(self._reader_for())
        if local is None:
            raise DatasetError(
                "MLflowDataSet cannot tell which artifact to download: its nested "
                "dataset has no local 'filepath' or 'path'."
            )
        artifact = self._artifact_file(local)
        # Partitioned datasets read lazily, so the download outlives this call.
        download_dir = Path(
            tempfile.mkdtemp(prefix="download-", dir=self._scratch_dir())
        )
        try:
            downloaded = download_artifact(run, artifact, download_dir)
        except TrackingError as exc:
            raise DatasetError(
                f"{exc}. Check loading_run_id and the dataset's name."
            ) from exc
        return self._reader_for(str(downloaded)).load()

    # ----------------------------------------------------------------------------------
    # Kedro's other hooks into a dataset
    # ----------------------------------------------------------------------------------
    def _exists(self) -> bool:
        if self._cached() is not None:
            return True
        if self._code is None and self._inner is None:
            return False
        if self._code not in VALUE_CODES and self._usable_local_file() is not None:
            return True
        if not self._loading_run_id and current_run() is None:
            return False
        return self._exists_in_run(self._loading_run())

    def _exists_in_run(self, run: RunRef) -> bool:
        if self._code in VALUE_CODES:
            name = self._require_name()
            data = get_run_data(run)
            prefix = name + self._sep
            return (
                layout_tag_key(name) in data.tags
                or name in data.params
                or name in data.metrics
                or any(k.startswith(prefix) for k in (*data.params, *data.metrics))
            )
        local = dataset_base_path(self._reader_for())
        return local is not None and artifact_exists(run, self._artifact_file(local))

    def _release(self) -> None:
        self._cache = None
        if self._inner is not None:
            self._inner.release()

    def _describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {
            "dataset": self._code
            if self._inner is None
            else type(self._inner).__name__,
            "name": self.name,
        }
        optional = {
            "filepath": self._filepath,
            "artifact_path": self._artifact_path,
            "saving_tracking_uri": _redact_uri(self._saving_tracking_uri),
            "saving_experiment_name": self._saving_experiment_name,
            "saving_run_id": self._saving_run_id,
            "loading_tracking_uri": _redact_uri(self._loading_tracking_uri),
            "loading_run_id": self._loading_run_id,
        }
        description.update({k: v for k, v in optional.items() if v is not None})
        if self._inner is not None:
            inner = self._inner._describe()
            inner.pop("credentials", None)
            description["inner"] = inner
        return description


#: Kedro 1.x spells it "Dataset"; both names work in ``catalog.yml``.
MLflowDataset = MLflowDataSet
