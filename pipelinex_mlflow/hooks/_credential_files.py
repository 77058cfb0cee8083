"""Keeps credentials files out of uploads, and the secrets of uploaded configuration.

``MLflowArtifactsLoggerHook`` asks :func:`filter_uploads` which of the paths it
resolved may go up. Which files are credentials files, and why, is
:mod:`~pipelinex_mlflow.hooks._credential_recognition`'s job (by name, by content,
or named by an environment variable).

One recognised by its name or content goes up only when the user named that very
file (no glob, not a folder) *and* set ``allow_credentials_files=True``; one an
environment variable names never does. A folder holding one goes up as a copy
without it. With ``mask_config_files``, a configuration file (YAML, JSON, TOML,
INI...) holding a secret the masking rule finds goes up as a masked copy.

Examples:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     secrets = Path(folder, "credentials.yml")
    ...     _ = secrets.write_text("token: abc")
    ...     left_out = filter_uploads(
    ...         [secrets], set(), allow_credentials=False, environ={}
    ...     )
    ...     left_out.skipped_with_reasons(lambda path: path.name)
    'credentials.yml (its name)'
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipelinex_mlflow.hooks._credential_recognition import (
    CONTENT_CHECK_MAX_BYTES,
    credentials_content,
    credentials_paths_from_env,
    credentials_reason,
)
from pipelinex_mlflow.masking import mask_secrets

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "CONFIG_FILE_SUFFIXES",
    "FilteredUploads",
    "Upload",
    # Re-exported: recognising one is _credential_recognition's job.
    "credentials_content",
    "filter_uploads",
]

#: The configuration files that ``mask_config_files`` uploads masked.
CONFIG_FILE_SUFFIXES: frozenset[str] = frozenset(
    {".yml", ".yaml", ".json", ".toml", ".ini", ".cfg", ".conf", ".properties"}
)


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
