"""Hides the values of secret-looking environment variables before they are logged.

Examples:
    >>> mask_value("MY_API_TOKEN", "abc123")
    '*****'
    >>> mask_value("DATABASE_URL", "postgresql://bob:hunter2@db:5432/app")
    'postgresql://bob:*****@db:5432/app'
    >>> mask_value("HOSTNAME", "worker-1")
    'worker-1'
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

# scheme://user:password@ : everything between the ':' and the next '@' is masked,
# even a '/' that a careless password may hold (masking too much is the safe side).
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<password>[^\s@]*)@"
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
    """Replace the password of every ``scheme://user:password@host`` in ``value``.

    Examples:
        >>> mask_url_passwords("redis://:s3cr3t@cache:6379/0")
        'redis://:*****@cache:6379/0'
    """
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", value)


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
