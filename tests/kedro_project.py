"""The skeleton every generated test project shares: pyproject, package, conf folders."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def write_skeleton(folder: Path, package_name: str) -> Path:
    """Write a Kedro 1.7 project's skeleton into ``folder``; return its package folder.

    The package gets an ``__init__.py``; ``conf/base`` and ``conf/local`` are
    created empty.
    """
    package = folder / "src" / package_name
    package.mkdir(parents=True)
    for env in ("base", "local"):
        (folder / "conf" / env).mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [tool.kedro]
            package_name = "{package_name}"
            project_name = "{package_name}"
            kedro_init_version = "1.7.0"
            source_dir = "src"
            """
        )
    )
    (package / "__init__.py").write_text(f'"""The {package_name} test project."""\n')
    return package
