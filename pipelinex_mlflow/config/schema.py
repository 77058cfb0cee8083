"""The schema of ``mlflow.yml``, built from the hooks' options.

Every key that sets a hook's option comes from that option's declaration
(:mod:`pipelinex_mlflow.options`): its kind, its default, the key's path. The
keys that set no option (``server.credentials``, ``ui``, kedro-mlflow's keys
that must keep one value) are declared below. Every section forbids unknown
keys and takes values of their own kind only (``"yes"`` is not a bool), so a
typo or a wrong type fails before any run starts. A key left out sets nothing:
the hook keeps its constructor argument, else its ``MLFLOW_*`` environment
variable, else its default.

kedro-mlflow's ``mlflow.yml`` keys are accepted where they mean the same here
(``server.mlflow_tracking_uri``, ``tracking.experiment.create_experiment_kwargs``,
``tracking.params.long_params_strategy``, ``ui.port`` ...), so its file works
with few edits; the keys whose behaviour differs are refused with the reason.

Examples:
    >>> from pipelinex_mlflow.config.schema import MlflowConfig
    >>> config = MlflowConfig.model_validate(
    ...     {"tracking": {"experiment": {"name": "churn"}, "run": {"nested": False}}}
    ... )
    >>> hook_arguments(config)["MLflowBasicLoggerHook"]
    {'experiment_name': 'churn', 'nested': False}
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    create_model,
    model_validator,
)

from pipelinex_mlflow.options import ALL_OPTIONS, YmlKey

if TYPE_CHECKING:
    from collections.abc import Iterable


class _Section(BaseModel):
    """A section of ``mlflow.yml``: unknown keys and wrong types are errors."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_are_unset(cls, data: Any) -> Any:
        """``nodes:`` with every key commented out is YAML's null: no keys set."""
        if not isinstance(data, dict):
            return data
        return {
            key: value
            for key, value in data.items()
            if not (value is None and _is_section(cls.model_fields.get(key)))
        }


# --------------------------------------------------------------------------------------
# The keys that set no hook option
# --------------------------------------------------------------------------------------
class RequestHeaderProviderSection(_Section):
    """kedro-mlflow's ``server.request_header_provider``: accepted only when empty."""

    type: None = Field(
        default=None,
        description="request header providers are not supported: set "
        "MLFLOW_TRACKING_TOKEN (or a credentials entry) instead",
    )
    pass_context: StrictBool = False
    init_kwargs: dict[str, Any] = Field(default_factory=dict)


class _ServerKeys(_Section):
    """Where the runs go, and how long the server may take."""

    mlflow_registry_uri: StrictStr | None = Field(
        default=None,
        description="Only null or the tracking URI: models are registered in the "
        "tracking store.",
    )
    credentials: StrictStr | None = Field(
        default=None,
        description="A credentials.yml entry whose keys are set as environment "
        "variables (MLFLOW_TRACKING_TOKEN, AWS_ACCESS_KEY_ID...) before the run.",
    )
    request_header_provider: RequestHeaderProviderSection = Field(
        default_factory=RequestHeaderProviderSection
    )

    @model_validator(mode="after")
    def _registry_is_the_tracking_store(self) -> _ServerKeys:
        registry = self.mlflow_registry_uri
        if registry is not None and registry != getattr(
            self, "mlflow_tracking_uri", None
        ):
            raise ValueError(
                "mlflow_registry_uri must be null or the tracking URI: "
                "pipelinex_mlflow registers models in the tracking store"
            )
        return self


class _DisableTrackingKeys(_Section):
    """Runs to leave untracked."""

    # As in kedro-mlflow: true turns MLflow's autologging off before the run (where
    # it is on by default, Databricks, a node's fit() would start runs of its own);
    # false, or left out, leaves it as it is.
    disable_autologging: StrictBool = True


class _ExperimentKeys(_Section):
    """The experiment the runs go to."""

    restore_if_deleted: Literal[True] = Field(
        default=True,
        description="pipelinex_mlflow always restores a deleted experiment of that "
        "name; delete or rename it in MLflow, or set another experiment name",
    )


class _DictParamsKeys(_Section):
    """How nested parameters are flattened: always, recursively, with ``sep``."""

    flatten: Literal[True] = Field(
        default=True,
        description="dict parameters are always flattened, each leaf its own param, "
        "so it can be searched and a secret one masked (kedro-mlflow's false "
        "logged a dict as one param)",
    )
    recursive: Literal[True] = Field(
        default=True,
        description="dict parameters are always flattened down to their leaves "
        "(kedro-mlflow's false flattened one level only)",
    )


class UiSection(_Section):
    """``kedro mlflow ui``'s defaults."""

    host: StrictStr = "127.0.0.1"
    # kedro-mlflow's template writes the port as a string ("5000").
    port: int = Field(default=5000, gt=0, lt=65536, strict=False)


