"""A hook's options: one pydantic model, read by its constructor and by ``mlflow.yml``.

Each option is declared once, as a field of its hook's :class:`HookOptions`:
its kind (:mod:`.kinds`: what it accepts and what it must be), its default and,
with :class:`InYml`, the ``mlflow.yml`` key (or keys) that set it. From these
fields come the constructor's checks (:meth:`HookOptions.from_arguments`), the
schema of ``mlflow.yml`` (:mod:`pipelinex_mlflow.config.schema`) and the
README's table of options (:mod:`.table`); a test checks each hook's signature
and the ``mlflow.yml`` template against them.

Examples:
    >>> from pipelinex_mlflow.options import EnvVarsOptions
    >>> EnvVarsOptions.from_arguments({"prefix": "env."}).prefix
    'env.'
    >>> EnvVarsOptions.from_arguments({"prefix": 1})
    Traceback (most recent call last):
    ...
    ValueError: MLflowEnvVarsLoggerHook(prefix=1): prefix must be a string or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from pipelinex_mlflow.masking import mask_url_passwords
from pipelinex_mlflow.options.kinds import REFUSED, EmptyInYml

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from typing_extensions import Self

_SHOWN_LENGTH = 60


@dataclass(frozen=True)
class InYml:
    """The ``mlflow.yml`` keys that set an option, ours first.

    Attributes:
        paths: Dotted key paths; where several are present, the first wins
            (ours over kedro-mlflow's spelling of the same setting).
        negated: The key says the opposite (``disable_tracking.all`` sets
            ``enable_mlflow``).
        null: What the key written as ``null`` sets, where that is not
            ``None`` (kedro-mlflow's ``run.name: null`` names the run after
            its pipelines); a key left out still sets nothing.
    """

    paths: tuple[str, ...]
    negated: bool = False
    null: Any = None

    def __init__(self, *paths: str, negated: bool = False, null: Any = None) -> None:
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "negated", negated)
        object.__setattr__(self, "null", null)


class YmlKey(NamedTuple):
    """One ``mlflow.yml`` key and the option it sets."""

    path: tuple[str, ...]
    option: str
    negated: bool
    #: What the file would hold for the option's default (the template's value).
    default: Any
    #: The option's annotated kind, to check the file's value with.
    kind: Any
    #: What the key written as ``null`` sets (see :class:`InYml`).
    null: Any = None


class HookOptions(BaseModel):
    """The options of one companion hook (subclasses name it in ``hook``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    #: The hook class these options configure, for messages and ``mlflow.yml``.
    hook: ClassVar[str]

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> Self:
        """Check a constructor's arguments (its ``locals()``; others are ignored).

        Raises:
            ValueError: Naming the hook, the first bad argument, its value (URL
                passwords masked) and what it must be.
        """
        known = {k: v for k, v in arguments.items() if k in cls.model_fields}
        try:
            return cls.model_validate(known)
        except ValidationError as exc:
            raise ValueError(_refusal(cls.hook, exc)) from None

    @classmethod
    def yml_keys(cls) -> Iterator[YmlKey]:
        """Every ``mlflow.yml`` key that sets one of these options."""
        for name, field in cls.model_fields.items():
            in_yml = _metadata(field.metadata, InYml)
            if in_yml is None:
                continue
            default = field.get_default(call_default_factory=True)
            empty = _metadata(field.metadata, EmptyInYml)
            if default is None and empty is not None:
                default = empty.value
            if in_yml.negated:
                default = not default
            kind = field.rebuild_annotation()
            for path in in_yml.paths:
                yield YmlKey(
                    tuple(path.split(".")),
                    name,
                    in_yml.negated,
                    default,
                    kind,
                    in_yml.null,
                )


def _metadata(metadata: list[Any], kind: type[Any]) -> Any:
    return next((item for item in metadata if isinstance(item, kind)), None)


def short_repr_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters.

    Examples:
        >>> short_repr_text("abcdefgh", 6)
        'abc...'
    """
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _refusal(hook: str, exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = ".".join(str(part) for part in error["loc"])
    # Mask before cutting: a cut URL loses the "@" that marks its password.
    shown = short_repr_text(mask_url_passwords(repr(error["input"])), _SHOWN_LENGTH)
    if error["type"] == REFUSED:
        must_be = error.get("ctx", {}).get("must_be", "valid")
        return f"{hook}({name}={shown}): {name} must be {must_be}."
    return f"{hook}({name}={shown}): {error['msg']}."
