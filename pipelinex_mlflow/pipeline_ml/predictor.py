"""The Kedro side of a pipeline model: runs the inference pipeline on one input.

The predictor is pickled into the MLflow model with everything the pipeline
reads besides its input: the training outputs and the ``params:`` values of the
training run. Each call runs the pipeline with Kedro's own runner on a fresh
catalog of memory datasets, with no hooks (nothing is tracked at predict time).

Examples:
    >>> from kedro.pipeline import Pipeline, node
    >>> def predict(total, instances, scale):
    ...     return [scale * (total + x) for x in instances]
    >>> predictor = InferencePredictor(
    ...     Pipeline([node(predict, ["total", "instances", "params:scale"], "y")]),
    ...     input_name="instances",
    ...     artifacts={"total": 10},
    ...     parameters={"params:scale": 1},
    ... )
    >>> predictor.predict([1, 2], None)
    [11, 12]
    >>> predictor.predict([1, 2], {"scale": 2})
    [22, 24]
    >>> predictor.parameter_defaults()
    {'scale': 1}
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from typing import TYPE_CHECKING, Any

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from pipelinex_mlflow.kedro_helpers import PARAMETERS, parameter_key
from pipelinex_mlflow.pipeline_ml.model_options import PREDICT_RUNNERS, CopyMode
from pipelinex_mlflow.tracking import iter_leaves

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from kedro.pipeline.node import Node
    from kedro.runner import AbstractRunner

RUNNER_PARAM = "runner"
_CHATTY_LOGGERS = ("kedro.io.data_catalog", "kedro.pipeline.node", "kedro.runner")
# Types MLflow's signature can describe as a param (a list of them too).
_PARAM_TYPES = (bool, int, float, str)


class InferencePredictor:
    """Runs an inference pipeline; what ``KedroPipelineModel`` pickles.

    Args:
        pipeline: The inference pipeline.
        input_name: The dataset ``predict``'s input becomes.
        artifacts: The value of every other non-parameter input, by name.
        parameters: The value of every ``params:`` (or ``parameters``) input.
        runner: The runner's class name.
        copy_mode: How values reach the nodes, for all or by dataset name.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        input_name: str,
        artifacts: Mapping[str, Any],
        parameters: Mapping[str, Any],
        runner: str = "SequentialRunner",
        copy_mode: CopyMode | Mapping[str, CopyMode] = "assign",
    ) -> None:
        # Nodes pickle (ParallelRunner relies on it); a Pipeline's caches need not.
        self.nodes: list[Node] = list(pipeline.nodes)
        self.input_name = input_name
        self.artifacts = dict(artifacts)
        self.parameters = dict(parameters)
        self.runner = runner
        self.copy_mode = copy_mode
        self.outputs = sorted(pipeline.outputs())

    def predict(self, model_input: Any, params: Mapping[str, Any] | None) -> Any:
        """The output's data for ``model_input``; several outputs as a dict by name.

        Args:
            model_input: The value of ``input_name``.
            params: Overrides of parameter values by dotted name (``"model.alpha"``)
                and ``runner``.

        Raises:
            ValueError: For a parameter the pipeline does not read, or an
                unknown runner.
        """
        overrides = dict(params or {})
        runner = _runner(str(overrides.pop(RUNNER_PARAM, None) or self.runner))
        values = {
            **self.artifacts,
            **self._parameters_with(overrides),
            self.input_name: model_input,
        }
        catalog = DataCatalog(
            {
                name: MemoryDataset(value, copy_mode=self._copy_mode(name))
                for name, value in values.items()
            }
        )
        with _kedro_logs_quiet():
            runner.run(Pipeline(self.nodes), catalog)
            results = {name: catalog.load(name) for name in self.outputs}
        if len(results) == 1:
            return next(iter(results.values()))
        return results

    def parameter_defaults(self) -> dict[str, Any]:
        """The params ``predict`` may override, flattened, with the training values.

        Only values MLflow's signature can describe (numbers, text, booleans and
        lists of them) are listed, under dotted names of string keys.
        """
        return {
            flat: _get_path(self.parameters[name], path)
            for flat, (name, path) in self._leaves().items()
        }

    def _leaves(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Each overridable leaf: dotted name -> (parameter input, key path)."""
        leaves: dict[str, tuple[str, tuple[str, ...]]] = {}
        for name, value in self.parameters.items():
            root = parameter_key(name)
            for path in _leaf_paths(value):
                flat = ".".join(p for p in (root, *path) if p)
                if flat and flat != RUNNER_PARAM:
                    leaves[flat] = (name, path)
        return leaves

    def _parameters_with(self, overrides: dict[str, Any]) -> dict[str, Any]:
        parameters = copy.deepcopy(self.parameters)
        leaves = self._leaves()
        roots = {parameter_key(name): name for name in parameters if name != PARAMETERS}
        for key, value in overrides.items():
            if key in leaves:
                name, path = leaves[key]
                if path:
                    _set_path(parameters[name], path, value)
                else:
                    parameters[name] = value
            elif key in roots:  # a whole dict (possible without a signature)
                parameters[roots[key]] = value
            else:
                known = [RUNNER_PARAM, *sorted(leaves)]
                raise ValueError(
                    f"The model's pipeline reads no parameter {key!r}. It reads: "
                    f"{', '.join(known)}."
                )
        return parameters

    def _copy_mode(self, name: str) -> CopyMode:
        if isinstance(self.copy_mode, str):
            return self.copy_mode
        return self.copy_mode.get(name, "assign")

    def __repr__(self) -> str:
        return (
            f"InferencePredictor(input_name={self.input_name!r}, "
            f"inputs={sorted(self.artifacts)}, outputs={self.outputs})"
        )


_quiet_lock = threading.Lock()
_quiet_callers = 0
_saved_levels: list[int] = []


@contextlib.contextmanager
def _kedro_logs_quiet() -> Iterator[None]:
    """Keep Kedro's per-dataset and per-node INFO lines out of each prediction.

    A server answering requests would log a dozen lines per request; warnings
    and errors still show. Overlapping calls (a threaded server) share one
    change: the last to finish restores the levels.
    """
    global _quiet_callers  # noqa: PLW0603 - one count per process, under the lock
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    with _quiet_lock:
        if _quiet_callers == 0:
            _saved_levels[:] = [each.level for each in loggers]
            for each in loggers:
                each.setLevel(max(each.getEffectiveLevel(), logging.WARNING))
        _quiet_callers += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_callers -= 1
            if _quiet_callers == 0:
                for each, level in zip(loggers, _saved_levels, strict=True):
                    each.setLevel(level)


def _runner(name: str) -> AbstractRunner:
    if name not in PREDICT_RUNNERS:
        raise ValueError(
            f"The model runs with one of {', '.join(PREDICT_RUNNERS)}, not {name!r}."
        )
    import kedro.runner

    runner: AbstractRunner = getattr(kedro.runner, name)()
    return runner


def _leaf_paths(value: Any) -> Iterator[tuple[str, ...]]:
    """Key paths to the leaves of ``value`` a signature can describe.

    Keys that would not survive a dotted name (not a string, or holding a dot)
    are left out; a value that is not a dict is its own leaf, at ``()``.
    """
    leaves = iter_leaves(value) if isinstance(value, dict) else [((), value)]
    for path, leaf in leaves:
        if all(isinstance(k, str) and k and "." not in k for k in path) and (
            _describable(leaf)
        ):
            yield tuple(path)


def _describable(value: Any) -> bool:
    if isinstance(value, _PARAM_TYPES):
        return True
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, _PARAM_TYPES) for item in value)
        and len({type(item) for item in value}) == 1
    )


def _get_path(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _set_path(tree: Any, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value
