"""PipelineX's ``dump_dict`` and ``load_dict``: a dict in a JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping


def dump_dict(filepath: str | os.PathLike[str], d: Mapping[str, Any]) -> None:
    """Write ``d`` to ``filepath`` as JSON."""
    Path(filepath).write_text(json.dumps(dict(d)))


def load_dict(filepath: str | os.PathLike[str]) -> Any:
    """Read the JSON in ``filepath``."""
    return json.loads(Path(filepath).read_text())
