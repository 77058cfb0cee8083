"""What an entry of ``MLflowCatalogLoggerHook(mlflow_catalog=...)`` becomes.

PipelineX's side channel: each entry names a node input or output and how to
log it besides what the catalog does with it: an ``MLflowDataSet`` code, a
Kedro dataset config dict or dataset, an ``MLflowDataSet``, or ``None`` for
"do not log this one".
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from pipelinex_mlflow.io.mlflow_dataset import MLflowDataSet
from pipelinex_mlflow.kedro_helpers import parameter_key

#: What an ``mlflow_catalog`` entry may be (``None`` aside).
DatasetSpec = str | dict[str, Any] | AbstractDataset[Any, Any] | MLflowDataSet


def side_channel_dataset(name: str, spec: DatasetSpec | None) -> MLflowDataSet | None:
    """The ``MLflowDataSet`` that logs the node input or output ``name`` as ``spec`` says.

    Examples:
        >>> side_channel_dataset("params:features", "p")
        pipelinex_mlflow.io.mlflow_dataset.MLflowDataSet(dataset='p', name='features')

    Raises:
        ValueError: Naming the entry, for a spec that is none of the kinds above.
    """
    if spec is None:
        return None  # PipelineX's "do not log this one"
    if isinstance(spec, MLflowDataSet):
        dataset = spec
    elif isinstance(spec, (str, dict, AbstractDataset)):
        try:
            # A side channel: the catalog keeps the data, no second copy here.
            dataset = MLflowDataSet(dataset=spec, caching=False)
        except DatasetError as exc:
            raise ValueError(f"Invalid mlflow_catalog[{name!r}]: {exc}") from exc
    else:
        raise ValueError(
            f"mlflow_catalog[{name!r}] must be an MLflowDataSet dataset code such as "
            "'m', 'p', 'a' or 'csv', a Kedro dataset config dict, a Kedro dataset, or "
            f"None (do not log it), not {type(spec).__name__}."
        )
    # params:features is logged as features, as MLflowBasicLoggerHook logs it.
    try:
        dataset.bind_catalog_name(parameter_key(name))
    except DatasetError as exc:
        raise ValueError(f"Invalid mlflow_catalog[{name!r}]: {exc}") from exc
    return dataset
