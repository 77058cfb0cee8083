"""Secrets inside data: a JSON-able value masked and kept valid JSON."""

from __future__ import annotations

from typing import Any

from pipelinex_mlflow.masking.names import is_secret_name
from pipelinex_mlflow.masking.text import MASK, mask_secrets


def mask_json(value: Any) -> Any:
    """A copy of a JSON-able ``value`` with its secrets masked, still JSON-able.

    For the files the package writes (``time_log.json``, ``pipeline.json``, the
    trace's attributes): every text, keys included, passes :func:`mask_secrets`,
    and the text or number a secret-looking key holds is masked whole. Masking
    the data rather than its JSON text keeps the file valid JSON. Tuples become
    lists; other values (numbers, ``None``) are kept.

    Examples:
        >>> mask_json({"error": "OperationalError: postgresql://u:pw@h/db", "n": 2})
        {'error': 'OperationalError: postgresql://u:*****@h/db', 'n': 2}
        >>> mask_json({"db": {"password": "pw", "port": 5432}, "tags": ("a",)})
        {'db': {'password': '*****', 'port': 5432}, 'tags': ['a']}
    """
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {
            mask_secrets(key) if isinstance(key, str) else key: (
                _masked_whole(item)
                if isinstance(key, str) and is_secret_name(key)
                else mask_json(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [mask_json(item) for item in value]
    return value


def _masked_whole(value: Any) -> Any:
    """What a secret-looking key holds: texts and numbers masked, lists item by item.

    A dict under it is a record named by it (a dataset called ``api_token``), not
    its value: it is masked field by field.
    """
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return MASK
    if isinstance(value, (list, tuple)):
        return [_masked_whole(item) for item in value]
    return mask_json(value)
