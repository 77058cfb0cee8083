"""The list of process state (pipelinex_mlflow.process_state) is the whole truth.

A module global that changes, an environment variable the package sets, an
exit, fork or signal handler: each must be listed with its owner, so that what a
worker or a second session sees is written in one place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipelinex_mlflow.process_state import PROCESS_STATE

PACKAGE = Path(__file__).resolve().parents[1] / "pipelinex_mlflow"
_MUTABLE_CALLS = {"Lock", "RLock", "dict", "set", "list", "defaultdict", "local"}
_HANDLERS = {
    "atexit.register": "atexit",
    "os.register_at_fork": "at-fork",
    "signal.signal": "signals",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_state(tree: ast.Module) -> set[str]:
    """The state a module keeps: changing globals, environ writes, handlers."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if not isinstance(target, ast.Name) or target.id.isupper():
                    continue
                if target.id.startswith("__"):
                    continue
                value = node.value
                call = ast.unparse(value.func) if isinstance(value, ast.Call) else ""
                if isinstance(value, (ast.Dict, ast.List, ast.Set)) or (
                    call.rsplit(".", 1)[-1] in _MUTABLE_CALLS
                ):
                    found.add(target.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found.update(node.names)
        elif isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if called in _HANDLERS:
                found.add(_HANDLERS[called])
            elif called in {"os.environ.pop", "os.environ.setdefault", "os.putenv"}:
                found.add("environ")
        elif isinstance(node, ast.Assign) and any(
            ast.unparse(target).startswith("os.environ[") for target in node.targets
        ):
            found.add("environ")
    return found


def _state_in_the_package() -> dict[str, set[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_vendor" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        state = _module_state(tree)
        if state:
            found[_module_name(path)] = state
    return found


def _listed() -> dict[str, set[str]]:
    listed: dict[str, set[str]] = {}
    for piece in PROCESS_STATE:
        listed.setdefault(piece.module, set()).update(piece.names)
    return listed


def test_every_piece_of_process_state_is_listed() -> None:
    listed = _listed()
    unlisted = {
        module: sorted(names - listed.get(module, set()))
        for module, names in _state_in_the_package().items()
        if names - listed.get(module, set())
    }
    assert not unlisted, (
        f"process state not in pipelinex_mlflow/process_state.py: {unlisted}; "
        "list it there with how a worker gets it"
    )


def test_the_list_names_no_state_that_is_gone() -> None:
    found = _state_in_the_package()
    stale = {
        module: sorted(names - found.get(module, set()))
        for module, names in _listed().items()
        if names - found.get(module, set())
    }
    assert not stale, f"listed in process_state.py but not found: {stale}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("_cache: dict[str, int] = {}\n", {"_cache"}),
        ("import os\ndef f():\n    os.environ['X'] = '1'\n", {"environ"}),
        ("import atexit\natexit.register(print)\n", {"atexit"}),
        ("LIMIT = 3\n_name = 'x'\n", set()),
    ],
)
def test_the_scan_sees_globals_environment_and_handlers(
    source: str, expected: set[str]
) -> None:
    assert _module_state(ast.parse(source)) == expected
