"""What a sender holds for its run, and when its next request is due.

One :class:`SendQueue` per sender merges every flush's values into one
:class:`~pipelinex_mlflow.tracking.pending_values.PendingValues`, hands out one
request's worth at a time, and says when the next request is due: when enough
has come together, :data:`SEND_DELAY_S` after the first value waits, at once
when someone waits for it, and never before the pause after a failure
(:data:`~pipelinex_mlflow.tracking.retry_policy.POLICY`) is over. It also keeps
the params this process gave the run (MLflow params cannot change), the run's
merged JSON tags, and its heartbeat's clock.

Examples:
    >>> queue = SendQueue()
    >>> queue.claim_param("lr", "0.1"), queue.claim_param("lr", "0.1")
    (('lr', True), ('lr', False))
    >>> queue.count
    0
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.tracking.json_tags import JsonTagPages, process_suffix
from pipelinex_mlflow.tracking.keys import suffixed_key
from pipelinex_mlflow.tracking.pending_values import (
    MAX_ENTITIES_PER_REQUEST,
    PendingValues,
)
from pipelinex_mlflow.tracking.retry_policy import POLICY

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pipelinex_mlflow.tracking.metric_point import MetricPoint

#: How long the first waiting value may wait before a request goes out.
SEND_DELAY_S = 1.0
#: Values a sender may hold; a flush beyond it waits for the sender (back-pressure).
MAX_PENDING_VALUES = 100_000
#: Refreshed while the run's owner lives (see :mod:`~pipelinex_mlflow.tracking.liveness`).
HEARTBEAT_TAG = "pipelinex_mlflow.heartbeat"
#: Its value: the time in UTC, to the second.
HEARTBEAT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# How soon values go out once someone waits for them, even after a failure.
_HURRIED_S = 1.0
# How often a closed queue looks again whether it is empty.
_CLOSED_POLL_S = 0.1
_SHORTEST_WAIT_S = 0.01


class SendQueue:
    """The pending values of one sender, their schedule and the store's state.

    Every attribute is guarded by :attr:`lock` (reentrant), which :attr:`changed`
    notifies on.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.pending = PendingValues()
        #: The request being sent, if any.
        self.in_flight: PendingValues | None = None
        #: How many callers wait for the values to be sent.
        self.draining = 0
        self.closed = False
        #: The store is away: since when (monotonic), and when to try again.
        self.away_since: float | None = None
        self.retry_at = 0.0
        self._failures = 0
        #: Once values are spooled, a late answer to their request must not
        #: requeue them.
        self.spooled_generation = 0
        # Every param this process gave the run, to refuse a changed value at once.
        self._params_given: dict[str, str] = {}
        # Tags of small JSON entries this process merges, by their base key.
        self._json_tags: dict[str, JsonTagPages] = {}
        self._heartbeat_every: float | None = None
        self._next_heartbeat = 0.0

    @property
    def count(self) -> int:
        """How many values wait or are being sent."""
        with self.lock:
            flying = self.in_flight.count if self.in_flight is not None else 0
            return self.pending.count + flying

    def add(
        self,
        params: Mapping[str, str],
        metrics: list[MetricPoint],
        tags: Mapping[str, str],
        *,
        checked: bool,
        json_tag_entries: Mapping[str, Mapping[str, Any]] | None,
        may_wait: Callable[[], bool],
    ) -> None:
        """Queue values; waits while too many wait already and ``may_wait()``."""
        with self.changed:
            while (
                self.pending.count >= MAX_PENDING_VALUES
                and self.away_since is None
                and may_wait()
            ):
                self.changed.wait(timeout=1.0)
            if checked:
                self.pending.checked_params.update(params)
            else:
                self.pending.params.update(params)
                self._params_given.update(params)
            self.pending.tags.update(tags)
            for base, entries in (json_tag_entries or {}).items():
                pages = self._json_tags.get(base)
                if pages is None:
                    pages = self._json_tags[base] = JsonTagPages(base, process_suffix())
                # merge() masks the data itself: masking the JSON text again
                # would break it where a dataset's name looks secret.
                self.pending.tags.update(pages.merge(entries))
            self.pending.metrics.extend(metrics)
            self.pending.mark_waiting()
            self.changed.notify_all()

    def claim_param(self, key: str, text: str) -> tuple[str, bool]:
        """The key param ``text`` goes under, and whether it is newly claimed.

        ``key``, unless this process gave the run another value under it: the
        value then gets a key of its own, the same one for the same value.
        """
        with self.lock:
            claimed = key
            while self._params_given.get(claimed, text) != text:
                claimed = suffixed_key(claimed, f"{key}\x1f{text}")
            new = claimed not in self._params_given
            self._params_given[claimed] = text
        return claimed, new

    def given_params(self) -> dict[str, str]:
        """Every param this process gave the run."""
        with self.lock:
            return dict(self._params_given)

    def take_chunk(self) -> PendingValues:
        """Take one request's worth of values; it is in flight until :meth:`landed`."""
        with self.lock:
            self.in_flight = self.pending.take_chunk()
            return self.in_flight

    def landed(self) -> None:
        """The request in flight is no longer out (sent, kept or lost)."""
        with self.changed:
            self.in_flight = None
            self.changed.notify_all()

    def take_rest(self) -> PendingValues:
        """Take every value still unsent, the request in flight included."""
        with self.lock:
            rest, self.pending = self.pending, PendingValues()
            if self.in_flight is not None:
                # Its request may still land later: sent twice, MLflow keeps one.
                rest.take_back(self.in_flight)
                self.spooled_generation += 1
            return rest

    def due(self) -> bool:
        """Whether a request should go out now (lock held)."""
        pending = self.pending
        if not pending.count or time.monotonic() < self.retry_at:
            return False
        if pending.count >= MAX_ENTITIES_PER_REQUEST or self.closed or self.draining:
            return True
        return pending.since is not None and (
            time.monotonic() - pending.since >= SEND_DELAY_S
        )

    def wait_time(self) -> float | None:
        """How long until something may be due; ``None``: until notified."""
        now = time.monotonic()
        waits: list[float] = []
        if self._heartbeat_every is not None:
            waits.append(self._next_heartbeat - now)
        if self.pending.since is not None:
            # Due once the delay has passed and no retry pause holds it back.
            waits.append(
                max(SEND_DELAY_S - (now - self.pending.since), self.retry_at - now)
            )
        elif self.closed:
            waits.append(_CLOSED_POLL_S)
        return max(_SHORTEST_WAIT_S, min(waits)) if waits else None

    def hurry(self) -> None:
        """Someone waits: a store that is back gets the values within a second."""
        with self.changed:
            self.retry_at = min(self.retry_at, time.monotonic() + _HURRIED_S)
            self.changed.notify_all()

    def start_heartbeat(self, every_s: float | None) -> None:
        """Beat now and every ``every_s`` seconds; ``None`` stops it."""
        with self.changed:
            self._heartbeat_every = every_s
            self._next_heartbeat = 0.0
            self.changed.notify_all()

    def beat_if_due(self) -> None:
        """Queue the heartbeat tag, if its time has come (lock held)."""
        every = self._heartbeat_every
        if every is None or time.monotonic() < self._next_heartbeat:
            return
        self._next_heartbeat = time.monotonic() + every
        self.pending.tags[HEARTBEAT_TAG] = datetime.now(timezone.utc).strftime(
            HEARTBEAT_FORMAT
        )
        self.pending.mark_waiting()

    def mark_away(self, unsent: PendingValues | None, generation: int) -> bool:
        """Keep ``unsent`` for a later try, after a longer pause; ``True`` if first.

        Values of a request that was spooled meanwhile (``generation`` behind)
        are not kept again.
        """
        now = time.monotonic()
        with self.changed:
            first = self.away_since is None
            if first:
                self.away_since = now
            self._failures += 1
            self.retry_at = now + POLICY.away_pause_s(self._failures)
            if unsent is not None and generation == self.spooled_generation:
                self.pending.take_back(unsent)
            self.changed.notify_all()
        return first

    def mark_back(self) -> float | None:
        """The store took a request: since when it was away, if it was."""
        with self.lock:
            away_since, self.away_since = self.away_since, None
            self._failures = 0
            self.retry_at = 0.0
        return away_since
