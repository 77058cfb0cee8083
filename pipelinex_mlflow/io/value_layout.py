"""The *layout* of a value saved with codes ``p``, ``m``, ``a``: the shape to rebuild.

A layout records what one save looked like, so loading can rebuild it: a
scalar (``{"code": "m", "shape": "metric", "type": "float"}``), a metric history,
or a nested dict whose leaves remember their path, MLflow key, kind and Python
type. The layouts of a run's datasets share one JSON tag per process,
``pipelinex_mlflow.layouts.<process>``
(:mod:`pipelinex_mlflow.tracking.json_tags`); runs of earlier versions kept one
``pipelinex_mlflow.layout.<name>`` tag per dataset, which still load.

Examples:
    >>> leaf = LayoutLeaf(["cfg", "depth"], "run.cfg.depth", "metric", "int")
    >>> leaf.to_json()
    [['cfg', 'depth'], 'run.cfg.depth', 'metric', 'int']
    >>> LayoutLeaf.from_json(leaf.to_json()) == leaf
    True
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

from pipelinex_mlflow.tracking import read_json_tags, sanitize_key

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The base key of the tags holding the layouts of a run's datasets.
LAYOUTS_TAG = "pipelinex_mlflow.layouts"
#: Earlier versions' tag per dataset, read when loading their runs.
LAYOUT_TAG_PREFIX = "pipelinex_mlflow.layout."


class LayoutLeaf(NamedTuple):
    """One leaf of a saved dict: where it sits, its key, kind and Python type.

    In the tag a leaf is a JSON list, in this order, as earlier versions wrote it.
    """

    path: list[str]
    key: str
    kind: str
    type_name: str

    @classmethod
    def from_json(cls, item: list[Any]) -> LayoutLeaf:
        """The leaf a layout tag holds as ``[path, key, kind, type name]``."""
        path, key, kind, type_name = item
        return cls(list(path), key, kind, type_name)

    def to_json(self) -> list[Any]:
        """The leaf as the layout tag holds it."""
        return [self.path, self.key, self.kind, self.type_name]


def tree_leaves(layout: Mapping[str, Any]) -> list[LayoutLeaf]:
    """The leaves of a ``tree`` layout."""
    return [LayoutLeaf.from_json(item) for item in layout["leaves"]]


def renamed(layout: dict[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """``layout`` with each param key replaced by the key it was queued under.

    Examples:
        >>> renamed({"code": "p", "shape": "param"}, {"lr": "lr.1"})
        {'code': 'p', 'shape': 'param', 'key': 'lr.1'}
    """
    if all(key == queued for key, queued in keys.items()):
        return layout
    if layout["shape"] != "tree":
        return {**layout, "key": next(iter(keys.values()))}
    leaves = [
        leaf._replace(key=keys.get(leaf.key, leaf.key)).to_json()
        if leaf.kind == "param"
        else leaf.to_json()
        for leaf in tree_leaves(layout)
    ]
    return {**layout, "leaves": leaves}


def layout_tag_key(name: str) -> str:
    """Return the tag key of an earlier version's layout of ``name``."""
    return sanitize_key(LAYOUT_TAG_PREFIX + name)


def saved_layout(tags: Mapping[str, str], name: str) -> dict[str, Any] | None:
    """The layout of the value saved under ``name``, from a run's tags, if any."""
    layout = read_json_tags(tags, LAYOUTS_TAG).get(name)
    if isinstance(layout, dict):
        return layout
    text = tags.get(layout_tag_key(name))
    return json.loads(text) if text else None
