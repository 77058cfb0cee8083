"""Nested mappings flattened into one level of keys, never merging two values.

Params and the ``a`` rules log a nested dict leaf by leaf, under keys joined with
a separator (``{"model": {"depth": 3}}`` becomes ``model.depth``). Two different
values that would share a key are both kept, the later one under a suffixed key,
with one warning that names them.

Examples:
    >>> flatten_dict({"model": {"depth": 3, "name": "rf"}})
    {'model.depth': 3, 'model.name': 'rf'}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.keys import suffixed_key
from pipelinex_mlflow.tracking.value_text import short_repr

logger = get_logger(__name__)


def iter_leaves(
    data: Mapping[Any, Any], path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Yield ``(key path, value)`` for every leaf of nested mappings.

    An empty nested mapping is a leaf itself, so nothing silently vanishes.

    Examples:
        >>> list(iter_leaves({"a": {"b": 1, "c": {}}}))
        [(('a', 'b'), 1), (('a', 'c'), {})]
    """
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            yield from iter_leaves(value, (*path, key))
        else:
            yield (*path, key), value


@dataclass(frozen=True)
class FlatLeaf:
    """One leaf of a flattened mapping.

    Attributes:
        path: Its keys, from the top (the prefix first).
        key: Its flat key; two leaves with equal values under one flat key share it.
        value: Its value.
    """

    path: tuple[str, ...]
    key: str
    value: Any


def flat_leaves(
    data: Mapping[Any, Any], sep: str = ".", prefix: str = ""
) -> list[FlatLeaf]:
    """Flatten nested mappings, joining keys with ``sep``; never merge two values.

    The same value reached two ways is one: ``{"model": {"alpha": 1},
    "model.alpha": 1}`` (a node reading ``params:model`` and another reading
    ``params:model.alpha``) gives one key. Two different values that flatten to
    one key are both kept, the later one under :func:`~pipelinex_mlflow.tracking.
    keys.suffixed_key`, with one warning that names them.

    Args:
        data: The mapping to flatten.
        sep: The separator between a parent key and a child key.
        prefix: A key to put in front of every flattened key.

    Returns:
        Every leaf, in order, with its flat key.

    Examples:
        >>> [leaf.key for leaf in flat_leaves({"a": {"b": 1}, "a.b": 1})]
        ['a.b', 'a.b']
    """
    head = (prefix,) if prefix else ()
    leaves: list[FlatLeaf] = []
    by_key: dict[str, list[FlatLeaf]] = {}
    clashes: dict[str, list[FlatLeaf]] = {}
    for raw_path, value in iter_leaves(data):
        path = tuple(map(str, (*head, *raw_path)))
        key = sep.join(path)
        same = next((x for x in by_key.get(key, ()) if _same(x.value, value)), None)
        if same is not None:
            leaves.append(FlatLeaf(path, same.key, value))
            continue
        if key in by_key:
            clashes.setdefault(key, [by_key[key][0]])
            leaf = FlatLeaf(path, suffixed_key(key, "\x1f".join(path)), value)
            clashes[key].append(leaf)
        else:
            leaf = FlatLeaf(path, key, value)
        by_key.setdefault(key, []).append(leaf)
        leaves.append(leaf)
    if clashes:
        _warn_clashes(clashes, sep)
    return leaves


def _same(first: Any, second: Any) -> bool:
    """Whether two leaves hold the same value (arrays and frames compare whole)."""
    if first is second:
        return True
    try:
        return type(first) is type(second) and bool(first == second)
    except (TypeError, ValueError):  # numpy arrays, DataFrames: == is elementwise
        return False


def _warn_clashes(clashes: Mapping[str, list[FlatLeaf]], sep: str) -> None:
    described = []
    for key, leaves in clashes.items():
        ways = " and ".join(
            f"{'[' + ']['.join(map(repr, leaf.path)) + ']'} = {short_repr(leaf.value, 40)}"
            for leaf in leaves
        )
        keys = ", ".join(repr(leaf.key) for leaf in leaves)
        described.append(f"{key!r}: {ways} (logged as {keys})")
    logger.warning(
        "Different values flatten to one key with separator %r, so both are kept, "
        "under distinct keys: %s. Rename a key that holds %r to choose the keys "
        "yourself.",
        sep,
        "; ".join(described),
        sep,
    )


def flatten_dict(
    data: Mapping[Any, Any], sep: str = ".", prefix: str = ""
) -> dict[str, Any]:
    """Flatten nested mappings into one level, joining keys with ``sep``.

    Keys are as :func:`flat_leaves` gives them: the same value reached two ways
    is one entry, and two different values under one key are both kept.

    Args:
        data: The mapping to flatten.
        sep: The separator between a parent key and a child key.
        prefix: A key to put in front of every flattened key.

    Returns:
        A flat dict of leaf values.

    Examples:
        >>> flatten_dict({"a": {"b": 1, "c": {}}}, sep="/")
        {'a/b': 1, 'a/c': {}}
        >>> flatten_dict({"model": {"depth": 3}}, prefix="cfg")
        {'cfg.model.depth': 3}
    """
    return {leaf.key: leaf.value for leaf in flat_leaves(data, sep, prefix)}
