"""Turns values into MLflow params and metrics (codes ``p``, ``m``, ``a``) and back.

Saving also writes a small *layout* recording the shape of what was saved, so
loading can rebuild the same structure (:mod:`~pipelinex_mlflow.io.value_layout`).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from kedro.io import DatasetError

from pipelinex_mlflow.io.value_layout import (
    LAYOUTS_TAG,
    LayoutLeaf,
    renamed,
    saved_layout,
    tree_leaves,
)
from pipelinex_mlflow.masking import get_logger, mask_url_passwords
from pipelinex_mlflow.tracking import (
    STRICT,
    RunData,
    RunLogger,
    RunRef,
    UnloggableValueError,
    classify,
    current_run,
    distinct_keys,
    flat_leaves,
    get_metric_history,
    get_run_data,
    is_number,
    sanitize_key,
    short_repr,
)
from pipelinex_mlflow.tracking.values import fits_a_float

ValueCode = Literal["p", "m", "a"]

logger = get_logger(__name__)
# Types that ast.literal_eval rebuilds from their str() for dataset code "a"; an
# int is a param only when a float64 metric could not hold it exactly.
_LITERAL_TYPES = {"list", "tuple", "set", "frozenset", "bool", "NoneType", "int"}
# The names str() gives non-finite floats, which ast.literal_eval does not know.
_NON_FINITE_NAMES = {"nan": math.nan, "inf": math.inf}
# Metric keys already warned about rounding, once per key and run (a history saved
# at every epoch is one finding); the next run of a notebook is warned again.
_warned_rounded_keys: set[tuple[str | None, str]] = set()


@dataclass
class Encoded:
    """What one save sends to MLflow."""

    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    histories: dict[str, list[float]] = field(default_factory=dict)
    layout: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics_count(self) -> int:
        """How many metrics and metric histories it holds."""
        return len(self.metrics) + len(self.histories)

    def queue(
        self, run_logger: RunLogger, name: str, *, model_ids: Sequence[str] = ()
    ) -> None:
        """Queue everything, and the layout of ``name``, on ``run_logger``.

        Metrics are linked to the logged models ``model_ids``. A param the run
        already holds with another value is queued under a key of its own, which
        the layout records, so loading still finds it.
        """
        queued = run_logger.log_params(self.params)
        run_logger.log_metrics(self.metrics, model_ids=model_ids)
        for key, values in self.histories.items():
            run_logger.log_metric_history(key, values, model_ids=model_ids)
        run_logger.add_json_tag_entry(LAYOUTS_TAG, name, renamed(self.layout, queued))


def encode(code: ValueCode, name: str, data: Any, sep: str) -> Encoded:
    """Split ``data`` into params, metrics and metric histories for code ``code``.

    Raises:
        DatasetError: When ``data`` cannot be logged under ``code``, saying why and
            which code would take it.
    """
    encoded = Encoded()
    if isinstance(data, Mapping):
        leaves = []
        flat = flat_leaves(data, sep, name)
        keys = distinct_keys(leaf.key for leaf in flat)
        for leaf in flat:
            key = keys[leaf.key]
            classified = _classify(code, key, leaf.value)
            _put(encoded, key, classified)
            type_name = type(classified.value).__name__
            path = list(leaf.path[1:])
            leaves.append(LayoutLeaf(path, key, classified.kind, type_name).to_json())
        encoded.layout = {"code": code, "shape": "tree", "leaves": leaves}
        return encoded
    key = sanitize_key(name)
    classified = _classify(code, key, data)
    _put(encoded, key, classified)
    type_name = type(classified.value).__name__
    encoded.layout = {"code": code, "shape": classified.kind, "type": type_name}
    return encoded


class ValueEncoding(NamedTuple):
    """What one value is logged as (``param``, ``metric``, ``history``), and the value to log."""

    kind: str
    value: Any


def _classify(code: ValueCode, key: str, value: Any) -> ValueEncoding:
    """The kind of one value under ``code``, and the value to log."""
    if code == "p":
        return ValueEncoding("param", value)
    if code == "m":
        if is_number(value):
            return ValueEncoding("metric", _metric_numbers(key, [value])[0])
        if _is_number_sequence(value):
            values = value.tolist() if hasattr(value, "tolist") else value
            return ValueEncoding("history", _metric_numbers(key, values))
        raise DatasetError(
            f"MLflowDataSet(dataset='m') can log numbers, sequences of numbers and "
            f"dicts of them, but {key!r} is {type(value).__name__} "
            f"{short_repr(value, 60)}. Use dataset='p' for text, or dataset='a' to "
            "choose by type."
        )
    try:
        classified = classify(value, STRICT)
    except UnloggableValueError as exc:
        raise DatasetError(
            f"MLflowDataSet(dataset='a') logs numbers as metrics and str, list, "
            f"tuple, set, bool or None (and containers of them) as params, but {key!r} "
            f"is {exc}. Save it as a file instead, for example dataset='pkl', 'csv' "
            "or 'json'."
        ) from None
    return ValueEncoding(classified.kind, classified.value)


class _Rounded(NamedTuple):
    """An int a float64 metric does not hold exactly, and the float it becomes."""

    given: Any
    stored: float


def _metric_numbers(key: str, values: Sequence[Any]) -> list[float]:
    """``values`` as the floats MLflow stores; a warning if an int is rounded.

    Raises:
        DatasetError: For infinity, or an int too large for any float.
    """
    numbers = []
    rounded: list[_Rounded] = []
    for value in values:
        try:
            number = float(value)
        except OverflowError:
            raise DatasetError(
                f"MLflowDataSet(dataset='m') cannot log {key!r} = "
                f"{short_repr(value, 60)}: it is too large for a float, which every "
                "MLflow metric is. Save it with dataset='a', which keeps such an int "
                "exactly as a param, or with dataset='p'."
            ) from None
        if not fits_a_float(value):
            rounded.append(_Rounded(value, number))
        numbers.append(_finite(key, number))
    run = current_run()
    warned = (run.run_id if run is not None else None, key)
    if rounded and warned not in _warned_rounded_keys:
        _warned_rounded_keys.add(warned)
        first = rounded[0]
        logger.warning(
            "MLflow metric %r is rounded: every metric is a float64, so %s is stored "
            "as %r%s. Save it with dataset='a', which keeps such an int exactly as "
            "a param, if the exact number matters.",
            key,
            first.given,
            first.stored,
            f" ({len(rounded)} values of its history are rounded)"
            if len(rounded) > 1
            else "",
        )
    return numbers


def _finite(key: str, number: float) -> float:
    if math.isinf(number):
        raise DatasetError(
            f"MLflowDataSet(dataset='m') cannot log {key!r} = {number}: MLflow cannot "
            "store infinity (it would keep 1.7976931348623157e+308 and give that "
            "back). Replace it with a finite number before saving, or save the text "
            "with dataset='p'."
        )
    return number


def _is_number_sequence(value: Any) -> bool:
    if isinstance(value, (str, bytes, Mapping)):
        return False
    if hasattr(value, "tolist") and not is_number(value):
        value = value.tolist()
    return (
        isinstance(value, Sequence)
        and len(value) > 0
        and all(is_number(v) for v in value)
    )


def _put(encoded: Encoded, key: str, classified: ValueEncoding) -> None:
    if classified.kind == "metric":
        encoded.metrics[key] = classified.value
    elif classified.kind == "history":
        encoded.histories[key] = classified.value
    else:
        encoded.params[key] = classified.value


def decode(
    code: ValueCode,
    name: str,
    run_data: RunData,
    history: Callable[[str], list[float]],
    sep: str,
) -> Any:
    """Rebuild what was saved under ``name`` from a run's params and metrics.

    Params come back as strings (for code ``a``, lists, tuples, sets, bools and
    ``None`` are rebuilt from their text), metrics as floats and metric histories
    as lists of floats.

    Raises:
        DatasetError: If the run holds nothing under ``name``.
    """
    layout = saved_layout(run_data.tags, name)
    if layout is None:
        return _decode_without_layout(name, run_data, history, sep)
    if layout["shape"] == "tree":
        result: dict[str, Any] = {}
        for leaf in tree_leaves(layout):
            value = _read(run_data, history, leaf.key, leaf.kind)
            _set_path(
                result, leaf.path, _rebuild(code, value, leaf.kind, leaf.type_name)
            )
        return result
    key = layout.get("key") or sanitize_key(name)
    value = _read(run_data, history, key, layout["shape"])
    return _rebuild(code, value, layout["shape"], layout.get("type", "str"))


def _read(
    run_data: RunData, history: Callable[[str], list[float]], key: str, kind: str
) -> Any:
    source = run_data.params if kind == "param" else run_data.metrics
    if key not in source:
        raise DatasetError(
            f"The MLflow run has no {kind if kind != 'history' else 'metric'} {key!r}, "
            "though it was saved there; was it deleted?"
        )
    return history(key) if kind == "history" else source[key]


def _rebuild(code: ValueCode, value: Any, kind: str, type_name: str) -> Any:
    if kind != "param" or code != "a" or type_name not in _LITERAL_TYPES:
        return value
    try:
        rebuilt = _literal(value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        # A truncated or unusual value: the text is the best we have.
        return value
    if type_name in ("set", "frozenset") and rebuilt == {}:
        return set()
    return rebuilt


def _literal(text: str) -> Any:
    """``ast.literal_eval(text)``, knowing ``nan`` and ``inf`` as str() writes them.

    Examples:
        >>> _literal("[1.0, nan, -inf, 'nan']")
        [1.0, nan, -inf, 'nan']
    """
    tree = ast.parse(text.strip(), mode="eval")
    return ast.literal_eval(_NonFiniteFloats().visit(tree))


class _NonFiniteFloats(ast.NodeTransformer):
    """Turns the bare names ``nan`` and ``inf`` into float constants; nothing else."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _NON_FINITE_NAMES:
            return ast.copy_location(ast.Constant(_NON_FINITE_NAMES[node.id]), node)
        return node


