"""Hides secrets before they are logged: secret-looking variables and URL credentials.

Examples:
    >>> mask_value("MY_API_TOKEN", "abc123")
    '*****'
    >>> mask_value("DATABASE_URL", "postgresql://bob:hunter2@db:5432/app")
    'postgresql://bob:*****@db:5432/app'
    >>> mask_value("HOSTNAME", "worker-1")
    'worker-1'
    >>> mask_url_passwords("https://ghp_token@github.com/org/repo")
    'https://*****@github.com/org/repo'
"""

from __future__ import annotations

import re

MASK = "*****"

#: A variable whose name contains one of these (in any case) has its value masked.
SECRET_NAME_PARTS: tuple[str, ...] = (
    "AUTH",
    "CERT",
    "COOKIE",
    "CREDENTIAL",
    "KEY",
    "PASSWD",
    "PASSWORD",
    "PRIVATE",
    "PWD",
    "SECRET",
    "SESSION",
    "SIGNATURE",
    "TOKEN",
)

# scheme://user:password@ keeps the user and masks the password, even a '/' that a
# careless password may hold; scheme://token@ (no colon) masks the whole user part,
# since tokens travel there (masking too much is the safe side).
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s:/@]*)"
    r"(?::(?P<password>[^\s@]*))?@"
)


def is_secret_name(name: str) -> bool:
    """Tell whether an environment variable's name suggests that it holds a secret.

    Examples:
        >>> is_secret_name("aws_secret_access_key"), is_secret_name("HOME")
        (True, False)
    """
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


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


def mask_value(name: str, value: str) -> str:
    """Return ``value`` safe to log as the value of variable ``name``.

    The whole value is masked when the name looks secret (see
    :data:`SECRET_NAME_PARTS`); otherwise only passwords inside URLs are.

    Args:
        name: The environment variable's name.
        value: Its value.

    Returns:
        :data:`MASK`, or ``value`` with URL passwords masked.
    """
    if is_secret_name(name):
        return MASK
    return mask_url_passwords(value)
