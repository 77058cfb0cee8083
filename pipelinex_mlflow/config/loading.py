"""Reads ``mlflow.yml`` through the project's own config loader, and checks it.

Kedro's ``OmegaConfigLoader`` finds ``conf/base/mlflow.yml`` and the run
environment's (``conf/local/``, ``--env prod``), merges them and resolves
``${globals:...}`` and ``${runtime_params:...}``. ``${oc.env:...}``, which Kedro
allows only in credentials, is allowed here too while the file is read: a
tracking URI or token name often comes from the environment.

Unless ``settings.py`` sets a ``merge_strategy`` for ``mlflow``, an environment's
file overrides ``conf/base`` key by key (Kedro's ``soft`` merge).

A file that does not match :class:`~pipelinex_mlflow.config.schema.MlflowConfig`
fails with :class:`MlflowConfigError`, naming the file, each bad key and what it
may be.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from pipelinex_mlflow.config.schema import key_path, mlflow_config_model
from pipelinex_mlflow.masking import (
    declare_secret_names,
    get_logger,
    is_secret_name,
    mask_secrets,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro.config import AbstractConfigLoader

    from pipelinex_mlflow.config.schema import MlflowConfig

logger = get_logger(__name__)

#: The config loader key, and the files it reads in each environment.
CONFIG_KEY = "mlflow"
CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]
_SHOWN_INPUT_LENGTH = 40


class MlflowConfigError(ValueError):
    """``mlflow.yml`` is not valid: which file, which key, and what it may be."""


def read_mlflow_config(
    config_loader: AbstractConfigLoader,
) -> MlflowConfig | None:
    """The project's ``mlflow.yml``, checked; ``None`` when there is none.

    Args:
        config_loader: The project's config loader (``context.config_loader``),
            which knows the environment and the runtime params.

    Raises:
        MlflowConfigError: If a key is unknown or a value has the wrong type, or
            an interpolation cannot be resolved.
    """
    from kedro.config import MissingConfigException

    patterns = getattr(config_loader, "config_patterns", None)
    if isinstance(patterns, dict):
        patterns.setdefault(CONFIG_KEY, list(CONFIG_PATTERNS))
    strategies = getattr(config_loader, "merge_strategy", None)
    if isinstance(strategies, dict):
        # An environment's file overrides base key by key, unless settings.py
        # asks otherwise (Kedro's default replaces each top-level section whole).
        strategies.setdefault(CONFIG_KEY, "soft")
    try:
        with _environment_variables_allowed():
            raw = config_loader[CONFIG_KEY]
    except (MissingConfigException, KeyError):
        return None
    except Exception as exc:  # an unresolvable interpolation, a YAML error
        raise MlflowConfigError(
            f"Cannot read {describe_config_files(config_loader)}: {type(exc).__name__}: {exc}"
        ) from None
    if not raw:
        return None
    return parse_mlflow_config(raw, shown_as=describe_config_files(config_loader))


def parse_mlflow_config(
    raw: Mapping[str, Any], shown_as: str = "mlflow.yml"
) -> MlflowConfig:
    """Check ``raw`` (the merged file) against the schema.

    Examples:
        >>> parse_mlflow_config({"tracking": {"run": {"nmae": "x"}}})
        Traceback (most recent call last):
        ...
        pipelinex_mlflow.config.loading.MlflowConfigError: mlflow.yml is not a valid pipelinex_mlflow configuration:
          - tracking.run.nmae: unknown key; the keys here are: id, name, nested, tags

    Raises:
        MlflowConfigError: Listing every problem.
    """
    try:
        return mlflow_config_model().model_validate(dict(raw))  # type: ignore[return-value]
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
        raise MlflowConfigError(
            f"{shown_as} is not a valid pipelinex_mlflow configuration:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        ) from None


def _problem(error: Mapping[str, Any]) -> str:
    path = tuple(str(part) for part in error["loc"])
    where = key_path(path)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(path[:-1])
        return f"{where}: unknown key; the keys here are: {', '.join(allowed)}"
    shown = _shown_input(path, error.get("input"))
    reason = _reason(path)
    return f"{where}: {error['msg']} (it is {shown})" + (
        f": {reason}" if reason else ""
    )


def _reason(path: tuple[str, ...]) -> str | None:
    """Why a key takes only some values: its field's description, if it has one."""
    model: type[BaseModel] = mlflow_config_model()
    for part in path[:-1]:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    field = model.model_fields.get(path[-1]) if path else None
    return field.description if field else None


