"""``MLflowArtifactsLoggerHook`` uploads chosen files, folders and dataset files."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from pipelinex_mlflow.core.configurable import (
    ConfigurableHook,
    remembers_given_arguments,
)
from pipelinex_mlflow.core.guard import RunFinder, guarded, warn_on_failure
from pipelinex_mlflow.hooks._credential_files import (
    FilteredUploads,
    filter_uploads,
)
from pipelinex_mlflow.kedro_helpers import (
    dataset_base_path,
    dataset_local_path,
    project_root,
)
from pipelinex_mlflow.masking import MASK, get_logger
from pipelinex_mlflow.options import ArtifactsOptions, as_names
from pipelinex_mlflow.tracking import RunLogger

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from kedro.io import CatalogProtocol

PathSpec = str | os.PathLike[str]
_GLOB_CHARS = frozenset("*?[")

logger = get_logger(__name__)


def _spec_path(spec: PathSpec, root: Path) -> tuple[Path, bool]:
    """The path a spec names (``~`` expanded, relative to ``root``), and whether it is a glob."""
    text = os.path.expanduser(os.fspath(spec))
    path = Path(text) if Path(text).is_absolute() else root / text
    return path, bool(_GLOB_CHARS & set(text))


def resolve_paths(
    specs: Iterable[PathSpec], root: Path
) -> tuple[list[Path], list[str]]:
    """Expand files, folders and glob patterns into existing paths.

    Args:
        specs: Paths or glob patterns (``**`` recurses); ``~`` is expanded and
            relative ones are taken from ``root``.
        root: The folder relative paths start from.

    Returns:
        The existing paths, in order and without duplicates, and the specs that
        matched nothing.

    Examples:
        >>> resolve_paths(["no/such/file.txt"], Path("/tmp"))
        ([], ['no/such/file.txt'])
    """
    found: dict[Path, None] = {}
    missing: list[str] = []
    for spec in specs:
        path, is_glob = _spec_path(spec, root)
        if is_glob:
            matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
        else:
            matches = [path] if path.exists() else []
        if not matches:
            missing.append(os.fspath(spec))
        found.update(dict.fromkeys(matches))
    return list(found), missing


def artifact_dir(path: Path, root: Path, *, is_dir: bool | None = None) -> str | None:
    """Where ``path`` goes in the run's artifacts: its place in the project.

    Files in the project keep their relative folder, so ``conf/base/parameters.yml``
    and ``conf/local/parameters.yml`` do not overwrite each other; a folder is
    uploaded as itself. Paths outside the project go to the root under their name.

    Examples:
        >>> artifact_dir(Path("/p/conf/base/parameters.yml"), Path("/p"))
        'conf/base'
        >>> artifact_dir(Path("/elsewhere/run.log"), Path("/p")) is None
        True
    """
    folder = path.is_dir() if is_dir is None else is_dir
    try:
        relative = path.relative_to(root)
    except ValueError:
        return path.name if folder else None
    place = relative if folder else relative.parent
    return None if str(place) in ("", ".") else place.as_posix()


def _as_list(value: Sequence[PathSpec] | PathSpec | None) -> list[PathSpec]:
    # A lone string is one path, not a sequence of one-character paths.
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return list(value)


class MLflowArtifactsLoggerHook(ConfigurableHook):
    """Uploads files and folders to MLflow before and after the pipeline runs.

    Uploads go to the run of ``MLflowBasicLoggerHook``, which must be registered
    too:

    - ``filepaths_before_pipeline_run`` when the pipeline starts (for example the
      configuration);
    - ``filepaths_after_pipeline_run`` when it ends, and also when it fails (logs
      help most then);
    - the files of the node outputs named in ``datasets_after_node_run``, right
      after they are saved (for a versioned dataset, the version just saved),
      also from ThreadRunner threads and ParallelRunner workers.

    Each entry is a file, a folder or a glob pattern (``**`` recurses); ``~`` is
    expanded and relative paths are taken from the project root (the current
    folder outside a project). Paths in the project keep their place in it
    (``conf/base/parameters.yml``); others land at the artifact root under their
    name. A folder is uploaded in one call. Paths that match nothing are named in
    one warning, and the others are uploaded anyway.

    Credentials files are never uploaded by accident: Kedro's
    ``credentials*.yml``, ``.env`` files, the other names of
    :data:`~pipelinex_mlflow.hooks._credential_recognition.CREDENTIALS_FILE_PATTERNS`,
    and files recognised by their content whatever their name (private keys, GCP
    service-account keys, AWS credentials, ``.netrc``, kube configs) are left out
    of folders and globs, and a file named exactly goes up only with
    ``allow_credentials_files=True``. A file an environment variable names as
    credentials (``GOOGLE_APPLICATION_CREDENTIALS``, ``*_KEY_FILE``...) never goes
    up. Each file left out is named in a warning. The configuration files of
    ``filepaths_*`` (YAML, JSON, TOML, INI...) go up with the secrets the masking
    rule finds in them masked (a catalog's database URL password, a signed URL's
    signature), each such file named in a warning.

    Examples:
        In ``settings.py``:

        .. code-block:: python

            from pipelinex_mlflow import (
                MLflowArtifactsLoggerHook,
                MLflowBasicLoggerHook,
            )

            HOOKS = (
                MLflowBasicLoggerHook(experiment_name="my_experiment"),
                MLflowArtifactsLoggerHook(
                    filepaths_before_pipeline_run=["conf/base"],
                    filepaths_after_pipeline_run=["logs/*.log"],
                    datasets_after_node_run=["model"],
                ),
            )

        >>> hook = MLflowArtifactsLoggerHook(
        ...     filepaths_before_pipeline_run=["conf/base"]
        ... )
        >>> hook.filepaths_before_pipeline_run
        ['conf/base']
    """

    Options = ArtifactsOptions
    DERIVED = frozenset(
        {
            "filepaths_before_pipeline_run",
            "filepaths_after_pipeline_run",
            "datasets_after_node_run",
        }
    )

    @remembers_given_arguments
    def __init__(
        self,
        filepaths_before_pipeline_run: Sequence[PathSpec] | PathSpec | None = None,
        filepaths_after_pipeline_run: Sequence[PathSpec] | PathSpec | None = None,
        datasets_after_node_run: Sequence[str] | str | None = None,
        enable_mlflow: bool = True,
        allow_credentials_files: bool = False,
    ) -> None:
        """Choose what to upload and when.

        Args:
            filepaths_before_pipeline_run: Files, folders or glob patterns to
                upload when the pipeline starts.
            filepaths_after_pipeline_run: Files, folders or glob patterns to
                upload when the pipeline ends or fails.
            datasets_after_node_run: Catalog names of node outputs whose local
                file or folder is uploaded after the node runs (the version just
                saved, for a versioned dataset).
            enable_mlflow: ``False`` turns the hook off.
            allow_credentials_files: Upload the credentials files named exactly
                (not through a folder or a glob) in the lists above. Off by
                default: they hold secrets.

        Raises:
            ValueError: For an argument of the wrong type.
        """
        self._root = project_root(None)
        self._catalog: CatalogProtocol[Any, Any] | None = None
        self._find_run = RunFinder(self)
        self.use(ArtifactsOptions.from_arguments(locals()))

    def use(self, options: ArtifactsOptions) -> None:
        """Take ``options``; each list of paths or names becomes a list."""
        self.options: ArtifactsOptions = options
        self.filepaths_before_pipeline_run = _as_list(
            options.filepaths_before_pipeline_run
        )
        self.filepaths_after_pipeline_run = _as_list(
            options.filepaths_after_pipeline_run
        )
        self.datasets_after_node_run = as_names(options.datasets_after_node_run)

    @hook_impl
    @guarded("upload files before the pipeline")
    def before_pipeline_run(
        self, run_params: dict[str, Any], catalog: CatalogProtocol[Any, Any]
    ) -> None:
        """Upload ``filepaths_before_pipeline_run``."""
        self._find_run.reset()
        self._catalog = catalog
        self._root = project_root(run_params.get("project_path"))
        self._upload_paths(self.filepaths_before_pipeline_run, "before the pipeline")

    @hook_impl
    @guarded("keep the catalog in a worker")
    def before_node_run(self, catalog: CatalogProtocol[Any, Any]) -> None:
        """Keep the catalog in a spawned ParallelRunner worker, which got no pipeline hook.

        Kedro passes the catalog to node hooks but not to ``after_dataset_saved``.
        """
        if self._catalog is None:
            self._catalog = catalog

    @hook_impl
    @guarded("upload a dataset's file")
    def after_dataset_saved(self, dataset_name: str) -> None:
        """Upload the file of a dataset listed in ``datasets_after_node_run``.

        Kedro saves a node's outputs after ``after_node_run``, so this is the first
        moment the file is there.
        """
        if (
            dataset_name not in self.datasets_after_node_run
            or not self.options.enable_mlflow
        ):
            return
        with warn_on_failure(self, f"upload the file of dataset {dataset_name!r}"):
            run = self._find_run()
            if run is None:
                return
            catalog = self._catalog
            dataset = catalog.get(dataset_name) if catalog is not None else None
            path = dataset_local_path(dataset) if dataset is not None else None
            if dataset is None or path is None or not path.exists():
                logger.warning(
                    "MLflowArtifactsLoggerHook cannot upload dataset %r: %s.",
                    dataset_name,
                    "it has no local file"
                    if path is None
                    else f"{path} does not exist",
                )
                return
            filtered = filter_uploads(
                [path], {path}, allow_credentials=self.options.allow_credentials_files
            )
            self._warn_filtered(filtered)
            # A versioned file goes where its unversioned path would.
            base = dataset_base_path(dataset) or path
            target = artifact_dir(base, self._root, is_dir=path.is_dir())
            run_logger = RunLogger(run)
            for upload in filtered.uploads:
                run_logger.log_artifact(
                    upload.local, target, keep_alive=upload.keep_alive
                )
            run_logger.flush()

    @hook_impl
    @guarded("upload files after the pipeline")
    def after_pipeline_run(self) -> None:
        """Upload ``filepaths_after_pipeline_run``."""
        self._catalog = None
        self._upload_paths(self.filepaths_after_pipeline_run, "after the pipeline")

    @hook_impl
    @guarded("upload files after the pipeline")
    def on_pipeline_error(self) -> None:
        """Upload ``filepaths_after_pipeline_run`` of a failed pipeline too."""
        self._catalog = None
        self._upload_paths(self.filepaths_after_pipeline_run, "after the pipeline")

    def _upload_paths(self, specs: list[PathSpec], when: str) -> None:
        if not specs or not self.options.enable_mlflow:
            return
        with warn_on_failure(self, f"upload files {when}"):
            run = self._find_run()
            if run is None:
                return
            paths, missing = resolve_paths(specs, self._root)
            if missing:
                logger.warning(
                    "MLflowArtifactsLoggerHook found nothing to upload %s at %s "
                    "(relative to %s); uploading the other %d path(s).",
                    when,
                    ", ".join(missing),
                    self._root,
                    len(paths),
                )
            filtered = filter_uploads(
                paths,
                _explicit_files(specs, self._root),
                allow_credentials=self.options.allow_credentials_files,
                mask_config_files=True,
            )
            self._warn_filtered(filtered)
            run_logger = RunLogger(run)
            for upload in filtered.uploads:
                # A folder goes up in one call.
                run_logger.log_artifact(
                    upload.local,
                    artifact_dir(
                        upload.source, self._root, is_dir=upload.local.is_dir()
                    ),
                    keep_alive=upload.keep_alive,
                )
            run_logger.flush()
            logger.debug(
                "Uploaded %d path(s) %s to run %s",
                len(filtered.uploads),
                when,
                run.run_id,
            )

    def _shown(self, path: Path) -> str:
        try:
            return path.relative_to(self._root).as_posix()
        except ValueError:
            return str(path)

    def _warn_filtered(self, filtered: FilteredUploads) -> None:
        """Name each file left out (and why) or masked: its path, never its content."""
        if filtered.skipped:
            logger.warning(
                "MLflowArtifactsLoggerHook did not upload %s: credentials files hold "
                "secrets. To upload one anyway, name the file itself (not a folder "
                "or a glob) and set its allow_credentials_files argument to True; a "
                "file an environment variable names as credentials is never "
                "uploaded.",
                filtered.skipped_with_reasons(self._shown),
            )
        if filtered.masked:
            logger.warning(
                "MLflowArtifactsLoggerHook uploaded %s with the secrets in them "
                "replaced by %r (SECURITY.md gives the rule); the files themselves "
                "are unchanged.",
                ", ".join(self._shown(path) for path in filtered.masked),
                MASK,
            )


def _explicit_files(specs: Iterable[PathSpec], root: Path) -> set[Path]:
    """The files named exactly, without a glob pattern."""
    found = set()
    for spec in specs:
        path, is_glob = _spec_path(spec, root)
        if not is_glob and path.is_file():
            found.add(path)
    return found
