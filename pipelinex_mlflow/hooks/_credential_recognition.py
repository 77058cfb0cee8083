"""Recognises credentials files: by their name, their content, or the environment.

A file is a credentials file (:func:`credentials_reason`):

- by its name: :data:`CREDENTIALS_FILE_PATTERNS` (Kedro's ``credentials.yml``,
  ``.env``, ``*.pem``, ``*.p12``...);
- by its content, whatever its name (:data:`CREDENTIALS_CONTENT`): a PEM or
  OpenSSH private key, a GCP service-account key, an AWS credentials file, a
  ``.netrc``, a kube config or a Docker config holding credentials;
- because an environment variable names it (:func:`credentials_paths_from_env`):
  ``GOOGLE_APPLICATION_CREDENTIALS``, ``AWS_SHARED_CREDENTIALS_FILE``,
  ``KUBECONFIG``, ``*_KEY_FILE``, ``*_CREDENTIALS_FILE``..., or any variable whose
  name looks secret (:func:`~pipelinex_mlflow.masking.is_secret_name`) and whose
  value is a file.

What is done with one is :mod:`~pipelinex_mlflow.hooks._credential_files`' job.

Examples:
    >>> is_credentials_file(Path("conf/local/credentials.yml"))
    True
    >>> is_credentials_file(Path("conf/base/parameters.yml"))
    False
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pipelinex_mlflow.masking import is_secret_name

if TYPE_CHECKING:
    from collections.abc import Mapping

#: File names (in any case) that hold credentials by convention.
CREDENTIALS_FILE_PATTERNS: tuple[str, ...] = (
    "credentials*.yml",  # Kedro's conf/<env>/credentials.yml
    "credentials*.yaml",
    "credentials*.json",
    "secrets*.yml",
    "secrets*.yaml",
    "secrets*.json",
    ".env",
    ".env.*",
    ".envrc",
    ".netrc",
    ".pgpass",
    ".git-credentials",
    ".pypirc",
    ".npmrc",
    ".dockercfg",
    "kubeconfig",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.tfvars",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
)


class ContentSign(NamedTuple):
    """How a credentials file is recognised by its text, whatever its name.

    Attributes:
        what: What the file is, for the warning (``"a private key"``).
        pattern: A regular expression its text matches.
        also: A second one it must match too, or ``None``.
    """

    what: str
    pattern: str
    also: str | None = None


#: What a credentials file holds, whatever its name.
CREDENTIALS_CONTENT: tuple[ContentSign, ...] = (
    ContentSign("a private key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
    ContentSign("a PuTTY private key", r"PuTTY-User-Key-File-\d"),
    ContentSign(
        "a GCP service-account key",
        r"\"type\"\s*:\s*\"service_account\"",
        r"\"private_key(?:_id)?\"\s*:",
    ),
    ContentSign(
        "a GCP user credential",
        r"\"type\"\s*:\s*\"authorized_user\"",
        r"\"(?:refresh_token|client_secret)\"\s*:",
    ),
    # INI only: a YAML key of that name is configuration, uploaded masked.
    ContentSign("an AWS credentials file", r"(?im)^\s*aws_secret_access_key\s*="),
    ContentSign(
        "a .netrc",
        r"(?m)^\s*(?:machine\s+\S+|default(?=\s))",
        r"(?m)(?:^|\s)password\s+\S",
    ),
    ContentSign(
        "a kube config with credentials",
        r"(?m)^kind:\s*[\"']?Config\b",
        r"(?m)^\s*-?\s*(?:token|client-key-data|password|id-token)\s*:\s*\S",
    ),
    ContentSign(
        "a Docker config with credentials",
        r"\"auths\"\s*:",
        r"\"auth\"\s*:\s*\"[^\"]",
    ),
)


class _CompiledSign(NamedTuple):
    what: str
    pattern: re.Pattern[str]
    also: re.Pattern[str] | None


_CONTENT = tuple(
    _CompiledSign(
        sign.what,
        re.compile(sign.pattern),
        re.compile(sign.also) if sign.also else None,
    )
    for sign in CREDENTIALS_CONTENT
)
#: Files up to this size are read to recognise credentials (key files are small).
CONTENT_CHECK_MAX_BYTES = 1024 * 1024

#: Environment variables that name a credentials file (or several, ``:``-separated).
CREDENTIALS_PATH_ENV_VARS: tuple[str, ...] = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "KUBECONFIG",
    "NETRC",
    "PGPASSFILE",
    "PGSSLKEY",
    "SSL_KEY",
)
#: ... and so do these, in any case.
CREDENTIALS_PATH_ENV_PATTERNS: tuple[str, ...] = (
    "*_key_file",
    "*_key_path",
    "*_keyfile",
    "*_credentials_file",
    "*_credentials_path",
    "*_credential_file",
    "*_token_file",
    "*_password_file",
    "*_secret_file",
    "*_ssl_key",
)


def is_credentials_file(path: Path) -> bool:
    """Tell whether the file's name matches :data:`CREDENTIALS_FILE_PATTERNS`."""
    name = path.name.lower()
    return any(
        fnmatch.fnmatchcase(name, pattern) for pattern in CREDENTIALS_FILE_PATTERNS
    )


