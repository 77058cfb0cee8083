"""A param's text checked before it is queued: masked, and cut when it is too long.

A param whose key looks secret is logged as ``*****`` (:func:`masked_param`);
secrets inside the text of the others are masked. A text longer than the run's
``max_param_length`` follows the long-param policy (:func:`shorten_param`): cut
with a warning (``truncate``), cut with the full text kept in a tag or a text
artifact (``tag``), or refused (``fail``).

Examples:
    >>> masked_param("model.depth", "3")
    '3'
    >>> shorten_param("note", "abcdef", 3, "tag")
    ShortenedParam(text='abc', tags={'pipelinex_mlflow.long_param.note': 'abcdef'}, texts={})
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

from pipelinex_mlflow.masking import MASK, get_logger, is_secret_name, mask_secrets
from pipelinex_mlflow.tracking.errors import LongParamError
from pipelinex_mlflow.tracking.keys import (
    MAX_TAG_LENGTH,
    MLFLOW_MAX_PARAM_LENGTH,
    sanitize_key,
)

LongParamPolicy = Literal["truncate", "tag", "fail"]
LONG_PARAM_POLICIES: tuple[str, ...] = get_args(LongParamPolicy)
LONG_PARAM_TAG_PREFIX = "pipelinex_mlflow.long_param."

logger = get_logger(__name__)


def validate_long_param_policy(policy: str, max_param_length: int) -> None:
    """Reject an unknown long-param policy or a non-positive maximum length.

    Raises:
        ValueError: Naming the allowed policies, or the bad length.
    """
    if policy not in LONG_PARAM_POLICIES:
        raise ValueError(
            f"Invalid long_param_policy {policy!r}. Must be one of: "
            f"{', '.join(sorted(LONG_PARAM_POLICIES))}."
        )
    if (
        isinstance(max_param_length, bool)
        or not isinstance(max_param_length, int)
        or max_param_length < 1
    ):
        raise ValueError(
            f"Invalid max_param_length {max_param_length!r}: give a positive integer, "
            f"for example 500 for old MLflow servers or {MLFLOW_MAX_PARAM_LENGTH}."
        )


class ShortenedParam(NamedTuple):
    """A long param's text cut to the limit, and where its full text is kept.

    Attributes:
        text: The text the param gets.
        tags: Tag key -> the full text, or where to find it (policy ``tag``).
        texts: Artifact file -> the full text, when too long for a tag.
    """

    text: str
    tags: dict[str, str]
    texts: dict[str, str]


def shorten_param(
    key: str, text: str, limit: int, policy: LongParamPolicy
) -> ShortenedParam:
    """Apply the long-param ``policy`` to ``text``, longer than ``limit``.

    Args:
        key: The param's MLflow key.
        text: Its text.
        limit: The run's ``max_param_length``.
        policy: ``truncate`` (with a warning), ``tag`` or ``fail``.

    Returns:
        The cut text, and the tags and text artifacts that keep the full one.

    Raises:
        LongParamError: Under the ``fail`` policy, saying the ways out.
    """
    tags: dict[str, str] = {}
    texts: dict[str, str] = {}
    if policy == "fail":
        raise LongParamError(
            f"The value of MLflow param {key!r} has {len(text)} characters, more "
            f"than max_param_length={limit}. Shorten it, raise max_param_length "
            "if your server allows it, or set long_param_policy to 'truncate' or "
            "'tag'."
        )
    if policy == "tag":
        tag_key = sanitize_key(LONG_PARAM_TAG_PREFIX + key)
        if len(text) <= MAX_TAG_LENGTH:
            tags[tag_key] = text
        else:
            artifact = f"long_params/{key}.txt"
            texts[artifact] = text
            tags[tag_key] = f"too long for a tag; see {artifact}"
    else:
        logger.warning(
            "Truncated MLflow param %r from %d to %d characters "
            "(long_param_policy='truncate').",
            key,
            len(text),
            limit,
        )
    return ShortenedParam(text[:limit], tags, texts)


_warned_secret_keys: set[str] = set()


def masked_param(key: str, text: str) -> str:
    """The text MLflow gets for param ``key``: masked whole when the key looks secret.

    Secrets inside the text of other params are masked too. The first time a
    secret-looking key is masked, one warning names it.
    """
    if not is_secret_name(key):
        return mask_secrets(text)
    if text != MASK and key not in _warned_secret_keys:
        # Once per key and process: a run logs the same params again on resume.
        _warned_secret_keys.add(key)
        logger.warning(
            "MLflow param %r looks secret, so MLflow gets %r instead of its value "
            "(loading it back from MLflow returns %r too). Rename it if it is not a "
            "secret; SECURITY.md gives the rule.",
            key,
            MASK,
            MASK,
        )
    return MASK
