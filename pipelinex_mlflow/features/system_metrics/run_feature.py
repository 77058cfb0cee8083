"""System metrics as a run feature: MLflow's ``system/`` metrics sampled while the run runs.

The sampling itself is :mod:`pipelinex_mlflow.features.system_metrics.mlflow_side`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipelinex_mlflow.core.run_features import RunFeature, RunScope
from pipelinex_mlflow.features.system_metrics.mlflow_side import SystemMetricsSampler
from pipelinex_mlflow.tracking.first_rule import warn_on_failure

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking import RunStatus


@dataclass
class SystemMetrics(RunFeature):
    """Sample CPU, memory, disk, network (and GPU) every ``interval_s`` seconds."""

    interval_s: float = 10.0
    _sampler: SystemMetricsSampler | None = None

    def start(self, scope: RunScope) -> None:
        """Start sampling."""
        with warn_on_failure(scope.owner, "start sampling system metrics"):
            self._sampler = SystemMetricsSampler.start_for(
                scope.opened.run, self.interval_s
            )

    def finish(self, scope: RunScope, status: RunStatus) -> None:
        """Stop sampling; the samples since the last point are logged."""
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            with warn_on_failure(scope.owner, "log the last system metrics"):
                sampler.stop()
