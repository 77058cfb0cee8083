"""The package's shape: small modules, classes and functions, and where the rest stands.

A module of at most 400 lines, a class of at most 300, a function of at most 60
lines of code (docstrings, comments and blank lines not counted): past that, a
module holds more than one job, and a newcomer cannot read it at once.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pipelinex_mlflow"

MODULE_LINES = 400
CLASS_LINES = 300
FUNCTION_CODE_LINES = 60


def _code_lines(source: str, node: ast.AST) -> int:
    """Lines of ``node`` holding code: not blank, not a comment, not its docstring."""
    start, end = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
    docstring_lines: set[int] = set()
    body = getattr(node, "body", [])
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        docstring_lines = set(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    code: set[int] = set()
    lines = source.splitlines(keepends=True)[start - 1 : end]
    tokens = tokenize.generate_tokens(io.StringIO("".join(lines)).readline)
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT}
    skipped |= {tokenize.DEDENT, tokenize.ENDMARKER}
    try:
        for token in tokens:
            if token.type not in skipped:
                code.update(range(token.start[0] + start - 1, token.end[0] + start))
    except (tokenize.TokenError, IndentationError):
        return end - start + 1
    return len(code - docstring_lines)


def measured_sizes() -> dict[str, int]:
    """Every module, class and function of the package over its limit, and its size."""
    found: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE.parent).as_posix()
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > MODULE_LINES:
            found[name] = lines
        for qualname, node in _definitions(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > CLASS_LINES:
                    found[f"{name}::{qualname}"] = size
            else:
                size = _code_lines(source, node)
                if size > FUNCTION_CODE_LINES:
                    found[f"{name}::{qualname}"] = size
    return found


def _definitions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.AST]]:
    found: list[tuple[str, ast.AST]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            qualname = f"{prefix}{node.name}"
            found.append((qualname, node))
            found.extend(_definitions(node, f"{qualname}."))
    return found


def test_nothing_is_over_the_limits() -> None:
    over = measured_sizes()
    assert not over, (
        f"over the limits (module {MODULE_LINES} lines, class {CLASS_LINES}, "
        f"function {FUNCTION_CODE_LINES} lines of code): {over}; split them by job"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('def f():\n    """Doc.\n\n    More."""\n    # why\n\n    return 1\n', 2),
        ("def f(\n    a,\n    b,\n):\n    return (a,\n            b)\n", 6),
    ],
)
def test_code_lines_leave_out_docstrings_comments_and_blanks(
    source: str, expected: int
) -> None:
    function = ast.parse(source).body[0]
    assert _code_lines(source, function) == expected
