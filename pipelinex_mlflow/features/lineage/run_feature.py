"""Which catalog datasets a run read and wrote, each with a digest of its data.

Every dataset of the pipeline is recorded but those whose data is gone after the
run (memory datasets), parameters, and ``MLflowDataSet`` entries (already MLflow
params, metrics, artifacts or models of the run). A dataset's digest changes when
its data changes:

- a versioned dataset: the Kedro version it loaded or saved;
- a local file up to 16 MiB: the start of its SHA-256;
- a bigger file, or a folder: a stamp of sizes and modification times
  (``stamp-...``), read without reading the data;
- anything else (remote, a database): none, and it is still recorded.

Inputs are digested when the run starts, before a node could change them;
outputs and intermediates when it ends (failed runs too: what was written).

Examples:
    >>> from kedro.io import DataCatalog, MemoryDataset
    >>> from kedro.pipeline import Pipeline, node
    >>> pipe = Pipeline([node(len, "raw", "n")])
    >>> RunLineage.plan(pipe, DataCatalog({"raw": MemoryDataset([1])})).records()
    []
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipelinex_mlflow.core.run_features import RunFeature, RunScope
from pipelinex_mlflow.features.lineage.mlflow_side import (
    DatasetContext,
    DatasetRecord,
    log_dataset_records,
)
from pipelinex_mlflow.io import MLflowDataSet
from pipelinex_mlflow.kedro_helpers import (
    dataset_type_name,
    dataset_uri,
    dataset_version,
    is_parameter,
    keeps_in_memory,
)
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from kedro.io import AbstractDataset, CatalogProtocol
    from kedro.pipeline import Pipeline

    from pipelinex_mlflow.tracking import RunStatus

logger = get_logger(__name__)

#: Files up to this size are digested by their content.
CONTENT_DIGEST_MAX_BYTES = 16 * 1024 * 1024
#: A folder's stamp looks at this many files at most.
STAMP_MAX_FILES = 10_000
_DIGEST_HEX = 32
_CHUNK = 1024 * 1024


@dataclass
class RunLineage:
    """The datasets of one run: inputs digested at the start, the rest at the end."""

    contexts: dict[str, DatasetContext] = field(default_factory=dict)
    _done: dict[str, DatasetRecord] = field(default_factory=dict)

    @classmethod
    def plan(cls, pipeline: Pipeline, catalog: CatalogProtocol[Any, Any]) -> RunLineage:
        """Choose the run's datasets and digest its inputs now."""
        inputs, outputs = pipeline.inputs(), pipeline.outputs()
        lineage = cls()
        for name in sorted(pipeline.datasets()):
            if is_parameter(name):
                continue
            dataset = _dataset(catalog, name)
            if keeps_in_memory(dataset) or isinstance(dataset, MLflowDataSet):
                continue
            context: DatasetContext = (
                "input"
                if name in inputs
                else "output"
                if name in outputs
                else "intermediate"
            )
            lineage.contexts[name] = context
            if context == "input" and dataset is not None:
                lineage._done[name] = describe(name, dataset, context)
        return lineage

    def records(
        self, catalog: CatalogProtocol[Any, Any] | None = None
    ) -> list[DatasetRecord]:
        """Every dataset's record; those written by the run digested now."""
        found = dict(self._done)
        for name, context in self.contexts.items():
            if name in found or catalog is None:
                continue
            dataset = _dataset(catalog, name)
            if dataset is not None:
                found[name] = describe(name, dataset, context)
        return [found[name] for name in sorted(found)]


def _dataset(
    catalog: CatalogProtocol[Any, Any], name: str
) -> AbstractDataset[Any, Any] | None:
    try:
        return catalog.get(name)
    except Exception:  # a factory entry that no longer resolves: not recorded
        logger.debug("No catalog entry for %r", name, exc_info=True)
        return None


def describe(
    name: str, dataset: AbstractDataset[Any, Any], context: DatasetContext
) -> DatasetRecord:
    """One dataset's record; a digest that cannot be computed is left empty."""
    uri = dataset_uri(dataset)
    version = dataset_version(dataset, saved=context != "input")
    digest = version or ""
    if not digest and uri is not None and "://" not in uri:
        try:
            digest = file_digest(Path(uri))
        except OSError as exc:
            logger.debug("No digest for %r (%s)", name, exc)
    scheme = urlsplit(uri).scheme if uri and "://" in uri else ""
    return DatasetRecord(
        name=name,
        digest=digest,
        source_type=scheme or ("local" if uri else "kedro"),
        source=uri or dataset_type_name(dataset),
        context=context,
        dataset_type=dataset_type_name(dataset),
    )


def file_digest(path: Path) -> str:
    """The digest of a local file or folder: its content if small, else a stamp.

    Returns ``""`` for a path that does not exist (nothing was written).

    Raises:
        OSError: If the file cannot be read.
    """
    if not path.exists():
        return ""
    if path.is_file():
        size = path.stat().st_size
        if size <= CONTENT_DIGEST_MAX_BYTES:
            sha = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    sha.update(chunk)
            return sha.hexdigest()[:_DIGEST_HEX]
        return _stamp([(path.name, path.stat())])
    files = []
    for root, _, names in os.walk(path):
        for file_name in sorted(names):
            full = Path(root) / file_name
            files.append((str(full.relative_to(path)), full.stat()))
            if len(files) >= STAMP_MAX_FILES:
                return _stamp(files)
    return _stamp(files)


def _stamp(files: list[tuple[str, os.stat_result]]) -> str:
    sha = hashlib.sha256()
    for name, stat in sorted(files, key=lambda item: item[0]):
        sha.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return "stamp-" + sha.hexdigest()[:24]


class Lineage(RunFeature):
    """The run's datasets as its MLflow dataset inputs: one request at the end."""

    def __init__(self) -> None:
        self._lineage: RunLineage | None = None

    def start(self, scope: RunScope) -> None:
        """Digest the inputs before any node could change them."""
        with warn_on_failure(scope.owner, "digest the run's input datasets"):
            self._lineage = RunLineage.plan(scope.pipeline, scope.catalog)

    def finish(self, scope: RunScope, status: RunStatus) -> None:
        """Digest the rest and log every dataset of the run (failed runs too)."""
        lineage, self._lineage = self._lineage, None
        if lineage is None:
            return
        with warn_on_failure(scope.owner, "log the run's datasets"):
            records = lineage.records(scope.catalog)
            if records:
                run = scope.opened.run
                log_dataset_records(run, records)
                logger.debug("Logged %d datasets of run %s", len(records), run.run_id)