def credentials_content(path: Path) -> str | None:
    """What credentials the file holds by its content (``"a private key"``), or ``None``.

    Files bigger than :data:`CONTENT_CHECK_MAX_BYTES`, and unreadable ones, are
    not read.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     key = Path(folder, "deploy")
        ...     _ = key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----")
        ...     credentials_content(key)
        'a private key'
    """
    try:
        if path.stat().st_size > CONTENT_CHECK_MAX_BYTES:
            return None
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    for sign in _CONTENT:
        if sign.pattern.search(text) and (sign.also is None or sign.also.search(text)):
            return sign.what
    return None


def credentials_paths_from_env(environ: Mapping[str, str]) -> dict[Path, str]:
    """The files environment variables name as credentials, resolved, by variable.

    A variable counts when it is one of :data:`CREDENTIALS_PATH_ENV_VARS`, matches
    :data:`CREDENTIALS_PATH_ENV_PATTERNS`, or has a secret-looking name; its value
    counts when it names an existing file (``KUBECONFIG``-style lists too).

    Examples:
        >>> credentials_paths_from_env({"HOME": "/", "API_TOKEN": "not a file"})
        {}
    """
    found: dict[Path, str] = {}
    for name, value in environ.items():
        lowered = name.lower()
        if not value or not (
            name.upper() in CREDENTIALS_PATH_ENV_VARS
            or any(
                fnmatch.fnmatchcase(lowered, p) for p in CREDENTIALS_PATH_ENV_PATTERNS
            )
            or is_secret_name(name)
        ):
            continue
        for part in {value, *value.split(os.pathsep)}:
            path = _existing_file(part)
            if path is not None:
                found.setdefault(path, name)
    return found


def _existing_file(text: str) -> Path | None:
    if not text.strip() or "\n" in text or len(text) > 4096:  # noqa: PLR2004
        return None
    try:
        path = Path(text.strip()).expanduser()
        return path.resolve() if path.is_file() else None
    except (OSError, ValueError):  # a name too long, a NUL: not a path
        return None


def credentials_reason(path: Path, env_files: Mapping[Path, str]) -> str | None:
    """Why ``path`` is a credentials file, or ``None`` if it is not one.

    Args:
        path: A file.
        env_files: :func:`credentials_paths_from_env` of the environment.
    """
    variable = _variable_naming(path, env_files)
    if variable is not None:
        return f"${variable} names it"
    if is_credentials_file(path):
        return "its name"
    return credentials_content(path)


def _variable_naming(path: Path, env_files: Mapping[Path, str]) -> str | None:
    """The variable naming ``path``, a hard link to its file, or a copy of it."""
    try:
        variable = env_files.get(path.resolve())
        if variable is not None or not env_files:
            return variable
        size = path.stat().st_size
    except OSError:
        return None
    for named, variable in env_files.items():
        try:
            if os.path.samefile(path, named) or (
                0 < size <= CONTENT_CHECK_MAX_BYTES
                and size == named.stat().st_size
                and path.read_bytes() == named.read_bytes()
            ):
                return variable
        except OSError:
            continue
    return None
