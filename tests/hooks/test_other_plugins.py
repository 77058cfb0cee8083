"""kedro-mlflow's hook found beside ours: read as Kedro reads it, warned of once.

The real ``kedro run`` case is ``tests/conformance/test_kedro_mlflow_installed.py``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from pipelinex_mlflow.core import other_plugins

if TYPE_CHECKING:
    from pathlib import Path


def _install_fake(folder: Path, name: str, group: str) -> None:
    """A distribution ``name`` declaring one entry point of ``group``, on ``folder``."""
    info = folder / f"{name.replace('-', '_')}-2.0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 2.0.3\n"
    )
    (info / "entry_points.txt").write_text(f"[{group}]\nhook = fake_module:hooks\n")


def test_an_installed_hook_entry_point_is_found_by_its_distribution_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake(tmp_path, "kedro-mlflow", "kedro.hooks")
    _install_fake(tmp_path, "kedro-other", "kedro.project_commands")
    monkeypatch.syspath_prepend(str(tmp_path))

    found = other_plugins.plugins_with_hooks()

    assert "kedro-mlflow" in found
    assert "kedro-other" not in found


@pytest.mark.parametrize(
    ("disabled", "warnings"),
    [((), 1), (("kedro-mlflow",), 0), (("kedro_mlflow",), 1)],
    ids=["active", "disabled", "misspelled"],
)
def test_the_warning_is_said_once_with_both_fixes(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    disabled: tuple[str, ...],
    warnings: int,
) -> None:
    monkeypatch.setattr(other_plugins, "_warned", set())
    monkeypatch.setattr(other_plugins, "plugins_with_hooks", lambda: {"kedro-mlflow"})
    monkeypatch.setattr(other_plugins, "disabled_plugins", lambda: disabled)

    with caplog.at_level(logging.WARNING):
        other_plugins.warn_of_other_mlflow_plugins()
        other_plugins.warn_of_other_mlflow_plugins()

    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(said) == warnings, said
    for message in said:
        assert "two MLflow runs" in message
        assert "`pip uninstall kedro-mlflow`" in message
        assert 'DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow",)' in message


def test_the_projects_disabled_plugins_are_kedros_setting() -> None:
    from kedro.framework.project import settings

    expected = tuple(settings.DISABLE_HOOKS_FOR_PLUGINS)
    assert other_plugins.disabled_plugins() == expected
