"""What a value becomes in MLflow: a metric, a param, or nothing (the ``a`` rules).

One classifier serves both the dataset code ``a`` (:data:`STRICT`: every plain value,
whatever its size, and an error for anything else) and the automatic logging of
``MLflowCatalogLoggerHook`` (:data:`AUTO`: the same rules with size caps, and a
skip instead of an error):

- real numbers (Python or numpy, not bools) are metrics, but for integers a
  float64 cannot hold exactly (``2**53 + 1``, ``2**80``), which are params, so
  their exact text is kept;
- ``str``, ``bool`` (numpy's too), ``None``, and lists, tuples and sets of such
  values (nested too) are params, with numpy scalars turned into Python ones so
  the text reads back with :func:`ast.literal_eval`;
- anything else (DataFrames, arrays, models, a list holding one) is neither.

Examples:
    >>> classify(3), classify(["a", 2]).value
    (Classified(kind='metric', value=3.0), ['a', 2])
    >>> split_by_kind("cfg", {"depth": 3, "name": "rf"})
    LoggableValues(params={'cfg.name': 'rf'}, metrics={'cfg.depth': 3.0}, skipped={})
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from pipelinex_mlflow.tracking.flattening import flatten_dict
from pipelinex_mlflow.tracking.keys import MLFLOW_MAX_PARAM_LENGTH
from pipelinex_mlflow.tracking.value_text import param_text

ValueKind = Literal["metric", "param"]


class Classified(NamedTuple):
    """What one value becomes in MLflow, and the value in the form to log."""

    kind: ValueKind
    value: Any


_CONTAINERS = (list, tuple, set, frozenset)
_NUMERIC_DTYPE_KINDS = frozenset("iuf")


class UnloggableValueError(ValueError):
    """A value that is neither an MLflow metric nor a plain param; says why."""


@dataclass(frozen=True)
class ValueRules:
    """Size caps for values logged by type; ``None`` means no cap.

    Attributes:
        max_text_length: The longest string logged as a param.
        max_sequence_items: The most items a list, tuple or set may hold.
        max_dict_leaves: The most leaves a dict may have (one value per leaf).
        max_param_text: The longest text of a container logged as a param.
    """

    max_text_length: int | None = None
    max_sequence_items: int | None = None
    max_dict_leaves: int | None = None
    max_param_text: int | None = None


#: Dataset code ``a``: no caps; the dataset's long-param policy handles long text.
STRICT = ValueRules()
#: ``MLflowCatalogLoggerHook(auto=True)``: long text and big containers are data.
AUTO = ValueRules(
    max_text_length=1000,
    max_sequence_items=100,
    max_dict_leaves=1000,
    max_param_text=MLFLOW_MAX_PARAM_LENGTH,
)


def is_bool(value: Any) -> bool:
    """Tell whether ``value`` is a Python or numpy boolean scalar.

    Examples:
        >>> is_bool(True), is_bool(1)
        (True, False)
    """
    if isinstance(value, bool):
        return True
    dtype = getattr(value, "dtype", None)
    return getattr(dtype, "kind", "") == "b" and getattr(value, "ndim", 1) == 0


def is_number(value: Any) -> bool:
    """Tell whether ``value`` is a real number MLflow can log as a metric (not a bool).

    Python and numpy integers and floats count, and 0-d numeric numpy arrays;
    bools (numpy's too), strings and ``None`` do not.

    Examples:
        >>> is_number(3), is_number(True), is_number("3")
        (True, False, False)
    """
    if value is None or is_bool(value):
        return False
    if isinstance(value, numbers.Real):
        return True
    dtype = getattr(value, "dtype", None)
    return (
        getattr(dtype, "kind", "") in _NUMERIC_DTYPE_KINDS
        and getattr(value, "ndim", 1) == 0
    )


def classify(value: Any, rules: ValueRules = STRICT) -> Classified:
    """Say what ``value`` becomes in MLflow, and return it in the form to log.

    Args:
        value: One value (not a dict: see
            :func:`~pipelinex_mlflow.tracking.flattening.iter_leaves`).
        rules: The size caps to apply.

    Returns:
        The kind, ``metric`` (the value a float) or ``param`` (a plain Python
        value), and the value.

    Raises:
        UnloggableValueError: Saying what the value is, when it is neither (an
            infinite number included: MLflow cannot store one).

    Examples:
        >>> import numpy as np
        >>> classify(np.bool_(True)), classify([np.int64(1)]).value
        (Classified(kind='param', value=True), [1])
        >>> classify(2**80 + 1)
        Classified(kind='param', value=1208925819614629174706177)
    """
    if is_number(value):
        if not fits_a_float(value):
            # A metric is a float64: the int would come back changed. Its exact
            # text, as a param, does not.
            return Classified("param", _plain(value, rules))
        number = float(value)
        if math.isinf(number):
            raise UnloggableValueError(
                f"{number}, which MLflow cannot store (it would keep "
                "1.7976931348623157e+308 instead)"
            )
        return Classified("metric", number)
    return Classified("param", _plain(value, rules))


def fits_a_float(number: Any) -> bool:
    """Tell whether a float64 (an MLflow metric) holds ``number`` exactly.

    Floats do; an integer beyond 2**53 may not: ``2**80 + 1`` would come back as
    ``2**80``, and ``10**400`` is too large for any float.

    Examples:
        >>> fits_a_float(2**53), fits_a_float(2**53 + 1), fits_a_float(0.1)
        (True, False, True)
    """
    if not isinstance(number, numbers.Integral):
        plain = number.item() if hasattr(number, "item") else number
        if not isinstance(plain, int):
            return True
        number = plain
    try:
        return int(float(number)) == int(number)
    except OverflowError:
        return False


def _plain(value: Any, rules: ValueRules) -> Any:
    if type(value) is int and value.bit_length() > _CHEAP_INT_BITS:
        _check_int_text(value)
    if value is None or type(value) in (bool, int, float):
        return value
    if is_bool(value) or is_number(value):
        # numpy scalars (np.float64 is a float subclass): plain Python, so the
        # text reads back with ast.literal_eval.
        return value.item() if hasattr(value, "item") else value
    if isinstance(value, str):
        limit = rules.max_text_length
        if limit is not None and len(value) > limit:
            raise UnloggableValueError(
                f"text of {len(value)} characters (more than {limit})"
            )
        return value
    if isinstance(value, _CONTAINERS):
        return _plain_container(value, rules)
    raise UnloggableValueError(type(value).__name__)


# Below ~3000 digits an int always has a text; above, Python may refuse one.
_CHEAP_INT_BITS = 10_000


def _check_int_text(value: int) -> None:
    try:
        str(value)
    except ValueError:  # Python's limit on the digits of an int's text
        raise UnloggableValueError(
            f"an int of about {int(value.bit_length() * math.log10(2))} digits, "
            f"more than Python turns into text ({sys.get_int_max_str_digits()})"
        ) from None


def _plain_container(value: Any, rules: ValueRules) -> Any:
    limit = rules.max_sequence_items
    kind = type(value).__name__
    if limit is not None and len(value) > limit:
        raise UnloggableValueError(
            f"a {kind} of {len(value)} items (more than {limit})"
        )
    items = []
    for item in value:
        try:
            items.append(_plain(item, rules))
        except UnloggableValueError as exc:
            raise UnloggableValueError(f"a {kind} holding {exc}") from None
    plain: Any = items
    if isinstance(value, tuple):
        plain = tuple(items)
    elif isinstance(value, (set, frozenset)):
        # Set members must be hashable: inner sets become frozensets.
        plain = {frozenset(i) if isinstance(i, set) else i for i in items}
    text_limit = rules.max_param_text
    if text_limit is not None and len(param_text(plain)) > text_limit:
        raise UnloggableValueError(f"a {kind} longer than {text_limit} characters")
    return plain


@dataclass
class LoggableValues:
    """A value split by the ``a`` rules.

    Attributes:
        params: Key -> plain value to log as a param.
        metrics: Key -> number to log as a metric.
        skipped: Key -> why it is neither.
    """

    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def split_by_kind(
    key: str, data: Any, rules: ValueRules = AUTO, sep: str = "."
) -> LoggableValues:
    """Split ``data`` into params and metrics; a dict is flattened, leaf by leaf.

    Args:
        key: The key of ``data``; ``""`` keys a dict by its own keys.
        data: The value.
        rules: The size caps; with :data:`AUTO` a dict of more than 1000 leaves
            is skipped whole.
        sep: Joins nested keys.

    Returns:
        The params, the metrics and what was skipped, with the reason.
    """
    split = LoggableValues()
    leaves = flatten_dict(data, sep, key) if isinstance(data, Mapping) else {key: data}
    limit = rules.max_dict_leaves
    if limit is not None and isinstance(data, Mapping) and len(leaves) > limit:
        split.skipped[key] = f"a dict with {len(leaves)} leaves (more than {limit})"
        return split
    for leaf_key, value in leaves.items():
        if not leaf_key:
            continue
        try:
            classified = classify(value, rules)
        except UnloggableValueError as exc:
            split.skipped[leaf_key] = str(exc)
            continue
        if classified.kind == "metric":
            split.metrics[leaf_key] = classified.value
        else:
            split.params[leaf_key] = classified.value
    return split
