"""The one rule that hides secrets in any text before it leaves the process.

Everything the package sends to MLflow, writes to its logs or puts in an error goes
through this rule (SECURITY.md lists where). It has three parts:

- **Secret names.** A name (an environment variable, a param key, the key of a
  ``name=value`` pair) looks secret when one of its words (``DB_PASSWORD``:
  ``db``, ``password``; ``accessToken``: ``access``, ``token``) is one of
  :data:`SECRET_WORDS` or ends in one of :data:`SECRET_WORD_ENDINGS`
  (``PGPASSWORD``), when ``key`` follows a word of :data:`KEY_QUALIFIERS`
  (``API_KEY``), when ``token`` is not a language model's count or special token
  (``max_tokens``, ``pad_token_id``), or when it matches a pattern declared with
  :func:`declare_secret_names` or ``PIPELINEX_MLFLOW_SECRET_NAMES``. Its whole
  value is masked.
- **Secrets inside text.** In any text, the password of a URL
  (``scheme://user:password@host``), the value of a ``name=value`` or
  ``name: value`` pair whose name looks secret (``password=...`` in a libpq
  connection string, ``token=`` in a query, ``--params db_password=...``), and
  tokens of a known shape (:data:`TOKEN_PATTERNS`: GitHub ``ghp_``, Slack
  ``xoxb-``, AWS ``AKIA``, OpenAI ``sk-``, JWTs, private key blocks, ...) are
  replaced by :data:`MASK`; so is the signature of a signed URL (the query
  parameters of :data:`SIGNED_URL_PARAMETERS`: Azure SAS ``sig``, S3's
  ``X-Amz-Signature``...), which grants access on its own.
- **Secrets inside data.** :func:`mask_json` masks a JSON-able value (the files
  the package writes: ``time_log.json``, ``pipeline.json``...) and keeps it
  valid: every text through the rule above, and whatever a secret-looking key
  holds (``{"password": "..."}``) masked whole.
- **Log lines.** :func:`get_logger` gives the package's modules loggers whose
  records pass through the rule.

Masking too much is the safe side, but masking changes what a param reads back:
common names of machine-learning parameters (``max_tokens``, ``pad_token``,
``n_passes``, ``session_id``, ``signature``, ``primary_key``) are left alone.

Examples:
    >>> mask_value("MY_API_TOKEN", "abc123")
    '*****'
    >>> mask_value("DATABASE_URL", "postgresql://bob:hunter2@db:5432/app")
    'postgresql://bob:*****@db:5432/app'
    >>> mask_value("HOSTNAME", "worker-1")
    'worker-1'
    >>> mask_secrets("kedro run --params=db_password=hunter2,lr=0.1")
    'kedro run --params=db_password=*****,lr=0.1'
    >>> mask_secrets("host=db user=app password=s3cret")
    'host=db user=app password=*****'
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

MASK = "*****"
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

#: Tokens with a known shape, masked wherever they appear: (what it is, the
#: lower-case texts one of which it always holds, its pattern). A pattern runs only
#: on text holding one of its hints, so long values stay cheap to check.
TOKEN_PATTERNS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    ),
    ("GitHub fine-grained token", ("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    ("GitLab token", ("glpat-",), r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    ("Slack token", ("xox",), r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    (
        "Slack webhook",
        ("hooks.slack.com",),
        r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+",
    ),
    (
        "AWS access key id",
        ("akia", "asia", "abia", "acca"),
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    ),
    ("OpenAI or Anthropic key", ("sk-",), r"\bsk-[A-Za-z0-9_\-]{20,}"),
    ("Stripe key", ("k_live_", "k_test_"), r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("Google API key", ("aiza",), r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("Hugging Face token", ("hf_",), r"\bhf_[A-Za-z0-9]{30,}"),
    ("npm token", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}"),
    ("PyPI token", ("pypi-",), r"\bpypi-[A-Za-z0-9_\-]{50,}"),
    ("Databricks token", ("dapi",), r"\bdapi[0-9a-f]{32}(?:-\d+)?"),
    ("SendGrid key", ("sg.",), r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
    (
        "JSON web token",
        ("eyj",),
        r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[\w\-]*",
    ),
    ("bearer token", ("bearer",), r"\b(?i:bearer)\s+[A-Za-z0-9._~+/\-]{16,}=*"),
    (
        "HTTP authorization",
        ("authorization",),
        r"\b(?i:authorization)[\"']?\s*[:=]\s*[\"']?\S+(?:\s+[^\s\"',;]+)?",
    ),
    (
        "private key",
        ("private key",),
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?"
        r"(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
    ),
)
_TOKENS = tuple((hints, re.compile(pattern)) for _, hints, pattern in TOKEN_PATTERNS)
# One scan tells whether any token pattern needs to run at all.
_ANY_HINT = re.compile(
    "|".join(re.escape(hint) for _, hints, _ in TOKEN_PATTERNS for hint in hints)
)

# scheme://user:password@ keeps the user and masks the password, even a '/' that a
# careless password may hold; scheme://token@ (no colon) masks the whole user part,
# since tokens travel there (masking too much is the safe side).
_URL_CREDENTIALS = re.compile(
    # The look-behind starts a scheme only where a word starts: without it a long
    # run of letters is scanned once per position.
    r"(?<![A-Za-z0-9+.\-])(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)"
    r"(?P<user>[^\s:/@]{0,256})"
    # Bounded, so a text of many schemes is not scanned to its end for each; up
    # to the last '@' before the host, so a password may hold '@' too.
    r"(?::(?P<password>[^\s]{0,256}?))?@(?=[^\s@/?#]*(?:[/?#\s]|$))"
)
#: Query parameters of a signed URL that carry its signature or credential:
#: Azure SAS, S3 presigned (SigV4 and V2), GCS signed URLs, CloudFront signed URLs.
#: Only in a URL's query (after ``?`` or ``&``): as a param's name, ``signature``
#: is a model's signature and is left alone.
SIGNED_URL_PARAMETERS: tuple[str, ...] = (
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
)
_SIGNED_QUERY = re.compile(
    # ';' too: an HTML page writes '&' as '&amp;'.
    r"(?<=[?&;])(?i:"
    + "|".join(re.escape(name) for name in SIGNED_URL_PARAMETERS)
    + r")=(?P<value>[^&#\s\"'<>]*)"
)
# name=value, name: value, "name": "value". Names are found first, without their
# values, so in --params=db_password=x the pair db_password=x is seen and each
# character is scanned once; a value is read only after a secret name.
_PAIR_NAME = re.compile(
    r"""(?<![\w.\-])["']?(?P<name>[A-Za-z_][\w.\-]*)["']?\s*(?:=|:(?!//))\s*"""
)
_PAIR_VALUE = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&'"=)}\]]+""")

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