class _RootKeys(_Section):
    """The whole of ``mlflow.yml``."""

    ui: UiSection = Field(default_factory=UiSection)


#: The section that holds each path's keys that set no option.
_SECTION_BASES: dict[tuple[str, ...], type[_Section]] = {
    (): _RootKeys,
    ("server",): _ServerKeys,
    ("tracking", "disable_tracking"): _DisableTrackingKeys,
    ("tracking", "experiment"): _ExperimentKeys,
    ("tracking", "params", "dict_params"): _DictParamsKeys,
}


# --------------------------------------------------------------------------------------
# The keys that set hook options, from their declarations
# --------------------------------------------------------------------------------------
#: Hook class name -> the ``mlflow.yml`` keys that set its options.
HOOK_KEYS: dict[str, tuple[YmlKey, ...]] = {
    options.hook: tuple(options.yml_keys()) for options in ALL_OPTIONS
}


def _tree(keys: Iterable[YmlKey]) -> dict[str, Any]:
    """The keys as nested dicts: section name -> ..., key name -> its ``YmlKey``."""
    tree: dict[str, Any] = {}
    for key in keys:
        *sections, leaf = key.path
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = key
    for path in _SECTION_BASES:
        node = tree
        for section in path:
            node = node.setdefault(section, {})
    return tree


def _section(path: tuple[str, ...], tree: dict[str, Any]) -> type[_Section]:
    fields: dict[str, Any] = {}
    for name, child in tree.items():
        if isinstance(child, dict):
            section = _section((*path, name), child)
            fields[name] = (section, Field(default_factory=section))
        else:
            fields[name] = (child.kind, Field(default=child.default))
    title = "".join(part.title().replace("_", "") for part in path)
    name = f"{title}Section" if path else "MlflowConfig"
    model: type[_Section] = create_model(
        name,
        __base__=_SECTION_BASES.get(path, _Section),
        __module__=__name__,
        __doc__=(_SECTION_BASES.get(path) or _Section).__doc__,
        **fields,
    )
    # A module attribute, so that a config pickles (spawned workers get it).
    globals()[name] = model
    return model


_KEYS = [key for keys in HOOK_KEYS.values() for key in keys]


@functools.cache
def mlflow_config_model() -> type[_Section]:
    """The model of the whole of ``mlflow.yml``, built once, when first needed.

    Building it takes about 20 ms, which ``import pipelinex_mlflow`` (every
    ``kedro`` command) does not pay: only reading an ``mlflow.yml`` does.
    """
    return _section((), _tree(_KEYS))


if TYPE_CHECKING:

    class MlflowConfig(_Section):
        """The whole of ``mlflow.yml`` (its sections are built when first used)."""

        server: Any
        tracking: Any
        ui: UiSection


def __getattr__(name: str) -> Any:
    # MlflowConfig and its built sections, made on first use; a pickled config
    # (a spawned worker's) finds its classes here too.
    if name == "MlflowConfig" or name.endswith("Section"):
        mlflow_config_model()
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_section(field: Any) -> bool:
    annotation = getattr(field, "annotation", None)
    return isinstance(annotation, type) and issubclass(annotation, _Section)


def set_keys(config: BaseModel) -> dict[tuple[str, ...], Any]:
    """The keys the file set (not the defaults), as paths, with their values.

    Examples:
        >>> model = mlflow_config_model()
        >>> set_keys(model.model_validate({"ui": {"port": 8080}}))
        {('ui', 'port'): 8080}
    """
    found: dict[tuple[str, ...], Any] = {}
    for name in config.model_fields_set:
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            found.update({(name, *path): v for path, v in set_keys(value).items()})
        else:
            found[(name,)] = value
    return found


def hook_arguments(config: BaseModel) -> dict[str, dict[str, Any]]:
    """Hook class name -> the constructor arguments ``config`` sets for it.

    Only keys present in the file set an argument; where two keys set one
    argument, ours wins over kedro-mlflow's spelling.
    """
    present = set_keys(config)
    arguments: dict[str, dict[str, Any]] = {}
    for hook, keys in HOOK_KEYS.items():
        chosen: dict[str, Any] = {}
        for key in keys:  # each option's keys come ours first: the first set wins
            if key.path not in present:
                continue
            value = present[key.path]
            if value is None and key.null is not None:
                value = key.null  # written as null: kedro-mlflow's meaning
            value = not value if key.negated else value
            # An empty (or null) key sets nothing where another spelling of it
            # holds a value.
            if key.option not in chosen or chosen[key.option] in (None, {}, []):
                chosen[key.option] = value
        arguments[hook] = chosen
    return arguments


def key_path(path: tuple[str, ...]) -> str:
    """``("tracking", "run", "name")`` -> ``"tracking.run.name"``."""
    return ".".join(path)
