"""MLflow's limits on keys and values, and the one rule that turns any name into a key."""

from __future__ import annotations

import re

from pipelinex_mlflow.tracking.errors import TrackingError

MAX_KEY_LENGTH = 250
MLFLOW_MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000

_INVALID_KEY_CHARS = re.compile(r"[^/\w.\- :]")
_REPEATED_SLASHES = re.compile(r"/{2,}")


def sanitize_key(key: str) -> str:
    """Turn any string into a key MLflow accepts for a param, metric or tag.

    Characters outside MLflow's allowed set (letters, digits, ``_ - . / : space``)
    become ``_``; repeated slashes collapse; leading slashes and ``..`` path parts
    go, and the key is cut to MLflow's 250 characters.

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
    """
    cleaned = _REPEATED_SLASHES.sub("/", _INVALID_KEY_CHARS.sub("_", str(key)))
    parts = [part for part in cleaned.split("/") if part not in ("", ".", "..")]
    cleaned = "/".join(parts).strip()[:MAX_KEY_LENGTH].rstrip("/").strip()
    if not cleaned:
        raise TrackingError(
            f"{key!r} cannot be used as an MLflow key: nothing is left of it after "
            "removing the characters MLflow rejects. Give the dataset or value a name "
            "with letters or digits."
        )
    return cleaned
