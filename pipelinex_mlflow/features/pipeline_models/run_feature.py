"""Pipeline models as a run feature: the ``pipeline_ml_factory`` models a run logs.

The models are planned before the run exists (a model that cannot be built from
the catalog refuses the run, leaving none behind) and logged when the Kedro run
ends ``FINISHED`` (:mod:`pipelinex_mlflow.pipeline_ml.run_models`).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.core.run_features import RunFeature, RunScope
from pipelinex_mlflow.pipeline_ml import RunModels
from pipelinex_mlflow.tracking import flatten_dict
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from pipelinex_mlflow.tracking import RunStatus


class PipelineModels(RunFeature):
    """Log the pipeline models whose training ran, when the run succeeds."""

    def __init__(self) -> None:
        self._models = RunModels([])

    def prepare(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol[Any, Any],
        run_params: Mapping[str, Any],
    ) -> None:
        """Find the models this run trains.

        Raises:
            PipelineModelError: A model that cannot be built from this catalog.
        """
        self._models = RunModels.plan(pipeline, catalog)

    def finish(self, scope: RunScope, status: RunStatus) -> None:
        """Log the models into a run that ends ``FINISHED``."""
        if status != "FINISHED" or not self._models.specs:
            return
        with warn_on_failure(scope.owner, "log the run's pipeline models"):
            command = relog_command(scope.run_params, scope.opened.run.run_id)
            self._models.log(scope.catalog, scope.logger, command)


def relog_command(run_params: Mapping[str, Any], run_id: str) -> str:
    """The ``kedro mlflow modelify`` line that logs a run's pipeline models again.

    Examples:
        >>> relog_command(
        ...     {
        ...         "pipeline_names": ["training"],
        ...         "env": "prod",
        ...         "runtime_params": {"model": {"alpha": 0.1}},
        ...     },
        ...     "0a1b",
        ... )
        'kedro mlflow modelify --pipeline training --run-id 0a1b --env prod --params model.alpha=0.1'
    """
    names = run_params.get("pipeline_names") or ["__default__"]
    command = f"kedro mlflow modelify --pipeline {','.join(names)} --run-id {run_id}"
    if run_params.get("env"):
        command += f" --env {run_params['env']}"
    flat = flatten_dict(run_params.get("runtime_params") or {})
    if flat:
        pairs = ",".join(f"{key}={value}" for key, value in flat.items())
        command += f" --params {shlex.quote(pairs)}"
    return command
