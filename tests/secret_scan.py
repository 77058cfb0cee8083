"""Finds secret strings in everything a run left behind: params, tags, artifacts, output.

The security tests share it: they plant known secrets, run for real, and ask
:func:`leaks` where any of them turned up.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from mlflow.tracking import MlflowClient


def run_texts(client: MlflowClient, run_id: str) -> dict[str, str]:
    """Every text MLflow holds for the run, by where it is.

    Params, tags and metrics (keys and values), the run's name, the content of
    every artifact file (downloaded), the run's dataset inputs (name, digest,
    source, tags) and its traces (info, tags, every span's name, status and
    attributes).
    """
    run = client.get_run(run_id)
    texts = {"run name": run.info.run_name or ""}
    for key, value in run.data.params.items():
        texts[f"param {key}"] = f"{key}={value}"
    for key, value in run.data.tags.items():
        texts[f"tag {key}"] = f"{key}={value}"
    for key, number in run.data.metrics.items():
        texts[f"metric {key}"] = f"{key}={number}"
    for index, dataset_input in enumerate(
        run.inputs.dataset_inputs if run.inputs else []
    ):
        dataset = dataset_input.dataset
        texts[f"dataset input {index} {dataset.name}"] = "\n".join(
            [
                dataset.name,
                dataset.digest,
                dataset.source_type,
                dataset.source,
                str(dataset.schema or ""),
                str(dataset.profile or ""),
                *(f"{tag.key}={tag.value}" for tag in dataset_input.tags),
            ]
        )
    texts.update(_trace_texts(client, run.info.experiment_id, run_id))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(client.download_artifacts(run_id, "", folder))
        for path in sorted(root.rglob("*")):
            if path.is_file():
                relative = path.relative_to(root).as_posix()
                texts[f"artifact {relative}"] = (
                    relative + "\n" + path.read_text(errors="replace")
                )
    return texts


def _trace_texts(
    client: MlflowClient, experiment_id: str, run_id: str
) -> dict[str, str]:
    texts = {}
    traces = client.search_traces(locations=[experiment_id], run_id=run_id)
    for trace in traces:
        texts[f"trace {trace.info.trace_id}"] = trace.to_json()
    return texts


def leaks(texts: Mapping[str, str], secrets: Iterable[str]) -> list[str]:
    """``"<secret> in <where>"`` for each secret found in each text; empty if none.

    Examples:
        >>> leaks({"tag a": "x=hunter2", "param b": "y"}, ["hunter2"])
        ["'hunter2' in tag a"]
    """
    return [
        f"{secret!r} in {where}"
        for where, text in texts.items()
        for secret in secrets
        if secret in text
    ]
