"""PipelineX's ``mlflow_log_time`` decorator and its timestamp helpers."""

from __future__ import annotations

import functools
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipelinex_api.sending import send
from pipelinex_mlflow.tracking import RunLogger, current_run

if TYPE_CHECKING:
    from collections.abc import Callable

logger = get_logger(__name__)
_Func = TypeVar("_Func", bound="Callable[..., Any]")


def mlflow_log_time(func: _Func) -> _Func:
    """Decorate ``func`` to log how long each call takes, as metric ``__time_for_<name>``.

    Examples:
        >>> @mlflow_log_time
        ... def add(a, b):
        ...     return a + b
        >>> import logging
        >>> logging.disable(logging.INFO)  # the "took 0.000 s" line
        >>> add(1, 2)
        3
        >>> logging.disable(logging.NOTSET)
    """
    name = getattr(func, "__name__", type(func).__name__)

    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = func(*args, **kwargs)
        elapsed = time.perf_counter() - started
        logger.info("Running %r took %.3f s", name, elapsed)
        run = current_run()
        if run is not None:
            run_logger = RunLogger(run)
            run_logger.log_metrics({f"__time_for_{name}": elapsed})
            send(run_logger)
        return result

    return timed  # type: ignore[return-value]


def get_timestamp(
    dt: datetime | None = None, offset_hours: float = 0, fmt: str = "%Y-%m-%dT%H:%M:%S"
) -> str:
    """``dt`` (now, local time, if ``None``) plus ``offset_hours``, formatted with ``fmt``."""
    return ((dt or datetime.now()) + timedelta(hours=offset_hours)).strftime(fmt)


def get_timestamp_int(dt: datetime | None = None, offset_hours: float = 0) -> int:
    """:func:`get_timestamp` as the number ``YYYYMMDDhhmmss``."""
    return int(get_timestamp(dt, offset_hours, "%Y%m%d%H%M%S"))


def get_timestamps(
    dt: datetime | None = None, offset_hours: float = 0
) -> tuple[str, int]:
    """Both forms of one moment: ``(get_timestamp(...), get_timestamp_int(...))``."""
    moment = dt or datetime.now()
    return get_timestamp(moment, offset_hours), get_timestamp_int(moment, offset_hours)
