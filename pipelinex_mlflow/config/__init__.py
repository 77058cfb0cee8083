"""The project's ``conf/<env>/mlflow.yml``: read, checked, and turned into hook arguments.

Examples:
    >>> loaded = LoadedConfig.from_raw({"tracking": {"run": {"name": "nightly"}}})
    >>> loaded.arguments_for_name("MLflowBasicLoggerHook")
    {'run_name': 'nightly'}
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.config.loading import (
    CONFIG_KEY,
    CONFIG_PATTERNS,
    MlflowConfigError,
    describe_config_files,
    export_credentials,
    parse_mlflow_config,
    read_mlflow_config,
)
from pipelinex_mlflow.config.schema import (
    HOOK_KEYS,
    hook_arguments,
    key_path,
    set_keys,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.config import AbstractConfigLoader

    from pipelinex_mlflow.config.schema import MlflowConfig

__all__ = [
    "CONFIG_KEY",
    "CONFIG_PATTERNS",
    "LoadedConfig",
    "MlflowConfig",
    "MlflowConfigError",
    "current_config",
    "load_project_config",
    "parse_mlflow_config",
    "read_mlflow_config",
    "set_current_config",
    "template_text",
]


@dataclass(frozen=True)
class LoadedConfig:
    """A project's checked ``mlflow.yml`` (or its absence), and where it came from.

    It pickles (ParallelRunner's spawned workers get it) and holds no
    credentials: ``server.credentials`` is an entry's name.
    """

    config: MlflowConfig | None = None
    source: str = "mlflow.yml"
    _arguments: dict[str, dict[str, Any]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_raw(
        cls, raw: Mapping[str, Any], source: str = "mlflow.yml"
    ) -> LoadedConfig:
        """Check ``raw`` (a parsed file) and keep it."""
        return cls.of(parse_mlflow_config(raw, source), source)

    @classmethod
    def of(cls, config: MlflowConfig | None, source: str) -> LoadedConfig:
        """Keep ``config`` with the hook arguments it sets."""
        return cls(config, source, hook_arguments(config) if config else {})

    def arguments_for_name(self, hook_name: str) -> dict[str, Any]:
        """The constructor arguments the file sets for the hook class so named."""
        return dict(self._arguments.get(hook_name, {}))

    def arguments_for(self, hook_class: type) -> dict[str, Any]:
        """The constructor arguments the file sets for ``hook_class``.

        A subclass (PipelineX's ``MLflowDataSetsLoggerHook``) gets its base's.
        """
        name = _configured_name(hook_class)
        return self.arguments_for_name(name) if name else {}

    def keys_of(self, hook_class: type) -> str:
        """The file's keys that set ``hook_class``'s arguments, for messages."""
        name = _configured_name(hook_class)
        if self.config is None or name is None:
            return "no keys"
        present = set_keys(self.config)
        paths = [key_path(key.path) for key in HOOK_KEYS[name] if key.path in present]
        return ", ".join(paths) or "no keys"


def _configured_name(hook_class: type) -> str | None:
    for base in hook_class.__mro__:
        if base.__name__ in HOOK_KEYS:
            return base.__name__
    return None


_lock = threading.Lock()
# The config read for the latest context: its loader is kept so its id stays unique.
_last_read: tuple[object, LoadedConfig] | None = None
_current: LoadedConfig | None = None


def load_project_config(config_loader: AbstractConfigLoader) -> LoadedConfig:
    """The project's ``mlflow.yml``, read once per config loader (Kedro context).

    Reading it also sets the environment variables of its ``server.credentials``
    entry (:func:`~pipelinex_mlflow.config.loading.export_credentials`).

    Raises:
        MlflowConfigError: If the file or its credentials entry is invalid.
    """
    global _last_read  # noqa: PLW0603 - one cache per process
    loader = config_loader
    with _lock:
        if _last_read is not None and _last_read[0] is loader:
            return _last_read[1]
        config = read_mlflow_config(loader)
        source = describe_config_files(loader)
        if config is not None and config.server.credentials is not None:
            export_credentials(config, _credentials(loader), source)
        if config is not None and _disables_autologging(config):
            from pipelinex_mlflow.tracking import disable_autologging

            disable_autologging()
        loaded = LoadedConfig.of(config, source)
        _last_read = (loader, loaded)
        return loaded


def _disables_autologging(config: MlflowConfig) -> bool:
    """Whether the file writes kedro-mlflow's ``disable_autologging: true``."""
    path = ("tracking", "disable_tracking", "disable_autologging")
    return set_keys(config).get(path) is True


def _credentials(loader: Any) -> Mapping[str, Any]:
    from kedro.config import MissingConfigException

    try:
        return dict(loader["credentials"])
    except (MissingConfigException, KeyError):
        return {}


def set_current_config(loaded: LoadedConfig | None) -> None:
    """Remember the config of the run being set up (handed to spawned workers)."""
    global _current  # noqa: PLW0603 - one run's config per process
    _current = loaded


def template_text(experiment_name: str) -> str:
    """The commented ``mlflow.yml`` that ``kedro mlflow init`` writes."""
    from importlib.resources import files

    text = files(__name__).joinpath("mlflow.yml").read_text(encoding="utf-8")
    return text.replace("{experiment_name}", _yaml_text(experiment_name))


def _yaml_text(value: str) -> str:
    import json

    # A JSON string is a YAML string: a name with ":" or "#" stays one value.
    return value if value.isidentifier() else json.dumps(value)


def current_config() -> LoadedConfig | None:
    """The config of the latest context, if a hook applied one in this process."""
    return _current


def __getattr__(name: str) -> Any:
    # MlflowConfig is built when first used (see config.schema.mlflow_config_model).
    if name == "MlflowConfig":
        from pipelinex_mlflow.config import schema

        return schema.mlflow_config_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