def _set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _decode_without_layout(
    name: str, run_data: RunData, history: Callable[[str], list[float]], sep: str
) -> Any:
    """Read values logged by other tools (PipelineX, plain MLflow): no layout tag."""
    key = sanitize_key(name)
    if key in run_data.params:
        return run_data.params[key]
    if key in run_data.metrics:
        values = history(key)
        return values if len(values) > 1 else run_data.metrics[key]
    prefix = key + sep
    result: dict[str, Any] = {}
    for source in (run_data.params, run_data.metrics):
        for full_key, value in source.items():
            if full_key.startswith(prefix):
                _set_path(result, full_key[len(prefix) :].split(sep), value)
    if not result:
        raise DatasetError(
            f"The MLflow run has no param or metric {key!r} (nor keys starting with "
            f"{prefix!r}). Check the dataset's name and its loading_run_id."
        )
    return result


def read_values(run: RunRef, code: ValueCode, name: str, sep: str) -> Any:
    """Read back from ``run`` what was saved under ``name``; see :func:`decode`.

    Raises:
        DatasetError: If the run cannot be read or holds nothing under ``name``.
    """
    try:
        run_data = get_run_data(run)
    except Exception as exc:
        raise DatasetError(
            f"Cannot read MLflow run {run.run_id!r} from "
            f"{mask_url_passwords(run.tracking_uri)!r}: {exc}"
        ) from exc
    return decode(code, name, run_data, lambda key: get_metric_history(run, key), sep)


def values_exist(run: RunRef, name: str, sep: str) -> bool:
    """Tell whether ``run`` holds a value saved under ``name`` (or its dict leaves)."""
    data = get_run_data(run)
    prefix = name + sep
    return (
        saved_layout(data.tags, name) is not None
        or name in data.params
        or name in data.metrics
        or any(k.startswith(prefix) for k in (*data.params, *data.metrics))
    )
