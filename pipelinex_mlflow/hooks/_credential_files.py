"""Keeps credentials files out of uploads: Kedro's ``credentials.yml``, ``.env``, keys.

``MLflowArtifactsLoggerHook`` asks :func:`filter_uploads` which of the paths it
resolved may go up. A file matching :data:`CREDENTIALS_FILE_PATTERNS` goes up only
when the user named that very file (no glob, not a folder) *and* set
``allow_credentials_files=True``; a folder holding one goes up as a copy without it.

Examples:
    >>> is_credentials_file(Path("conf/local/credentials.yml"))
    True
    >>> is_credentials_file(Path("conf/base/parameters.yml"))
    False
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

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


def is_credentials_file(path: Path) -> bool:
    """Tell whether the file's name matches :data:`CREDENTIALS_FILE_PATTERNS`."""
    name = path.name.lower()
    return any(
        fnmatch.fnmatchcase(name, pattern) for pattern in CREDENTIALS_FILE_PATTERNS
    )


@dataclass
class Upload:
    """One path to upload, and what must live until it is uploaded.

    Attributes:
        local: The file or folder to upload (a filtered copy of a folder).
        source: The path the user's configuration resolved to.
        keep_alive: The temporary folder of a filtered copy, or ``None``.
    """

    local: Path
    source: Path
    keep_alive: object = None


@dataclass
class FilteredUploads:
    """The uploads allowed, and the credentials files left out."""

    uploads: list[Upload] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def filter_uploads(
    paths: Iterable[Path], explicit_files: set[Path], *, allow_credentials: bool
) -> FilteredUploads:
    """Leave credentials files out of ``paths``, copying folders that hold one.

    Args:
        paths: Resolved files and folders.
        explicit_files: The files the user named exactly (not through a glob or a
            folder); only these may be allowed.
        allow_credentials: The user's opt-in for the explicit ones.

    Returns:
        What to upload, and the credentials files left out.
    """
    result = FilteredUploads()
    for path in paths:
        if path.is_dir():
            _filter_folder(path, result)
        elif not is_credentials_file(path) or (
            allow_credentials and path in explicit_files
        ):
            result.uploads.append(Upload(path, path))
        else:
            result.skipped.append(path)
    return result


def _filter_folder(folder: Path, result: FilteredUploads) -> None:
    denied = [
        Path(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if is_credentials_file(Path(name))
    ]
    if not denied:
        result.uploads.append(Upload(folder, folder))
        return
    result.skipped.extend(sorted(denied))
    # A copy without them, still uploaded in one call under the folder's name.
    staging = tempfile.TemporaryDirectory(prefix="pipelinex_mlflow-upload-")
    copy = Path(staging.name) / folder.name
    shutil.copytree(
        folder,
        copy,
        ignore=lambda _, names: [n for n in names if is_credentials_file(Path(n))],
        symlinks=True,
    )
    result.uploads.append(Upload(copy, folder, keep_alive=staging))
