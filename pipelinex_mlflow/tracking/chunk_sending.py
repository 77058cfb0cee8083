"""One request's worth of values, sent in one ``log_batch`` (or split if refused).

A param the run may already hold (a resumed or shared run) is checked first: an
unchanged one is not sent again, a changed one becomes a tag
``pipelinex_mlflow.changed_param.<key>`` (MLflow params cannot change). A batch
the store refuses is split until the refused values are found
(:mod:`~pipelinex_mlflow.tracking.refused_batches`); a transient failure is
raised for the sender to keep the values.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.keys import MAX_TAG_LENGTH, sanitize_key
from pipelinex_mlflow.tracking.refused_batches import (
    Entity,
    entities_of,
    refused_all_line,
    send_in_parts,
)
from pipelinex_mlflow.tracking.send_failures import (
    refuses_the_run,
    refuses_values,
    retrying,
)
from pipelinex_mlflow.tracking.stores import get_client

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow.tracking.metric_point import MetricPoint
    from pipelinex_mlflow.tracking.pending_values import PendingValues
    from pipelinex_mlflow.tracking.run_ref import RunRef

CHANGED_PARAM_TAG_PREFIX = "pipelinex_mlflow.changed_param."

logger = get_logger(__name__)


class ChunkSender:
    """Sends chunks of one run's values, each in as few requests as it can.

    Args:
        run: The run the values go to.
        given_params: Every param this process gave the run so far.
        lose: Counts values as lost, with one line saying why.
    """

    def __init__(
        self,
        run: RunRef,
        *,
        given_params: Callable[[], dict[str, str]],
        lose: Callable[[int, str], None],
    ) -> None:
        self.run = run
        self._given_params = given_params
        self._lose = lose
        # The run's params in the store, read once, for checked params.
        self._server_params: dict[str, str] | None = None
        self._lock = threading.Lock()

    def send(self, chunk: PendingValues) -> None:
        """Send ``chunk``; refused values are counted lost, the rest lands.

        Raises:
            PartlySent: A transient failure after part of it landed.
            Exception: A failure before anything landed (transient or not).
        """
        client = get_client(self.run.tracking_uri)
        params = dict(chunk.params)
        tags = dict(chunk.tags)
        new_params: dict[str, str] = {}
        if chunk.checked_params:
            new_params = self._unchanged_params(client, chunk.checked_params, tags)
            params.update(new_params)
        self._send_batch(client, params, chunk.metrics, tags)
        with self._lock:
            if self._server_params is not None:
                self._server_params.update(new_params)

    def _send_batch(
        self,
        client: MlflowClient,
        params: dict[str, str],
        metrics: list[MetricPoint],
        tags: dict[str, str],
    ) -> None:
        entities = entities_of(params, metrics, tags)
        try:
            self._log_batch(client, entities)
        except Exception as exc:
            if not refuses_values(exc):
                raise
            # The store refused some value: the others must still land.
            logger.debug("MLflow refused a batch of run %s: %s", self.run.run_id, exc)
            if refuses_the_run(exc):
                self._lose(len(entities), refused_all_line(entities, exc))
                return
            if params:
                kept = self._without_changed_params(client, params)
                entities = [
                    entity
                    for entity in entities
                    if entity.kind != "param" or entity.value.key in kept
                ]
            send_in_parts(
                entities,
                exc,
                send=lambda part: self._log_batch(client, part),
                lose=self._lose,
            )
            return
        logger.debug(
            "Logged %d params, %d metrics and %d tags to MLflow run %s",
            len(params),
            len(metrics),
            len(tags),
            self.run.run_id,
        )

    def _log_batch(self, client: MlflowClient, entities: list[Entity]) -> None:
        by_kind: dict[str, list[Any]] = {"metric": [], "param": [], "tag": []}
        for entity in entities:
            by_kind[entity.kind].append(entity.value)
        retrying(
            lambda: client.log_batch(
                self.run.run_id,
                metrics=by_kind["metric"],
                params=by_kind["param"],
                tags=by_kind["tag"],
            )
        )

    def _without_changed_params(
        self, client: MlflowClient, params: dict[str, str]
    ) -> set[str]:
        """The keys of ``params`` the run does not hold; changed ones are lost."""
        existing = client.get_run(self.run.run_id).data.params
        changed = sorted(k for k, v in params.items() if existing.get(k, v) != v)
        if changed:
            self._lose(
                len(changed),
                f"MLflow rejected {len(changed)} params that the run already holds "
                f"with other values ({', '.join(changed)})",
            )
        return {k for k in params if k not in existing}

    def _unchanged_params(
        self, client: MlflowClient, params: dict[str, str], tags: dict[str, str]
    ) -> dict[str, str]:
        """The params the run does not hold yet; changed ones become tags."""
        if self._server_params is None:
            self._server_params = dict(client.get_run(self.run.run_id).data.params)
        with self._lock:
            existing = {**self._server_params, **self._given_params()}
        changed = {
            k: v for k, v in params.items() if k in existing and existing[k] != v
        }
        if changed:
            logger.warning(
                "MLflow run %s already holds other values for params %s; MLflow "
                "params cannot change, so the new values are logged as tags '%s<key>'.",
                self.run.run_id,
                sorted(changed),
                CHANGED_PARAM_TAG_PREFIX,
            )
        for key, value in changed.items():
            tags[sanitize_key(CHANGED_PARAM_TAG_PREFIX + key)] = value[:MAX_TAG_LENGTH]
        return {k: v for k, v in params.items() if k not in existing}