def mask_url_passwords(value: str) -> str:
    """Mask the credentials of every ``scheme://user:password@host`` in ``value``.

    The password is replaced by :data:`MASK`; a user part without a password
    (``https://token@host``) is masked whole.

    Examples:
        >>> mask_url_passwords("redis://:s3cr3t@cache:6379/0")
        'redis://:*****@cache:6379/0'
        >>> mask_url_passwords("http://127.0.0.1:5000")
        'http://127.0.0.1:5000'
    """
    return _URL_CREDENTIALS.sub(_masked_credentials, value)


def _masked_credentials(match: re.Match[str]) -> str:
    if match.group("password") is None:
        return f"{match.group('scheme')}{MASK}@"
    return f"{match.group('scheme')}{match.group('user')}:{MASK}@"


def has_url_credentials(value: str) -> bool:
    """Tell whether ``value`` holds a URL with a user or password part.

    Examples:
        >>> has_url_credentials("http://a:b@host"), has_url_credentials("http://host")
        (True, False)
    """
    return bool(_URL_CREDENTIALS.search(value))


def mask_secrets(text: str) -> str:
    """Mask URL passwords, secret ``name=value`` pairs and known tokens in ``text``.

    Examples:
        >>> mask_secrets("GITHUB_PAT=ghp_" + "a" * 36)
        'GITHUB_PAT=*****'
        >>> mask_secrets("https://abc123@o1.ingest.sentry.io/1")
        'https://*****@o1.ingest.sentry.io/1'
        >>> mask_secrets("lr=0.1 depth=3")
        'lr=0.1 depth=3'
    """
    if not text:
        return text
    masked = mask_url_passwords(text) if "://" in text else text
    if "=" in masked:
        masked = _SIGNED_QUERY.sub(_masked_signature, masked)
    lowered = masked.lower()
    if _ANY_HINT.search(lowered):
        for hints, pattern in _TOKENS:
            if any(hint in lowered for hint in hints):
                masked = pattern.sub(MASK, masked)
    if "=" not in masked and ":" not in masked:
        return masked
    return _mask_secret_pairs(masked)


