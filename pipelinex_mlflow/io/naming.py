"""Names each ``MLflowDataSet`` after its catalog entry, factory entries included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from pipelinex_mlflow.io.mlflow_dataset import MLflowDataSet
from pipelinex_mlflow.kedro_helpers import is_parameter
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking import TrackingError, sanitize_keys
from pipelinex_mlflow.tracking.models import logged_model_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from pipelinex_mlflow.io.backends.base import ArtifactDestination

logger = get_logger(__name__)


def name_mlflow_datasets(
    pipeline: Pipeline,
    catalog: CatalogProtocol[Any, Any],
    *,
    save_version: str | None = None,
    load_versions: Mapping[str, str] | None = None,
) -> list[str]:
    """Give every ``MLflowDataSet`` the pipeline uses its catalog entry's name.

    Entries from dataset factories (``"{name}_score"``) are resolved first, so
    they are named like explicit ones. A ``dataset_name`` set by the user wins.

    With ``save_version``, a Kedro run starts: each entry's nested versioned
    dataset (``dataset: {type: ..., versioned: true}``, or ``versioned: true`` on
    the entry) saves under it, as Kedro's versioned entries do, and loads the
    version ``load_versions`` pins for the entry, else the latest
    (:meth:`~pipelinex_mlflow.io.mlflow_dataset.MLflowDataSet.bind_versions`).

    Args:
        pipeline: The pipeline about to run.
        catalog: Its catalog.
        save_version: The run's save version: ``run_params["run_id"]``, the
            session id, which Kedro makes the catalog's save version. ``None``
            (naming outside a run's start) leaves versions as they are.
        load_versions: ``run_params["load_versions"]``: entry name to the version
            to load (``kedro run --load-versions <entry>:<version>``).

    Returns:
        The names of the datasets that were named, sorted.

    Raises:
        DatasetError: For a name that would leave its folder, two entries whose
            names become one MLflow key (``a|b`` and ``a_b``), or two outputs
            that would upload to one artifact path.
    """
    named: dict[str, MLflowDataSet] = {}
    value_keys: list[str] = []
    for name in sorted(pipeline.datasets()):
        if is_parameter(name):
            continue
        dataset = catalog.get(name)
        if isinstance(dataset, MLflowDataSet):
            dataset.bind_catalog_name(name)
            if save_version is not None:
                dataset.bind_versions(save_version, (load_versions or {}).get(name))
            named[name] = dataset
            if dataset.logs_values and dataset.name:
                value_keys.append(dataset.name)
    try:
        sanitize_keys(value_keys)
    except TrackingError as exc:
        raise DatasetError(f"Two MLflowDataSet catalog entries clash: {exc}") from None
    _refuse_model_name_clashes(named)
    _refuse_artifact_clashes(named, pipeline.all_outputs())
    link_metrics_to_models(pipeline, named)
    logger.debug("Named MLflowDataSets after their catalog entries: %s", list(named))
    return list(named)


def _refuse_model_name_clashes(datasets: Mapping[str, MLflowDataSet]) -> None:
    # Two entries whose names become one logged model name would load each other's
    # model. Transcoded entries (model@sklearn, model@pyfunc) are one model.
    by_model: dict[str, set[str]] = {}
    for dataset in datasets.values():
        if dataset.saves_models and dataset.name:
            base = dataset.name.partition("@")[0]
            by_model.setdefault(logged_model_name(base), set()).add(base)
    for model_name, names in by_model.items():
        if len(names) > 1:
            raise DatasetError(
                f"MLflowDataSet model entries {' and '.join(map(repr, sorted(names)))} "
                f"would both be logged as model {model_name!r} (MLflow refuses "
                "'/', ':', '.', '%' and quotes in model names, which become '_'). "
                "Rename one, or give it another dataset_name."
            )


def _refuse_artifact_clashes(
    datasets: Mapping[str, MLflowDataSet], outputs: set[str]
) -> None:
    # Two outputs uploading to one artifact path: the last upload wins, and the
    # others are lost. Only saves clash: an input may read any output's artifact.
    # Transcoded entries (report@pandas, report@spark) are one file.
    # Paths differing only in case are one file on macOS's and Windows' disks,
    # where a local artifact store may live.
    by_artifact: dict[ArtifactDestination, set[str]] = {}
    for name, dataset in datasets.items():
        destination = dataset.artifact_destination
        if name in outputs and destination is not None:
            key = destination._replace(artifact=destination.artifact.casefold())
            by_artifact.setdefault(key, set()).add(name.partition("@")[0])
    for destination, names in sorted(by_artifact.items()):
        if len(names) > 1:
            raise DatasetError(
                f"MLflowDataSet entries {' and '.join(map(repr, sorted(names)))} "
                f"would both upload to artifact {destination.artifact!r} of the run, and only "
                "the last upload would be kept. Give one another dataset_name (the "
                "name's folders are kept in the artifact path), another file name, "
                "or an artifact_path folder."
            )


def artifacts_of_outputs(
    pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]
) -> dict[str, str]:
    """The artifact paths the pipeline's ``MLflowDataSet`` outputs upload to in the run.

    Args:
        pipeline: The pipeline about to run, its datasets already named.
        catalog: Its catalog.

    Returns:
        Each artifact path of the current run, with the entry that uploads there.
    """
    saved = {}
    for name in sorted(pipeline.all_outputs()):
        dataset = catalog.get(name)
        if isinstance(dataset, MLflowDataSet):
            destination = dataset.artifact_destination
            if destination is not None and destination.in_current_run:
                saved[destination.artifact] = name
    return saved


def path_beside_entries(wanted: str, saved: Mapping[str, str], writer: str) -> str:
    """``wanted``, or ``pipelinex_mlflow/<wanted>`` when an entry uploads there.

    A hook's own file (``time_log.json``, ``pipeline.json``) steps aside for a
    catalog entry that uploads to the same path, so neither overwrites the other.

    Args:
        wanted: The artifact path (a file or a folder) the hook writes.
        saved: :func:`artifacts_of_outputs` of the run.
        writer: The hook, for the warning.

    Examples:
        >>> path_beside_entries("gantt.html", {"report.json": "report"}, "a hook")
        'gantt.html'
    """
    entries = sorted(
        entry
        for path, entry in saved.items()
        if path == wanted or path.startswith(f"{wanted}/")
    )
    if not entries:
        return wanted
    moved = f"pipelinex_mlflow/{wanted}"
    logger.warning(
        "MLflowDataSet entry %s uploads to artifact %r, which %s writes too; %s "
        "writes %r instead, so neither is lost.",
        " and ".join(map(repr, entries)),
        wanted,
        writer,
        writer,
        moved,
    )
    return moved


def link_metrics_to_models(
    pipeline: Pipeline, datasets: Mapping[str, MLflowDataSet]
) -> None:
    """Link each metric entry to the models that nodes upstream of its node save.

    A metric computed downstream of a model (an evaluation node, say) describes
    that model, so MLflow shows it on the model's page. Metrics of the model's own
    node are not linked: the node's outputs are saved in no set order, so the
    model may not exist yet when they are logged.

    Args:
        pipeline: The pipeline being run.
        datasets: Its ``MLflowDataSet`` entries, by catalog name.
    """
    models = {name for name, dataset in datasets.items() if dataset.saves_models}
    producers = {output: node for node in pipeline.nodes for output in node.outputs}
    for name, dataset in datasets.items():
        node = producers.get(name)
        if not models or not dataset.logs_metrics or node is None:
            dataset.link_to_models(())
            continue
        upstream = pipeline.to_nodes(node.name).all_outputs() - set(node.outputs)
        dataset.link_to_models(
            tuple(sorted(str(datasets[m].name) for m in models & upstream))
        )
