"""The text of a value: what MLflow stores for a param, and what messages show.

Examples:
    >>> param_text({"b", "a"}), short_repr("x" * 100, limit=10)
    ("{'a', 'b'}", "'xxxxxx...")
"""

from __future__ import annotations

import re
from typing import Any


def param_text(value: Any) -> str:
    """The text MLflow stores for a param or tag value; sets in a stable order.

    Examples:
        >>> param_text({"b", "a"}), param_text(3)
        ("{'a', 'b'}", '3')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (set, frozenset)):
        # Sets have no stable order; sort their text so reruns log the same value.
        return "{" + ", ".join(sorted(repr(v) for v in value)) + "}"
    return str(value)


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for error messages.

    Examples:
        >>> short_repr("x" * 100, limit=10)
        "'xxxxxx..."
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SURROGATES = re.compile("[\ud800-\udfff]")


def valid_utf8(text: str) -> str:
    r"""``text`` with each lone surrogate (not valid UTF-8) replaced by U+FFFD.

    Examples:
        >>> valid_utf8("caf\udce9") == "caf\ufffd"
        True
    """
    if text.isascii():
        return text  # the common case, without a regex
    return _SURROGATES.sub("\ufffd", text)
