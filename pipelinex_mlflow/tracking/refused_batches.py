"""A batch the store refused: split until the refused values are found.

A value refused alone costs only itself, named. When both halves of a batch meet
the very refusal of the whole, it concerns the run (or everything), not a value:
the whole is lost in one line. At most :data:`MAX_SINGLE_PROBES` values are
tried alone; the rest of the batch is then lost with the last reason (a gateway
refusing everything costs a few requests, not one per value).

Examples:
    >>> from mlflow.entities import Param
    >>> sent, lost = [], []
    >>> def send(part):
    ...     if any(e.value.key == "bad" for e in part):
    ...         raise ValueError("invalid key")
    ...     sent.extend(e.value.key for e in part)
    >>> batch = [Entity("param", Param(k, "1")) for k in ("a", "bad", "c")]
    >>> send_in_parts(batch, ValueError("x"), send=send, lose=lambda *a: lost.append(a))
    >>> sent, lost
    (['a', 'c'], [(1, "MLflow refused param 'bad': invalid key")])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pipelinex_mlflow.tracking.pending_values import PendingValues
from pipelinex_mlflow.tracking.send_failures import (
    error_text,
    refuses_values,
    same_refusal,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pipelinex_mlflow.tracking.metric_point import MetricPoint

#: Single values a refused batch is probed for, one request each.
MAX_SINGLE_PROBES = 50
#: Keys named in one line of refused values.
MAX_NAMED_KEYS = 10

EntityKind = Literal["metric", "param", "tag"]


class Entity(NamedTuple):
    """A value to send: its kind, MLflow's entity, and the metric as queued.

    Attributes:
        kind: ``metric``, ``param`` or ``tag``.
        value: MLflow's ``Metric``, ``Param`` or ``RunTag``.
        point: For a metric, the point it was made of (sent again as it is).
    """

    kind: EntityKind
    value: Any
    point: MetricPoint | None = None


def entities_of(
    params: Mapping[str, str], metrics: list[MetricPoint], tags: Mapping[str, str]
) -> list[Entity]:
    """MLflow's entities of a batch: metrics, params, then tags."""
    from mlflow.entities import Param, RunTag

    entities = [Entity("metric", point.to_mlflow(), point) for point in metrics]
    entities += [Entity("param", Param(k, v)) for k, v in params.items()]
    entities += [Entity("tag", RunTag(k, v)) for k, v in tags.items()]
    return entities


class PartlySent(Exception):
    """A transient failure in the middle of a split: what is still unsent."""

    def __init__(self, error: Exception, unsent: PendingValues) -> None:
        super().__init__(str(error))
        self.error = error
        self.unsent = unsent


def pending_of(entities: list[Entity]) -> PendingValues:
    """The values of ``entities`` as pending values, to be sent again."""
    pending = PendingValues()
    for entity in entities:
        if entity.point is not None:
            pending.metrics.append(entity.point)
        elif entity.kind == "param":
            pending.params[entity.value.key] = entity.value.value
        else:
            pending.tags[entity.value.key] = entity.value.value
    return pending


def refused_all_line(entities: list[Entity], error: BaseException) -> str:
    """The line for a refusal of every value of a request."""
    return (
        f"MLflow refused all {len(entities)} values of a request: {error_text(error)}"
    )


def refused_named_line(refused: list[Entity], reason: str) -> str:
    """The line for values refused for one ``reason``, naming the first of them."""
    names = [f"{entity.kind} {entity.value.key!r}" for entity in refused]
    if len(names) > MAX_NAMED_KEYS:
        names = [*names[:MAX_NAMED_KEYS], f"{len(names) - MAX_NAMED_KEYS} more"]
    what = names[0] if len(refused) == 1 else f"{len(refused)} values"
    detail = "" if len(refused) == 1 else f" ({', '.join(names)})"
    return f"MLflow refused {what}{detail}: {reason}"


def send_in_parts(
    entities: list[Entity],
    refusal: Exception,
    *,
    send: Callable[[list[Entity]], None],
    lose: Callable[[int, str], None],
) -> None:
    """Send ``entities``, which the store refused with ``refusal``, in halves.

    Args:
        entities: The refused batch.
        refusal: What the store answered to the whole.
        send: Sends one part (its own tries included); raises if it failed.
        lose: Counts values as lost, with one line saying why.

    Raises:
        PartlySent: A transient failure; it holds the values still unsent,
            which are tried again later (MLflow keeps one of identical entries).
    """
    half = len(entities) // 2
    halves = [entities[:half], entities[half:]]
    parts: list[tuple[list[Entity], Exception | None]] = []
    for index, part in enumerate(halves):
        refused_before = [p for p, _ in parts]
        error = _try_part(send, part, [*refused_before, *halves[index + 1 :]])
        if error is not None:
            parts.append((part, error))
    if len(parts) == len(halves) and all(
        same_refusal(error, refusal) for _, error in parts if error is not None
    ):
        lose(len(entities), refused_all_line(entities, refusal))
        return
    lost: dict[str, list[Entity]] = {}
    try:
        _probe(parts, send, lost)
    finally:
        # Also before a transient failure: what was refused is not unsent.
        for reason, refused in lost.items():
            lose(len(refused), refused_named_line(refused, reason))


def _probe(
    parts: list[tuple[list[Entity], Exception | None]],
    send: Callable[[list[Entity]], None],
    lost: dict[str, list[Entity]],
) -> None:
    """Halve refused parts until single values; collect the refused ones in ``lost``."""
    probes = 0
    while parts:
        part, error = parts.pop(0)
        if error is None:
            error = _try_part(send, part, [p for p, _ in parts])
            if error is None:
                continue
        if len(part) > 1 and probes < MAX_SINGLE_PROBES:
            middle = len(part) // 2
            parts[:0] = [(part[:middle], None), (part[middle:], None)]
            continue
        probes += len(part) == 1
        lost.setdefault(error_text(error), []).extend(part)
        if probes >= MAX_SINGLE_PROBES and parts:
            # Enough requests for one batch: the rest goes with this reason.
            lost[error_text(error)].extend(e for p, _ in parts for e in p)
            parts.clear()


def _try_part(
    send: Callable[[list[Entity]], None],
    part: list[Entity],
    later: list[list[Entity]],
) -> Exception | None:
    """Send ``part``: ``None`` if it landed, the refusal if refused.

    Raises:
        PartlySent: A transient failure, with ``part`` and ``later`` unsent.
    """
    if not part:
        return None
    try:
        send(part)
    except Exception as exc:
        if refuses_values(exc):
            return exc
        unsent = [entity for p in [part, *later] for entity in p]
        raise PartlySent(exc, pending_of(unsent)) from exc
    return None
