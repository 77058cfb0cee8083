"""MLflow's limits on keys and values, and the one rule that turns any name into a key."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import get_logger
from pipelinex_mlflow.tracking.errors import TrackingError

if TYPE_CHECKING:
    from collections.abc import Iterable

MAX_KEY_LENGTH = 250
MLFLOW_MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000

_INVALID_KEY_CHARS = re.compile(r"[^/\w.\- :]")
_REPEATED_SLASHES = re.compile(r"/{2,}")
_HASH_LENGTH = 8

logger = get_logger(__name__)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def suffixed_key(key: str, identity: str) -> str:
    """``key`` made distinct: ``-`` and 8 hex digits of a hash of ``identity``.

    The key of a value that would otherwise share ``key`` with another one.
    The same ``identity`` always gives the same key, so reruns log alike; the
    result keeps within MLflow's 250 characters.

    Examples:
        >>> suffixed_key("model.alpha", "model.alpha")
        'model.alpha-f5d6dee8'
    """
    head = key[: MAX_KEY_LENGTH - _HASH_LENGTH - 1]
    return f"{head}-{_digest(identity)}"


def sanitize_key(key: str) -> str:
    """Turn any string into a key MLflow accepts for a param, metric or tag.

    Characters outside MLflow's allowed set (letters, digits, ``_ - . / : space``)
    become ``_``; repeated slashes collapse; leading slashes and ``..`` path parts
    go. A key longer than MLflow's 250 characters keeps its first 241 and ends in
    ``-`` and 8 hex digits of a hash of the whole key, so two long keys that share
    a beginning stay two keys, and the same key always shortens the same way.

    Args:
        key: The raw key, for example a Kedro dataset name.

    Returns:
        A key that MLflow's validation accepts.

    Raises:
        TrackingError: If nothing usable is left of the key.

    Examples:
        >>> sanitize_key("a|b/../c")
        'a_b/c'
        >>> sanitize_key("params:model|depth")
        'params:model_depth'
        >>> long = sanitize_key("x" * 300)
        >>> len(long), long[-9:]
        (250, '-0d4e2ca9')
    """
    cleaned = _REPEATED_SLASHES.sub("/", _INVALID_KEY_CHARS.sub("_", str(key)))
    parts = [part for part in cleaned.split("/") if part not in ("", ".", "..")]
    cleaned = "/".join(parts).strip()
    if len(cleaned) > MAX_KEY_LENGTH:
        cleaned = suffixed_key(cleaned, str(key))
    if not cleaned:
        raise TrackingError(
            f"{key!r} cannot be used as an MLflow key: nothing is left of it after "
            "removing the characters MLflow rejects. Give the dataset or value a name "
            "with letters or digits."
        )
    return cleaned


def sanitize_keys(keys: Iterable[str]) -> dict[str, str]:
    """Map each key to its MLflow key (:func:`sanitize_key`), refusing to merge two.

    Raises:
        TrackingError: When two different keys become one MLflow key, naming both.

    Examples:
        >>> sanitize_keys(["a|b", "c"])
        {'a|b': 'a_b', 'c': 'c'}
        >>> sanitize_keys(["a|b", "a_b"])
        Traceback (most recent call last):
        ...
        pipelinex_mlflow.tracking.errors.TrackingError: 'a|b' and 'a_b' would both ...
    """
    cleaned: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key in keys:
        clean = sanitize_key(key)
        first = origin.setdefault(clean, key)
        if first != key:
            raise TrackingError(
                f"{first!r} and {key!r} would both be logged as MLflow key {clean!r} "
                "(MLflow keys allow letters, digits and _ - . / : and space), and one "
                "would silently replace the other. Rename one of them."
            )
        cleaned[key] = clean
    return cleaned


def distinct_keys(names: Iterable[str]) -> dict[str, str]:
    """Map each name to its MLflow key (:func:`sanitize_key`), one key per name.

    Names that would become one key (``a|b`` and ``a_b``) all stay, each with a
    key of its own: the name that is already a valid key (else the first) keeps
    it, the others get :func:`suffixed_key`, and one warning names them all.
    Logging a value must never fail a pipeline or silently replace another value.

    Examples:
        >>> distinct_keys(["a|b", "c"])
        {'a|b': 'a_b', 'c': 'c'}
    """
    names = list(names)
    by_key: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        by_key.setdefault(sanitize_key(name), []).append(name)
    keys: dict[str, str] = {}
    clashes: list[str] = []
    for key, group in by_key.items():
        keeper = key if key in group else group[0]
        for name in group:
            keys[name] = key if name == keeper else suffixed_key(key, name)
        if len(group) > 1:
            clashes.append(
                f"{' and '.join(map(repr, group))} (logged as "
                f"{', '.join(repr(keys[name]) for name in group)})"
            )
    if clashes:
        logger.warning(
            "Names that MLflow would store under one key (it allows letters, digits "
            "and _ - . / : and space) are kept apart: %s. Rename one of each to "
            "choose the keys yourself.",
            "; ".join(clashes),
        )
    return {name: keys[name] for name in names}
