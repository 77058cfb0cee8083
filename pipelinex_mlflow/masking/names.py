"""The name rule: which names (environment variables, param keys) look secret.

A name looks secret when one of its words is a secret word or ends in one, when
``key`` follows a qualifier (``API_KEY``), when ``token`` is not a language
model's count (``max_tokens``), or when it matches a pattern declared with
:func:`declare_secret_names` or ``PIPELINEX_MLFLOW_SECRET_NAMES``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

#: Comma-separated glob patterns of more names to treat as secret (``my_pin,*_code``).
SECRET_NAMES_ENV_VAR = "PIPELINEX_MLFLOW_SECRET_NAMES"  # noqa: S105 - a name

# A name's words: DB_PASSWORD -> db, password; accessToken -> access, token;
# MyAPIKey -> my, api, key.
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
#: A name holding one of these words (in any case) looks secret.
SECRET_WORDS: frozenset[str] = frozenset(
    {
        "pass", "passwd", "password", "passwords", "passphrase", "pwd", "pw",
        "secret", "secrets", "credential", "credentials", "creds",
        "apikey", "apikeys", "accesskey", "secretkey", "privatekey", "signingkey",
        "cookie", "cookies", "jwt", "bearer", "dsn", "pat", "authorization",
    }
)  # fmt: skip
#: ... or a word ending in one of these (words run together: PGPASSWORD, accesstoken).
SECRET_WORD_ENDINGS: tuple[str, ...] = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
)
#: A word ending in "pass" is one (PGPASS, dbpass), but for these.
_NOT_PASS = frozenset(
    {"compass", "bypass", "overpass", "underpass", "surpass", "trespass", "encompass"}
)
#: ``key``/``keys`` is one after these words: API_KEY, ssh_key, hmac_key, AccountKey.
KEY_QUALIFIERS: frozenset[str] = frozenset(
    {
        "api", "access", "secret", "private", "client", "service", "account",
        "master", "encryption", "signing", "ssh", "license", "licence",
        "subscription", "storage", "admin", "deploy", "gpg", "pgp", "sas",
        "shared", "hmac", "fernet", "aes", "crypto", "auth", "session", "app",
        "consumer", "webhook",
    }
)  # fmt: skip
# token(s) is not one after these (max_tokens, pad_token) nor before these
# (token_type_ids, token_limit): the words of language models.
_TOKEN_COUNT_BEFORE = frozenset(
    {
        "max", "min", "num", "n", "total", "extra", "special", "new", "added",
        "eos", "bos", "pad", "unk", "sep", "cls", "mask", "start", "end", "stop",
        "input", "output", "prompt", "completion",
    }
)  # fmt: skip
_TOKEN_COUNT_AFTER = frozenset(
    {
        "id", "ids", "type", "types", "length", "len", "limit", "limits", "count",
        "counts", "num", "size", "embedding", "embeddings", "budget", "usage",
        "level",
    }
)  # fmt: skip
# One only as the last word: BASIC_AUTH, SLACK_WEBHOOK; not auth_method.
_LAST_WORD_SECRETS = frozenset({"auth", "oauth", "webhook", "sig"})
_SHORTEST_RUN_TOGETHER = 6  # "token" alone is a word; "hftoken" runs two together


def _is_secret_word(words: list[str], index: int) -> bool:
    word = words[index]
    before = words[index - 1] if index else ""
    after = words[index + 1] if index + 1 < len(words) else ""
    if word in ("token", "tokens"):
        return before not in _TOKEN_COUNT_BEFORE and after not in _TOKEN_COUNT_AFTER
    if word in ("key", "keys"):
        return before in KEY_QUALIFIERS
    if word in _LAST_WORD_SECRETS:
        return not after or (word == "webhook" and after == "url")
    if word in SECRET_WORDS:
        return True
    if word.endswith("pass"):
        return word not in _NOT_PASS
    return len(word) >= _SHORTEST_RUN_TOGETHER and word.endswith(SECRET_WORD_ENDINGS)


_KEY_PARTS = re.compile(r"[.:/]+")

_declared_lock = threading.Lock()
_declared: set[str] = set()


def declare_secret_names(patterns: Iterable[str]) -> None:
    """Treat names matching these glob patterns as secret too, in this process and its children.

    Patterns match names in any case (``db_*``, ``*_pin``), whole or as one part
    of a key (``lr`` matches ``params:lr`` and ``___runtime_params.lr``). They are also
    put into ``PIPELINEX_MLFLOW_SECRET_NAMES``, so ParallelRunner's workers and
    other processes started from here apply them.

    Args:
        patterns: Glob patterns of names.

    Raises:
        ValueError: For a pattern that is not a non-empty string.

    Examples:
        >>> declare_secret_names(["*_pin"])
        >>> is_secret_name("card_pin")
        True
        >>> reset_declared_secret_names()
        >>> is_secret_name("card_pin")
        False
    """
    cleaned = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip() or "," in pattern:
            raise ValueError(
                f"Invalid secret name pattern {pattern!r}: give a non-empty glob "
                "pattern without commas, such as 'db_*' or '*_pin'."
            )
        cleaned.append(pattern.strip().lower())
    with _declared_lock:
        _declared.update(cleaned)
        known = set(_env_patterns()) | _declared
        os.environ[SECRET_NAMES_ENV_VAR] = ",".join(sorted(known))


def reset_declared_secret_names() -> None:
    """Forget the names declared in this process and in ``PIPELINEX_MLFLOW_SECRET_NAMES``.

    For tests, and for a long-lived process that goes on to run another project.
    """
    with _declared_lock:
        _declared.clear()
        os.environ.pop(SECRET_NAMES_ENV_VAR, None)


def _env_patterns() -> list[str]:
    text = os.environ.get(SECRET_NAMES_ENV_VAR, "")
    return [part.strip().lower() for part in text.split(",") if part.strip()]


def is_secret_name(name: str) -> bool:
    """Tell whether a name (an environment variable, a param key) looks secret.

    Examples:
        >>> is_secret_name("aws_secret_access_key"), is_secret_name("HOME")
        (True, False)
        >>> is_secret_name("GITHUB_PAT"), is_secret_name("PATH")
        (True, False)
        >>> is_secret_name("max_tokens"), is_secret_name("OPENAI_KEY")
        (False, True)
        >>> is_secret_name("pad_token_id"), is_secret_name("n_passes")
        (False, False)
    """
    words = [word.lower() for word in _WORDS.findall(name)]
    if any(_is_secret_word(words, i) for i in range(len(words))):
        return True
    # An environment variable in capitals ending in KEY (OPENAI_KEY, GPG_KEY) is
    # one; a lower-case param ending in key (join_key, sort_key) usually is not.
    if name.isupper() and words and words[-1] == "key":
        return True
    with _declared_lock:
        declared = _declared | set(_env_patterns())
    if not declared:
        return False
    # A declared pattern names a key, also inside a longer one: "lr" matches
    # "params:lr", "___runtime_params.lr" and "env..LR".
    lowered = name.lower()
    candidates = {lowered, *_KEY_PARTS.split(lowered)}
    return any(
        fnmatch.fnmatchcase(candidate, pattern)
        for candidate in candidates
        for pattern in declared
    )
