"""PipelineX's environment-variable helpers: read, logged as params or metrics."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pipelinex_mlflow.hooks.env_vars import collect_env_vars
from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.pipelinex_api.values import mlflow_log_metrics, mlflow_log_params

if TYPE_CHECKING:
    from collections.abc import Iterable

logger = get_logger(__name__)


def env_vars_to_dict(
    env_vars: Iterable[str] | str = (), prefix: str = ""
) -> dict[str, str | None]:
    """``{prefix + name: value}`` of the named environment variables (``"__ALL__"``: all).

    The values are the real ones (this does not leave the process); the logging
    functions below mask secrets.

    Raises:
        TypeError: For ``env_vars`` that is neither a name nor a list of names.
    """
    if isinstance(env_vars, str):
        if env_vars == "__ALL__":
            return {prefix + name: value for name, value in os.environ.items()}
        env_vars = [env_vars]
    elif not isinstance(env_vars, (list, tuple, set, frozenset)):
        raise TypeError(
            f"env_vars must be a name, a list of names or '__ALL__', not "
            f"{type(env_vars).__name__}."
        )
    return {prefix + name: os.environ.get(name) for name in env_vars}


def log_param_env_vars(
    env_vars: Iterable[str] | str = (), prefix: str = "", enable_mlflow: bool = True
) -> None:
    """Log environment variables as params ``<prefix><NAME>``, secrets masked."""
    names = [env_vars] if isinstance(env_vars, str) else list(env_vars)
    values = collect_env_vars(os.environ, names, None, prefix)
    mlflow_log_params(values.params, enable_mlflow=enable_mlflow)


def log_metric_env_vars(
    env_vars: Iterable[str] | str = (), prefix: str = "", enable_mlflow: bool = True
) -> None:
    """Log numeric environment variables as metrics ``<prefix><NAME>``."""
    names = [env_vars] if isinstance(env_vars, str) else list(env_vars)
    values = collect_env_vars(os.environ, None, names, prefix)
    for problem in values.problems():
        logger.warning("log_metric_env_vars skipped environment variables %s.", problem)
    mlflow_log_metrics(values.metrics, enable_mlflow=enable_mlflow)
