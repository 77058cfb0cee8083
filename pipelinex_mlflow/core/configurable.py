"""A hook's options, and ``mlflow.yml`` setting them below the explicit arguments.

A hook holds its checked options (:mod:`pipelinex_mlflow.options`) in
``options``. Its effective options are, key by key: what ``settings.py`` passed
to the constructor, else what the project's ``mlflow.yml`` sets, else the
option's default (which, for the URI and the experiment name, reads
``MLFLOW_*`` variables). They are worked out again when each Kedro context is
created, so a second session with another ``--env`` (or no file) gets its own,
not the first one's; the hook is never constructed twice.

Examples:
    >>> from pipelinex_mlflow.hooks import MLflowEnvVarsLoggerHook
    >>> hook = MLflowEnvVarsLoggerHook(prefix="env.")
    >>> configure(hook, {"prefix": "ignored", "param_env_vars": ["USER"]})
    >>> hook.prefix, hook.param_env_vars
    ('env.', ['USER'])
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from kedro.framework.hooks import hook_impl

from pipelinex_mlflow.config import (
    LoadedConfig,
    MlflowConfigError,
    load_project_config,
    set_current_config,
)
from pipelinex_mlflow.core.guard import guarded

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from kedro.framework.context import KedroContext

    from pipelinex_mlflow.options import HookOptions

Init = TypeVar("Init", bound="Callable[..., None]")

_GIVEN = "_pipelinex_mlflow_given_arguments"
_BASE = "_pipelinex_mlflow_base_arguments"
_APPLIED = "_pipelinex_mlflow_applied_arguments"


def remembers_given_arguments(init: Init) -> Init:
    """Decorate a hook's ``__init__`` to keep the arguments it was given.

    Two sets are kept: the outermost constructor's (what ``settings.py``
    passed), which ``mlflow.yml`` may not override, and the innermost's (what a
    subclass such as PipelineX's one-argument hooks passed to its base), the
    values below the file's.
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs).arguments
        bound.pop("self", None)
        if _GIVEN not in vars(self):
            object.__setattr__(self, _GIVEN, dict(bound))
            object.__setattr__(self, _APPLIED, dict(bound))
        # Each constructor down the chain replaces it: the base's stays.
        object.__setattr__(self, _BASE, dict(bound))
        init(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class OptionsHolder:
    """A hook configured by one options model: ``options``, set by :meth:`use`.

    An option also reads as the hook's attribute (``hook.enable_mlflow``), as
    PipelineX's hooks had them.
    """

    #: The hook's options model.
    Options: ClassVar[type[HookOptions]]
    #: Options the hook keeps as attributes of its own, normalised by :meth:`use`.
    DERIVED: ClassVar[frozenset[str]] = frozenset()

    def use(self, options: Any) -> None:
        """Take ``options`` (checked already); a hook derives its own state here.

        Raises:
            ValueError: If an option is refused beyond its kind (a hook's own
                check of a value's content).
        """
        self.options = options

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the instance lacks: options read as attributes.
        options = vars(self).get("options")
        if options is not None and name in type(options).model_fields:
            return getattr(options, name)
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        # hook.enable_mlflow = False, as PipelineX's hooks allowed: the options
        # change (checked), so that the hook and its readers agree.
        options = vars(self).get("options")
        if (
            options is not None
            and name in type(options).model_fields
            and name not in self.DERIVED
        ):
            given = {**dict(options), name: value}
            self.use(type(options).from_arguments(given))
            return
        super().__setattr__(name, value)


def configure(hook: Any, from_file: Mapping[str, Any]) -> None:
    """Set ``hook``'s options from its given arguments over ``from_file``'s.

    Keys ``hook``'s constructor does not take are left out (PipelineX's
    one-argument subclasses).

    Raises:
        ValueError: If the merged arguments fail the options' checks.
    """
    given = getattr(hook, _GIVEN, None)
    if given is None:
        return
    accepted = inspect.signature(type(hook).__init__).parameters
    merged = dict(getattr(hook, _BASE, {}))
    merged.update({k: v for k, v in from_file.items() if k in accepted})
    # The given values as checked (a generator given is read once, into the options).
    options = vars(hook).get("options")
    fields = type(options).model_fields if options is not None else {}
    merged.update(
        {k: getattr(options, k) if k in fields else v for k, v in given.items()}
    )
    if merged == getattr(hook, _APPLIED, None):
        return
    hook.use(hook.Options.from_arguments(merged))
    setattr(hook, _APPLIED, merged)


def configure_from_project(hook: Any, context: KedroContext) -> LoadedConfig:
    """Apply the project's ``mlflow.yml`` (read once per context) to ``hook``.

    Raises:
        MlflowConfigError: If the file is invalid, or sets an argument the hook
            refuses (named with its key in the file).
    """
    loaded = load_project_config(context.config_loader)
    set_current_config(loaded)
    apply_config(hook, loaded)
    return loaded


def apply_config(hook: Any, loaded: LoadedConfig) -> None:
    """Apply ``loaded`` to ``hook``, naming the file's key if the hook refuses it."""
    arguments = loaded.arguments_for(type(hook))
    try:
        configure(hook, arguments)
    except ValueError as exc:
        raise MlflowConfigError(
            f"{loaded.source}: {exc} (set through {loaded.keys_of(type(hook))})"
        ) from None


def apply_config_to_all(hooks: Iterable[Any], loaded: LoadedConfig | None) -> None:
    """Apply ``loaded`` to each of ``hooks`` that takes it (in a spawned worker)."""
    if loaded is None:
        return
    set_current_config(loaded)
    for hook in hooks:
        if hasattr(hook, _GIVEN):
            apply_config(hook, loaded)


def running_a_pipeline() -> bool:
    """Whether this process runs a pipeline: ``kedro run``, or no CLI at all.

    ``kedro catalog ...``, ``kedro registry ...`` and the other commands create a
    context too; they must neither read ``mlflow.yml`` (a bad one would break
    them) nor import MLflow because of us.
    """
    import click

    command = click.get_current_context(silent=True)
    return command is None or command.info_name == "run"


class ConfigurableHook(OptionsHolder):
    """A companion hook whose options ``mlflow.yml`` may set.

    Its constructor is decorated with :func:`remembers_given_arguments`.
    """

    @hook_impl
    @guarded("read mlflow.yml", stops_for=(MlflowConfigError,))
    def after_context_created(self, context: KedroContext) -> None:
        """Apply the project's ``mlflow.yml`` to this hook, for ``kedro run`` only.

        Raises:
            MlflowConfigError: If ``mlflow.yml`` is invalid: before any run.
        """
        if running_a_pipeline():
            configure_from_project(self, context)
