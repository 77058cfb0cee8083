"""Another MLflow plugin's hooks active beside ours: kedro-mlflow, said once per process.

kedro-mlflow registers its hook through a ``kedro.hooks`` entry point, so a
project that moved to this package but left kedro-mlflow installed makes **two**
MLflow runs per ``kedro run``, one each, without a word. Kedro registers such a
hook for every installed distribution that declares one, unless the project
names the distribution in ``settings.DISABLE_HOOKS_FOR_PLUGINS``
(``kedro.framework.hooks.manager._register_hooks_entry_points``); this module
asks the same two questions, through public names, when a tracked run starts.
The session's hook manager would say it directly, but no hook is given it.

Examples:
    >>> active_plugins(["kedro-mlflow", "kedro-viz"], disabled=())
    ['kedro-mlflow']
    >>> active_plugins(["kedro-mlflow"], disabled=("kedro-mlflow",))
    []
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import get_logger

if TYPE_CHECKING:
    from collections.abc import Iterable

logger = get_logger(__name__)

#: The entry point group Kedro loads plugin hooks from.
HOOKS_ENTRY_POINT_GROUP = "kedro.hooks"
#: The entry point group Kedro loads plugins' project commands from.
COMMANDS_ENTRY_POINT_GROUP = "kedro.project_commands"
#: The distributions whose hooks make an MLflow run of their own (and whose
#: commands are ``kedro mlflow`` too).
OTHER_MLFLOW_PLUGINS = ("kedro-mlflow",)

# The plugins warned of: once per process.
_warned: set[str] = set()


def active_plugins(installed: Iterable[str], disabled: Iterable[str]) -> list[str]:
    """The other MLflow plugins among ``installed`` whose hooks Kedro registers.

    Args:
        installed: The distributions that declare ``kedro.hooks`` entry points.
        disabled: ``settings.DISABLE_HOOKS_FOR_PLUGINS``: Kedro compares these
            names with the distributions' own, exactly (``kedro_mlflow`` does
            not disable ``kedro-mlflow``), and so does this.

    Returns:
        Their names, in :data:`OTHER_MLFLOW_PLUGINS` order.
    """
    present = set(installed) - set(disabled)
    return [name for name in OTHER_MLFLOW_PLUGINS if name in present]


def plugins_with_hooks() -> set[str]:
    """The installed distributions declaring ``kedro.hooks`` entry points, as Kedro sees them."""
    return plugins_declaring(HOOKS_ENTRY_POINT_GROUP)


def plugins_declaring(group: str) -> set[str]:
    """The installed distributions declaring entry points of ``group``, by their names."""
    return {
        entry_point.dist.metadata["Name"]
        for entry_point in metadata.entry_points(group=group)
        if entry_point.dist is not None
    }


def disabled_plugins() -> tuple[str, ...]:
    """The project's ``settings.DISABLE_HOOKS_FOR_PLUGINS``."""
    from kedro.framework.project import settings

    return tuple(getattr(settings, "DISABLE_HOOKS_FOR_PLUGINS", ()) or ())


def warn_of_other_mlflow_plugins() -> None:
    """Warn, the first time in this process, that kedro-mlflow's hook is active too.

    Until then, each call checks again (a few milliseconds: Kedro's own
    session start reads the same entry points): a later session may have other
    settings. One warning says it all.
    """
    if _warned:
        return
    for name in active_plugins(plugins_with_hooks(), disabled_plugins()):
        _warned.add(name)
        logger.warning(
            "%s is installed and its hook is active: each kedro run makes two "
            "MLflow runs, one by %s and one by pipelinex_mlflow. Keep one: "
            "uninstall it (`pip uninstall %s`), or add "
            'DISABLE_HOOKS_FOR_PLUGINS = ("%s",) to settings.py.',
            name,
            name,
            name,
            name,
        )
