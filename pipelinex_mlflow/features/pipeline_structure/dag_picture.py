"""A small SVG picture of a pipeline's DAG, drawn with matplotlib; imports no Kedro or MLflow.

One box per node, in rows by topological layer (the first nodes on top), and an
arrow from each node to each node that reads what it wrote. matplotlib is an
optional dependency (extra ``matplotlib``); without it there is no picture.

Examples:
    >>> svg = dag_svg(
    ...     [["load"], ["train", "report"]], [("load", "train"), ("load", "report")]
    ... )
    >>> svg is None or svg.lstrip().startswith("<?xml")
    True
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Bigger pipelines get no picture: boxes would be unreadable.
MAX_NODES = 150
_LABEL_LENGTH = 28


def dag_svg(
    layers: Sequence[Sequence[str]], edges: Sequence[tuple[str, str]]
) -> str | None:
    """The SVG text, or ``None`` without matplotlib or for more than ``MAX_NODES``."""
    count = sum(len(layer) for layer in layers)
    if count == 0 or count > MAX_NODES:
        return None
    try:
        # A Figure saves without pyplot, so the user's backend is left alone.
        from matplotlib.figure import Figure
    except ImportError:
        return None
    widest = max(len(layer) for layer in layers)
    figure = Figure(figsize=(max(4.0, 2.4 * widest), max(2.0, 1.1 * len(layers))))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    position = {}
    for row, layer in enumerate(layers):
        for column, name in enumerate(layer):
            x = (column + 0.5) / len(layer)
            y = 1 - (row + 0.5) / len(layers)
            position[name] = (x, y)
    for start, end in edges:
        if start in position and end in position:
            axes.annotate(
                "",
                xy=position[end],
                xytext=position[start],
                arrowprops={
                    "arrowstyle": "->",
                    "color": "#888888",
                    "shrinkA": 12,
                    "shrinkB": 12,
                },
            )
    for name, (x, y) in position.items():
        label = name if len(name) <= _LABEL_LENGTH else name[: _LABEL_LENGTH - 1] + "…"
        axes.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "#e8f0fe", "edgecolor": "#4a6fa5"},
        )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    return buffer.getvalue()
