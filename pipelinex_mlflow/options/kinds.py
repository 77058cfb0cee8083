"""The kinds of value an option takes: one check, one wording, for both ways in.

A kind is an annotated type whose validator accepts exactly what a hook's
constructor accepts, and refuses the rest with what it must be. The same kind
checks the constructor's argument and the ``mlflow.yml`` key that sets it, so
both say the same thing about the same mistake.

Examples:
    >>> from pydantic import TypeAdapter
    >>> TypeAdapter(Seconds).validate_python(2.5)
    2.5
    >>> TypeAdapter(Seconds).validate_python("10")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for function-plain[check()]
      must be a positive number of seconds, for example 10 [type=option, input_value='10', input_type=str]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Annotated, Any

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from pipelinex_mlflow.tracking import LONG_PARAM_POLICIES, LongParamPolicy

#: The error type of a refused option value; its context holds ``must_be``.
REFUSED = "option"


class EmptyInYml:
    """What ``mlflow.yml``'s template shows for an option whose default is ``None``.

    ``[]`` reads better than ``null`` for a list of names; both set nothing.
    """

    def __init__(self, value: Any) -> None:
        self.value = value


def _kind(
    accepts: Callable[[Any], bool], must_be: str, *, listed: bool = False
) -> PlainValidator:
    def check(value: Any) -> Any:
        if listed and _is_collection(value) and not isinstance(value, os.PathLike):
            # Read once, as a list: a generator checked item by item is used up.
            value = list(value)
        if not accepts(value):
            raise PydanticCustomError(
                REFUSED, "must be {must_be}", {"must_be": must_be}
            )
        return value

    return PlainValidator(check)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_collection(value: Any) -> bool:
    # A list, tuple or set; not a string (one name) and not a dict.
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _are_names(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    return _is_collection(value) and all(isinstance(v, str) for v in value)


def _are_paths(value: Any) -> bool:
    if value is None or _is_path(value):
        return True
    return _is_collection(value) and all(_is_path(v) for v in value)


def _as_dict(value: Any) -> dict[str, Any]:
    if value is not None and not isinstance(value, Mapping):
        raise PydanticCustomError(
            REFUSED, "must be {must_be}", {"must_be": "a dict or None"}
        )
    # Keys name tags, Gantt settings or datasets: text only.
    if value is not None and not all(isinstance(key, str) for key in value):
        raise PydanticCustomError(
            REFUSED, "must be {must_be}", {"must_be": "a dict with string keys"}
        )
    return dict(value or {})


Flag = Annotated[bool, _kind(lambda v: isinstance(v, bool), "True or False")]
Text = Annotated[str, _kind(lambda v: isinstance(v, str), "a string")]
NonEmptyText = Annotated[
    str, _kind(lambda v: isinstance(v, str) and bool(v), "a non-empty string")
]
OptionalText = Annotated[
    str | None, _kind(lambda v: v is None or isinstance(v, str), "a string or None")
]


class RunNaming(Enum):
    """A run name chosen when the run starts, from the Kedro run."""

    #: The Kedro run's pipelines joined with ``+`` (``__default__`` when none is
    #: named): what kedro-mlflow's ``tracking.run.name: null`` means.
    PIPELINES = "pipelines"


#: A run's name: a string, :attr:`RunNaming.PIPELINES`, or ``None`` (MLflow picks one).
RunName = Annotated[
    str | RunNaming | None,
    _kind(
        lambda v: v is None or isinstance(v, (str, RunNaming)),
        "a string, RunNaming.PIPELINES or None",
    ),
]
Number = Annotated[float, _kind(_is_number, "a number, for example 9 or -5.5")]
Seconds = Annotated[
    float,
    _kind(
        lambda v: _is_number(v) and v > 0,
        "a positive number of seconds, for example 10",
    ),
]
PositiveInteger = Annotated[
    int,
    _kind(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "a positive integer, for example 500",
    ),
]
#: A mapping, kept as a ``dict`` (``None`` is an empty one).
Table = Annotated[dict[str, Any], PlainValidator(_as_dict), EmptyInYml({})]
Names = Annotated[
    Sequence[str] | str | None,
    _kind(_are_names, "a string, a list of strings, or None", listed=True),
    EmptyInYml([]),
]
OptionalPath = Annotated[
    str | os.PathLike[str] | None,
    _kind(
        lambda v: v is None or _is_path(v), "a path (a string or pathlib.Path) or None"
    ),
]
Paths = Annotated[
    Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None,
    _kind(_are_paths, "a path or glob pattern, a list of them, or None", listed=True),
    EmptyInYml([]),
]
Function = Annotated[Callable[..., Any], _kind(callable, "a function")]


def as_names(value: Sequence[str] | str | None) -> list[str]:
    """A :data:`Names` option's value as a list.

    Examples:
        >>> as_names("a"), as_names(("a", "b")), as_names(None)
        (['a'], ['a', 'b'], [])
    """
    return [value] if isinstance(value, str) else list(value or ())


def choice(*choices: str) -> PlainValidator:
    """A kind's check that accepts one of ``choices``."""
    return _kind(lambda v: v in choices, f"one of: {', '.join(sorted(choices))}")


LongParamPolicyChoice = Annotated[LongParamPolicy, choice(*LONG_PARAM_POLICIES)]
