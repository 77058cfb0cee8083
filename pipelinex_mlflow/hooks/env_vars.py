"""``MLflowEnvVarsLoggerHook`` logs chosen environment variables, secrets masked."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kedro.framework.hooks import hook_impl

from pipelinex_mlflow.core.configurable import (
    ConfigurableHook,
    remembers_given_arguments,
)
from pipelinex_mlflow.core.guard import RunFinder, guarded, warn_on_failure
from pipelinex_mlflow.masking import MASK, get_logger, is_secret_name, mask_value
from pipelinex_mlflow.options import EnvVarsOptions
from pipelinex_mlflow.tracking import RunLogger

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

ALL_ENV_VARS = "__ALL__"
#: PipelineX's prefix, kept so that existing runs and dashboards line up.
DEFAULT_PREFIX = "env.."

logger = get_logger(__name__)


@dataclass
class EnvVarValues:
    """What to log from the environment, and what could not be logged.

    Attributes:
        params: Param name -> value (secrets already masked).
        metrics: Metric name -> value.
        unset: Listed variables that are not set.
        not_numeric: Metric variables whose value is not a number.
        secret_metrics: Metric variables not logged because their name looks secret.
    """

    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    not_numeric: list[str] = field(default_factory=list)
    secret_metrics: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One phrase per kind of problem, for a single warning."""
        found = []
        if self.unset:
            found.append(f"not set: {', '.join(self.unset)}")
        if self.not_numeric:
            found.append(
                f"not numbers (no metric logged): {', '.join(self.not_numeric)}"
            )
        if self.secret_metrics:
            found.append(
                "names look secret, so not logged as metrics: "
                + ", ".join(self.secret_metrics)
            )
        return found


def collect_env_vars(
    environ: Mapping[str, str],
    param_env_vars: Sequence[str] | str | None,
    metric_env_vars: Sequence[str] | str | None,
    prefix: str = DEFAULT_PREFIX,
) -> EnvVarValues:
    """Pick the listed variables out of ``environ``, masking secrets.

    Args:
        environ: The environment, usually ``os.environ``.
        param_env_vars: Names to log as params; ``"__ALL__"`` (alone or in the
            list) for every variable.
        metric_env_vars: Names to log as metrics.
        prefix: Put in front of each name.

    Returns:
        The values to log and the names that could not be logged.

    Examples:
        >>> values = collect_env_vars(
        ...     {"HOSTNAME": "box", "API_TOKEN": "t0k", "EPOCHS": "3"},
        ...     ["HOSTNAME", "API_TOKEN", "USER"],
        ...     ["EPOCHS"],
        ... )
        >>> values.params, values.metrics, values.unset
        ({'env..HOSTNAME': 'box', 'env..API_TOKEN': '*****'}, {'env..EPOCHS': 3.0}, ['USER'])
    """
    values = EnvVarValues()
    for name in _names(param_env_vars, environ):
        if name in environ:
            values.params[prefix + name] = mask_value(name, environ[name])
        else:
            values.unset.append(name)
    for name in _names(metric_env_vars, environ):
        if name not in environ:
            values.unset.append(name)
        elif is_secret_name(name):
            values.secret_metrics.append(name)
        else:
            number = _to_float(environ[name])
            if number is None:
                values.not_numeric.append(name)
            else:
                values.metrics[prefix + name] = number
    values.unset = sorted(set(values.unset))
    return values


def _names(
    listed: Sequence[str] | str | None, environ: Mapping[str, str]
) -> Iterable[str]:
    if not listed:
        return []
    if isinstance(listed, str):
        listed = [listed]
    if ALL_ENV_VARS in listed:
        return sorted(environ)
    return list(dict.fromkeys(listed))


def _to_float(text: str) -> float | None:
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


