"""The datasets a run read and wrote, logged as MLflow dataset inputs (data lineage).

MLflow has one entity for a run's data, the dataset *input*; its input tag
``mlflow.data.context`` says how the run used it. The package writes ``input``
(the pipeline read it), ``output`` (the pipeline wrote it and nothing read it)
or ``intermediate`` (written and read inside the run). MLflow keeps one dataset
per experiment, name and digest, so two runs over the same files share it.

Examples:
    >>> record = DatasetRecord(
    ...     "companies",
    ...     "3f2a",
    ...     "local",
    ...     "/data/companies.csv",
    ...     "input",
    ...     "pandas.CSVDataset",
    ... )
    >>> record.source_json()
    '{"uri": "/data/companies.csv"}'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pipelinex_mlflow.masking import mask_secrets
from pipelinex_mlflow.tracking.senders import call_directly
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipelinex_mlflow.tracking.run_ref import RunRef

DatasetContext = Literal["input", "output", "intermediate"]
CONTEXT_TAG = "mlflow.data.context"
DATASET_TYPE_TAG = "kedro.dataset_type"
#: MLflow's limits (``mlflow/utils/validation.py``).
MAX_DIGEST_LENGTH = 36
MAX_NAME_LENGTH = 500
MAX_INPUT_TAG_VALUE_LENGTH = 500
MAX_DATASETS_PER_REQUEST = 1000


@dataclass(frozen=True)
class DatasetRecord:
    """One catalog dataset as the run used it.

    Attributes:
        name: The catalog entry.
        digest: Changes when the data changes (``""`` when it cannot be told).
        source_type: ``local``, the URI's scheme (``s3``, ``gs``...), or ``kedro``.
        source: The file, folder or URI, or what else names it (masked when it
            is sent: see :meth:`source_json`).
        context: ``input``, ``output`` or ``intermediate``.
        dataset_type: The Kedro dataset class, ``<module>.<class>`` after
            ``kedro_datasets.``.
    """

    name: str
    digest: str
    source_type: str
    source: str
    context: DatasetContext
    dataset_type: str

    def source_json(self) -> str:
        """The source as MLflow's dataset sources write it: ``{"uri": ...}``.

        Masked (:func:`~pipelinex_mlflow.masking.mask_secrets`): a URL's password
        and a signed URL's signature (Azure SAS ``sig``, S3's ``X-Amz-Signature``)
        are secrets.
        """
        return json.dumps({"uri": mask_secrets(self.source)})


def log_dataset_records(run: RunRef, records: Sequence[DatasetRecord]) -> int:
    """Log ``records`` as ``run``'s dataset inputs, in as few requests as MLflow takes.

    Not while the store is away, and never for minutes
    (:func:`~pipelinex_mlflow.tracking.senders.call_directly`).

    Returns:
        How many were logged.

    Raises:
        TrackingError: If the store is away or does not answer in time.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    inputs = [
        DatasetInput(
            Dataset(
                name=mask_secrets(record.name)[:MAX_NAME_LENGTH],
                digest=record.digest[:MAX_DIGEST_LENGTH],
                source_type=record.source_type,
                source=record.source_json(),
            ),
            tags=[
                InputTag(CONTEXT_TAG, record.context),
                InputTag(
                    DATASET_TYPE_TAG, record.dataset_type[:MAX_INPUT_TAG_VALUE_LENGTH]
                ),
            ],
        )
        for record in records
    ]
    client = get_client(run.tracking_uri)

    def send() -> int:
        for start in range(0, len(inputs), MAX_DATASETS_PER_REQUEST):
            client.log_inputs(
                run.run_id, datasets=inputs[start : start + MAX_DATASETS_PER_REQUEST]
            )
        return len(inputs)

    return call_directly(run, f"The run's {len(inputs)} datasets", send)
