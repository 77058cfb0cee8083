"""Liveness as a run feature: the run's heartbeat, and ending runs whose process is gone.

A run this process ends beats (its sender marks it alive every
``HEARTBEAT_EVERY_S``), so the next run of the project can tell it from a run
whose process died; at each start, the runs left ``RUNNING`` by processes now
gone are ended ``FAILED`` (:mod:`pipelinex_mlflow.tracking.liveness`).
"""

from __future__ import annotations

from pipelinex_mlflow.core.run_features import RunFeature, RunScope
from pipelinex_mlflow.tracking import HEARTBEAT_EVERY_S, end_dead_runs, sender_for
from pipelinex_mlflow.tracking.first_rule import warn_on_failure


class Liveness(RunFeature):
    """Beat while the run lives; end the runs of dead processes at its start."""

    def start(self, scope: RunScope) -> None:
        """Start the heartbeat of a run this process ends, then end dead runs."""
        run = scope.opened.run
        if scope.opened.ends_here:
            # Lets the next run tell this one from a run whose process is gone.
            sender_for(run).start_heartbeat(HEARTBEAT_EVERY_S)
        with warn_on_failure(
            scope.owner, "end the runs left RUNNING by processes now gone"
        ):
            end_dead_runs(
                run.tracking_uri,
                [scope.opened.experiment_id],
                found_by=f"run {run.run_id}",
            )
