"""Whether a relative name stays inside the folder it is put in.

One rule for every name that becomes a path: a dataset's name and
``artifact_path``, a spool file's member names and the artifact paths its records
name. Each is joined to a folder (a temporary folder, the run's artifacts, a
replay's extraction folder), so none may be absolute, name a drive, hold a ``..``
part, or a backslash (a folder separator on Windows, and on MLflow's servers).

Examples:
    >>> containment_problem("reports/summary") is None
    True
    >>> containment_problem("../../tmp/x")
    "it holds a '..' part"
    >>> containment_problem("C:/x")
    'it is an absolute path'
"""

from __future__ import annotations

import re

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def containment_problem(name: str) -> str | None:
    """What makes ``name`` leave the folder it is joined to, or ``None``.

    Args:
        name: A relative name with ``/`` between folders.

    Returns:
        One short clause (``"it holds a backslash"``, say) for a message, or
        ``None`` when ``name`` stays inside.
    """
    if name.startswith(("/", "~")) or _WINDOWS_DRIVE.match(name):
        return "it is an absolute path"
    if "\\" in name:
        return "it holds a backslash"
    if ".." in name.split("/"):
        return "it holds a '..' part"
    if "\0" in name:
        return "it holds a NUL character"
    if not name.strip("/ "):
        return "it is empty"
    return None