class MLflowEnvVarsLoggerHook(ConfigurableHook):
    """Logs chosen environment variables as MLflow params and metrics.

    Params are ``<prefix><VAR>`` with the variable's text; metrics are
    ``<prefix><VAR>`` with its value as a float. The default prefix is
    PipelineX's ``"env.."`` (so ``HOSTNAME`` becomes ``env..HOSTNAME``). They are
    logged in one batch when the pipeline starts, to the run of
    ``MLflowBasicLoggerHook``, which must be registered too.

    Secrets are always masked, whatever the configuration, by the package's one
    rule (:mod:`pipelinex_mlflow.masking`, described in SECURITY.md):

    - a variable whose name looks secret (``PASS``, ``PWD``, ``TOKEN``,
      ``SECRET``, ``CREDENTIAL``, ``AUTH``, ``API_KEY``, ``*_PAT``, ``DSN``, ...
      in any case, and the names declared with ``MLflowBasicLoggerHook(secret_names=...)``) is logged as
      ``*****``, and never as a metric; note that this masks ``PWD`` and
      ``OLDPWD`` too;
    - in any other value, URL passwords, ``password=...``-style pairs and tokens
      of known shapes (``ghp_``, ``xoxb-``, ``AKIA``, ...) are replaced by
      ``*****``.

    Variables that are not set, and metric variables that are not numbers, are
    named in one warning; the pipeline runs on.

    Examples:
        In ``settings.py``:

        .. code-block:: python

            from pipelinex_mlflow import MLflowBasicLoggerHook, MLflowEnvVarsLoggerHook

            HOOKS = (
                MLflowBasicLoggerHook(experiment_name="my_experiment"),
                MLflowEnvVarsLoggerHook(
                    param_env_vars=["HOSTNAME", "CUDA_VISIBLE_DEVICES"],
                    metric_env_vars=["OMP_NUM_THREADS"],
                ),
            )

        >>> hook = MLflowEnvVarsLoggerHook(param_env_vars="__ALL__")
        >>> hook.prefix
        'env..'
    """

    Options = EnvVarsOptions
    DERIVED = frozenset({"prefix"})

    @remembers_given_arguments
    def __init__(
        self,
        param_env_vars: Sequence[str] | str | None = None,
        metric_env_vars: Sequence[str] | str | None = None,
        prefix: str | None = None,
        enable_mlflow: bool = True,
    ) -> None:
        """Choose the variables to log.

        Args:
            param_env_vars: Variables to log as params, or ``"__ALL__"`` for the
                whole environment (secrets masked).
            metric_env_vars: Variables to log as metrics.
            prefix: Put in front of each variable's name; ``"env.."`` if ``None``.
            enable_mlflow: ``False`` turns the hook off.

        Raises:
            ValueError: For an argument of the wrong type.
        """
        self.use(EnvVarsOptions.from_arguments(locals()))

    def use(self, options: EnvVarsOptions) -> None:
        """Take ``options``; ``prefix`` resolves ``None`` to ``"env.."``."""
        self.options: EnvVarsOptions = options
        self.prefix = DEFAULT_PREFIX if options.prefix is None else options.prefix

    @hook_impl
    @guarded("log environment variables")
    def before_pipeline_run(self) -> None:
        """Log the variables, in one batch."""
        if not self.options.enable_mlflow or not (
            self.options.param_env_vars or self.options.metric_env_vars
        ):
            return
        with warn_on_failure(self, "log environment variables"):
            run = RunFinder(self)()
            if run is None:
                return
            values = collect_env_vars(
                os.environ,
                self.options.param_env_vars,
                self.options.metric_env_vars,
                self.prefix,
            )
            problems = values.problems()
            if problems:
                logger.warning(
                    "MLflowEnvVarsLoggerHook skipped environment variables; %s.",
                    "; ".join(problems),
                )
            run_logger = RunLogger(run, check_existing_params=True)
            run_logger.log_params(values.params)
            run_logger.log_metrics(values.metrics)
            run_logger.flush()
            logger.debug(
                "Logged %d environment variables (%d masked) to MLflow run %s",
                len(values.params) + len(values.metrics),
                sum(value == MASK for value in values.params.values()),
                run.run_id,
            )