def _masked_signature(match: re.Match[str]) -> str:
    start = match.start("value") - match.start()
    return match.group()[:start] + MASK


def _mask_secret_pairs(text: str) -> str:
    spans = []
    for name in _PAIR_NAME.finditer(text):
        if not is_secret_name(name.group("name")):
            continue
        value = _PAIR_VALUE.match(text, name.end())
        if value is not None and value.group() != MASK:
            spans.append(value.span())
    parts, position = [], 0
    for start, end in spans:
        if start >= position:  # a=b=c: one value may hold the next pair's name
            parts += [text[position:start], MASK]
            position = end
    return "".join([*parts, text[position:]])


def mask_value(name: str, value: str) -> str:
    """Return ``value`` safe to log as the value of ``name`` (a variable or a key).

    The whole value is masked when the name looks secret (see
    :func:`is_secret_name`); otherwise the secrets inside it are
    (:func:`mask_secrets`).

    Args:
        name: The environment variable's name, or a param's key.
        value: Its value.

    Returns:
        :data:`MASK`, or ``value`` with the secrets inside it masked.
    """
    if is_secret_name(name):
        return MASK
    return mask_secrets(value)


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


class MaskingFilter(logging.Filter):
    """A logging filter that passes each record's message through :func:`mask_secrets`.

    Examples:
        >>> record = logging.LogRecord(
        ...     "x", logging.INFO, "f.py", 1, "uri %s", ("http://a:pw@h",), None
        ... )
        >>> MaskingFilter().filter(record), record.getMessage()
        (True, 'uri http://a:*****@h')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its masked text; never drop a record."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: leave it to logging
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # In place: handlers such as rich's render the exception object itself.
            scrubbed(record.exc_info[1])
        return True


def scrubbed(error: BaseException) -> BaseException:
    """Mask the secrets in the text of ``error`` and of the errors chained to it, in place.

    For an error about to be shown or chained (``raise ... from scrubbed(exc)``):
    MLflow quotes a failed request's whole URL, password included, and a
    traceback prints every chained error.

    Returns:
        ``error`` itself.

    Examples:
        >>> str(scrubbed(ValueError("GET http://a:pw@h/api failed")))
        'GET http://a:*****@h/api failed'
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(
            mask_secrets(arg) if isinstance(arg, str) else arg for arg in current.args
        )
        message = getattr(current, "message", None)
        if isinstance(message, str):
            with contextlib.suppress(AttributeError):  # a read-only property
                current.message = mask_secrets(message)  # type: ignore[attr-defined]
        current = current.__cause__ or current.__context__
    return error


_FILTER = MaskingFilter()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with :class:`MaskingFilter` on it.

    Every module of the package gets its logger here, so no log line of the
    package carries a secret.

    Examples:
        >>> get_logger("pipelinex_mlflow.example").filters[0].__class__.__name__
        'MaskingFilter'
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
