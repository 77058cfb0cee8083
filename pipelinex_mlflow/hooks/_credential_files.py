"""Keeps credentials files out of uploads, and the secrets of uploaded configuration.

``MLflowArtifactsLoggerHook`` asks :func:`filter_uploads` which of the paths it
resolved may go up. A file is a credentials file (:func:`credentials_reason`):

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

One recognised by its name or content goes up only when the user named that very
file (no glob, not a folder) *and* set ``allow_credentials_files=True``; one an
environment variable names never does. A folder holding one goes up as a copy
without it. With ``mask_config_files``, a configuration file (YAML, JSON, TOML,
INI...) holding a secret the masking rule finds goes up as a masked copy.

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
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import is_secret_name, mask_secrets

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

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


#: What a credentials file holds, whatever its name: (what it is, a pattern of
#: its text, a second pattern it must match too, or ``None``).
CREDENTIALS_CONTENT: tuple[tuple[str, str, str | None], ...] = (
    ("a private key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----", None),
    ("a PuTTY private key", r"PuTTY-User-Key-File-\d", None),
    (
        "a GCP service-account key",
        r"\"type\"\s*:\s*\"service_account\"",
        r"\"private_key(?:_id)?\"\s*:",
    ),
    (
        "a GCP user credential",
        r"\"type\"\s*:\s*\"authorized_user\"",
        r"\"(?:refresh_token|client_secret)\"\s*:",
    ),
    # INI only: a YAML key of that name is configuration, uploaded masked.
    ("an AWS credentials file", r"(?im)^\s*aws_secret_access_key\s*=", None),
    (
        "a .netrc",
        r"(?m)^\s*(?:machine\s+\S+|default(?=\s))",
        r"(?m)(?:^|\s)password\s+\S",
    ),
    (
        "a kube config with credentials",
        r"(?m)^kind:\s*[\"']?Config\b",
        r"(?m)^\s*-?\s*(?:token|client-key-data|password|id-token)\s*:\s*\S",
    ),
    ("a Docker config with credentials", r"\"auths\"\s*:", r"\"auth\"\s*:\s*\"[^\"]"),
)
_CONTENT = tuple(
    (what, re.compile(first), re.compile(second) if second else None)
    for what, first, second in CREDENTIALS_CONTENT
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

#: The configuration files that ``mask_config_files`` uploads masked.
CONFIG_FILE_SUFFIXES: frozenset[str] = frozenset(
    {".yml", ".yaml", ".json", ".toml", ".ini", ".cfg", ".conf", ".properties"}
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
    for what, first, second in _CONTENT:
        if first.search(text) and (second is None or second.search(text)):
            return what
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


@dataclass
class Upload:
    """One path to upload, and what must live until it is uploaded.

    Attributes:
        local: The file or folder to upload (a filtered or masked copy, or itself).
        source: The path the user's configuration resolved to.
        keep_alive: The temporary folder of a copy, or ``None``.
    """

    local: Path
    source: Path
    keep_alive: object = None


@dataclass
class FilteredUploads:
    """The uploads allowed, the credentials files left out and the files masked.

    Attributes:
        uploads: What to upload.
        skipped: The credentials files left out.
        reasons: Why each skipped file is a credentials file (``"its name"``,
            ``"a private key"``, ``"$GOOGLE_APPLICATION_CREDENTIALS names it"``).
        masked: The configuration files uploaded as masked copies.
    """

    uploads: list[Upload] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    reasons: dict[Path, str] = field(default_factory=dict)
    masked: list[Path] = field(default_factory=list)

    def skipped_with_reasons(self, shown: Callable[[Path], str] = str) -> str:
        """The files left out, each with why, for a warning: paths, never content.

        Examples:
            >>> left_out = FilteredUploads(skipped=[Path("gcp.json")])
            >>> left_out.reasons[Path("gcp.json")] = "a service-account key"
            >>> left_out.skipped_with_reasons()
            'gcp.json (a service-account key)'
        """
        return ", ".join(
            f"{shown(path)} ({self.reasons.get(path, 'its name')})"
            for path in self.skipped
        )


def filter_uploads(
    paths: Iterable[Path],
    explicit_files: set[Path],
    *,
    allow_credentials: bool,
    mask_config_files: bool = False,
    environ: Mapping[str, str] | None = None,
) -> FilteredUploads:
    """Leave credentials files out of ``paths``, copying folders that hold one.

    Args:
        paths: Resolved files and folders.
        explicit_files: The files the user named exactly (not through a glob or a
            folder); only these may be allowed.
        allow_credentials: The user's opt-in for the explicit ones (never for a
            file an environment variable names as credentials).
        mask_config_files: Upload configuration files (:data:`CONFIG_FILE_SUFFIXES`)
            holding a secret as copies masked by the masking rule.
        environ: The environment naming credentials files; ``os.environ`` if
            ``None``.

    Returns:
        What to upload, and the credentials files left out.
    """
    env_files = credentials_paths_from_env(os.environ if environ is None else environ)
    result = FilteredUploads()
    for path in paths:
        if path.is_dir():
            _filter_folder(path, result, env_files, mask_config_files=mask_config_files)
            continue
        reason = credentials_reason(path, env_files)
        allowed = (
            allow_credentials
            and path in explicit_files
            and reason is not None
            and not reason.startswith("$")
        )
        masked = None if reason or not mask_config_files else _masked_text(path)
        if reason is not None and not allowed:
            result.skipped.append(path)
            result.reasons[path] = reason
        elif masked is not None:
            staging = tempfile.TemporaryDirectory(prefix="pipelinex_mlflow-upload-")
            copy = Path(staging.name) / path.name
            copy.write_text(masked, encoding="utf-8")
            result.masked.append(path)
            result.uploads.append(Upload(copy, path, keep_alive=staging))
        else:
            result.uploads.append(Upload(path, path))
    return result


def _masked_text(path: Path) -> str | None:
    """The masked text of a configuration file that holds a secret, else ``None``."""
    if path.suffix.lower() not in CONFIG_FILE_SUFFIXES:
        return None
    try:
        if path.stat().st_size > CONTENT_CHECK_MAX_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    masked = mask_secrets(text)
    return None if masked == text else masked


def _filter_folder(
    folder: Path,
    result: FilteredUploads,
    env_files: Mapping[Path, str],
    *,
    mask_config_files: bool,
) -> None:
    denied: dict[Path, str] = {}
    masked: dict[Path, str] = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            reason = credentials_reason(path, env_files)
            if reason is not None:
                denied[path] = reason
            elif mask_config_files:
                text = _masked_text(path)
                if text is not None:
                    masked[path] = text
    if not denied and not masked:
        result.uploads.append(Upload(folder, folder))
        return
    result.skipped.extend(sorted(denied))
    result.reasons.update(denied)
    result.masked.extend(sorted(masked))
    # A copy without them (and with masked configuration), still uploaded in one
    # call under the folder's name.
    staging = tempfile.TemporaryDirectory(prefix="pipelinex_mlflow-upload-")
    copy = Path(staging.name) / folder.name
    shutil.copytree(
        folder,
        copy,
        ignore=lambda root, names: [n for n in names if Path(root, n) in denied],
        symlinks=True,
    )
    for path, text in masked.items():
        target = copy / path.relative_to(folder)
        # A symlink in the copy still points at the user's file: replace the link.
        target.unlink()
        target.write_text(text, encoding="utf-8")
    result.uploads.append(Upload(copy, folder, keep_alive=staging))
