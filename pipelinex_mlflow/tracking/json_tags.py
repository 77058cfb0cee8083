"""Many small JSON entries kept in one run tag per process, not one tag per entry.

A run's dataset layouts (see :mod:`pipelinex_mlflow.io.value_codec`) are such
entries. Each process's sender merges the entries it is given for a run into
``<base>.<process>`` and sends the whole object each time it changes, so the tag
only ever grows and two threads cannot undo each other (the sender takes them
under one lock, and a newer value of a tag wins over an older one still queued).
Processes get their own tag (a ParallelRunner worker, an orchestrated step on
another machine), so none overwrites another's. An object that would pass
MLflow's 8000 characters goes on in ``<base>.<process>.2`` and so on. Entries
pass the masking rule as data (:func:`~pipelinex_mlflow.masking.mask_json`), so
the tag stays valid JSON.

Examples:
    >>> pages = JsonTagPages("app.layouts", "p1")
    >>> pages.merge({"a": {"code": "m"}})
    {'app.layouts.p1': '{"a":{"code":"m"}}'}
    >>> read_json_tags(
    ...     {"app.layouts.p1": '{"a": 1}', "app.layouts.p2": '{"b": 2}'}, "app.layouts"
    ... )
    {'a': 1, 'b': 2}
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from typing import TYPE_CHECKING, Any

from pipelinex_mlflow.masking import mask_json, mask_secrets
from pipelinex_mlflow.tracking.keys import MAX_TAG_LENGTH

if TYPE_CHECKING:
    from collections.abc import Mapping


def process_suffix() -> str:
    """A short name for this process, the same on every call, unique across hosts."""
    digest = hashlib.sha1(
        f"{socket.gethostname()}:{os.getpid()}".encode(), usedforsecurity=False
    )
    return "p" + digest.hexdigest()[:8]


def _text(entries: Mapping[str, Any]) -> str:
    return json.dumps(entries, separators=(",", ":"), sort_keys=True)


class JsonTagPages:
    """The entries one process gave a run under ``base``, split into tags that fit.

    Args:
        base: The tag key every page's key starts with.
        process: This process's part of the key (:func:`process_suffix`).
    """

    def __init__(self, base: str, process: str) -> None:
        self._base = f"{base}.{process}"
        self._pages: list[dict[str, Any]] = []

    def _key(self, index: int) -> str:
        return self._base if index == 0 else f"{self._base}.{index + 1}"

    def merge(self, entries: Mapping[str, Any]) -> dict[str, str]:
        """Add or replace ``entries``; return the tags (key -> JSON text) that changed.

        An entry too long for a tag of its own is left out (the caller logs
        nothing it needs: the value itself is logged apart).
        """
        changed: set[int] = set()
        for given_name, given_value in entries.items():
            name, value = mask_secrets(given_name), mask_json(given_value)
            alone = _text({name: value})
            if len(alone) > MAX_TAG_LENGTH:
                continue
            index = next(
                (i for i, page in enumerate(self._pages) if name in page), None
            )
            if index is not None:
                self._pages[index][name] = value
                if len(_text(self._pages[index])) <= MAX_TAG_LENGTH:
                    changed.add(index)
                    continue
                del self._pages[index][name]
                changed.add(index)
            index = self._page_with_room(name, value)
            self._pages[index][name] = value
            changed.add(index)
        return {self._key(i): _text(self._pages[i]) for i in sorted(changed)}

    def _page_with_room(self, name: str, value: Any) -> int:
        if (
            self._pages
            and len(_text({**self._pages[-1], name: value})) <= MAX_TAG_LENGTH
        ):
            return len(self._pages) - 1
        self._pages.append({})
        return len(self._pages) - 1


def read_json_tags(tags: Mapping[str, str], base: str) -> dict[str, Any]:
    """Every entry of every ``<base>.*`` tag (unreadable tags are skipped)."""
    entries: dict[str, Any] = {}
    prefix = base + "."
    for key in sorted(tags):
        if not key.startswith(prefix):
            continue
        try:
            found = json.loads(tags[key])
        except ValueError:
            continue
        if isinstance(found, dict):
            entries.update(found)
    return entries
