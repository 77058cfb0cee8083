"""Secrets inside any text: URL passwords, signed URLs, secret pairs, known tokens.

:func:`mask_secrets` is the rule every text passes before it leaves the process;
:func:`mask_value` adds the name rule for a named value.
"""

from __future__ import annotations

import re

from pipelinex_mlflow.masking.names import is_secret_name

MASK = "*****"

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
