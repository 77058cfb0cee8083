"""Every companion hook's options, each declared once.

One :class:`~.base.HookOptions` model per hook holds each option's kind, default
and ``mlflow.yml`` key. The hook's constructor checks its arguments with it;
``mlflow.yml``'s schema (:mod:`pipelinex_mlflow.config.schema`) is built from
it; the README's table of options is printed from it (:mod:`.table`). To add
an option: a field here, and the parameter (with its docstring line) in the
hook's constructor; ``tests/test_options.py`` checks the two agree and that
the ``mlflow.yml`` template shows the new key.

Examples:
    >>> options_of("MLflowBasicLoggerHook").__name__
    'RunOptions'
"""

from __future__ import annotations

from pipelinex_mlflow.options.base import HookOptions, InYml, YmlKey
from pipelinex_mlflow.options.companions import (
    ArtifactsOptions,
    CatalogOptions,
    EnvVarsOptions,
)
from pipelinex_mlflow.options.kinds import RunNaming, as_names
from pipelinex_mlflow.options.run import RunOptions
from pipelinex_mlflow.options.timing import TimingOptions

__all__ = [
    "ALL_OPTIONS",
    "ArtifactsOptions",
    "CatalogOptions",
    "EnvVarsOptions",
    "HookOptions",
    "InYml",
    "RunNaming",
    "RunOptions",
    "TimingOptions",
    "YmlKey",
    "as_names",
    "options_of",
]

#: Each companion hook's options, in the order the README lists the hooks.
ALL_OPTIONS: tuple[type[HookOptions], ...] = (
    RunOptions,
    TimingOptions,
    EnvVarsOptions,
    ArtifactsOptions,
    CatalogOptions,
)


def options_of(hook_name: str) -> type[HookOptions]:
    """The options model of the hook class so named.

    Raises:
        KeyError: If no companion hook has that name.
    """
    for options in ALL_OPTIONS:
        if options.hook == hook_name:
            return options
    raise KeyError(hook_name)