def _shown_input(path: tuple[str, ...], value: Any) -> str:
    """A value for an error message: never a secret, never a long one.

    Only the type of a mapping or a list (an inline credentials entry would hold
    tokens), and ``*****`` for a value under a secret-looking or credentials key.

    Examples:
        >>> _shown_input(("server", "credentials"), "tok-123")
        'str *****'
        >>> _shown_input(("server", "timeout"), {"token": "tok-123"})
        'dict'
    """
    kind = type(value).__name__
    if isinstance(value, (dict, list, tuple, set)):
        return kind
    if any(part == "credentials" or is_secret_name(part) for part in path):
        return f"{kind} *****"
    text = mask_secrets(repr(value))
    if len(text) > _SHOWN_INPUT_LENGTH:
        text = text[: _SHOWN_INPUT_LENGTH - 3] + "..."
    return f"{kind} {text}"


def _allowed_keys(path: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = mlflow_config_model()
    for part in path:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def describe_config_files(config_loader: AbstractConfigLoader) -> str:
    """The ``mlflow*`` files the loader reads, for messages (``conf/base/mlflow.yml``)."""
    source = Path(str(getattr(config_loader, "conf_source", "conf")))
    envs = [getattr(config_loader, "base_env", None) or "base"]
    run_env = config_loader.env or getattr(config_loader, "default_run_env", None)
    if run_env and run_env not in envs:
        envs.append(run_env)
    found = [
        path
        for env in envs
        for pattern in CONFIG_PATTERNS
        for path in sorted((source / env).glob(pattern))
        if path.is_file() and path.suffix in {".yml", ".yaml", ".json"}
    ]
    unique = list(dict.fromkeys(found))
    if not unique:
        return f"{source.name}/*/mlflow.yml"
    return " + ".join(_relative(path, source) for path in unique)


def _relative(path: Path, source: Path) -> str:
    try:
        return str(Path(source.name) / path.relative_to(source))
    except ValueError:  # pragma: no cover - globbed under source
        return str(path)


def _register_resolver(name: str, resolver: Callable[..., Any]) -> None:
    """Register an OmegaConf resolver without a deprecation warning in every run.

    omegaconf 2.4 deprecates ``register_new_resolver`` for ``register_resolver``,
    which before 2.4 was the legacy API with other semantics.
    """
    import omegaconf
    from omegaconf import OmegaConf
    from packaging.version import Version

    if Version(omegaconf.__version__) >= Version("2.4"):
        OmegaConf.register_resolver(name, resolver)
    else:  # pragma: no cover - omegaconf < 2.4
        OmegaConf.register_new_resolver(name, resolver)


class _environment_variables_allowed:
    """Lets ``${oc.env:...}`` resolve while ``mlflow.yml`` is read."""

    def __enter__(self) -> None:
        from omegaconf import OmegaConf
        from omegaconf.resolvers import oc

        self._registered_here = not OmegaConf.has_resolver("oc.env")
        if self._registered_here:
            _register_resolver("oc.env", oc.env)

    def __exit__(self, *exc_info: object) -> None:
        from omegaconf import OmegaConf

        if self._registered_here:
            # Kedro keeps it off outside credentials; so do we, after the read.
            OmegaConf.clear_resolver("oc.env")


def export_credentials(
    config: MlflowConfig, credentials: Mapping[str, Any], shown_as: str
) -> list[str]:
    """Set the environment variables of the ``server.credentials`` entry.

    MLflow's clients read ``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``
    and ``MLFLOW_TRACKING_PASSWORD``, and the artifact stores their cloud's
    variables, from the environment; ParallelRunner's workers inherit it. Each
    name is declared secret, so its value is masked wherever the package would
    show or log it (``MLflowEnvVarsLoggerHook`` included).

    Returns:
        The names of the variables set.

    Raises:
        MlflowConfigError: If the entry is missing or is not a flat mapping of
            names to text; the message names the entry, never a value.
    """
    name = config.server.credentials
    if name is None:
        return []
    entry = credentials.get(name)
    if not isinstance(entry, Mapping):
        raise MlflowConfigError(
            f"{shown_as}: server.credentials names {name!r}, but credentials.yml "
            f"has {'no such entry' if entry is None else 'no mapping under it'}. "
            "Add it, for example:\n"
            f"  {name}:\n    MLFLOW_TRACKING_TOKEN: ..."
        )
    bad = sorted(
        str(key)
        for key, value in entry.items()
        if not isinstance(key, str) or not isinstance(value, (str, int, float))
    )
    if bad:
        raise MlflowConfigError(
            f"credentials.yml entry {name!r} (server.credentials in {shown_as}) "
            f"must map environment variable names to text; these are not: "
            f"{', '.join(bad)}."
        )
    names = sorted(entry)
    declare_secret_names(names)
    for key in names:
        os.environ[key] = str(entry[key])
    logger.info(
        "Set %s from credentials entry %r (server.credentials)", ", ".join(names), name
    )
    return names
